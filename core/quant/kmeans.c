/* kmeans.c - 1-D k-means over a weighted, sorted set of values (see kmeans.h).
 *
 * Layout of the work:
 *   sq_hist_build  one pass checks the data (finite? every value a BF16?) and counts the
 *                  high 16 bits of an order-preserving key (65 536 bins). BF16 data: the
 *                  bins are the histogram. Otherwise one scatter pass puts the keys into
 *                  their bins in one n-word buffer and each bin (1/128 of a binade) is
 *                  radix-sorted on the low 16 bits in cache. The only large allocation is
 *                  that buffer, which becomes the values (first-touch page faults of fresh
 *                  memory are the main cost of the whole build).
 *   prefix sums    counts, sum(w*v) and sum(w*v*v) sampled every KB entries (plain sums
 *                  inside a block, compensated double-double across blocks); a range sum
 *                  costs two block lookups plus at most 2*KB terms.
 *   E-step         1-D nearest-centre cells are contiguous ranges of the sorted values;
 *                  each boundary is a binary search with the plain predicate
 *                  |v - c_hi| < |v - c_lo| (ties -> lower centre).
 *   M-step         cell mean = sum(w*v) / sum(w) from the prefix sums.
 *   k-means++      potentials and D^2 sampling per cell in closed form from the prefix sums
 *                  (direct sums for short cells).
 * So a Lloyd iteration costs O(k (log m + KB)) whatever the tensor size.
 * No global state; all memory comes from sq_malloc/sq_calloc and is freed before return.
 */
#include "kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ random numbers */

typedef struct km_rng {
    uint64_t s[4];
} km_rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(km_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t rng_next(km_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return res;
}

/* Uniform double in [0, 1) with 53 random bits. */
static double rng_double(km_rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* ------------------------------------------------------------------ histogram */

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float u2f(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

void sq_hist_free(sq_hist *h)
{
    if (!h) return;
    free(h->values);
    free(h->counts);
    memset(h, 0, sizeof *h);
}

/* Order-preserving key of a float's bits (-0 folded into +0): unsigned order of keys ==
 * numeric order of the values. */
static uint32_t fkey(uint32_t u)
{
    u = (u == 0x80000000u) ? 0u : u;
    return u ^ ((0u - (u >> 31)) | 0x80000000u); /* negative: ~u, positive: u | sign */
}

static float unkey(uint32_t k) { return u2f((k & 0x80000000u) ? (k & 0x7FFFFFFFu) : ~k); }

/* Every value is a BF16: cnt[d] counts the keys whose high half is d; walk them in order. */
static int hist_bf16(sq_hist *h, const uint32_t *cnt, size_t n, sq_err *e)
{
    size_t m = 0;
    for (size_t d = 0; d < 65536; d++) m += cnt[d] != 0;
    h->values = sq_malloc(m * sizeof *h->values, e);
    h->counts = sq_malloc(m * sizeof *h->counts, e);
    if (!h->values || !h->counts) {
        sq_hist_free(h);
        return e ? e->code : SQ_EINTERNAL;
    }
    size_t j = 0;
    for (uint32_t d = 0; d < 65536; d++) {
        if (!cnt[d]) continue;
        uint32_t hb = (d & 0x8000u) ? (d & 0x7FFFu) : (~d & 0xFFFFu); /* BF16 bits of key d */
        h->values[j] = u2f(hb << 16);
        h->counts[j] = cnt[d];
        j++;
    }
    h->m = h->distinct = m;
    h->n = n;
    return SQ_OK;
}

/* Shrink an allocation (keeps it when realloc declines). */
static void *shrink(void *p, size_t bytes)
{
    void *q = realloc(p, bytes ? bytes : 1);
    return q ? q : p;
}

/* Sort keys a[0..len) that share their high 16 bits: insertion sort when short, else an
 * LSD radix sort on the low 16 bits (two 8-bit passes through tmp). */
static void sort_low16(uint32_t *a, size_t len, uint32_t *tmp)
{
    if (len <= 48) {
        for (size_t i = 1; i < len; i++) {
            uint32_t x = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1] > x) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return;
    }
    size_t c[2][256];
    memset(c, 0, sizeof c);
    for (size_t i = 0; i < len; i++) {
        c[0][a[i] & 0xFFu]++;
        c[1][(a[i] >> 8) & 0xFFu]++;
    }
    uint32_t *src = a, *dst = tmp;
    for (int p = 0; p < 2; p++) {
        size_t sum = 0;
        int trivial = 0;
        for (int d = 0; d < 256; d++) {
            size_t t = c[p][d];
            if (t == len) trivial = 1;
            c[p][d] = sum;
            sum += t;
        }
        if (trivial) continue;
        int shift = 8 * p;
        for (size_t i = 0; i < len; i++) dst[c[p][(src[i] >> shift) & 0xFFu]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, len * sizeof *a);
}

/* General path. cnt[d] counts the keys with high half d (from the checking pass). One
 * scatter pass puts the keys into their 65 536 buckets of one n-word buffer; each bucket
 * (small: it spans 1/128 of a binade) is sorted in cache. The sorted keys become the
 * values in place: as they are (counts NULL) when most values are distinct, else
 * run-length compacted with a counts array of m words. */
static int hist_sort(sq_hist *h, const float *x, size_t n, uint32_t *cnt, sq_err *e)
{
    uint32_t *a = sq_malloc(n * sizeof *a, e), *tmp = NULL;
    if (!a) return e ? e->code : SQ_EINTERNAL;
    uint32_t sum = 0, maxb = 0;
    for (size_t d = 0; d < 65536; d++) {
        uint32_t t = cnt[d];
        if (t > maxb) maxb = t;
        cnt[d] = sum; /* start of bucket d; after the scatter: its end */
        sum += t;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t k = fkey(f2u(x[i]));
        a[cnt[k >> 16]++] = k;
    }
    if (maxb > 48 && !(tmp = sq_malloc((size_t)maxb * sizeof *tmp, e))) {
        free(a);
        return e ? e->code : SQ_EINTERNAL;
    }
    size_t distinct = 0;
    for (size_t d = 0; d < 65536; d++) {
        size_t s = d ? cnt[d - 1] : 0, len = cnt[d] - s;
        if (!len) continue;
        sort_low16(a + s, len, tmp);
        distinct++;
        for (size_t i = s + 1; i < s + len; i++) distinct += a[i] != a[i - 1];
    }
    free(tmp);
    if (distinct * 2 <= n) { /* many repeats: run-length compact (values over a, j <= i) */
        uint32_t *counts = sq_malloc(distinct * sizeof *counts, e);
        if (!counts) {
            free(a);
            return e ? e->code : SQ_EINTERNAL;
        }
        size_t j = 0;
        for (size_t i = 0; i < n;) {
            size_t s = i;
            uint32_t k = a[i];
            while (i < n && a[i] == k) i++;
            float f = unkey(k);
            memcpy(&a[j], &f, sizeof f); /* the word becomes a float object */
            counts[j++] = (uint32_t)(i - s);
        }
        h->values = shrink(a, distinct * sizeof(float));
        h->counts = counts;
        h->m = distinct;
    } else { /* mostly distinct: the sorted data itself, every entry counts once */
        for (size_t i = 0; i < n; i++) {
            float f = unkey(a[i]);
            memcpy(&a[i], &f, sizeof f);
        }
        h->values = (float *)(void *)a;
        h->counts = NULL;
        h->m = n;
    }
    h->distinct = distinct;
    h->n = n;
    return SQ_OK;
}

void sq_hist_count(const float *x, size_t n, uint32_t *cnt, uint32_t *low, uint32_t *bad)
{
    uint32_t lo = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(x[i]);
        lo |= u;
        b |= (uint32_t)((u & 0x7F800000u) >= 0x7E800000u); /* NaN, Inf or |x| >= 2^126 */
        cnt[fkey(u) >> 16]++;
    }
    *low |= lo & 0xFFFFu;
    *bad |= b;
}

int sq_hist_from_counts(sq_hist *h, const uint32_t *cnt, size_t n, sq_err *e)
{
    memset(h, 0, sizeof *h);
    if ((uint64_t)n > UINT32_MAX) return sq_fail(e, SQ_EINPUT, "histogram: too many values to cluster (%zu, limit 2^32 - 1)", n);
    if (n == 0) return SQ_OK;
    return hist_bf16(h, cnt, n, e);
}

static int hist_build(sq_hist *h, const float *x, size_t n, int force_sort, sq_err *e)
{
    memset(h, 0, sizeof *h);
    if (n && !x) return sq_fail(e, SQ_EINPUT, "histogram: no data");
    if ((uint64_t)n > UINT32_MAX || n > SIZE_MAX / 8)
        return sq_fail(e, SQ_EINPUT, "histogram: too many values to cluster (%zu, limit 2^32 - 1)", n);
    if (n == 0) return SQ_OK;
    uint32_t *cnt = sq_calloc(65536, sizeof *cnt, e);
    if (!cnt) return e ? e->code : SQ_EINTERNAL;
    uint32_t low = 0, bad = 0;
    sq_hist_count(x, n, cnt, &low, &bad);
    int rc;
    if (bad) rc = sq_fail(e, SQ_EINPUT, "histogram: the data holds NaN, infinite or huge (|x| >= 2^126) values");
    else if (low == 0 && !force_sort) rc = hist_bf16(h, cnt, n, e);
    else rc = hist_sort(h, x, n, cnt, e);
    free(cnt);
    return rc;
}

int sq_hist_build(sq_hist *h, const float *x, size_t n, sq_err *e) { return hist_build(h, x, n, 0, e); }

int sq_hist_build_sorted(sq_hist *h, const float *x, size_t n, sq_err *e) { return hist_build(h, x, n, 1, e); }

/* ------------------------------------------------------------------ prefix sums */

#define KB 64 /* block length of the sampled prefix sums */

typedef struct dd {
    double hi, lo;
} dd;

/* a += x, compensated (TwoSum; needs no FMA contraction and no excess precision). */
static void dd_add(dd *a, double x)
{
    double s = a->hi + x;
    double bp = s - a->hi;
    double err = (a->hi - (s - bp)) + (x - bp);
    a->hi = s;
    a->lo += err;
}

static double dd_diff(dd a, dd b) { return (a.hi - b.hi) + (a.lo - b.lo); }

typedef struct km_pfx {
    const float *v;
    const uint32_t *w;
    size_t m, nb;
    uint64_t total; /* sum of the weights */
    uint64_t *c; /* c[b]: sum of w[0 .. b*KB) */
    dd *s1, *s2; /* same for w*v and w*v*v */
} km_pfx;

/* weight of entry i */
#define WT(p, i) ((p)->w ? (uint64_t)(p)->w[i] : (uint64_t)1)

typedef struct km_sum {
    uint64_t n;
    double s1, s2;
} km_sum;

static void pfx_free(km_pfx *p)
{
    free(p->c);
    free(p->s1);
    free(p->s2);
    memset(p, 0, sizeof *p);
}

static int pfx_build(km_pfx *p, const sq_hist *h, sq_err *e)
{
    memset(p, 0, sizeof *p);
    p->v = h->values;
    p->w = h->counts;
    p->m = h->m;
    p->nb = h->m / KB + 1;
    p->c = sq_malloc(p->nb * sizeof *p->c, e);
    p->s1 = sq_malloc(p->nb * sizeof *p->s1, e);
    p->s2 = sq_malloc(p->nb * sizeof *p->s2, e);
    if (!p->c || !p->s1 || !p->s2) {
        pfx_free(p);
        return e ? e->code : SQ_EINTERNAL;
    }
    /* per block: plain sums (64 terms, independent of each other), carried across blocks
       compensated */
    uint64_t c = 0;
    dd s1 = {0, 0}, s2 = {0, 0};
    for (size_t b = 0; b < p->nb; b++) {
        p->c[b] = c;
        p->s1[b] = s1;
        p->s2[b] = s2;
        size_t a = b * KB, e2 = a + KB < p->m ? a + KB : p->m;
        double b1 = 0, b2 = 0;
        if (p->w) {
            for (size_t i = a; i < e2; i++) {
                double wv = (double)p->w[i] * p->v[i];
                c += p->w[i];
                b1 += wv;
                b2 += wv * p->v[i];
            }
        } else {
            for (size_t i = a; i < e2; i++) {
                double v = p->v[i];
                b1 += v;
                b2 += v * v;
            }
            c += e2 - a;
        }
        dd_add(&s1, b1);
        dd_add(&s2, b2);
    }
    p->total = c;
    return SQ_OK;
}

/* Prefix sums of [0, i). */
static void pfx_at(const km_pfx *p, size_t i, uint64_t *n, dd *s1, dd *s2)
{
    size_t b = i / KB;
    *n = p->c[b];
    *s1 = p->s1[b];
    *s2 = p->s2[b];
    for (size_t t = b * KB; t < i; t++) {
        double wv = (double)WT(p, t) * p->v[t];
        *n += WT(p, t);
        dd_add(s1, wv);
        dd_add(s2, wv * p->v[t]);
    }
}

/* Sums over [a, b). */
static km_sum range_sum(const km_pfx *p, size_t a, size_t b)
{
    km_sum r = {0, 0, 0};
    if (b <= a) return r;
    if (b - a <= 2 * KB) {
        dd s1 = {0, 0}, s2 = {0, 0};
        for (size_t t = a; t < b; t++) {
            double wv = (double)WT(p, t) * p->v[t];
            r.n += WT(p, t);
            dd_add(&s1, wv);
            dd_add(&s2, wv * p->v[t]);
        }
        r.s1 = s1.hi + s1.lo;
        r.s2 = s2.hi + s2.lo;
        return r;
    }
    uint64_t na, nb;
    dd a1, a2, b1, b2;
    pfx_at(p, a, &na, &a1, &a2);
    pfx_at(p, b, &nb, &b1, &b2);
    r.n = nb - na;
    r.s1 = dd_diff(b1, a1);
    r.s2 = dd_diff(b2, a2);
    return r;
}

/* sum of w*(v-c)^2 over [a, b): directly for short ranges, in closed form otherwise. */
static double range_pot(const km_pfx *p, size_t a, size_t b, double c)
{
    if (b <= a) return 0;
    if (b - a <= 2 * KB) {
        double s = 0;
        for (size_t t = a; t < b; t++) {
            double d = p->v[t] - c;
            s += (double)WT(p, t) * d * d;
        }
        return s;
    }
    km_sum s = range_sum(p, a, b);
    double W = (double)s.n, mu = s.s1 / W;
    double within = s.s2 - s.s1 * mu;
    if (within < 0) within = 0;
    double d = mu - c;
    return within + W * d * d;
}

/* First index i with cumulative count of [0, i] > r (r < total). */
static size_t find_count(const km_pfx *p, uint64_t r)
{
    size_t lo = 0, hi = p->nb - 1; /* last block whose start count <= r */
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        if (p->c[mid] <= r) lo = mid;
        else hi = mid - 1;
    }
    uint64_t c = p->c[lo];
    size_t i = lo * KB;
    while (i + 1 < p->m && c + WT(p, i) <= r) c += WT(p, i++);
    return i;
}

/* ------------------------------------------------------------------ E-step */

/* Cells of sorted centres c[0..k-1] over the sorted values: cell j = [st[j], en[j]).
 * Boundary between consecutive distinct centres lo < hi: first value with
 * |v - hi| < |v - lo| (ties go to the lower centre). A centre equal to the previous one
 * gets an empty cell (ties go to the lower index). */
static void estep(const float *v, size_t m, const double *c, int k, size_t *st, size_t *en)
{
    size_t from = 0;
    int prev = 0;
    st[0] = 0;
    for (int j = 1; j < k; j++) {
        if (!(c[j] > c[prev])) { /* duplicate centre: empty cell */
            st[j] = en[j] = from; /* fixed below: placed at the start of the current cell */
            continue;
        }
        double a = c[prev], b = c[j];
        size_t L = from, R = m;
        while (L < R) {
            size_t mid = L + (R - L) / 2;
            if (fabs(v[mid] - b) < fabs(v[mid] - a)) R = mid;
            else L = mid + 1;
        }
        en[prev] = L;
        for (int t = prev + 1; t < j; t++) st[t] = en[t] = L; /* empty duplicates */
        st[j] = L;
        from = L;
        prev = j;
    }
    en[prev] = m;
    for (int t = prev + 1; t < k; t++) st[t] = en[t] = m;
}

/* ------------------------------------------------------------------ k-means++ */

static void sort_doubles(double *a, int k)
{
    for (int i = 1; i < k; i++) {
        double x = a[i];
        int j = i - 1;
        while (j >= 0 && a[j] > x) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = x;
    }
}

/* Total potential of the sorted centre set c[0..k-1]. */
static double potential(const km_pfx *p, const double *c, int k)
{
    size_t st[SQ_KMEANS_MAX_K], en[SQ_KMEANS_MAX_K];
    estep(p->v, p->m, c, k, st, en);
    double s = 0;
    for (int j = 0; j < k; j++) s += range_pot(p, st[j], en[j], c[j]);
    return s;
}

/* First index in [a, b) with v > x / with v >= x (b if none). */
static size_t upper(const float *v, size_t a, size_t b, double x)
{
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (v[mid] > x) b = mid;
        else a = mid + 1;
    }
    return a;
}

static size_t lower(const float *v, size_t a, size_t b, double x)
{
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (v[mid] >= x) b = mid;
        else a = mid + 1;
    }
    return a;
}

/* Some value that is not a centre (exists: more distinct values than centres). A value
 * of cell j other than c[j] is no centre: a centre would be its own nearest. */
static double any_other(const km_pfx *p, const double *c, int k, const size_t *st, const size_t *en)
{
    for (int j = 0; j < k; j++) {
        if (en[j] <= st[j]) continue;
        if (p->v[st[j]] != c[j]) return p->v[st[j]];
        if (p->v[en[j] - 1] != c[j]) return p->v[en[j] - 1];
    }
    return p->v[0]; /* unreachable */
}

/* Draw a value with probability ~ w * D^2 (D: distance to the nearest of c[0..k-1]);
 * u in [0, 1) is the uniform draw. Never returns a value equal to a centre. */
static double sample_d2(const km_pfx *p, const double *c, int k, double u)
{
    size_t st[SQ_KMEANS_MAX_K], en[SQ_KMEANS_MAX_K];
    double pot[SQ_KMEANS_MAX_K], tot = 0;
    estep(p->v, p->m, c, k, st, en);
    for (int j = 0; j < k; j++) tot += pot[j] = range_pot(p, st[j], en[j], c[j]);
    double t = u * tot;
    int cell = -1;
    for (int j = 0; j < k; j++) {
        if (pot[j] <= 0) continue;
        cell = j;
        if (t < pot[j]) break;
        t -= pot[j];
    }
    if (cell < 0) return any_other(p, c, k, st, en); /* rounding left no positive cell */
    size_t a = st[cell], b = en[cell], L = a, R = b - 1;
    while (L < R) { /* first i with potential of [a, i] > t */
        size_t mid = L + (R - L) / 2;
        if (range_pot(p, a, mid + 1, c[cell]) > t) R = mid;
        else L = mid + 1;
    }
    if (p->v[L] == c[cell]) { /* zero weight: the nearest entry of the cell with another value */
        size_t hi = upper(p->v, L, b, c[cell]), lo = lower(p->v, a, L, c[cell]);
        if (hi < b) L = hi;
        else if (lo > a) L = lo - 1;
        else return any_other(p, c, k, st, en);
    }
    return p->v[L];
}

/* Greedy k-means++ (sklearn's _kmeans_plusplus): k <= distinct values. out ascending. */
static void kmeanspp(const km_pfx *p, uint64_t n, int k, km_rng *rng, double *out)
{
    double c[SQ_KMEANS_MAX_K], trial[SQ_KMEANS_MAX_K + 1], cand[8];
    uint64_t r = (uint64_t)(rng_double(rng) * (double)n);
    if (r >= n) r = n - 1;
    c[0] = p->v[find_count(p, r)];
    int have = 1;
    double pot = potential(p, c, 1);
    int ntrials = 2 + (int)floor(log((double)k));
    if (ntrials > 8) ntrials = 8;
    for (; have < k; have++) {
        for (int t = 0; t < ntrials; t++) cand[t] = rng_double(rng);
        for (int t = 0; t < ntrials; t++) cand[t] = sample_d2(p, c, have, cand[t]);
        double best_pot = INFINITY, best = cand[0];
        for (int t = 0; t < ntrials; t++) {
            memcpy(trial, c, (size_t)have * sizeof *c);
            trial[have] = cand[t];
            sort_doubles(trial, have + 1);
            double q = potential(p, trial, have + 1);
            if (q < best_pot) {
                best_pot = q;
                best = cand[t];
            }
        }
        c[have] = best;
        sort_doubles(c, have + 1);
        pot = best_pot;
    }
    (void)pot;
    memcpy(out, c, (size_t)k * sizeof *c);
}

/* ------------------------------------------------------------------ Lloyd */

static int check_opts(const sq_hist *h, const sq_kmeans_opts *o, sq_err *e)
{
    if (!h || !o) return sq_fail(e, SQ_EINPUT, "k-means: missing histogram or options");
    if (o->k < 1 || o->k > SQ_KMEANS_MAX_K)
        return sq_fail(e, SQ_EINPUT, "k-means: k must be 1..%d, got %d", SQ_KMEANS_MAX_K, o->k);
    if (o->max_iter < 0) return sq_fail(e, SQ_EINPUT, "k-means: max_iter must be >= 0");
    if (!(o->tol >= 0)) return sq_fail(e, SQ_EINPUT, "k-means: tol must be >= 0");
    if (h->m == 0 || !h->values) return sq_fail(e, SQ_EINPUT, "k-means: no values to cluster");
    return SQ_OK;
}

/* Fill r from sorted centres and their cells. */
static void fill_result(const km_pfx *p, const double *c, int k, const size_t *st, const size_t *en,
                        sq_kmeans_result *r)
{
    r->k = k;
    double inertia = 0;
    for (int j = 0; j < k; j++) {
        r->centers[j] = c[j];
        if (en[j] > st[j]) {
            r->counts[j] = range_sum(p, st[j], en[j]).n;
            r->mins[j] = (float)p->v[st[j]];
            r->maxs[j] = r->bounds[j] = (float)p->v[en[j] - 1];
            for (size_t t = st[j]; t < en[j]; t++) {
                double d = p->v[t] - c[j];
                inertia += (double)WT(p, t) * d * d;
            }
        } else { /* empty cluster: no value maps to it */
            r->counts[j] = 0;
            r->bounds[j] = j ? r->bounds[j - 1] : nextafterf((float)p->v[0], -INFINITY);
            r->mins[j] = r->maxs[j] = (float)c[j];
        }
    }
    r->inertia = inertia;
}

/* Lloyd from sorted centres c[0..k-1] (modified in place). */
static void lloyd(const km_pfx *p, uint64_t n, double *c, int k, const sq_kmeans_opts *o, sq_kmeans_result *r)
{
    int max_iter = o->max_iter ? o->max_iter : 300;
    double tol = o->tol > 0 ? o->tol : 1e-4;
    /* tolerance: tol * variance of the data (two passes) */
    km_sum all = range_sum(p, 0, p->m);
    double mean = all.s1 / (double)n, var = 0;
    for (size_t i = 0; i < p->m; i++) {
        double d = p->v[i] - mean;
        var += (double)WT(p, i) * d * d;
    }
    var /= (double)n;
    double tol_abs = tol * var;

    size_t st[SQ_KMEANS_MAX_K], en[SQ_KMEANS_MAX_K], prev_en[SQ_KMEANS_MAX_K];
    int have_prev = 0, it;
    for (it = 0; it < max_iter; it++) {
        estep(p->v, p->m, c, k, st, en);
        double shift = 0;
        for (int j = 0; j < k; j++) {
            if (en[j] <= st[j]) continue; /* empty cluster keeps its centre */
            km_sum s = range_sum(p, st[j], en[j]);
            double nc = s.s1 / (double)s.n;
            double d = nc - c[j];
            shift += d * d;
            c[j] = nc;
        }
        sort_doubles(c, k); /* a no-op in exact arithmetic: 1-D Lloyd keeps the order */
        int same = have_prev;
        for (int j = 0; j < k && same; j++) same = en[j] == prev_en[j];
        if (same) break;              /* labels unchanged: strict convergence */
        if (shift <= tol_abs) break;  /* sklearn's tolerance test */
        memcpy(prev_en, en, sizeof en);
        have_prev = 1;
    }
    r->iterations = it < max_iter ? it + 1 : max_iter;
    estep(p->v, p->m, c, k, st, en); /* labels that match the final centres */
    fill_result(p, c, k, st, en, r);
}

/* Number of distinct values. */
static size_t count_distinct(const sq_hist *h)
{
    if (h->counts) return h->m;
    size_t d = h->m ? 1 : 0;
    for (size_t i = 1; i < h->m; i++) d += h->values[i] != h->values[i - 1];
    return d;
}

/* One cluster per distinct value (distinct <= k <= SQ_KMEANS_MAX_K). */
static void per_value(const sq_hist *h, sq_kmeans_result *r)
{
    int j = 0;
    for (size_t i = 0; i < h->m;) {
        size_t s = i;
        uint64_t c = 0;
        while (i < h->m && h->values[i] == h->values[s]) {
            c += h->counts ? h->counts[i] : 1;
            i++;
        }
        r->centers[j] = h->values[s];
        r->counts[j] = c;
        r->mins[j] = r->maxs[j] = r->bounds[j] = h->values[s];
        j++;
    }
    r->k = j;
    r->iterations = 0;
    r->inertia = 0;
}

int sq_kmeans_init(const sq_hist *h, const sq_kmeans_opts *o, double *init, int *k_out, sq_err *e)
{
    int rc = check_opts(h, o, e);
    if (rc) return rc;
    if (count_distinct(h) <= (size_t)o->k) {
        sq_kmeans_result r;
        memset(&r, 0, sizeof r);
        per_value(h, &r);
        for (int j = 0; j < r.k; j++) init[j] = r.centers[j];
        *k_out = r.k;
        return SQ_OK;
    }
    km_pfx p;
    if ((rc = pfx_build(&p, h, e))) return rc;
    km_rng rng;
    rng_seed(&rng, o->seed);
    kmeanspp(&p, p.total, o->k, &rng, init);
    *k_out = o->k;
    pfx_free(&p);
    return SQ_OK;
}

int sq_kmeans_hist_from(const sq_hist *h, const double *init, const sq_kmeans_opts *o, sq_kmeans_result *r,
                        sq_err *e)
{
    memset(r, 0, sizeof *r);
    int rc = check_opts(h, o, e);
    if (rc) return rc;
    if (!init) return sq_fail(e, SQ_EINPUT, "k-means: no initial centres");
    double c[SQ_KMEANS_MAX_K];
    for (int j = 0; j < o->k; j++) {
        if (!isfinite(init[j])) return sq_fail(e, SQ_EINPUT, "k-means: initial centre %d is not finite", j);
        c[j] = init[j];
    }
    sort_doubles(c, o->k);
    km_pfx p;
    if ((rc = pfx_build(&p, h, e))) return rc;
    lloyd(&p, p.total, c, o->k, o, r);
    pfx_free(&p);
    return SQ_OK;
}

int sq_kmeans_hist(const sq_hist *h, const sq_kmeans_opts *o, sq_kmeans_result *r, sq_err *e)
{
    memset(r, 0, sizeof *r);
    int rc = check_opts(h, o, e);
    if (rc) return rc;
    if (count_distinct(h) <= (size_t)o->k) {
        per_value(h, r);
        return SQ_OK;
    }
    km_pfx p;
    if ((rc = pfx_build(&p, h, e))) return rc;
    km_rng rng;
    rng_seed(&rng, o->seed);
    double c[SQ_KMEANS_MAX_K];
    kmeanspp(&p, p.total, o->k, &rng, c);
    lloyd(&p, p.total, c, o->k, o, r);
    pfx_free(&p);
    return SQ_OK;
}

int sq_kmeans(const float *x, size_t n, const sq_kmeans_opts *o, sq_kmeans_result *r, sq_err *e)
{
    sq_hist h;
    memset(r, 0, sizeof *r);
    int rc = sq_hist_build(&h, x, n, e);
    if (rc) return rc;
    rc = sq_kmeans_hist(&h, o, r, e);
    sq_hist_free(&h);
    return rc;
}

int sq_kmeans_assign(const sq_kmeans_result *r, float v)
{
    for (int j = 0; j < r->k; j++)
        if (v <= r->bounds[j]) return j;
    return r->k > 0 ? r->k - 1 : 0;
}
