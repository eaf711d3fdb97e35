/* clustered.c - the clustered affine recipe of the packed format (see quant.h): BF16
 * parameters per (group, cluster) covering only the cluster's members, the reference
 * sq_quant_clustered / sq_dequant_clustered, and sq_quant_clustered_rows, the fused
 * sweep that does a row block's whole job reading the weights once, on vectors where
 * the compiler has them (clustered_vec.h, once per width), bit for bit the scalar one.
 * Every arithmetic step is one float or double operation (-ffp-contract=off).
 */
#include "quant.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/* Vector extensions (GCC >= 12, clang): the fused path's vector version (-DSQ_NO_SIMD:
 * the scalar one only, as other compilers build it). */
#if !defined(SQ_NO_SIMD) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12))
#define SQ_FUSED_VEC 1
#endif

/* The fused path's pieces are specialised per cluster count: inline them for real. */
#if defined(__GNUC__) || defined(__clang__)
#define SQ_FORCE_INLINE static inline __attribute__((always_inline))
#else
#define SQ_FORCE_INLINE static inline
#endif

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
    if ((double)f < d) f = u2f(f2u(f) + 1u); /* the next float up (f >= 0 finite) */
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
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
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
 * Spelled out for a compile-time K (the loops over clusters unroll). The reference for
 * the vector version below, which must give the same codes and parameters. */
SQ_FORCE_INLINE void fused_group_scalar(const float *x, size_t n, const float *bnd, int K, double L, uint8_t *id,
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

/* ---- the fused group on vectors (GCC >= 12 / clang vector extensions: SSE2 natively,
 * AVX2 where the CPU has it, simd128 in wasm), bit for bit the result of
 * fused_group_scalar:
 *  - ranges: the members of cluster c are the values in (b[c-1], b[c]], so its min is the
 *    min of the values > b[c-1] and its max the max of the values <= b[c] (an empty
 *    cluster shows as min > max, as in the scalar loop). Lane order only matters between
 *    -0 and +0; a range end that is zero is recomputed in order.
 *  - codes: u = (x - m) * (1/s) in float is within 1e-4 of the recipe's double
 *    quotient (|u| <= 2^8, three roundings of 2^-24), so where u is more than 1e-4 away
 *    from a half-integer, both round to the same integer; the other lanes (ties, mostly)
 *    are done by the recipe itself. Parameters outside [2^-100, 2^100] take the scalar
 *    path. */

#define VEC_MAGIC 12582912.0f /* 1.5 * 2^23: (u + M) - M rounds 0 <= u < 2^22 half to even */
#define VEC_SURE 0.4999f      /* |u - rint(u)| up to this: the rounding is certain */

/* The recipe for one value of a cluster with double parameters (ms, ss, inv) and float
 * copies (mf, sf); returns the code, *dq the dequantized value. */
static inline uint8_t exact_code(float v, double ms, double ss, double inv, float mf, float sf, double L, float *dq)
{
    if (ss == 0) {
        *dq = mf;
        return 0;
    }
    double r = div_rint((double)v - ms, ss, inv);
    if (!(r >= 0)) r = 0;
    if (r > L) r = L;
    uint8_t c = (uint8_t)r;
    float t = (float)c * sf;
    *dq = t + mf;
    return c;
}

static int fast_params(double m, double s)
{
    return s == 0 || (s >= 0x1p-100 && s <= 0x1p100 && fabs(m) <= 0x1p100 && fabs(m) + 256 * s <= 0x1p100);
}

/* A group's parameters, for the vector code and its exact fallbacks. */
typedef struct fctx {
    const float *bnd;
    double L;
    float Lf;
    double ms[SQ_CQ_MAX_K], ss[SQ_CQ_MAX_K], inv[SQ_CQ_MAX_K];
    float mf[SQ_CQ_MAX_K], sf[SQ_CQ_MAX_K], ivf[SQ_CQ_MAX_K];
    double pm, ps, pinv; /* plain (k = 1) */
    float pmf, psf, pivf;
} fctx;

/* From the vector pass's ranges (lo[0] = the group's min, hi[K-1] its max, the others
 * per cluster as above): the ranges of the members exactly as the scalar loop finds
 * them, the stored parameters (sc, mn) and c. Returns 0 when the vector path may not
 * go on (parameters out of its range). */
SQ_FORCE_INLINE int group_params(const float *x, size_t n, const float *bnd, int K, double L, float *lo, float *hi,
                                 int plain, uint16_t *sc, uint16_t *mn, fctx *c)
{
    /* the plain range is the whole group's (which zero it ends on does not matter:
       plain keeps only its squared errors, and q*s + m is the same value for m = +0
       and m = -0) */
    float plo = lo[0], phi = hi[K - 1];
    if (K > 1) { /* lo[0] / hi[K-1] are cluster ranges only when that cluster has members */
        if (lo[0] > bnd[0]) lo[0] = INFINITY;
        if (hi[K - 1] <= bnd[K - 2]) hi[K - 1] = -INFINITY;
    }
    for (int k = 0; k < K; k++) { /* a range that ends on zero: which zero came first */
        if (lo[k] > hi[k] || (lo[k] != 0 && hi[k] != 0)) continue;
        lo[k] = INFINITY;
        hi[k] = -INFINITY;
        for (size_t i = 0; i < n; i++) {
            float v = x[i];
            int cc = 0;
            for (int j = 0; j + 1 < K; j++) cc += v > bnd[j];
            if (cc != k) continue;
            if (v < lo[k]) lo[k] = v;
            if (v > hi[k]) hi[k] = v;
        }
    }
    int ok = 1;
    c->bnd = bnd;
    c->L = L;
    c->Lf = (float)L;
    for (int k = 0; k < K; k++) {
        if (lo[k] > hi[k]) {
            mn[k] = sc[k] = 0;
            c->ms[k] = c->ss[k] = c->inv[k] = 0;
        } else {
            cl_params(lo[k], hi[k], L, &mn[k], &sc[k], &c->ms[k], &c->ss[k]);
            c->inv[k] = c->ss[k] > 0 ? 1.0 / c->ss[k] : 0;
            ok &= fast_params(c->ms[k], c->ss[k]);
        }
        c->mf[k] = (float)c->ms[k];
        c->sf[k] = (float)c->ss[k];
        c->ivf[k] = c->sf[k] > 0 ? 1.0f / c->sf[k] : 0;
    }
    c->pm = c->ps = c->pinv = 0;
    if (plain) {
        uint16_t pmb, psb;
        cl_params(plo, phi, L, &pmb, &psb, &c->pm, &c->ps);
        c->pinv = c->ps > 0 ? 1.0 / c->ps : 0;
        ok &= fast_params(c->pm, c->ps);
    }
    c->pmf = (float)c->pm;
    c->psf = (float)c->ps;
    c->pivf = c->psf > 0 ? 1.0f / c->psf : 0;
    return ok;
}

/* The values from i on, one at a time; then the group's sums. */
SQ_FORCE_INLINE void finish_group(const float *x, size_t n, size_t i, const float *bnd, int K, uint8_t *id, uint8_t *q,
                                  int plain, const fctx *c, double e, double ep, double *sse, double *sse_plain)
{
    for (; i < n; i++) {
        float v = x[i], dq;
        int k = 0;
        for (int j = 0; j + 1 < K; j++) k += v > bnd[j];
        id[i] = (uint8_t)k;
        q[i] = exact_code(v, c->ms[k], c->ss[k], c->inv[k], c->mf[k], c->sf[k], c->L, &dq);
        double d = (double)dq - (double)v;
        e += d * d;
        if (plain) {
            exact_code(v, c->pm, c->ps, c->pinv, c->pmf, c->psf, c->L, &dq);
            d = (double)dq - (double)v;
            ep += d * d;
        }
    }
    *sse += e;
    if (plain) *sse_plain += ep;
}

/* Little-endian BF16 bytes to floats (exact). */
static void widen_bf16(const uint8_t *p, float *out, size_t n)
{
    size_t i = 0;
#if defined(SQ_FUSED_VEC) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    typedef uint16_t v8u16 __attribute__((vector_size(16)));
    const v8u16 z = {0, 0, 0, 0, 0, 0, 0, 0};
    for (; i + 8 <= n; i += 8) { /* (0, h) pairs read as 32-bit lanes: h << 16 */
        v8u16 h, lo, hi;
        memcpy(&h, p + 2 * i, sizeof h);
        lo = __builtin_shufflevector(z, h, 0, 8, 1, 9, 2, 10, 3, 11);
        hi = __builtin_shufflevector(z, h, 4, 12, 5, 13, 6, 14, 7, 15);
        memcpy(out + i, &lo, sizeof lo);
        memcpy(out + i + 4, &hi, sizeof hi);
    }
#endif
    for (; i < n; i++) {
        uint32_t u = ((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8) << 16;
        memcpy(&out[i], &u, sizeof u);
    }
}

/* Row r of a [rows, cols] weight as floats: the F32 row itself, or widened into `row`. */
SQ_FORCE_INLINE const float *row_f32(const void *w, sq_dtype dtype, size_t r, size_t cols, float *row)
{
    if (dtype == SQ_DT_F32) return (const float *)w + r * cols;
    if (dtype == SQ_DT_BF16) widen_bf16((const uint8_t *)w + 2 * r * cols, row, cols);
    else sq_to_f32(dtype, (const uint8_t *)w + sq_dtype_size(dtype) * r * cols, row, cols);
    return row;
}

#ifdef SQ_FUSED_VEC
typedef uint8_t v4u8 __attribute__((vector_size(4)));
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef double v2d __attribute__((vector_size(16)));

/* Four double lanes a0 a1 a2 a3 of squared errors (see clustered_vec.h). */
typedef struct vacc4 {
    v2d a, b;
} vacc4;
static inline double acc4_sum(vacc4 s) { return (s.a[0] + s.a[1]) + (s.b[0] + s.b[1]); }

/* Is any lane set (masks are 0 / -1)? The low bytes of the lanes of a (codes) and b
 * (ids) to 4 + 4 bytes. Floats to doubles. Intrinsics where the generic vector code is
 * poor; all exact, so every variant gives the same bits. */
#if defined(__SSE2__)
#include <emmintrin.h>
static inline int any4(v4i m) { return _mm_movemask_ps((__m128)m) != 0; }
static inline void store4(uint8_t *qa, uint8_t *qb, v4i a, v4i b)
{
    __m128i t = _mm_packs_epi32((__m128i)a, (__m128i)b); /* lanes are 0..255 */
    t = _mm_packus_epi16(t, t);
    uint64_t u = (uint64_t)_mm_cvtsi128_si64(t);
    uint32_t lo = (uint32_t)u, hi = (uint32_t)(u >> 32);
    memcpy(qa, &lo, 4);
    memcpy(qb, &hi, 4);
}
static inline v2d cvt_lo(v4f v) { return (v2d)_mm_cvtps_pd((__m128)v); }
static inline v2d cvt_hi(v4f v) { return (v2d)_mm_cvtps_pd(_mm_movehl_ps((__m128)v, (__m128)v)); }
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
static inline int any4(v4i m) { return wasm_v128_any_true((v128_t)m); }
static inline void store4(uint8_t *qa, uint8_t *qb, v4i a, v4i b)
{
    v128_t t = wasm_i16x8_narrow_i32x4((v128_t)a, (v128_t)b);
    t = wasm_u8x16_narrow_i16x8(t, t);
    uint32_t lo = (uint32_t)wasm_i32x4_extract_lane(t, 0), hi = (uint32_t)wasm_i32x4_extract_lane(t, 1);
    memcpy(qa, &lo, 4);
    memcpy(qb, &hi, 4);
}
/* (see clustered_vec.h: vmin / vmax, iclamp) */
#define VPMIN(a, b) ((v4f)wasm_f32x4_pmin((v128_t)(a), (v128_t)(b)))
#define VPMAX(a, b) ((v4f)wasm_f32x4_pmax((v128_t)(a), (v128_t)(b)))
#define VIMIN(a, b) ((v4i)wasm_i32x4_min((v128_t)(a), (v128_t)(b)))
#define VIMAX(a, b) ((v4i)wasm_i32x4_max((v128_t)(a), (v128_t)(b)))
static inline v2d cvt_lo(v4f v) { return (v2d)wasm_f64x2_promote_low_f32x4((v128_t)v); }
static inline v2d cvt_hi(v4f v)
{
    return (v2d)wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle((v128_t)v, (v128_t)v, 2, 3, 2, 3));
}
#else
static inline int any4(v4i m)
{
    v4i t = m | __builtin_shufflevector(m, m, 2, 3, 2, 3);
    t |= __builtin_shufflevector(t, t, 1, 1, 1, 1);
    return t[0] != 0;
}
static inline void store4(uint8_t *qa, uint8_t *qb, v4i a, v4i b)
{
    v4u8 x = __builtin_convertvector(a, v4u8), y = __builtin_convertvector(b, v4u8);
    memcpy(qa, &x, 4);
    memcpy(qb, &y, 4);
}
static inline v2d cvt_lo(v4f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1), v2d); }
static inline v2d cvt_hi(v4f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 2, 3), v2d); }
#endif

static inline void sse4(v4f dq, v4f x, vacc4 *acc)
{
    v2d d0 = cvt_lo(dq) - cvt_lo(x), d1 = cvt_hi(dq) - cvt_hi(x);
    acc->a += d0 * d0;
    acc->b += d1 * d1;
}

#define VW 4
#define VF v4f
#define VI v4i
#define VATTR
#define VN(name) name##_4
#define VANY(m) any4(m)
#define VSTORE(q, id, c, i) store4(q, id, c, i)
#define VACC vacc4
#define VACC4 vacc4
#define VACC_ZERO {{0, 0}, {0, 0}}
#define VACC_TO4(s) (s)
#define VSSE(dq, x, acc) sse4(dq, x, acc)
#include "clustered_vec.h" /* it #undefs these parameters at its end */

#if defined(__x86_64__) && defined(__SSE2__)
/* 8 lanes where the CPU has AVX2 (chosen at run time; the same bits as 4 lanes) */
#define SQ_FUSED_AVX2 1
#include <immintrin.h>
#define AVX2_ATTR __attribute__((target("avx2")))
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef double v4d __attribute__((vector_size(32)));

AVX2_ATTR SQ_FORCE_INLINE int any8(v8i m) { return _mm256_movemask_ps((__m256)m) != 0; }
AVX2_ATTR SQ_FORCE_INLINE void store8(uint8_t *qa, uint8_t *qb, v8i a, v8i b)
{
    /* per 128-bit half: a0-3 b0-3 | a4-7 b4-7 as int16, then as bytes */
    __m256i t = _mm256_packs_epi32((__m256i)a, (__m256i)b);
    t = _mm256_packus_epi16(t, t);
    uint64_t u0 = (uint64_t)_mm_cvtsi128_si64(_mm256_castsi256_si128(t));
    uint64_t u1 = (uint64_t)_mm_cvtsi128_si64(_mm256_extracti128_si256(t, 1));
    uint64_t qv = (u0 & 0xFFFFFFFFull) | (u1 << 32), iv = (u0 >> 32) | (u1 & 0xFFFFFFFF00000000ull);
    memcpy(qa, &qv, 8);
    memcpy(qb, &iv, 8);
}
AVX2_ATTR SQ_FORCE_INLINE void sse8(v8f dq, v8f x, v4d *acc)
{
    /* the two blocks of 4 in order, as the 4-lane version adds them */
    v4d d0 = (v4d)_mm256_cvtps_pd(_mm256_castps256_ps128((__m256)dq)) -
             (v4d)_mm256_cvtps_pd(_mm256_castps256_ps128((__m256)x));
    v4d d1 = (v4d)_mm256_cvtps_pd(_mm256_extractf128_ps((__m256)dq, 1)) -
             (v4d)_mm256_cvtps_pd(_mm256_extractf128_ps((__m256)x, 1));
    *acc += d0 * d0;
    *acc += d1 * d1;
}

#define VW 8
#define VF v8f
#define VI v8i
#define VATTR AVX2_ATTR
#define VN(name) name##_8
#define VANY(m) any8(m)
#define VSTORE(q, id, c, i) store8(q, id, c, i)
#define VACC v4d
#define VACC4 vacc4
#define VACC_ZERO {0, 0, 0, 0}
#define VACC_TO4(s) ((vacc4){{(s)[0], (s)[1]}, {(s)[2], (s)[3]}})
#define VSSE(dq, x, acc) sse8(dq, x, acc)
#include "clustered_vec.h"
#endif
#endif /* SQ_FUSED_VEC */

/* The scalar rows (compilers without vector extensions, and the reference). */
SQ_FORCE_INLINE void fused_rows_scalar(const void *w, sq_dtype dtype, size_t rows, size_t cols, size_t group, int bits,
                                       int K, const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed,
                                       uint16_t *scale_bf16, uint16_t *min_bf16, float *deq, double *sse,
                                       double *sse_plain, uint8_t *scratch)
{
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
    size_t rb = sq_packed_row_bytes(cols, bits), ib = K > 1 ? sq_packed_row_bytes(cols, sq_id_bits(K)) : 0;
    double L = (double)((1u << bits) - 1u);
    float *row = (float *)(void *)scratch;
    uint8_t *q = scratch + 4 * cols, *id = q + cols;
    double e = 0, ep = 0;
    for (size_t r = 0; r < rows; r++) {
        const float *x = row_f32(w, dtype, r, cols, row);
        for (size_t gi = 0; gi < G; gi++) {
            size_t a = gi * g, b = a + g < cols ? a + g : cols;
            size_t p = (r * G + gi) * (size_t)K;
            fused_group_scalar(x + a, b - a, bounds, K, L, id + a, q + a, scale_bf16 + p, min_bf16 + p,
                               deq ? deq + r * cols + a : NULL, sse_plain != NULL, &e, &ep);
        }
        sq_pack_row(q, cols, bits, codes_packed + r * rb);
        if (K > 1 && ids_packed) sq_pack_row(id, cols, sq_id_bits(K), ids_packed + r * ib);
    }
    *sse = e;
    if (sse_plain) *sse_plain = ep;
}

size_t sq_quant_rows_scratch(size_t cols) { return 6 * cols; }

static int force_width = -1; /* sq_quant_force_width */

int sq_quant_force_width(int w)
{
    int old = force_width;
    force_width = w;
    return old;
}

int sq_quant_width(void)
{
#ifdef SQ_FUSED_VEC
#ifdef SQ_FUSED_AVX2
    if (force_width < 0 || force_width >= 8)
        if (__builtin_cpu_supports("avx2")) return 8;
#endif
    return force_width == 0 ? 0 : 4;
#else
    return 0;
#endif
}

void sq_quant_clustered_rows(const void *w, sq_dtype dtype, size_t rows, size_t cols, size_t group, int bits, int k,
                             const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed, uint16_t *scale_bf16,
                             uint16_t *min_bf16, float *deq, double *sse, double *sse_plain, uint8_t *scratch)
{
    *sse = 0;
    if (sse_plain) *sse_plain = 0;
    if (!rows || !cols || k < 1 || k > SQ_CQ_MAX_K) return;
    int width = sq_quant_width();
#ifdef SQ_FUSED_AVX2
    if (width == 8) {
        fused_rows_k_8(w, dtype, rows, cols, group, bits, k, bounds, codes_packed, ids_packed, scale_bf16, min_bf16,
                       deq, sse, sse_plain, scratch);
        return;
    }
#endif
#ifdef SQ_FUSED_VEC
    if (width == 4) {
        fused_rows_k_4(w, dtype, rows, cols, group, bits, k, bounds, codes_packed, ids_packed, scale_bf16, min_bf16,
                       deq, sse, sse_plain, scratch);
        return;
    }
#endif
    (void)width;
    /* a constant K per call: the compiler unrolls the loops over clusters */
#define FUSED(K) fused_rows_scalar(w, dtype, rows, cols, group, bits, K, bounds, codes_packed, ids_packed, scale_bf16, min_bf16, deq, sse, sse_plain, scratch)
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
    size_t g = sq_eff_group(group, cols), G = (cols + g - 1) / g;
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
