/* cluster.c - one tensor's values before quantization: the scan (conversion to float32,
 * finiteness, the BF16 histogram, in parallel parts), the k-means that splits them
 * into clusters, the layer's statistics, and the cluster id of each value.
 */
#include <math.h>
#include <string.h>

#include "pipeline_int.h"

uint64_t sq_name_seed(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *name; name++) h = (h ^ (uint8_t)*name) * 1099511628211ull;
    return h;
}

/* NaN and Inf are refused; so are magnitudes of 2^126 and more, whose ranges and scales
 * would overflow float32 (no real model comes near: BF16/F16 weights are far smaller). */
#define SQ_MAX_WEIGHT 0x1p126f
int sq_check_finite_at(const float *x, size_t n, size_t first, const char *name, sq_err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return sq_fail(e, SQ_EINPUT, "tensor '%s': element %zu is %s; refusing to quantize non-finite weights",
                           name, first + i, isnan(x[i]) ? "NaN" : "infinite");
        if (fabsf(x[i]) >= SQ_MAX_WEIGHT)
            return sq_fail(e, SQ_EINPUT, "tensor '%s': element %zu is %g; weights of magnitude 2^126 (8.5e37) or more would overflow float32 ranges and scales",
                           name, first + i, (double)x[i]);
    }
    return SQ_OK;
}

int sq_check_finite(const float *x, size_t n, const char *name, sq_err *e) { return sq_check_finite_at(x, n, 0, name, e); }

/* ---- reading a tensor: conversion to float32, finiteness, histogram, in parallel ----
 * The values are split into at most SCAN_TASKS parts (a count that depends only on n):
 * each converts its part from the source bytes, checks it and counts its own BF16
 * histogram; the tables are then summed. Integer counts: the same result in any order. */
#define SCAN_TASK_MIN ((size_t)1 << 16)
#define SCAN_BLOCK 8192

/* The statistics of m values (lo, hi, sum, bad), continuing p's: from BF16 source bytes
 * (raw, x NULL or the floats wanted back), or converted from raw into x (raw NULL: the
 * values are in x already). The sum adds in index order, whatever the blocks. */
static void scan_stats(scan_part *p, const uint8_t *raw, sq_dtype dtype, float *x, size_t m)
{
    float lo = p->lo, hi = p->hi;
    double sum = p->sum;
    uint32_t bad = 0;
    if (raw && dtype == SQ_DT_BF16) {
        const uint8_t *r = raw;
        for (size_t i = 0; i < m; i++, r += 2) {
            uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8, u = h << 16;
            float v;
            memcpy(&v, &u, sizeof v);
            bad |= (uint32_t)((h & 0x7F80u) >= 0x7E80u);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            sum += v;
        }
        if (x) sq_to_f32(SQ_DT_BF16, raw, x, m);
    } else {
        size_t es = sq_dtype_size(dtype);
        for (size_t s = 0; s < m; s += SCAN_BLOCK) {
            size_t mb = m - s < SCAN_BLOCK ? m - s : SCAN_BLOCK;
            float *xs = x + s;
            if (raw) sq_to_f32(dtype, raw + s * es, xs, mb);
            for (size_t i = 0; i < mb; i++) {
                float v = xs[i];
                uint32_t u;
                memcpy(&u, &v, sizeof u);
                bad |= (uint32_t)((u & 0x7F800000u) >= 0x7E800000u);
                if (v < lo) lo = v;
                if (v > hi) hi = v;
                sum += v;
            }
        }
    }
    p->lo = lo;
    p->hi = hi;
    p->sum = sum;
    p->bad |= bad;
}

static void part_reset(scan_part *p)
{
    p->low = p->bad = 0;
    p->lo = INFINITY;
    p->hi = -INFINITY;
    p->sum = 0;
}

static void scan_task(void *arg, size_t t)
{
    scan_job *j = arg;
    size_t a = t * j->per, b = a + j->per < j->n ? a + j->per : j->n;
    scan_part *p = &j->part[t];
    /* two tables per part: alternate values count into alternate tables (fewer
       read-after-write stalls on a bin), added up with the others afterwards */
    uint32_t *cnt = j->cnt ? j->cnt + 2 * t * (size_t)65536 : NULL, *cnt2 = cnt ? cnt + 65536 : NULL;
    size_t es = sq_dtype_size(j->dtype);
    part_reset(p);
    if (!cnt) { /* statistics only */
        scan_stats(p, j->raw ? j->raw + a * es : NULL, j->dtype, j->x ? j->x + a : NULL, b - a);
        return;
    }
    memset(cnt, 0, 2 * 65536 * sizeof *cnt);
    if (j->raw && j->dtype == SQ_DT_BF16) {
        /* BF16 source, the common case: straight from the bytes (the bin of a BF16 h is
           the high half of fkey(h << 16); -0 counts as +0); floats only when wanted */
        const uint8_t *r = j->raw + 2 * a;
        uint32_t ex = 0; /* bit 15: some exponent >= 253 (NaN, Inf or |x| >= 2^126) */
        /* bin: negative h: ~h, else h | 0x8000; -0 lands in 0x7FFF (no other h does),
           moved to +0's bin 0x8000 after the merge */
#define BIN(h) ((h) ^ (((0u - ((h) >> 15)) & 0x7FFFu) | 0x8000u))
        size_t i = a;
        for (; i + 2 <= b; i += 2, r += 4) {
            uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8, h2 = (uint32_t)r[2] | (uint32_t)r[3] << 8;
            ex |= ((h & 0x7F80u) + 0x180u) | ((h2 & 0x7F80u) + 0x180u);
            cnt[BIN(h)]++;
            cnt2[BIN(h2)]++;
        }
        if (i < b) {
            uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8;
            ex |= (h & 0x7F80u) + 0x180u;
            cnt[BIN(h)]++;
        }
#undef BIN
        if (j->x) sq_to_f32(SQ_DT_BF16, j->raw + 2 * a, j->x + a, b - a);
        p->bad = ex >> 15 & 1u;
        return;
    }
    for (size_t s = a; s < b; s += SCAN_BLOCK) {
        size_t m = b - s < SCAN_BLOCK ? b - s : SCAN_BLOCK;
        float *x = j->x + s;
        if (j->raw) sq_to_f32(j->dtype, j->raw + s * es, x, m);
        sq_hist_count(x, m, cnt, &p->low, &p->bad);
    }
}

/* The parts of a scan of n values: at most SCAN_TASKS, a count that depends on n alone
 * (and, with a histogram, on the threads: see sq_scan). */
static void scan_layout(scan_job *j, size_t n, int hist, int threads)
{
    j->n = n;
    size_t tasks = n / SCAN_TASK_MIN;
    if (tasks < 1) tasks = 1;
    if (tasks > SCAN_TASKS) tasks = SCAN_TASKS;
    /* a histogram is the same whatever the parts (integer counts): as many as threads
       can use (fewer tables to clear and add up); the sums of the statistics-only scan
       keep parts that depend on n alone, so the report does not depend on threads */
    if (hist && threads > 0 && tasks > 2 * (size_t)threads) tasks = 2 * (size_t)threads;
    j->per = (n + tasks - 1) / tasks;
    if (j->per == 0) j->per = 1;
    j->tasks = (n + j->per - 1) / j->per;
    if (j->tasks == 0) j->tasks = 1;
}

/* The parts into j->all, in part order. */
static void scan_merge(scan_job *j)
{
    j->all = j->part[0];
    for (size_t t = 1; t < j->tasks; t++) {
        const scan_part *p = &j->part[t];
        j->all.low |= p->low;
        j->all.bad |= p->bad;
        if (p->lo < j->all.lo) j->all.lo = p->lo;
        if (p->hi > j->all.hi) j->all.hi = p->hi;
        j->all.sum += p->sum;
    }
}

int sq_scan(workspace *ws, const uint8_t *raw, sq_dtype dtype, float *x, size_t n, int hist, int threads,
            const sq_quant_hooks *hooks, bg_task *bg, scan_job *j, sq_err *e)
{
    memset(j, 0, sizeof *j);
    j->raw = raw;
    j->dtype = raw ? dtype : SQ_DT_F32;
    j->x = x;
    scan_layout(j, n, hist, threads);
    if (hist && !(j->cnt = sq_wbuf_get(&ws->cnt, 2 * j->tasks * (size_t)65536 * sizeof(uint32_t), e))) return e->code;
    if (sq_run_with_io(hooks, j->tasks, scan_task, j, bg, e)) return e->code;
    scan_merge(j);
    for (size_t t = 1; hist && t < 2 * j->tasks; t++) { /* every table into the first */
        uint32_t *c0 = j->cnt, *ct = j->cnt + t * (size_t)65536;
        for (size_t d = 0; d < 65536; d++) c0[d] += ct[d];
    }
    if (hist && raw && dtype == SQ_DT_BF16) { /* -0 counts as +0 (see scan_task) */
        j->cnt[0x8000] += j->cnt[0x7FFF];
        j->cnt[0x7FFF] = 0;
    }
    return SQ_OK;
}

/* ---- the same statistics, block after block (a weight streamed in row blocks) ----
 * The parts are those of sq_scan of the whole tensor, each summed in index order as its
 * blocks come, so the sums (and the report) are the same bytes. This runs on the calling
 * thread: a part's sum is one chain of additions. */
void sq_scan_stream_begin(scan_job *j, size_t n)
{
    memset(j, 0, sizeof *j);
    scan_layout(j, n, 0, 0);
    for (size_t t = 0; t < j->tasks; t++) part_reset(&j->part[t]);
}

int sq_scan_stream_block(scan_job *j, const uint8_t *raw, sq_dtype dtype, float *x, size_t first, size_t m)
{
    size_t es = sq_dtype_size(dtype);
    uint32_t bad = 0;
    for (size_t i = 0; i < m;) {
        size_t t = (first + i) / j->per, end = (t + 1) * j->per - first; /* this part's last value + 1, in the block */
        size_t mi = (end < m ? end : m) - i;
        scan_part *p = &j->part[t];
        uint32_t was = p->bad;
        p->bad = 0;
        scan_stats(p, raw + i * es, dtype, x ? x + i : NULL, mi);
        bad |= p->bad;
        p->bad |= was;
        i += mi;
    }
    return bad != 0;
}

void sq_scan_stream_end(scan_job *j) { scan_merge(j); }

void sq_pad_bounds(const sq_kmeans_result *km, int k, float *b)
{
    for (int j = 0; j + 1 < k; j++) b[j] = km && j + 1 < km->k ? km->bounds[j] : INFINITY;
}

/* k-means of a scanned weight (k > 1; the histogram counted by the scan when every value
 * was a BF16) and the layer's statistics. */
int sq_cluster_scanned(const scan_job *sj, const float *x, size_t n, int k, uint64_t seed, sq_kmeans_result *km,
                       sq_layer_stats *st, sq_err *e)
{
    if (k == 1) {
        st->k = 1;
        st->min = st->cluster_min[0] = sj->all.lo;
        st->max = st->cluster_max[0] = sj->all.hi;
        st->range = st->max - st->min;
        st->centers[0] = sj->all.sum / (double)n;
        st->counts[0] = n;
        return SQ_OK;
    }
    sq_hist h;
    int rc = sj->cnt && !sj->all.low ? sq_hist_from_counts(&h, sj->cnt, n, e) : sq_hist_build(&h, x, n, e);
    if (rc) return rc;
    sq_kmeans_opts ko;
    memset(&ko, 0, sizeof ko);
    ko.k = k;
    ko.seed = seed;
    rc = sq_kmeans_hist(&h, &ko, km, e);
    if (!rc) {
        st->k = km->k;
        st->min = h.values[0];
        st->max = h.values[h.m - 1];
        st->range = st->max - st->min;
        for (int c = 0; c < km->k; c++) {
            st->centers[c] = km->centers[c];
            st->counts[c] = km->counts[c];
            st->cluster_min[c] = km->mins[c];
            st->cluster_max[c] = km->maxs[c];
        }
    }
    sq_hist_free(&h);
    return rc;
}

/* Cluster x (a bias: small, on this thread); fill ids and the statistics. */
int sq_cluster_values(const float *x, size_t n, int k, uint64_t seed, uint8_t *ids, sq_layer_stats *st, sq_err *e)
{
    sq_kmeans_result r;
    if (k == 1) { /* plain quantization: no clustering, just the statistics */
        double lo = x[0], hi = x[0], sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
            sum += x[i];
        }
        st->k = 1;
        st->min = st->cluster_min[0] = lo;
        st->max = st->cluster_max[0] = hi;
        st->range = hi - lo;
        st->centers[0] = sum / (double)n;
        st->counts[0] = n;
        if (ids) memset(ids, 0, n);
        return SQ_OK;
    }
    sq_kmeans_opts ko;
    memset(&ko, 0, sizeof ko);
    ko.k = k;
    ko.seed = seed;
    if (sq_kmeans(x, n, &ko, &r, e)) return e->code;
    st->k = r.k;
    double lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    st->min = lo;
    st->max = hi;
    st->range = hi - lo;
    for (int c = 0; c < r.k; c++) {
        st->centers[c] = r.centers[c];
        st->counts[c] = r.counts[c];
        st->cluster_min[c] = r.mins[c];
        st->cluster_max[c] = r.maxs[c];
    }
    if (ids)
        for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)sq_kmeans_assign(&r, x[i]);
    return SQ_OK;
}

