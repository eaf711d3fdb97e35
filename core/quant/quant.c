/* quant.c - linear quantization recipes, bit packing and dequantization (see quant.h).
 *
 * The reference recipes are computed exactly as torch/optimum-quanto does in float32:
 * every arithmetic step is one float operation (no FMA: the build uses
 * -ffp-contract=off), rounding is rintf (round half to even in the default mode).
 */
#include "quant.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* ------------------------------------------------------------------ packing */

size_t sq_packed_row_bytes(size_t cols, int bits) { return (cols * (size_t)bits + 7) / 8; }

int sq_id_bits(int k)
{
    int b = 0;
    while (b < 31 && (1 << b) < k) b++;
    return b;
}

void sq_pack_row(const uint8_t *codes, size_t n, int bits, uint8_t *out)
{
    size_t i = 0, o = 0;
    switch (bits) { /* the common widths byte by byte; the same bit stream as below */
    case 8:
        memcpy(out, codes, n);
        return;
    case 4:
        for (; i + 2 <= n; i += 2) out[o++] = (uint8_t)((codes[i] & 15u) | (codes[i + 1] & 15u) << 4);
        if (i < n) out[o] = (uint8_t)(codes[i] & 15u);
        return;
    case 2:
        for (; i + 4 <= n; i += 4)
            out[o++] = (uint8_t)((codes[i] & 3u) | (codes[i + 1] & 3u) << 2 | (codes[i + 2] & 3u) << 4 |
                                 (codes[i + 3] & 3u) << 6);
        break;
    case 1:
        for (; i + 8 <= n; i += 8) {
            unsigned b = 0;
            for (int t = 0; t < 8; t++) b |= (codes[i + t] & 1u) << t;
            out[o++] = (uint8_t)b;
        }
        break;
    default:
        break;
    }
    uint32_t mask = (1u << bits) - 1u, acc = 0;
    int nacc = 0;
    for (; i < n; i++) {
        acc |= ((uint32_t)codes[i] & mask) << nacc;
        nacc += bits;
        while (nacc >= 8) {
            out[o++] = (uint8_t)acc;
            acc >>= 8;
            nacc -= 8;
        }
    }
    if (nacc > 0) out[o] = (uint8_t)acc;
}

void sq_unpack_row(const uint8_t *packed, size_t n, int bits, uint8_t *codes)
{
    if (bits == 8) {
        memcpy(codes, packed, n);
        return;
    }
    uint32_t mask = (1u << bits) - 1u, acc = 0;
    int nacc = 0;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        if (nacc < bits) {
            acc |= (uint32_t)packed[p++] << nacc;
            nacc += 8;
        }
        codes[i] = (uint8_t)(acc & mask);
        acc >>= bits;
        nacc -= bits;
    }
}

/* ------------------------------------------------------------------ group policy */

size_t sq_group_size(int policy, size_t cols)
{
    if (policy == SQ_GROUP_TENSOR) return 0;
    if (policy == SQ_GROUP_ROW) return cols;
    if (policy == SQ_GROUP_AUTO) {
        if (cols > 128)
            for (size_t g = 128; g >= 32; g -= 32)
                if (cols % g == 0) return g;
        return cols;
    }
    if (policy > 0) return (size_t)policy < cols ? (size_t)policy : cols;
    return cols;
}

/* Group size as used by the loops: 1..cols. */
static size_t eff_group(size_t group, size_t cols) { return (group == 0 || group > cols) ? cols : group; }

/* ------------------------------------------------------------------ affine reference */

void sq_quant_affine(const float *w, size_t rows, size_t cols, size_t group, int bits, uint8_t *codes,
                     float *scale, float *min)
{
    if (!rows || !cols) return;
    size_t g = eff_group(group, cols), G = (cols + g - 1) / g;
    float L = (float)((1u << bits) - 1u);
    for (size_t r = 0; r < rows; r++) {
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            const float *x = w + r * cols;
            uint8_t *q = codes + r * cols;
            float lo = x[a], hi = x[a];
            for (size_t i = a + 1; i < b; i++) {
                if (x[i] < lo) lo = x[i];
                if (x[i] > hi) hi = x[i];
            }
            float range = hi - lo;
            float s = range / L;
            float shift = -lo;
            scale[r * G + gi] = s;
            min[r * G + gi] = lo;
            if (s == 0) {
                memset(q + a, 0, b - a);
                continue;
            }
            for (size_t i = a; i < b; i++) {
                float t = x[i] + shift;
                float u = t / s;
                float v = rintf(u);
                if (!(v >= 0)) v = 0; /* also catches NaN */
                if (v > L) v = L;
                q[i] = (uint8_t)v;
            }
        }
    }
}

void sq_dequant_affine(const uint8_t *codes, const float *scale, const float *min, size_t rows, size_t cols,
                       size_t group, float *out)
{
    if (!rows || !cols) return;
    size_t g = eff_group(group, cols), G = (cols + g - 1) / g;
    for (size_t r = 0; r < rows; r++) {
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            float s = scale[r * G + gi], lo = min[r * G + gi];
            float shift = -lo;
            const uint8_t *q = codes + r * cols;
            float *o = out + r * cols;
            if (s == 0) {
                for (size_t i = a; i < b; i++) o[i] = lo;
                continue;
            }
            for (size_t i = a; i < b; i++) {
                float p = (float)q[i] * s;
                o[i] = p - shift;
            }
        }
    }
}

/* ------------------------------------------------------------------ symmetric INT8 */

void sq_quant_sym8(const float *w, size_t rows, size_t cols, int8_t *codes, float *scale)
{
    for (size_t r = 0; r < rows; r++) {
        const float *x = w + r * cols;
        int8_t *q = codes + r * cols;
        float amax = 0;
        for (size_t i = 0; i < cols; i++) {
            float a = fabsf(x[i]);
            if (a > amax) amax = a;
        }
        float s = amax / 127.0f;
        scale[r] = s;
        if (s == 0) {
            memset(q, 0, cols);
            continue;
        }
        for (size_t i = 0; i < cols; i++) {
            float u = x[i] / s;
            float v = rintf(u);
            if (!(v >= -128.0f)) v = -128.0f;
            if (v > 127.0f) v = 127.0f;
            q[i] = (int8_t)v;
        }
    }
}

void sq_dequant_sym8(const int8_t *codes, const float *scale, size_t rows, size_t cols, float *out)
{
    for (size_t r = 0; r < rows; r++) {
        float s = scale[r];
        for (size_t i = 0; i < cols; i++) out[r * cols + i] = (float)codes[r * cols + i] * s;
    }
}

/* ------------------------------------------------------------------ clustered affine, BF16 params */

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

static float bf16f(uint16_t b) { return u2f((uint32_t)b << 16); }

#define BF16_MAX 0x7F7Fu /* largest finite BF16 */

/* Largest BF16 <= f (f finite). Below -BF16 max it saturates at -BF16 max. */
static uint16_t bf16_down(float f)
{
    uint32_t u = f2u(f);
    uint32_t t = u >> 16;
    if (u & 0xFFFFu)
        if (u & 0x80000000u) t++; /* negative: truncation went up, step one down */
    if ((t & 0x7FFFu) > BF16_MAX) t = (t & 0x8000u) | BF16_MAX;
    return (uint16_t)t;
}

/* Smallest BF16 >= d (d >= 0, finite). Above BF16 max it saturates at BF16 max. */
static uint16_t bf16_up(double d)
{
    if (!(d > 0)) return 0;
    float f = (float)d;
    if ((double)f < d) f = nextafterf(f, INFINITY);
    uint32_t u = f2u(f);
    uint32_t t = u >> 16;
    if (u & 0xFFFFu) t++;
    if (t > BF16_MAX) t = BF16_MAX;
    return (uint16_t)t;
}

/* The BF16 parameters of one (group, cluster) from its members' range [lo, hi]:
 * m = lo rounded toward -inf, s = (hi - m) / L rounded toward +inf (then stepped up until
 * m + L*s reaches hi in double). *m_d, *s_d: the same as doubles. */
static void cl_params(float lo, float hi, double L, uint16_t *mb_out, uint16_t *sb_out, double *m_d, double *s_d)
{
    uint16_t mb = bf16_down(lo);
    double m = (double)bf16f(mb);
    uint16_t sb = bf16_up(((double)hi - m) / L);
    /* the double quotient may have rounded down onto a BF16: make sure the range
       [m, m + L*s] reaches hi */
    while (sb < BF16_MAX && m + L * (double)bf16f(sb) < (double)hi) sb++;
    *mb_out = mb;
    *sb_out = sb;
    *m_d = m;
    *s_d = (double)bf16f(sb);
}

/* rint(d / s) (round half to even, the recipe) for d >= 0, s > 0, d / s <= 2^8 or so,
 * without a division per value: inv = 1 / s. d * inv is within 1e-13 of the double
 * quotient d / s, so both round to the same integer unless d * inv lies within 1e-9 of
 * a half-integer; then the quotient itself decides (ties included). */
static inline double div_rint(double d, double s, double inv)
{
    double u = d * inv;
    double r = rint(u);
    if (fabs(u - r) > 0.5 - 1e-9) r = rint(d / s);
    return r;
}

void sq_quant_clustered(const float *w, const uint8_t *ids, int k, size_t rows, size_t cols, size_t group,
                        int bits, uint8_t *codes, uint16_t *scale_bf16, uint16_t *min_bf16)
{
    if (!rows || !cols || k < 1) return;
    if (k > 256) k = 256;
    size_t g = eff_group(group, cols), G = (cols + g - 1) / g;
    double L = (double)((1u << bits) - 1u);
    float lo[256], hi[256];
    double ms[256], ss[256], inv[256];
    for (size_t r = 0; r < rows; r++) {
        const float *x = w + r * cols;
        const uint8_t *id = ids ? ids + r * cols : NULL;
        uint8_t *q = codes + r * cols;
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            size_t p = (r * G + gi) * (size_t)k;
            for (int c = 0; c < k; c++) {
                lo[c] = INFINITY;
                hi[c] = -INFINITY;
            }
            for (size_t i = a; i < b; i++) {
                int c = !id ? 0 : id[i] < k ? id[i] : k - 1;
                if (x[i] < lo[c]) lo[c] = x[i];
                if (x[i] > hi[c]) hi[c] = x[i];
            }
            for (int c = 0; c < k; c++) {
                if (lo[c] > hi[c]) { /* no members */
                    min_bf16[p + c] = 0;
                    scale_bf16[p + c] = 0;
                    ms[c] = ss[c] = inv[c] = 0;
                    continue;
                }
                cl_params(lo[c], hi[c], L, &min_bf16[p + c], &scale_bf16[p + c], &ms[c], &ss[c]);
                inv[c] = ss[c] > 0 ? 1.0 / ss[c] : 0;
            }
            for (size_t i = a; i < b; i++) {
                int c = !id ? 0 : id[i] < k ? id[i] : k - 1;
                double s = ss[c];
                if (s == 0) {
                    q[i] = 0;
                    continue;
                }
                double v = div_rint((double)x[i] - ms[c], s, inv[c]);
                if (!(v >= 0)) v = 0;
                if (v > L) v = L;
                q[i] = (uint8_t)v;
            }
        }
    }
}

/* One group of the fused path: ids from the bounds, per-cluster ranges, parameters,
 * codes, dequantized values and squared errors; plain (k = 1) alongside when asked.
 * Spelled out for a compile-time K (the loops over clusters unroll). */
static inline void fused_group(const float *x, size_t n, const float *bnd, int K, double L, uint8_t *id,
                               uint8_t *q, uint16_t *sc, uint16_t *mn, float *deq, int plain, double *sse,
                               double *sse_plain)
{
    float lo[SQ_CQ_MAX_K], hi[SQ_CQ_MAX_K], mf[SQ_CQ_MAX_K], sf[SQ_CQ_MAX_K];
    double ms[SQ_CQ_MAX_K], ss[SQ_CQ_MAX_K], inv[SQ_CQ_MAX_K];
    float plo = INFINITY, phi = -INFINITY;
    for (int c = 0; c < K; c++) {
        lo[c] = INFINITY;
        hi[c] = -INFINITY;
    }
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        int c = 0;
        for (int j = 0; j + 1 < K; j++) c += v > bnd[j];
        id[i] = (uint8_t)c;
        if (v < lo[c]) lo[c] = v;
        if (v > hi[c]) hi[c] = v;
    }
    if (plain) {
        for (size_t i = 0; i < n; i++) {
            if (x[i] < plo) plo = x[i];
            if (x[i] > phi) phi = x[i];
        }
    }
    for (int c = 0; c < K; c++) {
        if (lo[c] > hi[c]) { /* no members */
            mn[c] = sc[c] = 0;
            ms[c] = ss[c] = inv[c] = 0;
        } else {
            cl_params(lo[c], hi[c], L, &mn[c], &sc[c], &ms[c], &ss[c]);
            inv[c] = ss[c] > 0 ? 1.0 / ss[c] : 0;
        }
        mf[c] = (float)ms[c];
        sf[c] = (float)ss[c];
    }
    double e = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        int c = id[i];
        double s = ss[c];
        float dq = mf[c];
        uint8_t code = 0;
        if (s != 0) {
            double r = div_rint((double)v - ms[c], s, inv[c]);
            if (!(r >= 0)) r = 0;
            if (r > L) r = L;
            code = (uint8_t)r;
            float t = (float)code * sf[c];
            dq = t + mf[c];
        }
        q[i] = code;
        if (deq) deq[i] = dq;
        double d = (double)dq - (double)v;
        e += d * d;
    }
    *sse += e;
    if (plain) {
        uint16_t pm, ps;
        double m, s;
        cl_params(plo, phi, L, &pm, &ps, &m, &s);
        double pinv = s > 0 ? 1.0 / s : 0;
        float pmf = (float)m, psf = (float)s;
        double ep = 0;
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            float dq = pmf;
            if (s != 0) {
                double r = div_rint((double)v - m, s, pinv);
                if (!(r >= 0)) r = 0;
                if (r > L) r = L;
                float t = (float)(uint8_t)r * psf;
                dq = t + pmf;
            }
            double d = (double)dq - (double)v;
            ep += d * d;
        }
        *sse_plain += ep;
    }
}

static void fused_rows(const float *w, size_t rows, size_t cols, size_t group, int bits, int K, const float *bounds,
                       uint8_t *codes_packed, uint8_t *ids_packed, uint16_t *scale_bf16, uint16_t *min_bf16,
                       float *deq, double *sse, double *sse_plain, uint8_t *scratch)
{
    size_t g = eff_group(group, cols), G = (cols + g - 1) / g;
    size_t rb = sq_packed_row_bytes(cols, bits), ib = K > 1 ? sq_packed_row_bytes(cols, sq_id_bits(K)) : 0;
    double L = (double)((1u << bits) - 1u);
    uint8_t *q = scratch, *id = scratch + cols;
    double e = 0, ep = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *x = w + r * cols;
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            size_t p = (r * G + gi) * (size_t)K;
            fused_group(x + a, b - a, bounds, K, L, id + a, q + a, scale_bf16 + p, min_bf16 + p,
                        deq ? deq + r * cols + a : NULL, sse_plain != NULL, &e, &ep);
        }
        sq_pack_row(q, cols, bits, codes_packed + r * rb);
        if (K > 1 && ids_packed) sq_pack_row(id, cols, sq_id_bits(K), ids_packed + r * ib);
    }
    *sse = e;
    if (sse_plain) *sse_plain = ep;
}

void sq_quant_clustered_rows(const float *w, size_t rows, size_t cols, size_t group, int bits, int k,
                             const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed, uint16_t *scale_bf16,
                             uint16_t *min_bf16, float *deq, double *sse, double *sse_plain, uint8_t *scratch)
{
    *sse = 0;
    if (sse_plain) *sse_plain = 0;
    if (!rows || !cols || k < 1 || k > SQ_CQ_MAX_K) return;
    /* a constant K per call: the compiler unrolls the loops over clusters */
#define FUSED(K) fused_rows(w, rows, cols, group, bits, K, bounds, codes_packed, ids_packed, scale_bf16, min_bf16, deq, sse, sse_plain, scratch)
    switch (k) {
    case 1: FUSED(1); break;
    case 2: FUSED(2); break;
    case 3: FUSED(3); break;
    case 4: FUSED(4); break;
    default: FUSED(k); break;
    }
#undef FUSED
}

void sq_dequant_clustered(const uint8_t *codes, const uint8_t *ids, int k, const uint16_t *scale_bf16,
                          const uint16_t *min_bf16, size_t rows, size_t cols, size_t group, float *out)
{
    if (!rows || !cols || k < 1) return;
    size_t g = eff_group(group, cols), G = (cols + g - 1) / g;
    for (size_t r = 0; r < rows; r++) {
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            size_t p = (r * G + gi) * (size_t)k;
            for (size_t i = a; i < b; i++) {
                size_t j = r * cols + i;
                int c = ids ? (ids[j] < k ? ids[j] : k - 1) : 0;
                float s = bf16f(scale_bf16[p + c]), m = bf16f(min_bf16[p + c]);
                if (s == 0) {
                    out[j] = m;
                    continue;
                }
                float t = (float)codes[j] * s;
                out[j] = t + m;
            }
        }
    }
}
