/* matmul_ref.c - scalar reference kernels for sq_linear: y = W x + b.
 *
 * These are the ground truth a SIMD128 twin (matmul_simd128.c) is tested against, so
 * they are written for clarity first; the arithmetic order is simple and documented:
 *
 *  f32      y_r = sum_j w[r,j] x_j  (four interleaved float partial sums, then + b_r)
 *  packed   one pass over row r: per group g and cluster c accumulate
 *             acc_c = sum code_j x_j  and  sx_c = sum x_j  over the group's members of c,
 *           then y_r += scale[p,c] acc_c + min[p,c] sx_c   (p = r*G + g, or 0 for a
 *           whole-tensor group), which equals sum_j (code_j scale + min) x_j.
 *  paper    sum over parts c: affine  y_r += scale_c[p] sum_j code_j x_j + min_c[p] sum_j x_j
 *                              sym8    y_r += scale_c[r] sum_j code_j x_j   (int8 codes)
 *
 * Codes and cluster ids are b-bit fields of an LSB-first bit stream per row, each row
 * starting on a byte boundary (docs/FORMAT.md); they are decoded inline while streaming.
 * The loader (linear.c) has checked every id < k and every size.
 */
#include <stdlib.h>
#include <string.h>

#include "../dtype.h"
#include "linear.h"

void sq_matvec_f32_ref(const sq_linear *L, const float *x, float *y);
void sq_matvec_packed_ref(const sq_linear *L, const float *x, float *y);
void sq_matvec_paper_ref(const sq_linear *L, const float *x, float *y);
void sq_matmul_ref(const sq_linear *L, const float *X, size_t n, float *Y);

/* Streaming reader of b-bit fields (b <= 8), LSB first. Never reads past the last byte
 * that holds a requested bit. */
typedef struct bitreader {
    const uint8_t *p;
    uint32_t buf;
    int n;
} bitreader;

static inline void br_init(bitreader *b, const uint8_t *p)
{
    b->p = p;
    b->buf = 0;
    b->n = 0;
}

static inline unsigned br_get(bitreader *b, int bits, unsigned mask)
{
    if (b->n < bits) {
        b->buf |= (uint32_t)(*b->p++) << b->n;
        b->n += 8;
    }
    unsigned v = b->buf & mask;
    b->buf >>= bits;
    b->n -= bits;
    return v;
}

static int id_bits(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return b;
}

/* Column range of group g in a row. */
static inline void group_range(const sq_linear *L, size_t g, size_t *j0, size_t *j1)
{
    if (L->group == 0) {
        *j0 = 0;
        *j1 = L->cols;
        return;
    }
    *j0 = g * L->group;
    *j1 = *j0 + L->group < L->cols ? *j0 + L->group : L->cols;
}

static inline size_t param_index(const sq_linear *L, size_t r, size_t g)
{
    return L->group ? r * L->groups + g : 0;
}

/* ---------------- f32 ---------------- */

static float dot_f32(const float *w, const float *x, size_t n)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t j = 0;
    for (; j + 4 <= n; j += 4) {
        s0 += w[j] * x[j];
        s1 += w[j + 1] * x[j + 1];
        s2 += w[j + 2] * x[j + 2];
        s3 += w[j + 3] * x[j + 3];
    }
    for (; j < n; j++) s0 += w[j] * x[j];
    return (s0 + s1) + (s2 + s3);
}

void sq_matvec_f32_ref(const sq_linear *L, const float *x, float *y)
{
    for (size_t r = 0; r < L->rows; r++) {
        float s = dot_f32(L->w + r * L->cols, x, L->cols);
        y[r] = L->bias ? s + L->bias[r] : s;
    }
}

/* ---------------- packed ---------------- */

/* Row r from decoded codes/ids (one byte each) - used by the batched kernel. */
static float packed_row_decoded(const sq_linear *L, size_t r, const uint8_t *code, const uint8_t *id, const float *x)
{
    const int k = L->k;
    float y = 0;
    for (size_t g = 0; g < L->groups; g++) {
        size_t j0, j1;
        group_range(L, g, &j0, &j1);
        float acc[SQ_LIN_MAX_PARTS] = {0}, sx[SQ_LIN_MAX_PARTS] = {0};
        if (k == 1) {
            for (size_t j = j0; j < j1; j++) {
                acc[0] += (float)code[j] * x[j];
                sx[0] += x[j];
            }
        } else {
            for (size_t j = j0; j < j1; j++) {
                acc[id[j]] += (float)code[j] * x[j];
                sx[id[j]] += x[j];
            }
        }
        const uint16_t *s = L->scale_bf16 + param_index(L, r, g) * (size_t)k;
        const uint16_t *m = L->min_bf16 + param_index(L, r, g) * (size_t)k;
        for (int c = 0; c < k; c++) y += sq_bf16_to_f32(s[c]) * acc[c] + sq_bf16_to_f32(m[c]) * sx[c];
    }
    return L->bias ? y + L->bias[r] : y;
}

void sq_matvec_packed_ref(const sq_linear *L, const float *x, float *y)
{
    const int k = L->k, bits = L->bits, ib = id_bits(k);
    const unsigned cmask = (1u << bits) - 1u, imask = (1u << ib) - 1u;
    for (size_t r = 0; r < L->rows; r++) {
        bitreader cb, idr;
        br_init(&cb, L->codes + r * L->row_bytes);
        br_init(&idr, k > 1 ? L->ids + r * L->id_row_bytes : NULL);
        float out = 0;
        for (size_t g = 0; g < L->groups; g++) {
            size_t j0, j1;
            group_range(L, g, &j0, &j1);
            float acc[SQ_LIN_MAX_PARTS] = {0}, sx[SQ_LIN_MAX_PARTS] = {0};
            if (k == 1) {
                for (size_t j = j0; j < j1; j++) {
                    acc[0] += (float)br_get(&cb, bits, cmask) * x[j];
                    sx[0] += x[j];
                }
            } else {
                for (size_t j = j0; j < j1; j++) {
                    unsigned c = br_get(&cb, bits, cmask), id = br_get(&idr, ib, imask);
                    acc[id] += (float)c * x[j];
                    sx[id] += x[j];
                }
            }
            const uint16_t *s = L->scale_bf16 + param_index(L, r, g) * (size_t)k;
            const uint16_t *m = L->min_bf16 + param_index(L, r, g) * (size_t)k;
            for (int c = 0; c < k; c++) out += sq_bf16_to_f32(s[c]) * acc[c] + sq_bf16_to_f32(m[c]) * sx[c];
        }
        y[r] = L->bias ? out + L->bias[r] : out;
    }
}

/* ---------------- paper ---------------- */

/* Sum of x over each group (shared by every row and part of an affine paper layer). */
static void group_sums(const sq_linear *L, const float *x, float *sx)
{
    for (size_t g = 0; g < L->groups; g++) {
        size_t j0, j1;
        group_range(L, g, &j0, &j1);
        float s = 0;
        for (size_t j = j0; j < j1; j++) s += x[j];
        sx[g] = s;
    }
}

static float sym8_row(const int8_t *code, const float *x, size_t n)
{
    float s = 0;
    for (size_t j = 0; j < n; j++) s += (float)code[j] * x[j];
    return s;
}

/* One affine part of row r from decoded codes. */
static float affine_row_decoded(const sq_linear *L, const sq_lin_part *P, size_t r, const uint8_t *code,
                                const float *x, const float *sx)
{
    float y = 0;
    for (size_t g = 0; g < L->groups; g++) {
        size_t j0, j1;
        group_range(L, g, &j0, &j1);
        float acc = 0;
        for (size_t j = j0; j < j1; j++) acc += (float)code[j] * x[j];
        size_t p = param_index(L, r, g);
        y += P->scale[p] * acc + P->min[p] * sx[g];
    }
    return y;
}

#define SX_STACK 1024

void sq_matvec_paper_ref(const sq_linear *L, const float *x, float *y)
{
    const int bits = L->bits;
    const unsigned cmask = (1u << bits) - 1u;
    float sx_stack[SX_STACK];
    float *sx = NULL;
    if (!L->sym8) {
        /* NULL when the allocation fails: the group sums are then taken per row below */
        sx = L->groups <= SX_STACK ? sx_stack : malloc(L->groups * sizeof(float));
        if (sx) group_sums(L, x, sx);
    }
    for (size_t r = 0; r < L->rows; r++) {
        float out = 0;
        for (int c = 0; c < L->k; c++) {
            const sq_lin_part *P = &L->parts[c];
            if (L->sym8) {
                out += P->scale[r] * sym8_row((const int8_t *)P->codes + r * L->cols, x, L->cols);
                continue;
            }
            bitreader cb;
            br_init(&cb, P->codes + r * L->row_bytes);
            for (size_t g = 0; g < L->groups; g++) {
                size_t j0, j1;
                group_range(L, g, &j0, &j1);
                float acc = 0, s = 0;
                for (size_t j = j0; j < j1; j++) acc += (float)br_get(&cb, bits, cmask) * x[j];
                if (sx) s = sx[g];
                else
                    for (size_t j = j0; j < j1; j++) s += x[j];
                size_t p = param_index(L, r, g);
                out += P->scale[p] * acc + P->min[p] * s;
            }
        }
        y[r] = L->bias ? out + L->bias[r] : out;
    }
    if (sx && sx != sx_stack) free(sx);
}

/* ---------------- batched: Y[n, rows] = X[n, cols] W^T + b ---------------- */

static void decode_row(const uint8_t *row, size_t n, int bits, uint8_t *out)
{
    bitreader b;
    br_init(&b, row);
    const unsigned mask = (1u << bits) - 1u;
    for (size_t j = 0; j < n; j++) out[j] = (uint8_t)br_get(&b, bits, mask);
}

static void matmul_by_rows(const sq_linear *L, const float *X, size_t n, float *Y)
{
    for (size_t i = 0; i < n; i++) {
        const float *x = X + i * L->cols;
        float *y = Y + i * L->rows;
        switch (L->kind) {
        case SQ_LIN_PACKED: sq_matvec_packed_ref(L, x, y); break;
        case SQ_LIN_PAPER: sq_matvec_paper_ref(L, x, y); break;
        default: sq_matvec_f32_ref(L, x, y); break;
        }
    }
}

/* Quantized layers: decode each weight row once and apply it to all n inputs. */
void sq_matmul_ref(const sq_linear *L, const float *X, size_t n, float *Y)
{
    const size_t rows = L->rows, cols = L->cols;
    if (L->kind == SQ_LIN_F32 || n == 1 || (L->kind == SQ_LIN_PAPER && L->sym8)) {
        matmul_by_rows(L, X, n, Y);
        return;
    }
    uint8_t *code = malloc(2 * cols);
    float *sx = L->kind == SQ_LIN_PAPER ? malloc(n * L->groups * sizeof(float)) : NULL;
    if (!code || (L->kind == SQ_LIN_PAPER && !sx)) {
        free(code);
        free(sx);
        matmul_by_rows(L, X, n, Y);
        return;
    }
    uint8_t *id = code + cols;
    if (L->kind == SQ_LIN_PACKED) {
        int ib = id_bits(L->k);
        memset(id, 0, cols);
        for (size_t r = 0; r < rows; r++) {
            decode_row(L->codes + r * L->row_bytes, cols, L->bits, code);
            if (L->k > 1) decode_row(L->ids + r * L->id_row_bytes, cols, ib, id);
            for (size_t i = 0; i < n; i++) Y[i * rows + r] = packed_row_decoded(L, r, code, id, X + i * cols);
        }
    } else {
        for (size_t i = 0; i < n; i++) group_sums(L, X + i * cols, sx + i * L->groups);
        for (size_t i = 0; i < n; i++)
            for (size_t r = 0; r < rows; r++) Y[i * rows + r] = 0.0f;
        for (size_t r = 0; r < rows; r++) {
            for (int c = 0; c < L->k; c++) {
                const sq_lin_part *P = &L->parts[c];
                decode_row(P->codes + r * L->row_bytes, cols, L->bits, code);
                for (size_t i = 0; i < n; i++)
                    Y[i * rows + r] += affine_row_decoded(L, P, r, code, X + i * cols, sx + i * L->groups);
            }
            if (L->bias)
                for (size_t i = 0; i < n; i++) Y[i * rows + r] += L->bias[r];
        }
    }
    free(code);
    free(sx);
}
