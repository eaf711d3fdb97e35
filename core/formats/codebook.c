/* codebook.c - quantizing to the `codebook` format and back (see codebook.h, FORMAT.md),
 * and the format's descriptor hooks (formats.h) at the end.
 *
 * Three steps per tensor, all deterministic (float32/double arithmetic in a fixed order,
 * no fused multiply-add; the same bytes natively and in wasm):
 *   1. each group's absmax a_p; the weights normalised by s0_p = a_p / 127 land in
 *      [-127, 127]. A 1024-bin histogram of those values, each weighted by s0_p^2 (so
 *      that its k-means minimises the squared error of the weights themselves, not of
 *      the normalised values), is summed in row order.
 *   2. Lloyd's k-means (k = 2^bits) over the histogram, started at its weighted
 *      quantiles; the centres rounded to int8 (made distinct) are the table.
 *   3. per group, the BF16 scale with the least squared error among candidates
 *      0.80..1.24 x a_p / max|table| (a coarse pass, then around its best) (plain absmax scaling wastes the outer levels on
 *      one weight per group), then the codes: the nearest table entry of w / scale
 *      (ties to the lower entry).
 * tools/formats_lab.py measured the choices (table per tensor vs per row, scale search
 * vs absmax, BF16 vs F16 scales, one round vs alternating table and scale fits).
 */
#include "codebook.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../dtype.h"
#include "../quant/pipeline_int.h"
#include "../quant/qfile.h"
#include "../quant/quant.h"

#define NBINS 1024     /* histogram of normalised values: 0.25 wide over [-128, 128) */
#define NCAND 45       /* scale candidates per group: 0.80 .. 1.24 x absmax / max|table| */
#define LLOYD_ITERS 100

size_t sq_cb_group_size(int policy, size_t cols)
{
    if (policy == SQ_GROUP_AUTO) return cols > SQ_CB_AUTO_GROUP ? SQ_CB_AUTO_GROUP : cols;
    return sq_group_size(policy, cols);
}

typedef struct geom {
    size_t rows, cols, gsz, G, P;
} geom;

static geom make_geom(size_t rows, size_t cols, size_t group)
{
    geom g;
    g.rows = rows;
    g.cols = cols;
    g.gsz = group && group < cols ? group : cols;
    g.G = group ? (cols + g.gsz - 1) / g.gsz : 1;
    g.P = group ? rows * g.G : 1;
    return g;
}

size_t sq_cb_scratch(size_t rows, size_t cols, size_t group)
{
    geom g = make_geom(rows, cols, group);
    return 2 * NBINS * sizeof(double) + 2 * g.P * sizeof(float) + cols + 16;
}

/* w / s as the encoder sees it: a multiply by 1/s where that is exact enough to be a
 * definition (normal s), else the division; 0 when s is 0. */
static inline float normalise(float w, float s, float inv, int use_inv)
{
    if (use_inv) return w * inv;
    return s != 0.0f ? w / s : 0.0f;
}

/* The index of the nearest table entry of u: the count of midpoints below it (they
 * ascend strictly, so a binary search over the 2^b - 1 of them finds it). */
static inline unsigned nearest(float u, const float *mid, int nmid)
{
    unsigned q = 0;
    for (unsigned step = (unsigned)(nmid + 1) >> 1; step; step >>= 1)
        if (u > mid[q + step - 1]) q += step;
    return q;
}

typedef struct tab {
    int K;
    float tv[SQ_CB_MAX_ENTRIES];  /* table values as float */
    float mid[SQ_CB_MAX_ENTRIES]; /* midpoints between neighbours (exact half-integers) */
} tab;

/* Sum of squared errors of n weights quantized with scale s. */
static double span_err(const float *w, size_t n, float s, const tab *t)
{
    float inv = s != 0.0f ? 1.0f / s : 0.0f;
    int use_inv = s >= FLT_MIN && isfinite(inv);
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned q = nearest(normalise(w[i], s, inv, use_inv), t->mid, t->K - 1);
        float d = w[i] - s * t->tv[q];
        e += (double)d * (double)d;
    }
    return e;
}

/* Step 2: the table from the weighted histogram (W: weights, X: weighted sums). */
static void learn_table(const double *W, const double *X, int K, int8_t *table)
{
    double c[SQ_CB_MAX_ENTRIES], total = 0;
    for (int b = 0; b < NBINS; b++) total += W[b];
    if (total > 0) {
        /* weighted quantiles: the mean of the bin where the cumulative weight crosses */
        double cum = 0;
        int b = 0;
        for (int i = 0; i < K; i++) {
            double want = ((double)i + 0.5) / (double)K * total;
            while (b < NBINS - 1 && (W[b] == 0 || cum + W[b] < want)) cum += W[b++];
            c[i] = W[b] > 0 ? X[b] / W[b] : (double)b / 4.0 - 128.0;
        }
        for (int it = 0; it < LLOYD_ITERS; it++) {
            double sw[SQ_CB_MAX_ENTRIES] = {0}, sx[SQ_CB_MAX_ENTRIES] = {0};
            int cell = 0;
            for (int bb = 0; bb < NBINS; bb++) {
                if (W[bb] == 0) continue;
                double x = X[bb] / W[bb];
                while (cell < K - 1 && x > (c[cell] + c[cell + 1]) / 2) cell++;
                sw[cell] += W[bb];
                sx[cell] += X[bb];
            }
            int moved = 0;
            for (int i = 0; i < K; i++) {
                double n = sw[i] > 0 ? sx[i] / sw[i] : c[i];
                if (n != c[i]) moved = 1;
                c[i] = n;
            }
            /* keep the centres ascending (an empty cell may keep a stale centre) */
            for (int i = 1; i < K; i++)
                if (c[i] < c[i - 1]) c[i] = c[i - 1];
            if (!moved) break;
        }
    } else {
        for (int i = 0; i < K; i++) c[i] = -127.0 + 254.0 * i / (K - 1); /* all zeros: any grid */
    }
    /* int8 entries, ascending and distinct, within [-127, 127] */
    int v[SQ_CB_MAX_ENTRIES];
    for (int i = 0; i < K; i++) {
        double r = rint(c[i]);
        v[i] = r < -127 ? -127 : r > 127 ? 127 : (int)r;
    }
    for (int i = 1; i < K; i++)
        if (v[i] <= v[i - 1]) v[i] = v[i - 1] + 1;
    for (int i = K - 1; i >= 0; i--) {
        int hi = 127 - (K - 1 - i);
        if (i < K - 1 && v[i + 1] - 1 < hi) hi = v[i + 1] - 1;
        if (v[i] > hi) v[i] = hi;
    }
    for (int i = 0; i < K; i++) table[i] = (int8_t)v[i];
}

static void make_tab(const int8_t *table, int K, tab *t)
{
    t->K = K;
    for (int i = 0; i < K; i++) t->tv[i] = (float)table[i];
    for (int i = 0; i + 1 < K; i++) t->mid[i] = (t->tv[i] + t->tv[i + 1]) * 0.5f;
}

void sq_cb_quantize(const float *w, size_t rows, size_t cols, size_t group, int bits, int8_t *table,
                    uint16_t *scale_bf16, uint8_t *codes_packed, float *deq, double *sse, void *scratch)
{
    geom g = make_geom(rows, cols, group);
    int K = 1 << bits;
    double *W = scratch, *X = W + NBINS;
    float *amax = (float *)(X + NBINS), *s0 = amax + g.P;
    uint8_t *code = (uint8_t *)(s0 + g.P);
    memset(W, 0, 2 * NBINS * sizeof(double));

    /* 1. absmax per parameter set, then the weighted histogram in row order */
    for (size_t p = 0; p < g.P; p++) amax[p] = 0.0f;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t p = group ? r * g.G + c / g.gsz : 0;
            float a = fabsf(w[r * cols + c]);
            if (a > amax[p]) amax[p] = a;
        }
    for (size_t p = 0; p < g.P; p++) s0[p] = amax[p] / 127.0f;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t p = group ? r * g.G + c / g.gsz : 0;
            if (s0[p] == 0.0f) continue; /* an all-zero group: any table fits it */
            float u = w[r * cols + c] / s0[p];
            int b = (int)floorf((u + 128.0f) * 4.0f);
            b = b < 0 ? 0 : b >= NBINS ? NBINS - 1 : b;
            double wt = (double)s0[p] * (double)s0[p];
            W[b] += wt;
            X[b] += wt * (double)u;
        }

    /* 2. the table */
    learn_table(W, X, K, table);
    tab t;
    make_tab(table, K, &t);
    float tmax = fabsf(t.tv[0]) > fabsf(t.tv[K - 1]) ? fabsf(t.tv[0]) : fabsf(t.tv[K - 1]);

    /* 3. the scales: per parameter set, the best (first on ties) of the candidates
       f_j * a_p / tmax, f_j = 0.80 + 0.01 j: every 4th first, then the 3 either side of
       the best of those */
    float f[NCAND];
    for (int j = 0; j < NCAND; j++) f[j] = (80.0f + (float)j) / 100.0f;
    for (size_t p = 0; p < g.P; p++) {
        float base = amax[p] / tmax, best_s = 0.0f;
        double best = INFINITY;
        int best_j = 0;
        for (int pass = 0; pass < 2; pass++) {
            int j0 = pass ? best_j - 3 : 0, j1 = pass ? best_j + 3 : NCAND - 1, step = pass ? 1 : 4;
            if (j0 < 0) j0 = 0;
            if (j1 > NCAND - 1) j1 = NCAND - 1;
            for (int j = j0; j <= j1; j += step) {
                if (pass && j % 4 == 0) continue; /* seen in the first pass */
                float s = sq_bf16_to_f32(sq_f32_to_bf16(base * f[j]));
                double e = 0;
                if (group) {
                    size_t r = p / g.G, c0 = (p % g.G) * g.gsz, n = c0 + g.gsz < cols ? g.gsz : cols - c0;
                    e = span_err(w + r * cols + c0, n, s, &t);
                } else {
                    for (size_t r = 0; r < rows; r++) e += span_err(w + r * cols, cols, s, &t);
                }
                if (e < best || (e == best && j < best_j)) {
                    best = e;
                    best_s = s;
                    best_j = j;
                }
            }
        }
        scale_bf16[p] = sq_f32_to_bf16(best_s); /* exact: best_s is a BF16 value */
    }

    /* the codes, the dequantized values and the error */
    size_t rb = sq_packed_row_bytes(cols, bits);
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < cols;) {
            size_t p = group ? r * g.G + c / g.gsz : 0;
            size_t end = group ? (c / g.gsz + 1) * g.gsz : cols;
            if (end > cols) end = cols;
            float s = sq_bf16_to_f32(scale_bf16[p]);
            float inv = s != 0.0f ? 1.0f / s : 0.0f;
            int use_inv = s >= FLT_MIN && isfinite(inv);
            for (; c < end; c++) {
                float x = w[r * cols + c];
                unsigned q = nearest(normalise(x, s, inv, use_inv), t.mid, K - 1);
                float v = s * t.tv[q];
                float d = x - v;
                total += (double)d * (double)d;
                code[c] = (uint8_t)q;
                if (deq) deq[r * cols + c] = v;
            }
        }
        sq_pack_row(code, cols, bits, codes_packed + r * rb);
    }
    *sse = total;
}

void sq_cb_dequant(const uint8_t *codes_packed, const int8_t *table, const uint16_t *scale_bf16, size_t rows,
                   size_t cols, size_t group, int bits, float *out)
{
    geom g = make_geom(rows, cols, group);
    size_t rb = sq_packed_row_bytes(cols, bits);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t p = group ? r * g.G + c / g.gsz : 0;
            size_t bit = c * (size_t)bits, byte = bit >> 3;
            unsigned v = codes_packed[r * rb + byte] >> (bit & 7);
            if ((bit & 7) + (size_t)bits > 8) v |= (unsigned)codes_packed[r * rb + byte + 1] << (8 - (bit & 7));
            v &= (1u << bits) - 1u;
            out[r * cols + c] = sq_bf16_to_f32(scale_bf16[p]) * (float)table[v];
        }
}

/* ---------------- the descriptor's hooks ---------------- */

/* codes, the int8 table of 2^bits levels, one BF16 scale per parameter set */
int sq_cb_parts(const sq_qgeom *g, sq_qpart *o)
{
    o[0] = sq_qpart_make(".sq.codes", SQ_DT_U8, 2, g->rows, g->row_bytes);
    o[1] = sq_qpart_make(".sq.table", SQ_DT_I8, 1, (size_t)1 << g->bits, 0);
    o[2] = sq_qpart_make(".sq.scale", SQ_DT_BF16, 1, g->params, 0);
    return 3;
}

/* One table per tensor, so the whole tensor is quantized on this thread in one call,
 * then written. mse_plain: the packed format's plain quantization (k = 1) with the same
 * bits at its own default groups, the baseline this format is meant to beat at equal
 * size. */
int sq_cb_quantize_weight(const qrun *r, const weight_in *in, const layout *L, const sq_kmeans_result *km,
                          sq_layer_stats *st, sq_err *e)
{
    (void)km; /* k is 1: the levels are its clusters */
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    sq_st_writer *w = r->w;
    const float *x = in->x;
    int rc;
    if ((rc = sq_queue_flush_all(r, e))) return rc;
    size_t K = (size_t)1 << o->bits;
    uint8_t *packed = sq_wbuf_get(&ws->lone.packed, L->rows * L->row_bytes + 1, e);
    uint16_t *s16 = sq_wbuf_get(&ws->lone.s16, L->params * sizeof(uint16_t), e);
    void *scr = sq_wbuf_get(&ws->scratch, sq_cb_scratch(L->rows, L->cols, L->group), e);
    uint8_t *tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    if (!packed || !s16 || !scr || !tmp) return e->code;
    int8_t table[SQ_CB_MAX_ENTRIES];
    double sse = 0;
    sq_cb_quantize(x, L->rows, L->cols, L->group, o->bits, table, s16, packed, in->deq_out, &sse, scr);
    if ((rc = sq_stw_data(w, packed, L->rows * L->row_bytes, e))) return rc;
    if ((rc = sq_stw_data(w, table, K, e))) return rc;
    if ((rc = sq_put_u16(w, s16, L->params, tmp, WS_TMP, e))) return rc;
    st->mse = L->n ? sse / (double)L->n : 0;
    if (o->skip_plain || !L->n) {
        st->mse_plain = o->skip_plain ? NAN : 0;
        return SQ_OK;
    }
    size_t g = sq_group_size(o->group, L->cols), P = g ? L->rows * ((L->cols + g - 1) / g) : 1;
    size_t pr = g ? L->rows : 1, pc = g ? L->cols : L->n;
    uint8_t *codes = sq_wbuf_get(&ws->codes, L->n, e);
    float *deq = sq_wbuf_get(&ws->deq, L->n * sizeof(float), e);
    uint16_t *ps = sq_wbuf_get(&ws->scale, P * sizeof(uint16_t), e), *pm = sq_wbuf_get(&ws->min, P * sizeof(uint16_t), e);
    if (!codes || !deq || !ps || !pm) return e->code;
    sq_quant_clustered(x, NULL, 1, pr, pc, g ? g : L->n, o->bits, codes, ps, pm);
    sq_dequant_clustered(codes, NULL, 1, ps, pm, pr, pc, g ? g : L->n, deq);
    double sp = 0;
    for (size_t i = 0; i < L->n; i++) {
        double d = (double)deq[i] - (double)x[i];
        sp += d * d;
    }
    st->mse_plain = sp / (double)L->n;
    return SQ_OK;
}

int sq_cb_dequantize(const sq_qfile *q, const char *name, const sq_qtensor *d, float *out, sq_err *e)
{
    const sq_st_file *f = q->f;
    int8_t table[SQ_CB_MAX_ENTRIES];
    int rc = SQ_OK;
    uint8_t *packed = sq_malloc(d->rows * d->row_bytes + 1, e);
    uint16_t *s16 = sq_malloc(d->params * sizeof(uint16_t), e);
    if (!packed || !s16) { rc = e->code; goto done; }
    const sq_tensor_info *tc = sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->row_bytes, e);
    const sq_tensor_info *tt = tc ? sq_qfile_part(q, name, ".sq.table", SQ_DT_I8, 1, (int64_t)1 << d->bits, 0, e) : NULL;
    const sq_tensor_info *ts = tt ? sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 1, (int64_t)d->params, 0, e) : NULL;
    if (!ts || sq_st_read_raw(f, tc, packed, e) || sq_st_read_raw(f, tt, table, e) ||
        sq_qfile_read_u16(f, ts, s16, d->params, e)) {
        rc = e->code;
        goto done;
    }
    /* one group for the whole tensor: the codes are still packed per row */
    sq_cb_dequant(packed, table, s16, d->rows, d->cols, d->group, d->bits, out);
done:
    free(packed);
    free(s16);
    return rc;
}
