/* test_codebook.c - the codebook format's quantizer (core/formats/codebook.c): its stored
 * parts decode to what it reports, every code is the nearest level, odd inputs (zeros,
 * constants, huge and subnormal values, whole-tensor groups) just work, it is
 * deterministic, and on normal-ish weights it beats plain quantization at fewer bits. */
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "dtype.h"
#include "formats/codebook.h"
#include "quant/quant.h"
#include "test.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static double runif(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (double)(rs >> 11) * (1.0 / 9007199254740992.0);
}
static double rnorm(void)
{
    double u1 = runif() + 1e-300, u2 = runif();
    return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

typedef struct cbq {
    int8_t table[SQ_CB_MAX_ENTRIES];
    uint16_t *scale;
    uint8_t *codes;
    float *deq, *back;
    double sse;
} cbq;

/* Quantize, then check the parts against the documented decoding and the nearest-level
 * rule. Returns the mean squared error. */
static double run_one(const float *w, size_t rows, size_t cols, size_t group, int bits, cbq *q)
{
    size_t G = group ? (cols + group - 1) / group : 1, P = group ? rows * G : 1, n = rows * cols;
    size_t rb = sq_packed_row_bytes(cols, bits);
    void *scr = malloc(sq_cb_scratch(rows, cols, group));
    q->scale = malloc(P * sizeof(uint16_t));
    q->codes = malloc(rows * rb + 1);
    q->deq = malloc(n * sizeof(float));
    q->back = malloc(n * sizeof(float));
    sq_cb_quantize(w, rows, cols, group, bits, q->table, q->scale, q->codes, q->deq, &q->sse, scr);
    sq_cb_dequant(q->codes, q->table, q->scale, rows, cols, group, bits, q->back);
    int K = 1 << bits;
    for (int i = 1; i < K; i++) CHECK_MSG(q->table[i] > q->table[i - 1], "table not ascending at %d", i);
    double sse = 0;
    int nearest_ok = 1, same = memcmp(q->deq, q->back, n * sizeof(float)) == 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t p = group ? r * G + c / group : 0;
            float s = sq_bf16_to_f32(q->scale[p]), x = w[r * cols + c], v = q->back[r * cols + c];
            double best = INFINITY;
            for (int i = 0; i < K; i++) {
                double d = fabs((double)x - (double)s * q->table[i]);
                if (d < best) best = d;
            }
            /* nearest up to the rounding of w / s (a few ulps of a level's distance) */
            if (fabs((double)x - v) > best + 1e-6 * (double)s * 128 + 1e-44) nearest_ok = 0;
            sse += ((double)x - v) * ((double)x - v);
        }
    CHECK(same);
    CHECK(nearest_ok);
    CHECK_NEAR(sse, q->sse, 1e-9 * sse + 1e-300);
    free(scr);
    return sse / (double)n;
}

static void cbq_free(cbq *q)
{
    free(q->scale);
    free(q->codes);
    free(q->deq);
    free(q->back);
}

/* Plain affine INT-b (the packed format with k = 1) on the same data. */
static double plain_mse(const float *w, size_t rows, size_t cols, size_t group, int bits)
{
    size_t n = rows * cols, P = rows * ((cols + group - 1) / group);
    uint8_t *codes = malloc(n);
    uint16_t *s = malloc(P * 2), *m = malloc(P * 2);
    float *d = malloc(n * sizeof(float));
    sq_quant_clustered(w, NULL, 1, rows, cols, group, bits, codes, s, m);
    sq_dequant_clustered(codes, NULL, 1, s, m, rows, cols, group, d);
    double e = 0;
    for (size_t i = 0; i < n; i++) e += ((double)w[i] - d[i]) * ((double)w[i] - d[i]);
    free(codes);
    free(s);
    free(m);
    free(d);
    return e / (double)n;
}

static void test_normal_weights_beat_plain(void)
{
    size_t rows = 96, cols = 256;
    float *w = malloc(rows * cols * sizeof(float));
    for (size_t i = 0; i < rows * cols; i++) w[i] = (float)(0.02 * rnorm() * (i % 7 == 0 ? 3 : 1));
    for (int bits = 2; bits <= 4; bits++) {
        cbq q;
        double e = run_one(w, rows, cols, 64, bits, &q);
        double p = plain_mse(w, rows, cols, 128, bits); /* 4.25 bpw at INT4 vs our 4.25 + table */
        CHECK_MSG(e < p, "INT%d: codebook mse %g vs plain %g", bits, e, p);
        cbq_free(&q);
    }
    free(w);
}

static void test_odd_inputs(void)
{
    size_t rows = 5, cols = 70;
    float *w = malloc(rows * cols * sizeof(float));
    for (int kind = 0; kind < 5; kind++) {
        for (size_t i = 0; i < rows * cols; i++) {
            switch (kind) {
            case 0: w[i] = 0.0f; break;                                  /* all zeros */
            case 1: w[i] = 0.375f; break;                                /* constant */
            case 2: w[i] = (float)(rnorm() * (i == 17 ? 1e30 : 1.0)); break; /* huge outlier */
            case 3: w[i] = (float)(rnorm() * 1e-41); break;              /* subnormals */
            default: w[i] = (float)(i % 3) - 1.0f; break;                /* three distinct values */
            }
        }
        for (int bits = 2; bits <= 4; bits++)
            for (int gi = 0; gi < 3; gi++) {
                size_t group = gi == 0 ? 0 : gi == 1 ? 32 : cols;
                cbq q;
                double e = run_one(w, rows, cols, group, bits, &q);
                CHECK_MSG(isfinite(e), "kind %d bits %d group %zu: mse %g", kind, bits, group, e);
                if (kind == 0) CHECK(e == 0);
                if (kind == 1) CHECK_MSG(e <= 0.375 * 0.375 * 1e-4, "constant: mse %g", e);
                cbq_free(&q);
            }
    }
    free(w);
}

static void test_deterministic(void)
{
    size_t rows = 40, cols = 100;
    float *w = malloc(rows * cols * sizeof(float));
    for (size_t i = 0; i < rows * cols; i++) w[i] = (float)rnorm();
    cbq a, b;
    run_one(w, rows, cols, 64, 3, &a);
    run_one(w, rows, cols, 64, 3, &b);
    CHECK(memcmp(a.table, b.table, 8) == 0);
    CHECK(memcmp(a.codes, b.codes, rows * sq_packed_row_bytes(cols, 3)) == 0);
    CHECK(memcmp(a.scale, b.scale, rows * 2 * sizeof(uint16_t)) == 0);
    cbq_free(&a);
    cbq_free(&b);
    free(w);
}

static void test_group_policy(void)
{
    CHECK(sq_cb_group_size(SQ_GROUP_AUTO, 512) == 64);
    CHECK(sq_cb_group_size(SQ_GROUP_AUTO, 40) == 40);
    CHECK(sq_cb_group_size(SQ_GROUP_ROW, 512) == 512);
    CHECK(sq_cb_group_size(SQ_GROUP_TENSOR, 512) == 0);
    CHECK(sq_cb_group_size(100, 512) == 100);
}

int main(void)
{
    RUN(test_normal_weights_beat_plain);
    RUN(test_odd_inputs);
    RUN(test_deterministic);
    RUN(test_group_policy);
    return test_summary();
}
