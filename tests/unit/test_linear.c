/* test_linear.c - the linear kernels on hand-built layers (packed, paper, float) against
 * their dequantized weights, and the loader on files written as docs/FORMAT.md says.
 * (Split from test_models.c; the kernel twins themselves are tests/kernels/.) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "models_util.h"

#include "formats/formats.h"
#include "kernels/linear.h"
#include "quant/qload.h"
#include "quant/quant.h"

/* ---------------- kernels on hand-built layers ---------------- */

static void pack_bits(const uint8_t *v, size_t n, int bits, uint8_t *out)
{
    memset(out, 0, (n * (size_t)bits + 7) / 8);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < bits; b++)
            if (v[i] >> b & 1) out[(i * (size_t)bits + (size_t)b) / 8] |= (uint8_t)(1u << ((i * (size_t)bits + (size_t)b) % 8));
}

static int idbits(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return b;
}

static size_t group_of(size_t group, size_t j) { return group ? j / group : 0; }

/* A packed layer with random codes/ids/params; wref gets the dequantized weights. */
static void make_packed(sq_linear *L, size_t rows, size_t cols, int bits, int k, size_t group, float *wref, int bias)
{
    memset(L, 0, sizeof *L);
    L->kind = SQ_LIN_PACKED;
    L->rows = rows;
    L->cols = cols;
    L->bits = bits;
    L->k = k;
    sq_qgeom g = sq_qgeom_make(SQ_FMT_PACKED, bits, k, rows, cols, group); /* the layout files have */
    L->group = g.group;
    L->groups = g.groups;
    L->row_bytes = g.row_bytes;
    L->id_row_bytes = g.id_bytes;
    size_t P = g.params;
    L->codes = malloc(rows * L->row_bytes + 1);
    L->ids = k > 1 ? malloc(rows * L->id_row_bytes + 1) : NULL;
    L->scale_bf16 = malloc(P * (size_t)k * 2);
    L->min_bf16 = malloc(P * (size_t)k * 2);
    for (size_t i = 0; i < P * (size_t)k; i++) {
        L->scale_bf16[i] = sq_f32_to_bf16(frand(0.001f, 0.1f));
        L->min_bf16[i] = sq_f32_to_bf16(frand(-0.5f, 0.5f));
    }
    uint8_t *c = malloc(cols), *id = malloc(cols);
    for (size_t r = 0; r < rows; r++) {
        for (size_t j = 0; j < cols; j++) {
            c[j] = (uint8_t)(urand() * (1 << bits));
            id[j] = (uint8_t)(urand() * k);
            size_t p = group ? r * L->groups + group_of(group, j) : 0;
            wref[r * cols + j] = (float)c[j] * sq_bf16_to_f32(L->scale_bf16[p * (size_t)k + id[j]]) +
                                 sq_bf16_to_f32(L->min_bf16[p * (size_t)k + id[j]]);
        }
        pack_bits(c, cols, bits, L->codes + r * L->row_bytes);
        if (k > 1) pack_bits(id, cols, idbits(k), L->ids + r * L->id_row_bytes);
    }
    free(c);
    free(id);
    if (bias) {
        L->bias = malloc(rows * sizeof(float));
        for (size_t r = 0; r < rows; r++) L->bias[r] = frand(-1, 1);
    }
}

/* A paper layer: k parts, affine (bits 2/3/4, group) or sym8 (bits 8). */
static void make_paper(sq_linear *L, size_t rows, size_t cols, int bits, int k, size_t group, float *wref, int bias)
{
    memset(L, 0, sizeof *L);
    L->kind = SQ_LIN_PAPER;
    L->rows = rows;
    L->cols = cols;
    L->bits = bits;
    L->k = k;
    sq_qgeom g = sq_qgeom_make(SQ_FMT_PAPER, bits, k, rows, cols, group); /* the layout files have */
    L->sym8 = g.sym8;
    L->group = g.group;
    L->groups = g.groups;
    L->row_bytes = g.row_bytes;
    size_t P = g.params;
    memset(wref, 0, rows * cols * sizeof(float));
    uint8_t *c = malloc(cols);
    for (int part = 0; part < k; part++) {
        sq_lin_part *p = &L->parts[part];
        p->codes = malloc(rows * L->row_bytes + 1);
        p->scale = malloc(P * sizeof(float));
        for (size_t i = 0; i < P; i++) p->scale[i] = frand(0.001f, 0.1f);
        if (!L->sym8) {
            p->min = malloc(P * sizeof(float));
            for (size_t i = 0; i < P; i++) p->min[i] = frand(-0.5f, 0.5f);
        }
        for (size_t r = 0; r < rows; r++) {
            for (size_t j = 0; j < cols; j++) {
                if (L->sym8) {
                    int8_t q = (int8_t)(int)(urand() * 256 - 128);
                    p->codes[r * cols + j] = (uint8_t)q;
                    wref[r * cols + j] += (float)q * p->scale[r];
                } else {
                    c[j] = (uint8_t)(urand() * (1 << bits));
                    size_t pi = L->group ? r * L->groups + group_of(L->group, j) : 0;
                    wref[r * cols + j] += (float)c[j] * p->scale[pi] + p->min[pi];
                }
            }
            if (!L->sym8) pack_bits(c, cols, bits, p->codes + r * L->row_bytes);
        }
    }
    free(c);
    if (bias) {
        L->bias = malloc(rows * sizeof(float));
        for (size_t r = 0; r < rows; r++) L->bias[r] = frand(-1, 1);
    }
}

/* max over outputs of |y - ref| / (sum_j |w_j x_j| + |b|) for matvec and matmul (n = 3). */
static double kernel_err(const sq_linear *L, const float *wref)
{
    size_t rows = L->rows, cols = L->cols, n = 3;
    float *X = malloc(n * cols * sizeof(float)), *Y = malloc(n * rows * sizeof(float)), *y = malloc(rows * sizeof(float));
    for (size_t i = 0; i < n * cols; i++) X[i] = frand(-1, 1);
    sq_linear_matmul(L, X, n, Y);
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        sq_linear_matvec(L, X + i * cols, y);
        for (size_t r = 0; r < rows; r++) {
            double ref = L->bias ? L->bias[r] : 0, mag = fabs(ref);
            for (size_t j = 0; j < cols; j++) {
                ref += (double)wref[r * cols + j] * X[i * cols + j];
                mag += fabs((double)wref[r * cols + j] * X[i * cols + j]);
            }
            double e1 = fabs(y[r] - ref) / mag, e2 = fabs(Y[i * rows + r] - ref) / mag;
            if (e1 > worst) worst = e1;
            if (e2 > worst) worst = e2;
        }
    }
    free(X);
    free(Y);
    free(y);
    return worst;
}

static void test_kernels_packed(void)
{
    static const int bits[] = {2, 3, 4, 5, 6, 7, 8}, nb = sizeof bits / sizeof bits[0];
    static const int ks[] = {1, 2, 3, 5, 8};
    static const size_t groups[] = {128, 300, 0, 32};
    size_t rows = 7, cols = 300;
    float *w = malloc(rows * cols * sizeof(float));
    double worst = 0;
    for (int b = 0; b < nb; b++)
        for (int ki = 0; ki < 5; ki++)
            for (int g = 0; g < 4; g++) {
                sq_linear L;
                make_packed(&L, rows, cols, bits[b], ks[ki], groups[g], w, (b + ki + g) % 2);
                double err = kernel_err(&L, w);
                CHECK_MSG(err <= 1e-5, "bits %d k %d group %zu: relative error %g", bits[b], ks[ki], groups[g], err);
                if (err > worst) worst = err;
                sq_linear_free(&L);
            }
    printf("     packed kernels: max relative error %.3g\n", worst);
    free(w);
}

static void test_kernels_paper(void)
{
    static const int bits[] = {2, 3, 4, 5, 6, 7, 8}, nb = sizeof bits / sizeof bits[0];
    static const size_t groups[] = {64, 100, 0};
    size_t rows = 9, cols = 200;
    float *w = malloc(rows * cols * sizeof(float));
    double worst = 0;
    for (int b = 0; b < nb; b++)
        for (int k = 1; k <= 3; k++)
            for (int g = 0; g < 3; g++) {
                sq_linear L;
                make_paper(&L, rows, cols, bits[b], k, groups[g], w, (b + k + g) % 2);
                double err = kernel_err(&L, w);
                CHECK_MSG(err <= 1e-5, "bits %d k %d group %zu: relative error %g", bits[b], k, groups[g], err);
                if (err > worst) worst = err;
                sq_linear_free(&L);
            }
    printf("     paper kernels: max relative error %.3g\n", worst);
    free(w);
}

static void test_kernels_f32(void)
{
    size_t rows = 5, cols = 77;
    sq_linear L;
    memset(&L, 0, sizeof L);
    L.kind = SQ_LIN_F32;
    L.rows = rows;
    L.cols = cols;
    L.w = malloc(rows * cols * sizeof(float));
    L.bias = malloc(rows * sizeof(float));
    for (size_t i = 0; i < rows * cols; i++) L.w[i] = frand(-1, 1);
    for (size_t i = 0; i < rows; i++) L.bias[i] = frand(-1, 1);
    double err = kernel_err(&L, L.w);
    CHECK(err <= 1e-6);
    sq_linear_free(&L);
}

/* ---------------- the loader on files written here ---------------- */

static void test_loader_layouts(void)
{
    /* a packed layer (3 bits, k 3, group 16) written as the format says, loaded back */
    size_t rows = 6, cols = 40;
    float *w = malloc(rows * cols * sizeof(float));
    sq_linear P;
    make_packed(&P, rows, cols, 3, 3, 16, w, 0);
    size_t Pn = rows * P.groups;
    float bias[6] = {0.5f, -1, 2, 0, 1, 3};
    wt ts[] = {
        {"l.weight.sq.codes", SQ_DT_U8, 2, {(int64_t)rows, (int64_t)P.row_bytes}, P.codes},
        {"l.weight.sq.ids", SQ_DT_U8, 2, {(int64_t)rows, (int64_t)P.id_row_bytes}, P.ids},
        {"l.weight.sq.scale", SQ_DT_BF16, 2, {(int64_t)Pn, 3}, P.scale_bf16},
        {"l.weight.sq.min", SQ_DT_BF16, 2, {(int64_t)Pn, 3}, P.min_bf16},
        {"l.bias", SQ_DT_F32, 1, {(int64_t)rows, 0}, bias},
    };
    const char *meta[] = {"sq.format", "packed", "sq.tensors",
                          "{\"l.weight\": {\"shape\": [6, 40], \"dtype\": \"F32\", \"kind\": \"packed\", \"bits\": 3, \"k\": 3, \"group\": 16}}"};
    sq_buf buf;
    CHECK(write_st(&buf, ts, 5, meta, 2) == 0);
    memst m;
    CHECK(memst_open_buf(&m, (char *)buf.data, buf.len) == 0);
    sq_err e = {0};
    sq_linear L;
    CHECK(sq_linear_load(&L, &m.st, "l.weight", "l.bias", rows, cols, &e) == 0);
    CHECK(L.kind == SQ_LIN_PACKED && L.bias && L.bias[2] == 2);
    if (!e.code) {
        float x[40], y1[6], y2[6];
        for (size_t j = 0; j < cols; j++) x[j] = frand(-1, 1);
        sq_linear_matvec(&L, x, y1);
        sq_linear_matvec(&P, x, y2);
        for (size_t r = 0; r < rows; r++) CHECK_NEAR(y1[r], y2[r] + bias[r], 1e-5);
        sq_linear_free(&L);
    }
    /* wrong expectation: an SQ_EINPUT error naming the tensor */
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "l.weight", NULL, rows, cols + 1, &e) == SQ_EINPUT);
    CHECK(strstr(e.msg, "l.weight") != NULL);
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "l.weight", "l.bias", rows + 1, cols, &e) == SQ_EINPUT);
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "nope.weight", NULL, rows, cols, &e) == SQ_EINPUT);
    CHECK(strstr(e.msg, "nope.weight") != NULL);
    memst_close(&m); /* frees buf.data */

    /* an id >= k is refused (k = 3 -> 2-bit ids can say 3) */
    uint8_t *bad = malloc(rows * P.id_row_bytes);
    memcpy(bad, P.ids, rows * P.id_row_bytes);
    bad[rows * P.id_row_bytes - 1] |= 0x3;
    bad[0] |= 0x3;
    ts[1].data = bad;
    CHECK(write_st(&buf, ts, 5, meta, 2) == 0);
    CHECK(memst_open_buf(&m, (char *)buf.data, buf.len) == 0);
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "l.weight", NULL, rows, cols, &e) == SQ_EINPUT);
    CHECK(strstr(e.msg, "l.weight.sq.ids") != NULL);
    memst_close(&m);
    free(bad);

    /* f32 split parts and bias parts sum exactly; a plain BF16 weight stays BF16 (exact) */
    float p0[6] = {1, 0, 3, 0, 0, 0}, p1[6] = {0, 2, 0, 4, 5, 6}, b0[2] = {1, 0}, b1[2] = {0, -2};
    uint16_t h[6];
    for (int i = 0; i < 6; i++) h[i] = sq_f32_to_bf16((float)i - 2.5f);
    wt ts2[] = {
        {"s.weight.sq.part0", SQ_DT_F32, 2, {2, 3}, p0}, {"s.weight.sq.part1", SQ_DT_F32, 2, {2, 3}, p1},
        {"s.bias.sq.part0", SQ_DT_F32, 1, {2, 0}, b0},   {"s.bias.sq.part1", SQ_DT_F32, 1, {2, 0}, b1},
        {"h.weight", SQ_DT_BF16, 2, {3, 2}, h},
    };
    const char *meta2[] = {"sq.format", "paper", "sq.tensors",
                           "{\"s.weight\": {\"shape\": [2, 3], \"dtype\": \"F32\", \"kind\": \"split\", \"bits\": 32, \"k\": 2},"
                           " \"s.bias\": {\"shape\": [2], \"dtype\": \"F32\", \"kind\": \"bias\", \"bits\": 32, \"k\": 2}}"};
    CHECK(write_st(&buf, ts2, 5, meta2, 2) == 0);
    CHECK(memst_open_buf(&m, (char *)buf.data, buf.len) == 0);
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "s.weight", "s.bias", 2, 3, &e) == 0);
    if (!e.code) {
        CHECK(L.kind == SQ_LIN_F32 && L.w[1] == 2 && L.w[5] == 6 && L.bias[0] == 1 && L.bias[1] == -2);
        sq_linear_free(&L);
    }
    CHECK(sq_linear_load(&L, &m.st, "h.weight", NULL, 3, 2, &e) == 0);
    if (!e.code) {
        CHECK(L.kind == SQ_LIN_BF16 && sq_bf16_to_f32(L.w16[0]) == -2.5f && sq_bf16_to_f32(L.w16[5]) == 2.5f && !L.bias);
        sq_linear_free(&L);
    }
    memset(&e, 0, sizeof e);
    CHECK(sq_linear_load(&L, &m.st, "h.weight", NULL, 2, 3, &e) == SQ_EINPUT);
    CHECK(strstr(e.msg, "h.weight") != NULL);
    memst_close(&m);
    sq_linear_free(&P);
    free(w);
}

int main(void)
{
    RUN(test_kernels_f32);
    RUN(test_kernels_packed);
    RUN(test_kernels_paper);
    RUN(test_loader_layouts);
    return test_summary();
}
