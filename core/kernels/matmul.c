/* matmul.c - y = W x + b for every sq_linear layout: the row pipeline shared by all kernel
 * implementations, the choice of implementation, and the split over the host's threads.
 *
 * A weight row is produced a chunk of columns at a time as float32 (decoded codes,
 * dequantized weights or converted BF16/F16) by the implementation's element-wise
 * primitives, then accumulated into 16 lanes per input by its `lanes` primitive; the
 * reductions, group combinations and tails are done here, in scalar code shared by every
 * implementation. kernels_ref.h defines the arithmetic. Fused kernels of the SIMD twins
 * take over where they handle the geometry: per row (factored_row, packedk_row, ...)
 * and, for one input (token-by-token decoding), several rows per pass through the
 * implementation's row-kernel table (matvec_rows: one helper for every ISA). Which
 * implementation runs is dispatch.c's choice.
 *
 * Threads: rows are cut into tasks run through the host's parallel-for (sq_exec); every
 * output row is computed by exactly one task with the same code, so the results do not
 * depend on the number of threads or tasks. No allocation happens per row: scratch lives
 * on the stack (a few KiB, fine for the 64 KiB Emscripten stack).
 */
#include <stdlib.h>
#include <string.h>

#include "../dtype.h"
#include "kernels_ref.h"
#include "linear.h"

/* ---------------- canonical pieces ---------------- */

float sq_ksum16(const float *x, size_t len)
{
    float L[SQ_KL] = {0};
    size_t nb = len / SQ_KL;
    for (size_t b = 0; b < nb; b++)
        for (int l = 0; l < SQ_KL; l++) L[l] = L[l] + x[b * SQ_KL + (size_t)l];
    float R = sq_kred16(L);
    for (size_t t = nb * SQ_KL; t < len; t++) R = R + x[t];
    return R;
}

static int factored(const sq_linear *L)
{
    return (L->kind == SQ_LIN_PACKED && L->k == 1) || (L->kind == SQ_LIN_PAPER && !L->sym8);
}

#define group_size sq_kgroup_size

/* gs[i*groups + g] = sum16 of input i over group g. */
static void group_sums(const sq_linear *L, const float *X, size_t n, float *gs)
{
    size_t gsz = group_size(L), G = (L->cols + gsz - 1) / gsz;
    for (size_t i = 0; i < n; i++)
        for (size_t g = 0; g < G; g++) {
            size_t g0 = g * gsz, g1 = g0 + gsz < L->cols ? g0 + gsz : L->cols;
            gs[i * G + g] = sq_ksum16(X + i * L->cols + g0, g1 - g0);
        }
}

/* ---------------- the row pipeline ---------------- */

typedef struct scratch {
    float w[SQ_KCHUNK];
    uint8_t code[SQ_KCHUNK], id[SQ_KCHUNK];
    float acc[SQ_KNB * SQ_KL];
} scratch;

/* Tables of group g's BF16 scale/min (packed, k clusters) as float. */
static void packed_tables(const sq_linear *L, size_t p, float *ts, float *tm)
{
    const uint16_t *s = L->scale_bf16 + p * (size_t)L->k, *m = L->min_bf16 + p * (size_t)L->k;
    for (int c = 0; c < SQ_KTAB; c++) {
        ts[c] = c < L->k ? sq_kbf16(s[c]) : 0.0f;
        tm[c] = c < L->k ? sq_kbf16(m[c]) : 0.0f;
    }
}

/* Columns [j, e) of row r of a whole-row layout as float: a pointer into the weights
 * (F32) or into sc->w. part: the paper part (sym8). */
static const float *row_floats(const sq_kimpl *K, const sq_linear *L, int part, size_t r, size_t j, size_t e,
                               scratch *sc)
{
    size_t cols = L->cols, n = e - j;
    switch (L->kind) {
    case SQ_LIN_BF16: K->bf16_f32(L->w16 + r * cols + j, n, sc->w); return sc->w;
    case SQ_LIN_F16: K->f16_f32(L->w16 + r * cols + j, n, sc->w); return sc->w;
    case SQ_LIN_PAPER: /* sym8 */
        K->i8_f32((const int8_t *)L->parts[part].codes + r * cols + j, n, sc->w);
        return sc->w;
    case SQ_LIN_PACKED: { /* k > 1 */
        K->unpack(L->codes + r * L->row_bytes, j, L->bits, n, sc->code);
        K->unpack(L->ids + r * L->id_row_bytes, j, sq_kid_bits(L->k), n, sc->id);
        size_t gsz = group_size(L);
        float ts[SQ_KTAB], tm[SQ_KTAB];
        for (size_t s = j; s < e;) {
            size_t g = s / gsz, t = (g + 1) * gsz < e ? (g + 1) * gsz : e;
            packed_tables(L, L->group ? r * L->groups + g : 0, ts, tm);
            K->dequant(sc->code + (s - j), sc->id + (s - j), ts, tm, L->k, t - s, sc->w + (s - j));
            s = t;
        }
        return sc->w;
    }
    default: return L->w + r * cols + j;
    }
}

/* out[i] = dot16(row r, X_i) for nb inputs (ldx = cols). */
static void whole_row(const sq_kimpl *K, const sq_linear *L, int part, size_t r, const float *X, size_t nb, float *out,
                      scratch *sc)
{
    size_t cols = L->cols;
    memset(sc->acc, 0, nb * SQ_KL * sizeof(float));
    for (size_t j = 0; j < cols;) {
        size_t e = cols - j > SQ_KCHUNK ? j + SQ_KCHUNK : cols, nfull = (e - j) / SQ_KL;
        const float *w = row_floats(K, L, part, r, j, e, sc);
        K->lanes(w, X + j, cols, nb, nfull, sc->acc);
        if (e == cols) {
            K->reduce(sc->acc, nb, out);
            for (size_t t = j + nfull * SQ_KL; t < e; t++)
                for (size_t i = 0; i < nb; i++) out[i] = out[i] + w[t - j] * X[i * cols + t];
        }
        j = e;
    }
}

/* y[i] = y[i] + sum over groups of (s*A + m*X) for the codes of `codes_row` (k = 1
 * packed, or one affine paper part). */
static void factored_row(const sq_kimpl *K, const sq_linear *L, const uint8_t *codes_row, const sq_lin_part *P,
                         size_t r, const float *X, size_t nb, const float *gs, size_t G, float *y, scratch *sc)
{
    size_t cols = L->cols, gsz = group_size(L);
    for (size_t j = 0; j < cols;) {
        size_t e;
        if (gsz <= SQ_KCHUNK) e = j + (SQ_KCHUNK / gsz) * gsz;
        else {
            size_t gend = (j / gsz + 1) * gsz;
            e = gend < j + SQ_KCHUNK ? gend : j + SQ_KCHUNK;
        }
        if (e > cols) e = cols;
        K->unpack(codes_row, j, L->bits, e - j, sc->code);
        K->u8_f32(sc->code, e - j, sc->w);
        for (size_t s = j; s < e;) {
            size_t g = s / gsz, g0 = g * gsz, g1 = g0 + gsz < cols ? g0 + gsz : cols;
            size_t t = g1 < e ? g1 : e, nfull = (t - s) / SQ_KL;
            const float *w = sc->w + (s - j);
            if (s == g0) memset(sc->acc, 0, nb * SQ_KL * sizeof(float));
            K->lanes(w, X + s, cols, nb, nfull, sc->acc);
            if (t == g1) {
                size_t p = L->group ? r * L->groups + g : 0;
                float sc_, mn;
                if (P) {
                    sc_ = P->scale[p];
                    mn = P->min[p];
                } else {
                    sc_ = sq_kbf16(L->scale_bf16[p]);
                    mn = sq_kbf16(L->min_bf16[p]);
                }
                float A[SQ_KNB];
                K->reduce(sc->acc, nb, A);
                for (size_t i = 0; i < nb; i++) {
                    const float *x = X + i * cols;
                    for (size_t u = s + nfull * SQ_KL; u < t; u++) A[i] = A[i] + w[u - s] * x[u];
                    float Xg = gs ? gs[i * G + g] : sq_ksum16(x + g0, g1 - g0);
                    y[i] = y[i] + (sc_ * A[i] + mn * Xg);
                }
            }
            s = t;
        }
        j = e;
    }
}

/* y[i] = y[i] + sum over groups of s*A, A = dot16(table[code], X_i) (codebook). */
static void codebook_row(const sq_kimpl *K, const sq_linear *L, size_t r, const float *X, size_t nb, float *y,
                         scratch *sc)
{
    size_t cols = L->cols, gsz = group_size(L);
    const uint8_t *codes_row = L->codes + r * L->row_bytes;
    for (size_t j = 0; j < cols;) {
        size_t e;
        if (gsz <= SQ_KCHUNK) e = j + (SQ_KCHUNK / gsz) * gsz;
        else {
            size_t gend = (j / gsz + 1) * gsz;
            e = gend < j + SQ_KCHUNK ? gend : j + SQ_KCHUNK;
        }
        if (e > cols) e = cols;
        K->unpack(codes_row, j, L->bits, e - j, sc->code);
        K->lut_f32(sc->code, L->table, e - j, sc->w);
        for (size_t s = j; s < e;) {
            size_t g = s / gsz, g0 = g * gsz, g1 = g0 + gsz < cols ? g0 + gsz : cols;
            size_t t = g1 < e ? g1 : e, nfull = (t - s) / SQ_KL;
            const float *w = sc->w + (s - j);
            if (s == g0) memset(sc->acc, 0, nb * SQ_KL * sizeof(float));
            K->lanes(w, X + s, cols, nb, nfull, sc->acc);
            if (t == g1) {
                float sc_ = sq_kbf16(L->scale_bf16[L->group ? r * L->groups + g : 0]), A[SQ_KNB];
                K->reduce(sc->acc, nb, A);
                for (size_t i = 0; i < nb; i++) {
                    const float *x = X + i * cols;
                    for (size_t u = s + nfull * SQ_KL; u < t; u++) A[i] = A[i] + w[u - s] * x[u];
                    y[i] = y[i] + sc_ * A[i];
                }
            }
            s = t;
        }
        j = e;
    }
}

/* ---------------- one input: the implementation's row kernels ---------------- */

/* Rows [r0, r1) of L times the single input x through the row-kernel table F, R = F->rows
 * rows per pass (bias not added). Returns 0 with nothing written when F has no kernel
 * for this layout and width or the geometry isn't one they handle (groups of whole
 * blocks of 16 that divide the row): the per-row path runs instead. */
/* Whether F's fused packed k > 1 kernels (one input or tiles) take L: widths in their
 * tables, groups of whole blocks of 16 that divide the row, ids of 1 or 2 bits (k <= 4),
 * and no scale that overflows a fused s*code + m. */
static int packedk_fused_ok(const sq_krows *F, const sq_linear *L)
{
    const size_t gsz = group_size(L);
    const int ib = sq_kid_bits(L->k);
    return L->kind == SQ_LIN_PACKED && L->k > 1 && L->bits >= 1 && L->bits <= SQ_KMAX_BITS && gsz % 16 == 0 &&
           L->cols % gsz == 0 && (ib == 1 || ib == 2) && !(F->fma && L->scale_big);
}

static int matvec_rows(const sq_krows *F, const sq_linear *L, const float *x, const float *gs, size_t r0, size_t r1,
                       float *y)
{
    const size_t cols = L->cols, gsz = group_size(L), G = (cols + gsz - 1) / gsz, RM = (size_t)F->rows;
    const int bits = L->bits >= 1 && L->bits <= SQ_KMAX_BITS ? L->bits : 0;
    float t[SQ_KMAX_R];
    if (factored(L)) {
        const sq_kfrows_fn *fns = F->factored[bits];
        for (size_t R = 0; R < RM; R++)
            if (!fns[R]) return 0;
        if (!bits || gsz % 16 || cols % gsz || !gs) return 0;
        for (size_t r = r0; r < r1; r += RM) {
            const size_t R = r1 - r < RM ? r1 - r : RM;
            memset(t, 0, sizeof t);
            if (L->kind == SQ_LIN_PACKED) fns[R - 1](L, L->codes + r * L->row_bytes, L->row_bytes, NULL, r, x, gs, G, t);
            else /* the parts in order, as the per-row path adds them */
                for (int c = 0; c < L->k; c++)
                    fns[R - 1](L, L->parts[c].codes + r * L->row_bytes, L->row_bytes, &L->parts[c], r, x, gs, G, t);
            memcpy(y + r, t, R * sizeof(float));
        }
        return 1;
    }
    if (L->kind == SQ_LIN_PACKED) {
        if (!packedk_fused_ok(F, L)) return 0;
        const sq_kpkrows_fn *fns = F->packedk[bits][sq_kid_bits(L->k) - 1];
        for (size_t R = 0; R < RM; R++)
            if (!fns[R]) return 0;
        for (size_t r = r0; r < r1; r += RM) {
            const size_t R = r1 - r < RM ? r1 - r : RM;
            fns[R - 1](L, r, x, t);
            memcpy(y + r, t, R * sizeof(float));
        }
        return 1;
    }
    const int sym8 = L->kind == SQ_LIN_PAPER && L->sym8;
    if (cols % 16 || !(L->kind == SQ_LIN_BF16 || sym8)) return 0;
    const sq_kwrows_fn *fns = sym8 ? F->sym8 : F->bf16;
    for (size_t R = 0; R < RM; R++)
        if (!fns[R]) return 0;
    for (size_t r = r0; r < r1; r += RM) {
        const size_t R = r1 - r < RM ? r1 - r : RM;
        if (!sym8) {
            fns[R - 1](L, 0, r, x, t);
            memcpy(y + r, t, R * sizeof(float));
        } else { /* y = sum over parts of scale * dot, in part order */
            float u[SQ_KMAX_R] = {0};
            for (int c = 0; c < L->k; c++) {
                fns[R - 1](L, c, r, x, t);
                for (size_t i = 0; i < R; i++) u[i] = u[i] + L->parts[c].scale[r + i] * t[i];
            }
            memcpy(y + r, u, R * sizeof(float));
        }
    }
    return 1;
}

/* ---------------- a batch: the implementation's tile kernel ---------------- */

/* Rows [r0, r0 + R*(rows / R)) x inputs [0, N*(n / N)) of a packed k > 1 layer through
 * F's tile kernel (bias added); *rt, *nt: the end of the rows and inputs it covered (r0
 * and 0 when it has none for this layout, or the geometry is not one it handles). */
static void packedk_tiles(const sq_krows *F, const sq_linear *L, const float *X, size_t n, float *Y, size_t r0,
                          size_t r1, size_t *rt, size_t *nt)
{
    const size_t cols = L->cols, rows = L->rows;
    *rt = r0;
    *nt = 0;
    if (!packedk_fused_ok(F, L) || n < SQ_KTILE_N || r1 - r0 < SQ_KTILE_R) return;
    const sq_kpktile_fn fn = F->packedk_tile[L->bits][sq_kid_bits(L->k) - 1];
    if (!fn) return;
    const size_t R = SQ_KTILE_R, N = SQ_KTILE_N, re = r0 + (r1 - r0) / R * R, ne = n / N * N;
    float y[SQ_KTILE_R * SQ_KTILE_N];
    for (size_t r = r0; r < re; r += R)
        for (size_t i = 0; i < ne; i += N) {
            fn(L, r, X + i * cols, y);
            for (size_t t = 0; t < N; t++)
                for (size_t q = 0; q < R; q++)
                    Y[(i + t) * rows + r + q] = L->bias ? y[t * R + q] + L->bias[r + q] : y[t * R + q];
        }
    *rt = re;
    *nt = ne;
}

static void rows_generic(const sq_kimpl *K, const sq_linear *L, const float *X, size_t n, float *Y, const float *gs,
                         size_t r0, size_t r1, size_t i_first);

void sq_kernels_rows(const sq_kimpl *K, const sq_linear *L, const float *X, size_t n, float *Y, const float *gs,
                     size_t r0, size_t r1)
{
    /* one input (token-by-token decoding): the implementation's several-rows kernel */
    if (n == 1 && K->matvec && (gs || !factored(L)) && matvec_rows(K->matvec, L, X, gs, r0, r1, Y)) {
        if (L->bias)
            for (size_t r = r0; r < r1; r++) Y[r] = Y[r] + L->bias[r];
        return;
    }
    /* a batch: tiles of rows x inputs where the implementation has them, the rest per row
       (each (row, input) is computed alone either way: the same bits) */
    size_t rt = r0, nt = 0;
    if (n > 1 && K->matvec) packedk_tiles(K->matvec, L, X, n, Y, r0, r1, &rt, &nt);
    if (rt > r0 && nt < n) rows_generic(K, L, X, n, Y, gs, r0, rt, nt);
    rows_generic(K, L, X, n, Y, gs, rt, r1, 0);
}

/* y[i] = dot16(dequantized row r, X_i), i < nb, of a packed k > 1 layer through the
 * implementation's fused row kernel: all nb inputs at once, or, for one that takes at
 * most 4 (AVX2), 4 at a time, each row decoded once per 4 inputs. 0 when it takes
 * neither (then y may be partly written: the caller's generic path writes all of it). */
static int packedk_chunks(const sq_kimpl *K, const sq_linear *L, size_t r, const float *X, size_t nb, float *y)
{
    if (!K->packedk_row) return 0;
    if (K->packedk_row(L, r, X, nb, y)) return 1;
    if (nb <= 4) return 0;
    for (size_t i = 0; i < nb; i += 4)
        if (!K->packedk_row(L, r, X + i * L->cols, nb - i < 4 ? nb - i : 4, y + i)) return 0;
    return 1;
}

/* Rows [r0, r1) on inputs [i_first, n), one row at a time. */
static void rows_generic(const sq_kimpl *K, const sq_linear *L, const float *X, size_t n, float *Y, const float *gs,
                         size_t r0, size_t r1, size_t i_first)
{
    scratch sc;
    size_t rows = L->rows, cols = L->cols, gsz = group_size(L), G = (cols + gsz - 1) / gsz;
    float y[SQ_KNB], t[SQ_KNB];
    for (size_t r = r0; r < r1; r++) {
        for (size_t i0 = i_first; i0 < n; i0 += SQ_KNB) {
            size_t nb = n - i0 < SQ_KNB ? n - i0 : SQ_KNB;
            const float *Xb = X + i0 * cols, *gsb = gs ? gs + i0 * G : NULL;
            switch (L->kind) {
            case SQ_LIN_PACKED:
                if (L->k == 1) {
                    const uint8_t *row = L->codes + r * L->row_bytes;
                    for (size_t i = 0; i < nb; i++) y[i] = 0.0f;
                    if (!(K->factored_row && gsb && K->factored_row(L, row, NULL, r, Xb, nb, gsb, y)))
                        factored_row(K, L, row, NULL, r, Xb, nb, gsb, G, y, &sc);
                } else {
                    if (packedk_chunks(K, L, r, Xb, nb, y)) break;
                    whole_row(K, L, 0, r, Xb, nb, y, &sc);
                }
                break;
            case SQ_LIN_PAPER:
                for (size_t i = 0; i < nb; i++) y[i] = 0.0f;
                for (int c = 0; c < L->k; c++) {
                    const sq_lin_part *P = &L->parts[c];
                    if (L->sym8) {
                        if (!(K->sym8_row && K->sym8_row(L, c, r, Xb, nb, t))) whole_row(K, L, c, r, Xb, nb, t, &sc);
                        for (size_t i = 0; i < nb; i++) y[i] = y[i] + P->scale[r] * t[i];
                    } else {
                        const uint8_t *row = P->codes + r * L->row_bytes;
                        if (!(K->factored_row && gsb && K->factored_row(L, row, P, r, Xb, nb, gsb, y)))
                            factored_row(K, L, row, P, r, Xb, nb, gsb, G, y, &sc);
                    }
                }
                break;
            case SQ_LIN_CODEBOOK:
                for (size_t i = 0; i < nb; i++) y[i] = 0.0f;
                codebook_row(K, L, r, Xb, nb, y, &sc);
                break;
            case SQ_LIN_BF16:
                if (K->bf16_row && K->bf16_row(L, r, Xb, nb, y)) break;
                whole_row(K, L, 0, r, Xb, nb, y, &sc);
                break;
            default: whole_row(K, L, 0, r, Xb, nb, y, &sc); break;
            }
            for (size_t i = 0; i < nb; i++) Y[(i0 + i) * rows + r] = L->bias ? y[i] + L->bias[r] : y[i];
        }
    }
}

/* ---------------- vector helpers (attention) ---------------- */

void sq_vec_dots(const float *q, const float *K, size_t ldk, size_t T, size_t n, float *out)
{
    const sq_kimpl *Ki = sq_kernels_get();
    float acc[SQ_KNB * SQ_KL];
    size_t nb = n / SQ_KL;
    for (size_t t0 = 0; t0 < T; t0 += SQ_KNB) { /* q is the shared "weight", rows of K the inputs */
        size_t nin = T - t0 < SQ_KNB ? T - t0 : SQ_KNB;
        memset(acc, 0, nin * SQ_KL * sizeof(float));
        Ki->lanes(q, K + t0 * ldk, ldk, nin, nb, acc);
        Ki->reduce(acc, nin, out + t0);
        for (size_t i = 0; i < nin; i++)
            for (size_t d = nb * SQ_KL; d < n; d++) out[t0 + i] = out[t0 + i] + q[d] * K[(t0 + i) * ldk + d];
    }
}

static void wsum_scalar(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o)
{
    for (size_t d = 0; d < n; d++) o[d] = 0.0f;
    for (size_t t = 0; t < T; t++)
        for (size_t d = 0; d < n; d++) o[d] = o[d] + p[t] * V[t * ldv + d];
}

void sq_vec_wsum(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o)
{
    const sq_kimpl *Ki = sq_kernels_get();
    (Ki->wsum ? Ki->wsum : wsum_scalar)(p, V, ldv, T, n, o);
}

/* ---------------- dispatch and threads ---------------- */

#define MULTI_MAX 8
/* Below this many multiply-adds a call runs on the calling thread. */
#define PAR_MIN_WORK (1u << 16)

typedef struct job {
    const sq_kimpl *K;
    const float *X;
    size_t n;
    int count;
    const sq_linear *L[MULTI_MAX];
    float *Y[MULTI_MAX];
    float *gs[MULTI_MAX];
    const sq_q8act *A;           /* the quantized input (int8 activations), or NULL */
    int q8[MULTI_MAX];           /* layer c takes the int8-activation path */
    size_t per[MULTI_MAX];       /* rows per task */
    size_t first[MULTI_MAX + 1]; /* first task of each layer */
} job;

static void rows_of(const job *jb, int c, size_t r0, size_t r1)
{
    if (jb->q8[c] && sq_kernels_rows_q8(jb->K, jb->L[c], jb->A, jb->Y[c], r0, r1)) return;
    sq_kernels_rows(jb->K, jb->L[c], jb->X, jb->n, jb->Y[c], jb->gs[c], r0, r1);
}

static void run_task(void *arg, size_t i)
{
    const job *jb = arg;
    int c = 0;
    while (c + 1 < jb->count && i >= jb->first[c + 1]) c++;
    const sq_linear *L = jb->L[c];
    size_t r0 = (i - jb->first[c]) * jb->per[c], r1 = r0 + jb->per[c] < L->rows ? r0 + jb->per[c] : L->rows;
    if (r0 < r1) rows_of(jb, c, r0, r1);
}

void sq_linear_matmul_multi(const sq_linear *const *Ls, float *const *Ys, int count, const float *X, size_t n,
                            const sq_exec *ex)
{
    if (n == 0 || count <= 0) return;
    if (count > MULTI_MAX) {
        sq_linear_matmul_multi(Ls, Ys, MULTI_MAX, X, n, ex);
        sq_linear_matmul_multi(Ls + MULTI_MAX, Ys + MULTI_MAX, count - MULTI_MAX, X, n, ex);
        return;
    }
    job jb;
    memset(&jb, 0, sizeof jb);
    jb.K = sq_kernels_get();
    jb.X = X;
    jb.n = n;
    jb.count = count;
    double work = 0;
    sq_q8act A;
    int have_q8 = 0;
    for (int c = 0; c < count; c++) {
        const sq_linear *L = Ls[c];
        jb.L[c] = L;
        jb.Y[c] = Ys[c];
        work += (double)L->rows * (double)L->cols * (double)n;
        if (ex && ex->act == SQ_ACT_INT8 && sq_kq8_qualifies(L)) {
            if (!have_q8) have_q8 = sq_q8act_make(&A, X, n, L->cols) == 0 ? 1 : -1;
            if (have_q8 == 1) {
                jb.A = &A;
                jb.q8[c] = 1;
            }
        }
        if (factored(L) && !jb.q8[c]) { /* group sums, shared by all rows (NULL: computed per row) */
            size_t gsz = group_size(L), G = (L->cols + gsz - 1) / gsz;
            jb.gs[c] = malloc(n * G * sizeof(float));
            if (jb.gs[c]) group_sums(L, X, n, jb.gs[c]);
        }
    }
    int threads = ex && ex->parallel ? ex->threads : 1;
    size_t tasks = 0;
    if (threads > 1 && work >= PAR_MIN_WORK) {
        /* about 8 tasks per thread over all layers, split in proportion to their work (the
         * host's threads claim them as they go, which evens out uneven progress) */
        double per_task = work / (8.0 * threads);
        for (int c = 0; c < count; c++) {
            const sq_linear *L = Ls[c];
            double row_work = (double)L->cols * (double)n;
            size_t per = (size_t)(per_task / row_work);
            if (jb.q8[c]) per = (per + SQ_Q8_PAIRS - 1) / SQ_Q8_PAIRS * SQ_Q8_PAIRS; /* whole tiles */
            if (per < 1) per = 1;
            if (per > L->rows) per = L->rows;
            jb.per[c] = per;
            jb.first[c] = tasks;
            tasks += (L->rows + per - 1) / per;
        }
        jb.first[count] = tasks;
        ex->parallel(ex->pool, tasks, run_task, &jb);
    } else {
        for (int c = 0; c < count; c++) rows_of(&jb, c, 0, Ls[c]->rows);
    }
    for (int c = 0; c < count; c++) free(jb.gs[c]);
    if (have_q8 == 1) sq_q8act_free(&A);
}

void sq_linear_matmul_ex(const sq_linear *L, const float *X, size_t n, float *Y, const sq_exec *ex)
{
    sq_linear_matmul_multi(&L, &Y, 1, X, n, ex);
}

void sq_linear_matmul(const sq_linear *L, const float *X, size_t n, float *Y)
{
    sq_linear_matmul_multi(&L, &Y, 1, X, n, NULL);
}

void sq_linear_matvec(const sq_linear *L, const float *x, float *y)
{
    sq_linear_matmul_multi(&L, &y, 1, x, 1, NULL);
}
