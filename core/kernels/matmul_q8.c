/* matmul_q8.c - y = W x + b with int8 activations (sq_exec.act == SQ_ACT_INT8): the input
 * quantization, the shared scalar pair kernel (the definition the SIMD twins match) and
 * the row pipeline that feeds it. kernels_ref.h defines the arithmetic.
 *
 * Why: the float32 path widens every code to float and does one multiply and one add per
 * weight and input. Quantizing the input to int8 once per call (one scale per 32
 * columns) turns a block of 32 weights into one exact integer dot product: vpmaddubsw /
 * i16x8.extmul do 16-32 of them per instruction, and the float work shrinks to one
 * multiply-add per block and one per group.
 *
 * Shape of the work: rows are taken R at a time (8 for one input, 4 for a batch); their
 * codes are unpacked to bytes once (scratch, one allocation per call), then every input
 * (T = 1 or 2 at a time) runs through the pair kernel over the whole row, so prefill
 * decodes each weight once per 2 inputs at most, from cache, instead of once per input.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_ref.h"
#include "linear.h"

/* ---------------- input quantization ---------------- */

static int8_t q8_round(float v)
{
    float r = nearbyintf(v);
    if (!(r >= -127.0f)) return -127; /* also NaN */
    if (r > 127.0f) return 127;
    return (int8_t)r;
}

int sq_q8act_make(sq_q8act *A, const float *X, size_t n, size_t cols)
{
    memset(A, 0, sizeof *A);
    if (cols == 0 || cols % SQ_QB) return -1;
    A->n = n;
    A->cols = cols;
    A->nblk = cols / SQ_QB;
    A->q = malloc(n * cols);
    A->qn = malloc(n * cols);
    A->d = malloc(n * A->nblk * sizeof(float));
    A->bsum = malloc(n * A->nblk * sizeof(int32_t));
    if (!A->q || !A->qn || !A->d || !A->bsum) {
        sq_q8act_free(A);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t b = 0; b < A->nblk; b++) {
            const float *x = X + i * cols + b * SQ_QB;
            float amax = 0.0f;
            for (int j = 0; j < SQ_QB; j++) {
                float a = fabsf(x[j]);
                if (a > amax) amax = a;
            }
            float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
            int8_t *q = A->q + i * cols + b * SQ_QB;
            int32_t s = 0;
            for (int j = 0; j < SQ_QB; j++) {
                q[j] = q8_round(x[j] * inv);
                s += q[j];
            }
            int8_t *qn = A->qn + i * cols + b * SQ_QB;
            for (int j = 0; j < SQ_QB; j++) qn[(j & 1) * (SQ_QB / 2) + j / 2] = q[j];
            A->d[i * A->nblk + b] = amax / 127.0f;
            A->bsum[i * A->nblk + b] = s;
        }
    return 0;
}

void sq_q8act_free(sq_q8act *A)
{
    free(A->q);
    free(A->qn);
    free(A->d);
    free(A->bsum);
    memset(A, 0, sizeof *A);
}

/* ---------------- the pair kernel, scalar ---------------- */

void sq_kq8_pairs_ref(const sq_q8pairs *P)
{
    const int R = P->R, T = P->T;
    for (int t = 0; t < T; t++)
        for (int rr = 0; rr < R; rr++) {
            const uint8_t *c = P->cu + (size_t)rr * P->ldc;
            const int8_t *x = P->xq[t];
            float y = P->y[t * R + rr], A = 0.0f;
            for (size_t b = 0; b < P->nblk; b++) {
                int32_t I = 0;
                for (int j = 0; j < SQ_QB; j++) {
                    size_t col = b * SQ_QB + (size_t)j;
                    if (P->nib) /* packed nibbles; inputs in nibble order */
                        I += (int32_t)(c[col / 2] >> 4 * (j & 1) & 15) * x[b * SQ_QB + (size_t)((j & 1) * 16 + j / 2)];
                    else I += (int32_t)c[col] * x[col];
                }
                A = A + P->d[t][b] * (float)I;
                if ((b + 1) % P->gpb == 0) {
                    size_t g = b / P->gpb;
                    size_t o = g * P->sg + (size_t)rr * P->sr;
                    y = y + (P->s[o] * A + P->m[o] * P->X[t][g]);
                    A = 0.0f;
                }
            }
            P->y[t * R + rr] = y;
        }
}

/* ---------------- the row pipeline ---------------- */

int sq_kq8_qualifies(const sq_linear *L)
{
    int fac = (L->kind == SQ_LIN_PACKED && L->k == 1) || (L->kind == SQ_LIN_PAPER && !L->sym8);
    size_t gsz = sq_kgroup_size(L);
    return fac && L->bits >= 1 && L->bits <= SQ_Q8_MAX_BITS && L->cols % SQ_QB == 0 && gsz % SQ_QB == 0 &&
           L->cols % gsz == 0;
}

int sq_kernels_rows_q8(const sq_kimpl *K, const sq_linear *L, const sq_q8act *A, float *Y, size_t r0, size_t r1)
{
    if (!sq_kq8_qualifies(L) || A->cols != L->cols) return 0;
    const size_t n = A->n, cols = L->cols, rows = L->rows, nblk = A->nblk;
    const size_t gpb = sq_kgroup_size(L) / SQ_QB, G = nblk / gpb;
    const int T = n > 1 ? 2 : 1, R = SQ_Q8_PAIRS / T;
    /* scratch: R rows of codes, their params, the inputs' group sums */
    /* one input, 4-bit codes: the kernel reads the packed rows (nibble order), no unpack */
    const int nib = n == 1 && L->bits == 4;
    /* 8-bit codes are bytes already: the kernel reads the layer's rows in place */
    const int direct = L->bits == 8 || nib;
    uint8_t *cu = malloc(direct ? (size_t)R * L->row_bytes : (size_t)R * cols);
    /* s, m: [G][R] for a batch; rs: the rows' params widened from BF16 */
    float *s = malloc(4 * G * (size_t)R * sizeof(float)), *Xq = malloc(n * G * sizeof(float));
    if (!cu || !s || !Xq) {
        free(cu);
        free(s);
        free(Xq);
        return 0;
    }
    float *m = s + G * (size_t)R, *rs = m + G * (size_t)R;
    for (size_t i = 0; i < n; i++)
        for (size_t g = 0; g < G; g++) {
            float X = 0.0f;
            for (size_t b = g * gpb; b < (g + 1) * gpb; b++)
                X = X + A->d[i * nblk + b] * (float)A->bsum[i * nblk + b];
            Xq[i * G + g] = X;
        }
    sq_kq8pairs_fn pairs = K->q8_pairs ? K->q8_pairs : sq_kq8_pairs_ref;
    const int parts = L->kind == SQ_LIN_PAPER ? L->k : 1;
    for (size_t i = 0; i < n; i++)
        for (size_t r = r0; r < r1; r++) Y[i * rows + r] = 0.0f;
    for (size_t r = r0; r < r1; r += (size_t)R) {
        const size_t Rn = r1 - r < (size_t)R ? r1 - r : (size_t)R; /* real rows of this pass */
        for (int c = 0; c < parts; c++) {
            const sq_lin_part *P = L->kind == SQ_LIN_PAPER ? &L->parts[c] : NULL;
            const uint8_t *codes = P ? P->codes : L->codes, *rows_cu = cu;
            size_t ldc = cols;
            const uint8_t *pf = NULL;
            if (direct && Rn == (size_t)R) {
                rows_cu = codes + r * L->row_bytes;
                ldc = L->row_bytes;
                if (r + 3 * (size_t)R <= r1) pf = rows_cu + 2 * (size_t)R * ldc; /* rows are contiguous */
            } else if (direct) { /* a short last pass: copy the rows, pad with zero codes */
                memset(cu, 0, (size_t)R * L->row_bytes);
                memcpy(cu, codes + r * L->row_bytes, Rn * L->row_bytes);
                ldc = L->row_bytes;
            }
            if (!direct)
                for (size_t rr = 0; rr < (size_t)R; rr++) {
                    if (rr < Rn) K->unpack(codes + (r + rr) * L->row_bytes, 0, L->bits, cols, cu + rr * cols);
                    else memset(cu + rr * cols, 0, cols); /* padding rows: computed, never stored */
                }
            /* the R rows' group parameters. One input: in the layer's row order (a paper
               part's floats in place, packed BF16 widened in one call: the rows' values are
               contiguous), the kernel gathers them. A batch: each group's R values
               together, copied once per pass for every input; zeros for padding rows. */
            const size_t ld = L->group ? L->groups : 0, base = r * ld; /* ld 0: one value */
            const float *ps, *pm;
            size_t sg = 1, sr = ld;
            if (P) {
                ps = P->scale + base;
                pm = P->min + base;
            } else {
                size_t nv = ld ? Rn * ld : 1;
                K->bf16_f32(L->scale_bf16 + base, nv, rs);
                K->bf16_f32(L->min_bf16 + base, nv, rs + nv);
                ps = rs;
                pm = rs + nv;
            }
            if (n > 1 || Rn < (size_t)R) {
                for (size_t g = 0; g < G; g++)
                    for (size_t rr = 0; rr < (size_t)R; rr++) {
                        size_t o = g * (size_t)R + rr, q = rr * ld + (ld ? g : 0);
                        s[o] = rr < Rn ? ps[q] : 0.0f;
                        m[o] = rr < Rn ? pm[q] : 0.0f;
                    }
                ps = s;
                pm = m;
                sg = (size_t)R;
                sr = 1;
            }
            for (size_t i = 0; i < n; i += (size_t)T) {
                float y[SQ_Q8_PAIRS];
                sq_q8pairs Pj = {.R = R, .T = T, .bits = L->bits, .nib = nib, .cu = rows_cu, .ldc = ldc, .pf = pf,
                                 .s = ps, .m = pm, .sg = sg, .sr = sr, .nblk = nblk, .gpb = gpb, .y = y};
                for (int t = 0; t < T; t++) {
                    size_t it = i + (size_t)t < n ? i + (size_t)t : i; /* a padding input repeats i */
                    Pj.xq[t] = (nib ? A->qn : A->q) + it * cols;
                    Pj.d[t] = A->d + it * nblk;
                    Pj.X[t] = Xq + it * G;
                    for (int rr = 0; rr < R; rr++)
                        y[t * R + rr] = (size_t)rr < Rn ? Y[it * rows + r + (size_t)rr] : 0.0f;
                }
                pairs(&Pj);
                for (int t = 0; t < T && i + (size_t)t < n; t++)
                    for (size_t rr = 0; rr < Rn; rr++) Y[(i + (size_t)t) * rows + r + rr] = y[t * R + (int)rr];
            }
        }
    }
    if (L->bias)
        for (size_t i = 0; i < n; i++)
            for (size_t r = r0; r < r1; r++) Y[i * rows + r] = Y[i * rows + r] + L->bias[r];
    free(cu);
    free(s);
    free(Xq);
    return 1;
}
