/* test_kmeans.c - the histogram and the 1-D k-means against plain Lloyd on raw data. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "quant/kmeans.h"
#include "test.h"

/* ------------------------------------------------------------------ test data */

static uint64_t rs = 0x243F6A8885A308D3ull;
static void rseed(uint64_t s) { rs = s * 0x9E3779B97F4A7C15ull + 1; }
static uint64_t rnext(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double runif(void) { return (double)(rnext() >> 11) * (1.0 / 9007199254740992.0); }
static double rnorm(void)
{
    double u1 = runif() + 1e-300, u2 = runif();
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}
static float to_bf16(float f) /* truncate to a BF16 value */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u &= 0xFFFF0000u;
    memcpy(&f, &u, 4);
    return f;
}

enum { D_NORMAL, D_HEAVY, D_OUTLIERS, D_BF16, D_INTS, D_UNIFORM, D_COUNT };
static const char *dname[] = {"normal", "heavy", "outliers", "bf16", "ints", "uniform"};

static void gen(float *x, size_t n, int dist)
{
    for (size_t i = 0; i < n; i++) {
        double v;
        switch (dist) {
        case D_NORMAL: v = 0.02 * rnorm(); break;
        case D_HEAVY: v = rnorm() / pow(runif() + 1e-3, 0.8); break; /* heavy tails, up to ~250 */
        case D_OUTLIERS: v = (runif() < 0.01) ? (runif() < 0.5 ? -1 : 1) * (3 + 5 * runif()) : 0.05 * rnorm(); break;
        case D_BF16: v = to_bf16((float)(0.1 * rnorm())); break;
        case D_INTS: v = (double)(int)(runif() * 10) - 4; break;
        default: v = runif() * 2 - 1; break;
        }
        x[i] = (float)v;
    }
}

/* ------------------------------------------------------------------ plain Lloyd */

typedef struct plain {
    double c[SQ_KMEANS_MAX_K];
    int iterations;
    double inertia;
} plain;

static int nearest(const double *c, int k, float x)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (fabs((double)x - c[j]) < fabs((double)x - c[best])) best = j; /* ties -> lower */
    return best;
}

/* sklearn's _kmeans_single_lloyd on raw data (empty clusters keep their centre), sums in
 * long double. c: k initial centres, ascending. */
static void plain_lloyd(const float *x, size_t n, const double *init, int k, int *labels, plain *out)
{
    double c[SQ_KMEANS_MAX_K];
    memcpy(c, init, sizeof(double) * (size_t)k);
    long double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= (long double)n;
    for (size_t i = 0; i < n; i++) var += ((long double)x[i] - mean) * ((long double)x[i] - mean);
    double tol = 1e-4 * (double)(var / (long double)n);
    int *old = malloc(n * sizeof *old);
    for (size_t i = 0; i < n; i++) old[i] = -1;
    int it, strict = 0;
    for (it = 0; it < 300; it++) {
        long double s[SQ_KMEANS_MAX_K] = {0};
        uint64_t w[SQ_KMEANS_MAX_K] = {0};
        for (size_t i = 0; i < n; i++) {
            labels[i] = nearest(c, k, x[i]);
            s[labels[i]] += x[i];
            w[labels[i]]++;
        }
        double shift = 0;
        for (int j = 0; j < k; j++) {
            if (!w[j]) continue;
            double nc = (double)s[j] / (double)w[j];
            shift += (nc - c[j]) * (nc - c[j]);
            c[j] = nc;
        }
        if (!memcmp(old, labels, n * sizeof *old)) {
            strict = 1;
            break;
        }
        if (shift <= tol) break;
        memcpy(old, labels, n * sizeof *old);
    }
    out->iterations = it < 300 ? it + 1 : 300;
    (void)strict;
    long double in = 0;
    for (size_t i = 0; i < n; i++) {
        labels[i] = nearest(c, k, x[i]);
        in += ((long double)x[i] - c[labels[i]]) * ((long double)x[i] - c[labels[i]]);
    }
    out->inertia = (double)in;
    /* Plain Lloyd does not keep the centres in order when an empty cluster's centre is
       overtaken (duplicate initial centres): sort them (equal values: the one with members
       first, as ties go to the lower one) and renumber the labels. */
    uint64_t w[SQ_KMEANS_MAX_K] = {0};
    int perm[SQ_KMEANS_MAX_K], inv[SQ_KMEANS_MAX_K];
    for (size_t i = 0; i < n; i++) w[labels[i]]++;
    for (int j = 0; j < k; j++) perm[j] = j;
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0; b--) {
            int p = perm[b - 1], q = perm[b];
            if (c[p] > c[q] || (c[p] == c[q] && w[p] < w[q])) {
                perm[b - 1] = q;
                perm[b] = p;
            } else break;
        }
    for (int j = 0; j < k; j++) {
        out->c[j] = c[perm[j]];
        inv[perm[j]] = j;
    }
    for (size_t i = 0; i < n; i++) labels[i] = inv[labels[i]];
    free(old);
}

static int rel_close(double a, double b, double rel)
{
    return fabs(a - b) <= rel * fmax(fabs(a), fabs(b)) || a == b;
}

/* Lloyd on the histogram from init == plain Lloyd on raw x from init: labels, centres,
 * counts, ranges, iterations, inertia. Returns the number of mismatching labels. */
static size_t compare_with_plain(const float *x, size_t n, const sq_hist *h, const double *init, int k,
                                 const char *what)
{
    sq_kmeans_opts o = {k, 0, 0, 0};
    sq_kmeans_result r;
    sq_err e = {0, ""};
    int rc = sq_kmeans_hist_from(h, init, &o, &r, &e);
    CHECK_MSG(rc == SQ_OK, "%s: %s", what, e.msg);
    if (rc) return n;
    int *lab = malloc(n * sizeof *lab);
    plain p;
    plain_lloyd(x, n, init, k, lab, &p);
    CHECK_MSG(r.k == k, "%s: k %d vs %d", what, r.k, k);
    CHECK_MSG(r.iterations == p.iterations, "%s: iterations %d vs plain %d", what, r.iterations, p.iterations);
    for (int j = 0; j < k; j++)
        CHECK_MSG(rel_close(r.centers[j], p.c[j], 1e-12), "%s: centre %d: %.17g vs plain %.17g", what, j,
                  r.centers[j], p.c[j]);
    CHECK_MSG(rel_close(r.inertia, p.inertia, 1e-9), "%s: inertia %.17g vs %.17g", what, r.inertia, p.inertia);
    size_t bad = 0;
    uint64_t cnt[SQ_KMEANS_MAX_K] = {0};
    float mn[SQ_KMEANS_MAX_K], mx[SQ_KMEANS_MAX_K];
    for (int j = 0; j < k; j++) {
        mn[j] = INFINITY;
        mx[j] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        int a = sq_kmeans_assign(&r, x[i]);
        bad += a != lab[i];
        cnt[lab[i]]++;
        if (x[i] < mn[lab[i]]) mn[lab[i]] = x[i];
        if (x[i] > mx[lab[i]]) mx[lab[i]] = x[i];
    }
    CHECK_MSG(bad == 0, "%s: %zu of %zu labels differ", what, bad, n);
    for (int j = 0; j < k; j++) {
        CHECK_MSG(r.counts[j] == cnt[j], "%s: count %d: %llu vs %llu", what, j, (unsigned long long)r.counts[j],
                  (unsigned long long)cnt[j]);
        if (cnt[j]) {
            CHECK(r.mins[j] == mn[j]);
            CHECK(r.maxs[j] == mx[j] || (r.maxs[j] == 0 && mx[j] == 0));
            CHECK(r.bounds[j] == r.maxs[j]);
        }
    }
    CHECK(r.bounds[k - 1] == h->values[h->m - 1]);
    free(lab);
    return bad;
}

/* ------------------------------------------------------------------ tests */

static void test_lloyd_equals_plain(void)
{
    static const size_t sizes[] = {7, 60, 500, 20000};
    static const int ks[] = {2, 3, 4, 7, 16};
    int cases = 0;
    for (int d = 0; d < D_COUNT; d++)
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++)
            for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
                size_t n = sizes[si];
                int k = ks[ki];
                if (sizes[si] == 20000 && k == 16 && d != D_HEAVY) continue; /* keep it quick */
                rseed(1000 * (uint64_t)d + 10 * si + ki);
                float *x = malloc(n * sizeof *x);
                gen(x, n, d);
                sq_hist h;
                sq_err e = {0, ""};
                CHECK(sq_hist_build(&h, x, n, &e) == SQ_OK);
                char what[96];
                /* 1: from the k-means++ centres */
                double init[SQ_KMEANS_MAX_K];
                int kk = 0;
                sq_kmeans_opts o = {k, 42 + si, 0, 0};
                CHECK(sq_kmeans_init(&h, &o, init, &kk, &e) == SQ_OK);
                snprintf(what, sizeof what, "%s n=%zu k=%d (k-means++)", dname[d], n, kk);
                compare_with_plain(x, n, &h, init, kk, what);
                /* sq_kmeans_hist is exactly init + Lloyd */
                sq_kmeans_result r1, r2;
                sq_kmeans_opts ok = {kk, 0, 0, 0};
                CHECK(sq_kmeans_hist(&h, &o, &r1, &e) == SQ_OK);
                if (kk == k) {
                    CHECK(sq_kmeans_hist_from(&h, init, &ok, &r2, &e) == SQ_OK);
                    CHECK_MSG(!memcmp(r1.centers, r2.centers, sizeof r1.centers), "%s", what);
                }
                /* 2: from random data points (duplicates and empty clusters allowed) */
                for (int j = 0; j < k; j++) init[j] = x[rnext() % n];
                for (int a = 1; a < k; a++) /* ascending */
                    for (int b = a; b > 0 && init[b - 1] > init[b]; b--) {
                        double t = init[b];
                        init[b] = init[b - 1];
                        init[b - 1] = t;
                    }
                snprintf(what, sizeof what, "%s n=%zu k=%d (random init)", dname[d], n, k);
                compare_with_plain(x, n, &h, init, k, what);
                sq_hist_free(&h);
                free(x);
                cases++;
            }
    CHECK(cases > 90);
}

/* The paper's motivating case: mostly small weights and a few large outliers of both
 * signs; k = 3 gives lower / middle / upper with the outliers in the outer clusters. */
static void test_outlier_example(void)
{
    size_t n = 10000;
    float *x = malloc(n * sizeof *x);
    rseed(7);
    for (size_t i = 0; i < n; i++) x[i] = (float)(0.02 * rnorm());
    x[10] = -1.5f;
    x[200] = -1.2f;
    x[3000] = -1.7f;
    x[4000] = 1.4f;
    x[5000] = 1.9f;
    x[9999] = 1.1f;
    sq_kmeans_opts o = {3, 0, 0, 0};
    sq_kmeans_result r;
    sq_err e = {0, ""};
    CHECK(sq_kmeans(x, n, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 3);
    CHECK(r.counts[0] == 3 && r.counts[1] == n - 6 && r.counts[2] == 3);
    CHECK(r.mins[0] == -1.7f && r.maxs[0] == -1.2f);
    CHECK(r.mins[2] == 1.1f && r.maxs[2] == 1.9f);
    CHECK(r.maxs[1] < 0.2f && r.mins[1] > -0.2f);
    CHECK_NEAR(r.centers[0], (-1.5 - 1.2 - 1.7) / 3, 1e-6);
    CHECK_NEAR(r.centers[2], (1.4 + 1.9 + 1.1) / 3, 1e-6);
    CHECK(fabs(r.centers[1]) < 0.005);
    CHECK(sq_kmeans_assign(&r, -1.2f) == 0 && sq_kmeans_assign(&r, 0.0f) == 1 && sq_kmeans_assign(&r, 1.1f) == 2);
    /* the split ranges are far narrower than the whole range */
    CHECK(r.maxs[1] - r.mins[1] < 0.1f * (1.9f + 1.7f));
    /* k-means++ is greedy and random: from most seeds it finds this split, from some a
       local optimum that splits the bulk (sklearn does the same). Lower inertia wins. */
    int found = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        sq_kmeans_opts os = {3, seed, 0, 0};
        sq_kmeans_result rs2;
        CHECK(sq_kmeans(x, n, &os, &rs2, &e) == SQ_OK);
        if (rs2.counts[0] == 3 && rs2.counts[2] == 3) {
            found++;
            CHECK(rs2.inertia == r.inertia || rel_close(rs2.inertia, r.inertia, 1e-12));
        } else {
            CHECK(rs2.inertia > r.inertia);
        }
    }
    CHECK_MSG(found >= 10, "found the outlier split from %d of 20 seeds", found);
    free(x);
}

static void test_determinism(void)
{
    size_t n = 50000;
    float *x = malloc(n * sizeof *x);
    rseed(99);
    gen(x, n, D_HEAVY);
    sq_kmeans_opts o = {5, 1234, 0, 0};
    sq_kmeans_result a, b, c;
    sq_err e = {0, ""};
    CHECK(sq_kmeans(x, n, &o, &a, &e) == SQ_OK);
    CHECK(sq_kmeans(x, n, &o, &b, &e) == SQ_OK);
    CHECK(!memcmp(&a, &b, sizeof a));
    /* other seeds: other k-means++ draws, still valid results */
    int differ = 0;
    for (uint64_t s = 0; s < 8; s++) {
        o.seed = s;
        CHECK(sq_kmeans(x, n, &o, &c, &e) == SQ_OK);
        uint64_t tot = 0;
        for (int j = 0; j < c.k; j++) {
            tot += c.counts[j];
            if (j) CHECK(c.centers[j] > c.centers[j - 1]);
        }
        CHECK(tot == n);
        differ += memcmp(c.centers, a.centers, sizeof a.centers) != 0;
    }
    CHECK(differ > 0); /* the seed is used */
    free(x);
}

static void test_few_distinct(void)
{
    float x[] = {2, 1, 2, 3, 2, 3, -0.0f, 0.0f};
    sq_kmeans_opts o = {5, 0, 0, 0};
    sq_kmeans_result r;
    sq_err e = {0, ""};
    CHECK(sq_kmeans(x, 8, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 4);
    CHECK(r.centers[0] == 0 && r.centers[1] == 1 && r.centers[2] == 2 && r.centers[3] == 3);
    CHECK(r.counts[0] == 2 && r.counts[1] == 1 && r.counts[2] == 3 && r.counts[3] == 2);
    CHECK(r.inertia == 0);
    for (int i = 0; i < 8; i++) CHECK(r.centers[sq_kmeans_assign(&r, x[i])] == x[i]);
    /* exactly k distinct values: one cluster per value too */
    o.k = 4;
    CHECK(sq_kmeans(x, 8, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 4 && r.counts[2] == 3);
    /* k = 2 on them: a real clustering */
    o.k = 2;
    CHECK(sq_kmeans(x, 8, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 2 && r.counts[0] + r.counts[1] == 8);
}

static void test_constant(void)
{
    float x[1000];
    for (int i = 0; i < 1000; i++) x[i] = 0.375f;
    sq_kmeans_opts o = {3, 5, 0, 0};
    sq_kmeans_result r;
    sq_err e = {0, ""};
    CHECK(sq_kmeans(x, 1000, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 1 && r.centers[0] == 0.375 && r.counts[0] == 1000 && r.bounds[0] == 0.375f);
    CHECK(r.mins[0] == 0.375f && r.maxs[0] == 0.375f && r.inertia == 0);
    CHECK(sq_kmeans_assign(&r, 0.375f) == 0 && sq_kmeans_assign(&r, 5.0f) == 0);
    /* k = 1 on varied data: the mean */
    float y[] = {1, 2, 3, 10};
    o.k = 1;
    CHECK(sq_kmeans(y, 4, &o, &r, &e) == SQ_OK);
    CHECK(r.k == 1 && r.centers[0] == 4.0 && r.counts[0] == 4 && r.mins[0] == 1 && r.maxs[0] == 10);
    CHECK_NEAR(r.inertia, 9 + 4 + 1 + 36, 1e-12);
}

static void test_errors(void)
{
    sq_kmeans_opts o = {3, 0, 0, 0};
    sq_kmeans_result r;
    sq_err e = {0, ""};
    float x[4] = {1, 2, 3, 4};
    CHECK(sq_kmeans(x, 0, &o, &r, &e) == SQ_EINPUT);
    CHECK(e.code == SQ_EINPUT && e.msg[0]);
    sq_hist h;
    e.code = 0;
    CHECK(sq_hist_build(&h, x, 0, &e) == SQ_OK && h.m == 0);
    CHECK(sq_kmeans_hist(&h, &o, &r, &e) == SQ_EINPUT);
    sq_hist_free(&h);
    e.code = 0;
    x[2] = NAN;
    CHECK(sq_kmeans(x, 4, &o, &r, &e) == SQ_EINPUT);
    e.code = 0;
    x[2] = INFINITY;
    CHECK(sq_hist_build(&h, x, 4, &e) == SQ_EINPUT);
    x[2] = 3;
    e.code = 0;
    o.k = 0;
    CHECK(sq_kmeans(x, 4, &o, &r, &e) == SQ_EINPUT);
    e.code = 0;
    o.k = SQ_KMEANS_MAX_K + 1;
    CHECK(sq_kmeans(x, 4, &o, &r, &e) == SQ_EINPUT);
}

/* Expand a histogram to (value, count) runs and compare two of them. */
static int same_hist(const sq_hist *a, const sq_hist *b)
{
    size_t i = 0, j = 0;
    if (a->n != b->n || a->distinct != b->distinct) return 0;
    while (i < a->m && j < b->m) {
        float v = a->values[i];
        uint64_t ca = 0, cb = 0;
        if (b->values[j] != v) return 0;
        while (i < a->m && a->values[i] == v) ca += a->counts ? a->counts[i++] : (i++, 1);
        while (j < b->m && b->values[j] == v) cb += b->counts ? b->counts[j++] : (j++, 1);
        if (ca != cb) return 0;
    }
    return i == a->m && j == b->m;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_hist_refuses_huge(void)
{
    float big[] = {1.0f, 0x1p126f, 2.0f};
    sq_hist h;
    sq_err e = {0, ""};
    CHECK(sq_hist_build(&h, big, 3, &e) == SQ_EINPUT);
    CHECK(strstr(e.msg, "2^126") != NULL);
}

static void test_hist(void)
{
    /* ordering, -0 == +0, subnormals, huge values, duplicates */
    /* |x| >= 2^126 is refused like NaN/Inf (ranges would overflow float32): see below */
    float x[] = {3.0f, -0.0f, 1e-40f, -1e30f, 0.0f, -2.5f, 1e30f, -1e-42f, 3.0f, -2.5f, 0.1f, -8e37f, 8e37f};
    size_t n = sizeof x / sizeof *x;
    sq_hist h;
    sq_err e = {0, ""};
    CHECK(sq_hist_build(&h, x, n, &e) == SQ_OK);
    CHECK(h.n == n && h.distinct == 10);
    float want[] = {-8e37f, -1e30f, -2.5f, -1e-42f, 0.0f, 1e-40f, 0.1f, 3.0f, 1e30f, 8e37f};
    size_t j = 0;
    uint64_t tot = 0;
    for (size_t i = 0; i < h.m; i++) {
        if (i && h.values[i] == h.values[i - 1]) continue;
        CHECK(j < 10 && h.values[i] == want[j]);
        if (h.values[i] == 0) CHECK(!signbit(h.values[i]));
        j++;
    }
    for (size_t i = 0; i < h.m; i++) tot += h.counts ? h.counts[i] : 1;
    CHECK(j == 10 && tot == n);
    sq_hist_free(&h);

    /* random floats: the sort path equals qsort */
    size_t big = 100000;
    float *y = malloc(big * sizeof *y), *s = malloc(big * sizeof *s);
    rseed(3);
    gen(y, big, D_HEAVY);
    for (size_t i = 0; i < 1000; i++) y[rnext() % big] = y[rnext() % big]; /* some repeats */
    memcpy(s, y, big * sizeof *y);
    qsort(s, big, sizeof *s, cmp_float);
    CHECK(sq_hist_build(&h, y, big, &e) == SQ_OK);
    size_t k = 0;
    int ok = 1;
    for (size_t i = 0; i < h.m && ok; i++) {
        uint64_t c = h.counts ? h.counts[i] : 1;
        for (uint64_t t = 0; t < c; t++) ok &= k < big && s[k++] == h.values[i];
    }
    CHECK(ok && k == big);
    sq_hist_free(&h);
    free(y);
    free(s);
}

/* BF16 data: the 65 536-bin fast path and the sorting path agree (histogram and
 * clustering), with both shapes of the sorted result (counts and no counts). */
static void test_bf16_fast_path(void)
{
    static const size_t sizes[] = {3000, 200000};
    for (size_t si = 0; si < 2; si++) {
        size_t n = sizes[si];
        float *x = malloc(n * sizeof *x);
        rseed(11 + si);
        for (size_t i = 0; i < n; i++) x[i] = to_bf16((float)(si ? 0.05 * rnorm() : rnorm() * exp(4 * rnorm())));
        x[0] = -0.0f;
        x[1] = 0.0f;
        sq_hist a, b;
        sq_err e = {0, ""};
        CHECK(sq_hist_build(&a, x, n, &e) == SQ_OK);
        CHECK(sq_hist_build_sorted(&b, x, n, &e) == SQ_OK);
        CHECK(a.counts != NULL && a.m == a.distinct);
        CHECK(si == 0 ? b.counts == NULL : b.counts != NULL); /* mostly distinct vs many repeats */
        CHECK(same_hist(&a, &b));
        for (int k = 2; k <= 8; k += 3) {
            sq_kmeans_opts o = {k, 77, 0, 0};
            sq_kmeans_result ra, rb;
            CHECK(sq_kmeans_hist(&a, &o, &ra, &e) == SQ_OK);
            CHECK(sq_kmeans_hist(&b, &o, &rb, &e) == SQ_OK);
            CHECK(ra.k == rb.k && ra.iterations == rb.iterations);
            for (int j = 0; j < ra.k; j++) {
                CHECK(rel_close(ra.centers[j], rb.centers[j], 1e-12));
                CHECK(ra.counts[j] == rb.counts[j] && ra.bounds[j] == rb.bounds[j]);
            }
        }
        sq_hist_free(&a);
        sq_hist_free(&b);
        free(x);
    }
}

/* k-means++ draws: the first centre with probability ~ weight, each candidate ~ weight *
 * D^2, the best of 2 + floor(ln k) candidates kept. Frequencies over many seeds against the
 * exact distribution, computed here by enumeration (k = 2: two candidates). */
static void test_kmeanspp_distribution(void)
{
    float vals[] = {0, 1, 3, 7, 8};
    uint32_t cnts[] = {3, 1, 2, 1, 2};
    int m = 5;
    uint32_t n = 9;
    sq_hist h = {vals, cnts, 5, 5, 9};
    double P[5][5] = {{0}}; /* P[a][b]: probability of the centre pair {a < b} */
    for (int f = 0; f < m; f++) {
        double pf = (double)cnts[f] / n, d2[5], tot = 0, q[5];
        for (int i = 0; i < m; i++) tot += d2[i] = cnts[i] * (vals[i] - vals[f]) * (vals[i] - vals[f]);
        for (int t = 0; t < m; t++) {
            q[t] = 0;
            for (int i = 0; i < m; i++) {
                double a = (vals[i] - vals[f]) * (vals[i] - vals[f]), b = (vals[i] - vals[t]) * (vals[i] - vals[t]);
                q[t] += cnts[i] * (a < b ? a : b);
            }
        }
        for (int t1 = 0; t1 < m; t1++)
            for (int t2 = 0; t2 < m; t2++) {
                int w = q[t1] <= q[t2] ? t1 : t2;
                double p = pf * (d2[t1] / tot) * (d2[t2] / tot);
                int a = f < w ? f : w, b = f < w ? w : f;
                P[a][b] += p;
            }
    }
    int N = 20000;
    double F[5][5] = {{0}};
    sq_err e = {0, ""};
    for (int s = 0; s < N; s++) {
        sq_kmeans_opts o = {2, (uint64_t)s * 7919u + 1, 0, 0};
        double init[2];
        int kk = 0;
        CHECK(sq_kmeans_init(&h, &o, init, &kk, &e) == SQ_OK && kk == 2);
        int a = -1, b = -1;
        for (int i = 0; i < m; i++) {
            if (vals[i] == init[0]) a = i;
            if (vals[i] == init[1]) b = i;
        }
        CHECK(a >= 0 && b > a); /* data values, distinct, ascending */
        if (a >= 0 && b > a) F[a][b] += 1.0 / N;
    }
    for (int a = 0; a < m; a++)
        for (int b = a + 1; b < m; b++) {
            double sd = sqrt(P[a][b] * (1 - P[a][b]) / N);
            CHECK_MSG(fabs(F[a][b] - P[a][b]) <= 5 * sd + 1e-9, "pair (%g, %g): frequency %.4f, probability %.4f",
                      vals[a], vals[b], F[a][b], P[a][b]);
        }
}

/* A histogram given directly (weights) clusters like the expanded raw data. */
static void test_weighted_hist(void)
{
    float vals[] = {-3, -1, 0, 0.5f, 2, 7};
    uint32_t cnts[] = {5, 1, 40, 3, 2, 9};
    sq_hist h = {vals, cnts, 6, 6, 60};
    float raw[60];
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        for (uint32_t c = 0; c < cnts[i]; c++) raw[n++] = vals[i];
    double init[3] = {-3, 0, 7};
    compare_with_plain(raw, n, &h, init, 3, "weighted");
    double init2[2] = {0.5, 2};
    compare_with_plain(raw, n, &h, init2, 2, "weighted k=2");
}

int main(void)
{
    RUN(test_hist);
    RUN(test_hist_refuses_huge);
    RUN(test_bf16_fast_path);
    RUN(test_lloyd_equals_plain);
    RUN(test_weighted_hist);
    RUN(test_kmeanspp_distribution);
    RUN(test_outlier_example);
    RUN(test_determinism);
    RUN(test_few_distinct);
    RUN(test_constant);
    RUN(test_errors);
    return test_summary();
}
