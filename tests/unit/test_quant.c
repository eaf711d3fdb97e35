/* test_quant.c - packing, the reference recipes (bit-exact against the stored reference
 * output of optimum-quanto for three real layers), the clustered BF16 variant, group policy. */
#include <cjson/cJSON.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>

#include "quant/pipeline.h"
#include "quant/quant.h"
#include "test.h"

static uint64_t rs = 0x9E3779B97F4A7C15ull;
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

static uint32_t f2u(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float bf(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
/* distance in units in the last place (same-sign finite floats; 0 when equal) */
static uint32_t ulp_diff(float a, float b)
{
    if (a == b) return 0;
    int64_t ia = (int32_t)f2u(a), ib = (int32_t)f2u(b);
    if (ia < 0) ia = (int64_t)INT32_MIN - ia;
    if (ib < 0) ib = (int64_t)INT32_MIN - ib;
    int64_t d = ia > ib ? ia - ib : ib - ia;
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}
static float ulpf(float x) { return nextafterf(fabsf(x), INFINITY) - fabsf(x); }

/* ------------------------------------------------------------------ packing */

static void test_pack(void)
{
    CHECK(sq_packed_row_bytes(0, 3) == 0);
    CHECK(sq_packed_row_bytes(5, 3) == 2);
    CHECK(sq_packed_row_bytes(128, 4) == 64);
    CHECK(sq_packed_row_bytes(7, 1) == 1 && sq_packed_row_bytes(9, 1) == 2);
    CHECK(sq_id_bits(1) == 0 && sq_id_bits(2) == 1 && sq_id_bits(3) == 2 && sq_id_bits(4) == 2);
    CHECK(sq_id_bits(5) == 3 && sq_id_bits(8) == 3 && sq_id_bits(9) == 4 && sq_id_bits(16) == 4);
    /* layout: LSB-first bit stream. 3-bit codes 1,2,3,4,5 -> bits 001 010 011 100 101 from
       bit 0 up: byte0 = 1 | 2<<3 | (3&3)<<6 = 0xD1, byte1 = 3>>2 | 4<<1 | 5<<4 = 0x58 */
    uint8_t c5[5] = {1, 2, 3, 4, 5}, p[4] = {0xEE, 0xEE, 0xEE, 0xEE};
    sq_pack_row(c5, 5, 3, p);
    CHECK(p[0] == 0xD1 && p[1] == 0x58 && p[2] == 0xEE);
    uint8_t c2[3] = {3, 0, 2};
    sq_pack_row(c2, 3, 2, p);
    CHECK(p[0] == 0x23); /* 11 00 10 + zero padding */
    /* round trips: bits 1..8, lengths 0..70, random codes; padding bits are zero */
    uint8_t codes[80], back[80], packed[80];
    rseed(1);
    for (int bits = 1; bits <= 8; bits++)
        for (size_t n = 0; n <= 70; n++) {
            for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)(rnext() & ((1u << bits) - 1));
            size_t nb = sq_packed_row_bytes(n, bits);
            memset(packed, 0xFF, sizeof packed);
            sq_pack_row(codes, n, bits, packed);
            CHECK(packed[nb] == 0xFF); /* writes exactly nb bytes */
            if (nb && (n * bits) % 8) CHECK((packed[nb - 1] >> ((n * bits) % 8)) == 0);
            memset(back, 0xAA, sizeof back);
            sq_unpack_row(packed, n, bits, back);
            CHECK_MSG(!memcmp(codes, back, n) && back[n] == 0xAA, "bits %d n %zu", bits, n);
        }
}

/* ------------------------------------------------------------------ group policy */

static void test_group_size(void)
{
    CHECK(sq_group_size(SQ_GROUP_AUTO, 128) == 128); /* not > 128: the row */
    CHECK(sq_group_size(SQ_GROUP_AUTO, 512) == 128);
    CHECK(sq_group_size(SQ_GROUP_AUTO, 160) == 32); /* 128, 96, 64 do not divide 160 */
    CHECK(sq_group_size(SQ_GROUP_AUTO, 192) == 96);
    CHECK(sq_group_size(SQ_GROUP_AUTO, 320) == 64);
    CHECK(sq_group_size(SQ_GROUP_AUTO, 100) == 100);
    CHECK(sq_group_size(SQ_GROUP_AUTO, 200) == 200); /* nothing from 128 down to 32 divides */
    CHECK(sq_group_size(SQ_GROUP_AUTO, 3072) == 128);
    CHECK(sq_group_size(SQ_GROUP_ROW, 512) == 512);
    CHECK(sq_group_size(SQ_GROUP_TENSOR, 512) == 0);
    CHECK(sq_group_size(64, 512) == 64);
    CHECK(sq_group_size(1000, 512) == 512);
}

/* ------------------------------------------------------------------ affine reference */

static void test_affine_roundtrip(void)
{
    size_t rows = 5, cols = 77; /* groups of 32: 32, 32, 13 */
    size_t g = 32, G = 3;
    float w[5 * 77], out[5 * 77], scale[15], mn[15];
    uint8_t q[5 * 77];
    rseed(2);
    for (size_t i = 0; i < rows * cols; i++) w[i] = (float)(rnorm() * (1 + (i / cols)));
    for (size_t c = 64; c < 77; c++) w[2 * cols + c] = -0.75f; /* a constant (short) group */
    for (int bits = 1; bits <= 8; bits++) {
        sq_quant_affine(w, rows, cols, g, bits, q, scale, mn);
        sq_dequant_affine(q, scale, mn, rows, cols, g, out);
        unsigned L = (1u << bits) - 1;
        for (size_t r = 0; r < rows; r++)
            for (size_t c = 0; c < cols; c++) {
                size_t i = r * cols + c, p = r * G + c / g;
                CHECK(q[i] <= L);
                float err = fabsf(out[i] - w[i]);
                CHECK_MSG(err <= 0.5f * scale[p] + 2 * ulpf(w[i]) + 2 * ulpf(mn[p]), "bits %d r %zu c %zu err %g scale %g",
                          bits, r, c, err, scale[p]);
            }
        /* group parameters: min is the group minimum, min + L*scale is about the maximum */
        for (size_t r = 0; r < rows; r++)
            for (size_t gi = 0; gi < G; gi++) {
                float lo = INFINITY, hi = -INFINITY;
                for (size_t c = gi * g; c < cols && c < (gi + 1) * g; c++) {
                    lo = fminf(lo, w[r * cols + c]);
                    hi = fmaxf(hi, w[r * cols + c]);
                }
                CHECK(mn[r * G + gi] == lo);
                CHECK(scale[r * G + gi] == (hi - lo) / (float)L);
            }
        /* the constant group: scale 0, codes 0, exact */
        CHECK(scale[2 * G + 2] == 0 && mn[2 * G + 2] == -0.75f);
        for (size_t c = 64; c < 77; c++) CHECK(q[2 * cols + c] == 0 && out[2 * cols + c] == -0.75f);
    }
}

static void test_affine_half_even(void)
{
    /* lo 0, hi 3, 2 bits: scale 1, shift 0: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (half to even) */
    float w[] = {0, 0.5f, 1.5f, 2.5f, 3, 1.49999988f};
    uint8_t q[6];
    float s, m, out[6];
    sq_quant_affine(w, 1, 6, 6, 2, q, &s, &m);
    CHECK(s == 1.0f && m == 0.0f);
    CHECK(q[0] == 0 && q[1] == 0 && q[2] == 2 && q[3] == 2 && q[4] == 3 && q[5] == 1);
    sq_dequant_affine(q, &s, &m, 1, 6, 6, out);
    CHECK(out[1] == 0 && out[2] == 2 && out[3] == 2 && out[4] == 3);
    /* with a shift: lo -1, hi 2 -> scale 1, shift 1: -0.5 -> 0.5 -> 0, 0.5 -> 1.5 -> 2 */
    float w2[] = {-1, -0.5f, 0.5f, 2, 1.0f};
    uint8_t q2[5];
    sq_quant_affine(w2, 1, 5, 5, 2, q2, &s, &m);
    CHECK(s == 1.0f && m == -1.0f);
    CHECK(q2[0] == 0 && q2[1] == 0 && q2[2] == 2 && q2[3] == 3 && q2[4] == 2);
    /* 4 bits, lo 0, hi 15: 7.5 -> 8, 8.5 -> 8, 9.5 -> 10 */
    float w3[] = {0, 15, 7.5f, 8.5f, 9.5f};
    uint8_t q3[5];
    sq_quant_affine(w3, 1, 5, 5, 4, q3, &s, &m);
    CHECK(s == 1.0f && q3[2] == 8 && q3[3] == 8 && q3[4] == 10);
}

static void test_sym8(void)
{
    float w[3 * 6] = {1, -2, 0.5f, 0.0078740157f, -0.0078740157f, 1.99f, /* absmax 2 */
                      0, 0, 0, 0, 0, 0,                                    /* all zero */
                      -3, 3, 1, -1, 0.1f, 2.9f};
    int8_t q[18];
    float s[3], out[18];
    sq_quant_sym8(w, 3, 6, q, s);
    sq_dequant_sym8(q, s, 3, 6, out);
    CHECK(s[0] == 2.0f / 127.0f && s[1] == 0 && s[2] == 3.0f / 127.0f);
    CHECK(q[1] == -127 && q[0] == 64 && q[12] == -127 && q[13] == 127);
    CHECK(q[3] == (int8_t)rintf(0.0078740157f / s[0]));
    for (int i = 6; i < 12; i++) CHECK(q[i] == 0 && out[i] == 0);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 6; c++) {
            int i = r * 6 + c;
            CHECK(out[i] == (float)q[i] * s[r]);
            CHECK(fabsf(out[i] - w[i]) <= 0.5f * s[r] + ulpf(w[i]));
        }
    /* half to even: w / scale exactly 0.5 and 1.5 */
    float w2[] = {127, 0.5f, 1.5f, -0.5f, -2.5f};
    int8_t q2[5];
    float s2;
    sq_quant_sym8(w2, 1, 5, q2, &s2);
    CHECK(s2 == 1.0f && q2[1] == 0 && q2[2] == 2 && q2[3] == 0 && q2[4] == -2);
}

/* ------------------------------------------------------------------ clustered */

static void check_clustered(const float *w, const uint8_t *ids, int k, size_t rows, size_t cols, size_t g,
                            int bits, const char *what)
{
    size_t G = (cols + g - 1) / g, P = rows * G * (size_t)k;
    uint8_t *q = malloc(rows * cols);
    uint16_t *s = malloc(P * 2), *m = malloc(P * 2);
    float *out = malloc(rows * cols * sizeof *out);
    sq_quant_clustered(w, ids, k, rows, cols, g, bits, q, s, m);
    sq_dequant_clustered(q, ids, k, s, m, rows, cols, g, out);
    double L = (double)((1u << bits) - 1);
    for (size_t r = 0; r < rows; r++)
        for (size_t gi = 0; gi < G; gi++)
            for (int c = 0; c < k; c++) {
                size_t p = (r * G + gi) * (size_t)k + (size_t)c;
                float lo = INFINITY, hi = -INFINITY;
                for (size_t j = gi * g; j < cols && j < (gi + 1) * g; j++) {
                    size_t i = r * cols + j;
                    if (ids[i] != c) continue;
                    lo = fminf(lo, w[i]);
                    hi = fmaxf(hi, w[i]);
                }
                float sf = bf(s[p]), mf = bf(m[p]);
                if (lo > hi) {
                    CHECK(s[p] == 0 && m[p] == 0); /* no members */
                    continue;
                }
                CHECK(isfinite(sf) && isfinite(mf) && sf >= 0);
                /* BF16 parameters cover the members: m <= lo, m + L*s >= hi */
                CHECK_MSG(mf <= lo, "%s: min %g > lo %g", what, mf, lo);
                CHECK_MSG((double)mf + L * sf >= (double)hi, "%s: m + L*s = %.9g < hi %.9g", what,
                          (double)mf + L * sf, hi);
                /* and tightly: m is within one BF16 step of lo, s within one step of the
                   exact scale (directed rounding) */
                const double bf_tiny = 9.18354961579912e-41; /* 2^-133: smallest BF16 step */
                CHECK_MSG((double)lo - mf <= fabs((double)lo) / 128 + bf_tiny, "%s: lo %.9g m %.9g", what, lo, mf);
                CHECK_MSG(sf == 0 ? hi == mf : (double)sf <= ((double)hi - mf) / L * (1 + 1.0 / 64) + bf_tiny,
                          "%s: lo %.9g hi %.9g m %.9g s %.9g", what, lo, hi, mf, sf);
                for (size_t j = gi * g; j < cols && j < (gi + 1) * g; j++) {
                    size_t i = r * cols + j;
                    if (ids[i] != c) continue;
                    CHECK(q[i] <= L);
                    float err = fabsf(out[i] - w[i]);
                    CHECK_MSG(err <= 0.5f * sf + ulpf(w[i]) + ulpf(mf), "%s: r %zu j %zu: w %.9g deq %.9g step %g",
                              what, r, j, w[i], out[i], sf);
                    if (sf == 0) CHECK(out[i] == w[i]);
                }
            }
    free(q);
    free(s);
    free(m);
    free(out);
}

static void test_clustered(void)
{
    size_t rows = 4, cols = 100;
    float w[400];
    uint8_t ids[400];
    rseed(5);
    for (int bits = 1; bits <= 8; bits++) {
        for (size_t i = 0; i < rows * cols; i++) {
            w[i] = (float)(0.05 * rnorm());
            ids[i] = w[i] < -0.04f ? 0 : w[i] > 0.04f ? 2 : 1;
        }
        char what[64];
        snprintf(what, sizeof what, "normal bits %d", bits);
        check_clustered(w, ids, 3, rows, cols, 32, bits, what);
        check_clustered(w, ids, 3, rows, cols, 100, bits, what);
        /* random ids, k = 5, some groups without members of a cluster */
        for (size_t i = 0; i < rows * cols; i++) ids[i] = (uint8_t)(rnext() % 5);
        check_clustered(w, ids, 5, rows, cols, 7, bits, what);
    }
    /* subnormal, tiny and huge finite values, constant clusters */
    float x[] = {1e-40f, 3e-41f, -2e-40f, 1e-45f, 1e30f, -1e30f, 5e29f, -7e29f, 0.25f, 0.25f, 0.25f, -3.0f,
                 FLT_MIN, -FLT_MIN, 1e38f, -1e38f};
    uint8_t xid[] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3, 4, 4, 5, 5};
    for (int bits = 1; bits <= 8; bits++) {
        char what[64];
        snprintf(what, sizeof what, "extremes bits %d", bits);
        check_clustered(x, xid, 6, 1, 16, 16, bits, what);
        check_clustered(x, xid, 6, 2, 8, 8, bits, what);
    }
    /* a constant cluster is exact with scale 0 */
    uint16_t s[6], m[6];
    uint8_t q[16];
    sq_quant_clustered(x, xid, 6, 1, 16, 16, 4, q, s, m);
    CHECK(s[2] == 0 && bf(m[2]) == 0.25f);
    CHECK(s[3] == 0 && bf(m[3]) == -3.0f);
    /* k = 1 with no ids: plain quantization with BF16 parameters */
    float y[8] = {0.1f, -0.3f, 0.7f, 0.2f, 0.0f, -0.1f, 0.5f, 0.65f}, yo[8];
    uint8_t yq[8];
    uint16_t ys, ym;
    sq_quant_clustered(y, NULL, 1, 1, 8, 8, 4, yq, &ys, &ym);
    sq_dequant_clustered(yq, NULL, 1, &ys, &ym, 1, 8, 8, yo);
    CHECK(bf(ym) <= -0.3f && bf(ym) + 15 * bf(ys) >= 0.7f);
    for (int i = 0; i < 8; i++) CHECK(fabsf(yo[i] - y[i]) <= 0.5f * bf(ys) + 1e-7f);
}

/* ------------------------------------------------------------------ fused rows */

static float to_bf16(float f) /* round to nearest even, to BF16 (finite f) */
{
    uint32_t u = f2u(f);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    float r;
    memcpy(&r, &u, 4);
    return r;
}

/* sq_quant_clustered_rows against the separate steps it fuses (sq_kmeans_assign-style
 * ids, sq_quant_clustered, sq_pack_row, sq_dequant_clustered, squared errors, plain
 * k = 1 alongside), byte for byte, from floats and from BF16 bytes. */
static void check_fused(const float *w, size_t rows, size_t cols, size_t g, int k, int bits, const float *bounds,
                        const char *what)
{
    size_t n = rows * cols, G = (cols + g - 1) / g, P = rows * G * (size_t)k;
    size_t rb = sq_packed_row_bytes(cols, bits), ib = k > 1 ? sq_packed_row_bytes(cols, sq_id_bits(k)) : 0;
    uint8_t *ids = malloc(n), *q = malloc(n), *qp = malloc(rows * cols + 8), *want_c = calloc(rows * rb + 1, 1),
            *want_i = calloc(rows * ib + 1, 1), *got_c = calloc(rows * rb + 1, 1), *got_i = calloc(rows * ib + 1, 1),
            *scratch = malloc(sq_quant_rows_scratch(cols) + 16), *raw = malloc(2 * n);
    uint16_t *ws = malloc(P * 2), *wm = malloc(P * 2), *gs = malloc(P * 2), *gm = malloc(P * 2),
             *ps = malloc(rows * G * 2), *pm = malloc(rows * G * 2);
    float *deq = malloc(n * 4), *pdeq = malloc(n * 4), *gdeq = malloc(n * 4);
    for (size_t i = 0; i < n; i++) {
        int c = 0;
        for (int j = 0; j + 1 < k; j++) c += w[i] > bounds[j];
        ids[i] = (uint8_t)c;
    }
    sq_quant_clustered(w, ids, k, rows, cols, g, bits, q, ws, wm);
    sq_dequant_clustered(q, ids, k, ws, wm, rows, cols, g, deq);
    for (size_t r = 0; r < rows; r++) {
        sq_pack_row(q + r * cols, cols, bits, want_c + r * rb);
        if (k > 1) sq_pack_row(ids + r * cols, cols, sq_id_bits(k), want_i + r * ib);
    }
    sq_quant_clustered(w, NULL, 1, rows, cols, g, bits, qp, ps, pm);
    sq_dequant_clustered(qp, NULL, 1, ps, pm, rows, cols, g, pdeq);
    double sse = 0, psse = 0;
    for (size_t i = 0; i < n; i++) {
        sse += ((double)deq[i] - w[i]) * ((double)deq[i] - w[i]);
        psse += ((double)pdeq[i] - w[i]) * ((double)pdeq[i] - w[i]);
    }
    int is_bf16 = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = f2u(w[i]);
        is_bf16 &= (u & 0xFFFFu) == 0;
        raw[2 * i] = (uint8_t)(u >> 16);
        raw[2 * i + 1] = (uint8_t)(u >> 24);
    }
    double vsum[2] = {0, 0}; /* the vector widths' sums: the same bits at every width */
    int have_vsum = 0;
    for (int width = 0; width <= 8; width += 4) {
        sq_quant_force_width(width);
        if (sq_quant_width() != width) continue; /* no AVX2 here */
    for (int src = 0; src < 1 + is_bf16; src++)
        for (int want_deq = 0; want_deq < 2; want_deq++) {
            double s1, s2;
            memset(got_c, 0, rows * rb + 1);
            memset(got_i, 0, rows * ib + 1);
            sq_quant_clustered_rows(src ? (const void *)raw : (const void *)w, src ? SQ_DT_BF16 : SQ_DT_F32, rows, cols, g,
                                    bits, k, bounds, got_c, got_i, gs, gm, want_deq ? gdeq : NULL, &s1, &s2, scratch);
            if (width && !want_deq) {
                if (have_vsum) CHECK_MSG(s1 == vsum[0] && s2 == vsum[1], "%s: width %d sums differ", what, width);
                vsum[0] = s1;
                vsum[1] = s2;
                have_vsum = 1;
            }
            CHECK_MSG(memcmp(got_c, want_c, rows * rb) == 0, "%s: codes (width %d src %d deq %d)", what, width, src, want_deq);
            CHECK_MSG(k == 1 || memcmp(got_i, want_i, rows * ib) == 0, "%s: ids", what);
            CHECK_MSG(memcmp(gs, ws, P * 2) == 0 && memcmp(gm, wm, P * 2) == 0, "%s: scales / offsets", what);
            CHECK_MSG(fabs(s1 - sse) <= 1e-9 * sse + 1e-300, "%s: sse %.17g vs %.17g", what, s1, sse);
            CHECK_MSG(fabs(s2 - psse) <= 1e-9 * psse + 1e-300, "%s: plain sse %.17g vs %.17g", what, s2, psse);
            if (want_deq) CHECK_MSG(memcmp(gdeq, deq, n * 4) == 0, "%s: dequantized values", what);
        }
    }
    sq_quant_force_width(-1);
    free(ids); free(q); free(qp); free(want_c); free(want_i); free(got_c); free(got_i); free(scratch); free(raw);
    free(ws); free(wm); free(gs); free(gm); free(ps); free(pm); free(deq); free(pdeq); free(gdeq);
}

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void test_fused_rows(void)
{
    printf("     vector width here: %d (every width available is checked)\n", sq_quant_width());
    size_t rows = 5, cols = 300, n = rows * cols;
    float *w = malloc(n * sizeof *w), *s = malloc(n * sizeof *s), bounds[8];
    rseed(11);
    for (int pass = 0; pass < 6; pass++) {
        for (size_t i = 0; i < n; i++) {
            double v = 0.02 * rnorm();
            if (rnext() % 500 == 0) v *= 30;                 /* outliers */
            if (pass == 1 && rnext() % 7 == 0) v = (rnext() & 1) ? 0.0 : -0.0; /* signed zeros */
            if (pass == 2) v = (double)(int)(rnext() % 33) * 0.0625 - 1.0; /* a grid: exact ties */
            if (pass == 3 && i % 97 < 40) v = 0.5;           /* constant stretches */
            if (pass == 4) v *= 1e-36;                        /* tiny and subnormal */
            w[i] = (float)v;
            if (pass != 5) w[i] = to_bf16(w[i]);              /* pass 5: full floats */
        }
        memcpy(s, w, n * sizeof *s);
        qsort(s, n, sizeof *s, cmp_f);
        for (int k = 1; k <= 8; k++) {
            for (int j = 0; j + 1 < k; j++) bounds[j] = s[(size_t)(j + 1) * n / (size_t)k];
            if (k == 5) bounds[3] = INFINITY; /* fewer clusters found than asked */
            for (int bits = 2; bits <= 8; bits++) {
                if (bits == 5 || bits == 6 || bits == 7) continue;
                static const size_t groups[] = {128, 100, 32, 7, 300, 1};
                for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                    char what[96];
                    snprintf(what, sizeof what, "pass %d k %d bits %d group %zu", pass, k, bits, groups[gi]);
                    check_fused(w, rows, cols, groups[gi], k, bits, bounds, what);
                }
            }
        }
    }
    /* exact half-steps: 0 .. 15 eighths and the midpoints between them, one group */
    float h[64];
    for (int i = 0; i < 64; i++) h[i] = (float)(i % 32) * 0.0625f * (i < 32 ? 1.0f : 0.5f);
    float none[1] = {INFINITY};
    for (int bits = 2; bits <= 4; bits++) check_fused(h, 1, 64, 64, 1, bits, none, "half steps");
    /* ranges that end at zero, with both zeros in them: the first one met decides the
       sign of the stored offset (-0 and +0 are different BF16 bytes) */
    float z[4][16];
    for (int v = 0; v < 4; v++)
        for (int i = 0; i < 16; i++) {
            float mag = (float)(i % 5) * 0.125f;
            z[v][i] = v < 2 ? mag : -mag;             /* all >= 0, or all <= 0 */
            if (i % 5 == 0) z[v][i] = ((i / 5 + v) & 1) ? -0.0f : 0.0f;
        }
    float zb[2] = {0.2f, INFINITY}, zb2[2] = {-0.2f, INFINITY};
    for (int v = 0; v < 4; v++) {
        check_fused(z[v], 1, 16, 16, 1, 4, none, "zero ends, plain");
        check_fused(z[v], 1, 16, 16, 2, 4, v < 2 ? zb : zb2, "zero ends, clusters");
        check_fused(z[v], 2, 8, 8, 3, 2, v < 2 ? zb : zb2, "zero ends, rows");
    }
    free(w);
    free(s);
}

/* ------------------------------------------------------------------ reference output */

typedef struct st_file {
    uint8_t *data;
    size_t size;
    cJSON *header;
    size_t base;
} st_file;

static int st_open(st_file *f, const char *path)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->data = malloc((size_t)sz);
    f->size = (size_t)sz;
    size_t got = fread(f->data, 1, f->size, fp);
    fclose(fp);
    if (got != f->size || f->size < 8) return -1;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | f->data[i];
    if (hl > f->size - 8) return -1;
    f->header = cJSON_ParseWithLength((const char *)f->data + 8, (size_t)hl);
    f->base = 8 + (size_t)hl;
    return f->header ? 0 : -1;
}

static void st_close(st_file *f)
{
    cJSON_Delete(f->header);
    free(f->data);
}

/* F32 tensor: copy to a new array (little-endian bytes), fill rows/cols. */
static float *st_f32(const st_file *f, const char *name, size_t *rows, size_t *cols)
{
    cJSON *t = cJSON_GetObjectItemCaseSensitive(f->header, name);
    if (!t) return NULL;
    cJSON *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype"), *sh = cJSON_GetObjectItemCaseSensitive(t, "shape"),
          *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    if (!cJSON_IsString(dt) || strcmp(dt->valuestring, "F32") || cJSON_GetArraySize(sh) != 2) return NULL;
    *rows = (size_t)cJSON_GetArrayItem(sh, 0)->valuedouble;
    *cols = (size_t)cJSON_GetArrayItem(sh, 1)->valuedouble;
    size_t a = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble, b = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    if (b - a != *rows * *cols * 4 || f->base + b > f->size) return NULL;
    float *x = malloc(b - a);
    const uint8_t *p = f->data + f->base + a;
    for (size_t i = 0; i < *rows * *cols; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                     (uint32_t)p[4 * i + 3] << 24;
        memcpy(&x[i], &u, 4);
    }
    return x;
}

static void test_reference_bit_exact(void)
{
    static const char *layers[] = {"classifier.weight", "bert.encoder.layer.0.intermediate.dense.weight",
                                   "bert.encoder.layer.0.output.dense.weight"};
    static const int bitss[] = {8, 4, 3, 2};
    st_file model, ref;
    int ok1 = st_open(&model, TEST_ROOT "/examples/bert-tiny-emotion/model.safetensors");
    int ok2 = st_open(&ref, TEST_ROOT "/examples/bert-tiny-emotion/reference-plain-quant.safetensors");
    CHECK(ok1 == 0 && ok2 == 0);
    if (ok1 || ok2) return;
    size_t total = 0, exact = 0, tensors = 0;
    uint32_t worst = 0;
    for (int l = 0; l < 3; l++) {
        size_t rows, cols, rr, rc;
        float *w = st_f32(&model, layers[l], &rows, &cols);
        CHECK_MSG(w != NULL, "%s", layers[l]);
        if (!w) continue;
        size_t g = sq_group_size(SQ_GROUP_AUTO, cols), G = (cols + g - 1) / g;
        CHECK(g == 128);
        float *out = malloc(rows * cols * sizeof *out), *scale = malloc(rows * G * sizeof *scale),
              *mn = malloc(rows * G * sizeof *mn);
        uint8_t *q = malloc(rows * cols);
        for (int b = 0; b < 4; b++) {
            char name[160];
            snprintf(name, sizeof name, "%s.int%d", layers[l], bitss[b]);
            float *want = st_f32(&ref, name, &rr, &rc);
            CHECK_MSG(want && rr == rows && rc == cols, "%s", name);
            if (!want) continue;
            if (bitss[b] == 8) {
                sq_quant_sym8(w, rows, cols, (int8_t *)q, scale);
                sq_dequant_sym8((const int8_t *)q, scale, rows, cols, out);
            } else {
                sq_quant_affine(w, rows, cols, g, bitss[b], q, scale, mn);
                sq_dequant_affine(q, scale, mn, rows, cols, g, out);
            }
            size_t ex = 0;
            uint32_t wt = 0;
            for (size_t i = 0; i < rows * cols; i++) {
                uint32_t d = ulp_diff(out[i], want[i]);
                ex += d == 0;
                if (d > wt) wt = d;
            }
            CHECK_MSG(wt <= 1, "%s: worst %u ulp", name, wt);
            printf("     %-52s %7zu/%-7zu exact, worst %u ulp\n", name, ex, rows * cols, wt);
            total += rows * cols;
            exact += ex;
            if (wt > worst) worst = wt;
            tensors++;
            free(want);
        }
        free(w);
        free(out);
        free(scale);
        free(mn);
        free(q);
    }
    printf("     reference: %zu tensors, %zu/%zu elements bit-exact, worst %u ulp\n", tensors, exact, total, worst);
    CHECK(tensors == 12);
    st_close(&model);
    st_close(&ref);
}

/* Every width 2..8 round-trips through the whole one-tensor path (sq_split_roundtrip:
 * plan geometry, scan, k-means, quantize, pack, dequantize) for plain, packed split and
 * paper split, and the error falls with each added bit: about 4x per bit for a uniform
 * grid, so a width that silently ran at another width's grid would show. Paper INT8 is
 * the symmetric per-row recipe (255 levels over a whole row, not 2^b over a group of
 * 128): measured about equal to INT7, so it is only held below INT6. */
static void test_widths_roundtrip(void)
{
    const size_t rows = 24, cols = 256, n = rows * cols;
    float *w = malloc(n * sizeof *w), *deq = malloc(n * sizeof *deq);
    rseed(77);
    for (size_t i = 0; i < n; i++) w[i] = (float)(rnorm() * 0.05 + (i % 97 == 0 ? 0.6 : 0));
    static const struct { int format, k; const char *name; } cases[] = {
        {SQ_FMT_PACKED, 1, "plain"}, {SQ_FMT_PACKED, 3, "packed k=3"}, {SQ_FMT_PAPER, 3, "paper k=3"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        double prev = INFINITY, prev2 = INFINITY;
        for (int bits = 2; bits <= 8; bits++) {
            sq_quant_opts o;
            sq_quant_opts_default(&o);
            o.bits = bits;
            o.clusters = cases[c].k;
            o.format = cases[c].format;
            o.skip_plain = 1;
            sq_layer_stats st;
            sq_err e = {0};
            CHECK_MSG(sq_split_roundtrip(w, rows, cols, &o, 1, &st, deq, &e) == 0, "%s INT%d: %s", cases[c].name, bits, e.msg);
            double sse = 0;
            for (size_t i = 0; i < n; i++) sse += ((double)deq[i] - w[i]) * ((double)deq[i] - w[i]);
            CHECK_NEAR(sse / (double)n, st.mse, 1e-12 + 1e-6 * st.mse);
            /* stored bytes grow with the width: codes of b bits per weight */
            CHECK(st.bytes_out >= n * (size_t)bits / 8);
            int sym8 = cases[c].format == SQ_FMT_PAPER && bits == 8;
            if (sym8) CHECK_MSG(st.mse < prev2 / 2.5, "%s INT8 %g vs INT6 %g", cases[c].name, st.mse, prev2);
            else CHECK_MSG(st.mse < prev / 2.5, "%s INT%d mse %g, INT%d %g", cases[c].name, bits, st.mse, bits - 1, prev);
            prev2 = prev;
            prev = st.mse;
        }
    }
    free(w);
    free(deq);
}

int main(void)
{
    RUN(test_pack);
    RUN(test_group_size);
    RUN(test_affine_roundtrip);
    RUN(test_affine_half_even);
    RUN(test_sym8);
    RUN(test_clustered);
    RUN(test_fused_rows);
    RUN(test_reference_bit_exact);
    RUN(test_widths_roundtrip);
    return test_summary();
}
