/* kmeans.h - 1-D k-means with greedy k-means++ initialisation (scikit-learn's recipe).
 *
 * Works on a weighted, sorted set of values (a histogram), so a 16.7 M-value tensor
 * costs one sort (or one 65 536-bin histogram when every value is a BF16) plus Lloyd
 * iterations of O(k log m) each over prefix sums. The result equals plain Lloyd on the
 * raw values (tests/unit/test_kmeans.c proves it on random data; it holds as long as
 * no value is so far from two centres that rounding makes its distances to them equal).
 *
 * Recipe (sklearn.cluster.KMeans defaults, n_init=1):
 *   init: greedy k-means++: first centre drawn with probability ~ weight; each next centre:
 *         draw 2+floor(ln k) candidates with probability ~ weight * D^2, keep the one that
 *         minimises the total potential.
 *   Lloyd: assign each value to its nearest centre (ties -> lower centre), move centres to
 *         the weighted mean; stop when the summed squared centre shift <= 1e-4 * variance
 *         of the data, or after max_iter (300) iterations. A final assignment aligns the
 *         labels with the final centres.
 * Deterministic: the random stream is a seeded xoshiro/splitmix generator of our own.
 */
#ifndef SQ_KMEANS_H
#define SQ_KMEANS_H

#include <stddef.h>
#include <stdint.h>
#include "../sq.h"
#include "../formats/formats.h"

#define SQ_KMEANS_MAX_K SQ_MAX_K /* formats.h */

/* A weighted set of values, sorted ascending: the histogram of the data.
 * Two shapes, both accepted everywhere:
 *  - counts != NULL: m distinct values with their counts (the BF16 path, or data with many
 *    repeats);
 *  - counts == NULL: the sorted data itself, every entry counts once, equal values sit
 *    next to each other (data whose values are mostly distinct: storing counts would
 *    double the memory for nothing).
 * Values are floats (they come from float data) and counts 32-bit: at most 4 bytes per
 * value of extra memory, written over the one sort buffer. */
typedef struct sq_hist {
    float *values;    /* m values, ascending (distinct when counts != NULL) */
    uint32_t *counts; /* m counts (> 0), or NULL: each entry counts once */
    size_t m;         /* number of entries */
    size_t distinct;  /* number of distinct values (== m when counts != NULL) */
    uint64_t n;       /* total count = sum of counts (m when counts == NULL) */
} sq_hist;

/* Build the histogram of n finite float values (n < 2^32; NaN/Inf -> SQ_EINPUT).
 * Fast path when every value is exactly a BF16 (low 16 bits zero): 65 536 bins.
 * Otherwise a bucket sort of a copy on the high 16 bits of an order-preserving key, each
 * bucket radix-sorted on the low 16 bits in cache. -0.0 and +0.0 count as the same value
 * (0.0). n == 0 gives an empty histogram (m == 0). */
int sq_hist_build(sq_hist *h, const float *x, size_t n, sq_err *e);
/* The general (sorting) path even for BF16 data; same result as sq_hist_build up to the
 * shape (tests compare the two paths). */
int sq_hist_build_sorted(sq_hist *h, const float *x, size_t n, sq_err *e);
void sq_hist_free(sq_hist *h);

/* The BF16 fast path in pieces, for callers that count parts of the data in parallel.
 * sq_hist_count adds n values to cnt (65 536 bins: the high 16 bits of an order-preserving
 * key; start from zeros), ORs the low 16 bits of every value into *low and sets *bad to 1
 * if a value is NaN or infinite. Tables counted over parts of the data add up bin by bin
 * to the table of the whole. When the whole has low == 0 and bad == 0 (every value a
 * finite BF16), sq_hist_from_counts(table, n) gives what sq_hist_build gives; otherwise
 * use sq_hist_build. */
void sq_hist_count(const float *x, size_t n, uint32_t *cnt, uint32_t *low, uint32_t *bad);
int sq_hist_from_counts(sq_hist *h, const uint32_t *cnt, size_t n, sq_err *e);

typedef struct sq_kmeans_result {
    /* An empty cluster (possible in Lloyd, rare) keeps its centre, has count 0, bound =
       the previous cluster's bound (no value maps to it) and mins = maxs = its centre. */
    int k;                           /* clusters found: min(k asked, distinct values) */
    double centers[SQ_KMEANS_MAX_K]; /* ascending */
    /* bounds[j] = largest value assigned to cluster j (as a float, exact data value);
       a value v belongs to the first j with v <= bounds[j]. bounds[k-1] = max. */
    float bounds[SQ_KMEANS_MAX_K];
    uint64_t counts[SQ_KMEANS_MAX_K];
    float mins[SQ_KMEANS_MAX_K], maxs[SQ_KMEANS_MAX_K]; /* range of each cluster's members */
    int iterations;
    double inertia; /* sum of squared distances to the assigned centre */
} sq_kmeans_result;

typedef struct sq_kmeans_opts {
    int k;           /* >= 1, <= SQ_KMEANS_MAX_K */
    uint64_t seed;   /* same seed, same data -> same result */
    int max_iter;    /* 0 -> 300 */
    double tol;      /* 0 -> 1e-4 (relative to the data variance) */
} sq_kmeans_opts;

/* Cluster the histogram. k larger than the number of distinct values m gives m clusters,
 * one per value. An empty histogram is an error. */
int sq_kmeans_hist(const sq_hist *h, const sq_kmeans_opts *o, sq_kmeans_result *r, sq_err *e);

/* The two halves of sq_kmeans_hist, exposed for tests and experiments.
 * sq_kmeans_init: the greedy k-means++ centres sq_kmeans_hist starts from (ascending);
 *   *k_out = min(o->k, m) of them are written to init (room for o->k).
 * sq_kmeans_hist_from: Lloyd from the o->k given centres (any order, finite; sorted
 *   first), same stopping rule as sq_kmeans_hist, without the m <= k shortcut. A cluster
 *   left empty keeps its centre; in r it has count 0 and the previous cluster's bound
 *   (so no value maps to it). sq_kmeans_hist(h) == sq_kmeans_hist_from(h, init(h)). */
int sq_kmeans_init(const sq_hist *h, const sq_kmeans_opts *o, double *init, int *k_out, sq_err *e);
int sq_kmeans_hist_from(const sq_hist *h, const double *init, const sq_kmeans_opts *o,
                        sq_kmeans_result *r, sq_err *e);

/* Convenience: build the histogram of x and cluster it. */
int sq_kmeans(const float *x, size_t n, const sq_kmeans_opts *o, sq_kmeans_result *r, sq_err *e);

/* Cluster index of value v under result r (first j with v <= bounds[j]; last if none). */
int sq_kmeans_assign(const sq_kmeans_result *r, float v);

#endif
