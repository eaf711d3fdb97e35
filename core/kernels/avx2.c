/* avx2.c - the kernels' primitives for x86-64 with AVX2 + FMA (kernels_ref.h), the
 * native twin of simd128.c. Each function carries target("avx2,fma") so the rest of the
 * build stays baseline x86-64; dispatch.c uses this table only when the CPU has both.
 * Same bits as ref.c: element-wise steps are exact or one multiply then one add (FMA only
 * where the product is exact: the BF16 scale times a code), and the 16 canonical lanes
 * are two 8-float registers per input.
 */
#include "x86.h"

#if defined(SQ_HAVE_AVX2)
#include "../dtype.h"

int sq_cpu_has_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
}

AVX2 void sq_avx2_unpack(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst)
{
    size_t i = 0;
    if (bits == 8) {
        memcpy(dst, row + j, n);
        return;
    }
    if (bits == 4 && (j & 1) == 0) {
        const uint8_t *p = row + j / 2;
        const __m128i m = _mm_set1_epi8(0x0f);
        for (; i + 32 <= n; i += 32, p += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
            _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi8(lo, hi));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_unpackhi_epi8(lo, hi));
        }
    } else if (bits == 2 && (j & 3) == 0) {
        const uint8_t *p = row + j / 4;
        const __m128i m = _mm_set1_epi8(0x03);
        for (; i + 64 <= n; i += 64, p += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)p);
            __m128i p0 = _mm_and_si128(v, m), p1 = _mm_and_si128(_mm_srli_epi16(v, 2), m);
            __m128i p2 = _mm_and_si128(_mm_srli_epi16(v, 4), m), p3 = _mm_and_si128(_mm_srli_epi16(v, 6), m);
            __m128i a = _mm_unpacklo_epi8(p0, p1), b = _mm_unpacklo_epi8(p2, p3);
            __m128i c = _mm_unpackhi_epi8(p0, p1), d = _mm_unpackhi_epi8(p2, p3);
            _mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi16(a, b));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_unpackhi_epi16(a, b));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_unpacklo_epi16(c, d));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_unpackhi_epi16(c, d));
        }
    }
    sq_kunpack_any(row, j + i, bits, n - i, dst + i);
}

AVX2 void sq_avx2_u8_f32(const uint8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)))));
    for (; i < n; i++) dst[i] = (float)src[i];
}

AVX2 void sq_avx2_i8_f32(const int8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)))));
    for (; i < n; i++) dst[i] = (float)src[i];
}

/* The table lookup of the codebook format: 16 codes at a time through one vpshufb of the
 * int8 table, then widened exactly to float. */
AVX2 void sq_avx2_lut_f32(const uint8_t *code, const int8_t *table, size_t n, float *dst)
{
    const __m128i tab = _mm_loadu_si128((const __m128i *)table), lo4 = _mm_set1_epi8(15);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_shuffle_epi8(tab, _mm_and_si128(_mm_loadu_si128((const __m128i *)(code + i)), lo4));
        _mm256_storeu_ps(dst + i, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8))));
    }
    for (; i < n; i++) dst[i] = (float)table[code[i] & 15];
}

AVX2 void sq_avx2_bf16_f32(const uint16_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++) dst[i] = sq_kbf16(src[i]);
}

/* Exact f16 -> f32: magnitude bits moved into place and scaled by 2^112 (exact for normal
 * and subnormal values), inf/NaN rebuilt, sign put back. */
AVX2 void sq_avx2_f16_f32(const uint16_t *src, size_t n, float *dst)
{
    size_t i = 0;
    const __m256i mag = _mm256_set1_epi32(0x7fff), expm = _mm256_set1_epi32(0x7c00), inf = _mm256_set1_epi32(0x7f800000);
    const __m256 scale = _mm256_castsi256_ps(_mm256_set1_epi32(0x77800000)); /* 2^112 */
    for (; i + 8 <= n; i += 8) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        __m256i u = _mm256_slli_epi32(_mm256_and_si256(h, mag), 13);
        __m256 f = _mm256_mul_ps(_mm256_castsi256_ps(u), scale);
        __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(h, expm), expm);
        __m256 fi = _mm256_castsi256_ps(_mm256_or_si256(u, inf));
        f = _mm256_blendv_ps(f, fi, _mm256_castsi256_ps(special));
        __m256i sign = _mm256_slli_epi32(_mm256_srli_epi32(h, 15), 31);
        _mm256_storeu_ps(dst + i, _mm256_or_ps(f, _mm256_castsi256_ps(sign)));
    }
    for (; i < n; i++) dst[i] = sq_f16_to_f32(src[i]);
}

AVX2 void sq_avx2_dequant(const uint8_t *code, const uint8_t *id, const float *ts, const float *tm, int k, size_t n,
                              float *dst)
{
    size_t i = 0;
    if (k <= 8) {
        const __m256 S = _mm256_loadu_ps(ts), M = _mm256_loadu_ps(tm);
        for (; i + 8 <= n; i += 8) {
            __m256i ix = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(id + i)));
            __m256 c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(code + i))));
            __m256 s = _mm256_permutevar8x32_ps(S, ix), m = _mm256_permutevar8x32_ps(M, ix);
            _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_mul_ps(s, c), m));
        }
    }
    for (; i < n; i++) dst[i] = ts[id[i]] * (float)code[i] + tm[id[i]];
}

AVX2 void sq_avx2_lanes(const float *w, const float *X, size_t ldx, size_t nin, size_t nblk, float *acc)
{
    size_t i = 0;
    for (; i + 4 <= nin; i += 4) {
        const float *x0 = X + i * ldx, *x1 = x0 + ldx, *x2 = x1 + ldx, *x3 = x2 + ldx;
        float *a = acc + i * SQ_KL;
        __m256 a00 = _mm256_loadu_ps(a), a01 = _mm256_loadu_ps(a + 8);
        __m256 a10 = _mm256_loadu_ps(a + 16), a11 = _mm256_loadu_ps(a + 24);
        __m256 a20 = _mm256_loadu_ps(a + 32), a21 = _mm256_loadu_ps(a + 40);
        __m256 a30 = _mm256_loadu_ps(a + 48), a31 = _mm256_loadu_ps(a + 56);
        for (size_t b = 0; b < nblk; b++) {
            size_t o = b * SQ_KL;
            __m256 w0 = _mm256_loadu_ps(w + o), w1 = _mm256_loadu_ps(w + o + 8);
            a00 = _mm256_add_ps(a00, _mm256_mul_ps(w0, _mm256_loadu_ps(x0 + o)));
            a01 = _mm256_add_ps(a01, _mm256_mul_ps(w1, _mm256_loadu_ps(x0 + o + 8)));
            a10 = _mm256_add_ps(a10, _mm256_mul_ps(w0, _mm256_loadu_ps(x1 + o)));
            a11 = _mm256_add_ps(a11, _mm256_mul_ps(w1, _mm256_loadu_ps(x1 + o + 8)));
            a20 = _mm256_add_ps(a20, _mm256_mul_ps(w0, _mm256_loadu_ps(x2 + o)));
            a21 = _mm256_add_ps(a21, _mm256_mul_ps(w1, _mm256_loadu_ps(x2 + o + 8)));
            a30 = _mm256_add_ps(a30, _mm256_mul_ps(w0, _mm256_loadu_ps(x3 + o)));
            a31 = _mm256_add_ps(a31, _mm256_mul_ps(w1, _mm256_loadu_ps(x3 + o + 8)));
        }
        _mm256_storeu_ps(a, a00), _mm256_storeu_ps(a + 8, a01);
        _mm256_storeu_ps(a + 16, a10), _mm256_storeu_ps(a + 24, a11);
        _mm256_storeu_ps(a + 32, a20), _mm256_storeu_ps(a + 40, a21);
        _mm256_storeu_ps(a + 48, a30), _mm256_storeu_ps(a + 56, a31);
    }
    for (; i < nin; i++) {
        const float *x = X + i * ldx;
        float *a = acc + i * SQ_KL;
        __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
        for (size_t b = 0; b < nblk; b++) {
            size_t o = b * SQ_KL;
            a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(w + o), _mm256_loadu_ps(x + o)));
            a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(w + o + 8), _mm256_loadu_ps(x + o + 8)));
        }
        _mm256_storeu_ps(a, a0);
        _mm256_storeu_ps(a + 8, a1);
    }
}

/* out[i] = red16 of acc[16i..16i+15], two inputs per register: [A0 A1] [A2 A3] of inputs
 * x and y regrouped as [A0x|A0y] [A1x|A1y] ..., v = (A0+A1) + (A2+A3), then
 * (v0+v2) + (v1+v3) in each half. */
AVX2 void sq_avx2_reduce(const float *acc, size_t nin, float *out)
{
    size_t i = 0;
    for (; i + 2 <= nin; i += 2) {
        const float *a = acc + i * SQ_KL;
        __m256 ax = _mm256_loadu_ps(a), bx = _mm256_loadu_ps(a + 8), ay = _mm256_loadu_ps(a + 16), by = _mm256_loadu_ps(a + 24);
        __m256 A0 = _mm256_permute2f128_ps(ax, ay, 0x20), A1 = _mm256_permute2f128_ps(ax, ay, 0x31);
        __m256 A2 = _mm256_permute2f128_ps(bx, by, 0x20), A3 = _mm256_permute2f128_ps(bx, by, 0x31);
        __m256 v = _mm256_add_ps(_mm256_add_ps(A0, A1), _mm256_add_ps(A2, A3));
        __m256 h = _mm256_add_ps(v, _mm256_permute_ps(v, 0x4e)); /* (v0+v2, v1+v3, ..) */
        __m256 r = _mm256_add_ps(h, _mm256_permute_ps(h, 0xb1)); /* lane 0: (v0+v2)+(v1+v3) */
        out[i] = _mm256_cvtss_f32(r);
        out[i + 1] = _mm_cvtss_f32(_mm256_extractf128_ps(r, 1));
    }
    for (; i < nin; i++) out[i] = sq_kred16(acc + i * SQ_KL);
}

/* ---------------- fused row kernels ---------------- */

/* 16 b-bit fields (b = 2, 3, 4, 8) starting at field j (j a multiple of 16) as two
 * 8-int vectors: lanes 0..7 and 8..15 of the block. */
AVX2 INLINE void decode16(const uint8_t *row, size_t j, int bits, __m256i *lo, __m256i *hi)
{
    if (bits == 4) {
        const uint8_t *p = row + j / 2;
        const __m256i sh = _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28), m = _mm256_set1_epi32(15);
        *lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)rd32(p)), sh), m);
        *hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)rd32(p + 4)), sh), m);
    } else if (bits == 3) {
        const uint8_t *p = row + j / 8 * 3;
        const __m256i sh = _mm256_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21), m = _mm256_set1_epi32(7);
        *lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)rd24(p)), sh), m);
        *hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)rd24(p + 3)), sh), m);
    } else if (bits == 2) {
        const __m256i v = _mm256_set1_epi32((int)rd32(row + j / 4)), m = _mm256_set1_epi32(3);
        *lo = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)), m);
        *hi = _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30)), m);
    } else { /* 8 */
        *lo = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + j)));
        *hi = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(row + j + 8)));
    }
}

/* The canonical reduction of lanes 0..7 (a) and 8..15 (b). */
AVX2 INLINE float red16(__m256 a, __m256 b)
{
    __m128 v = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1)),
                          _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1)));
    __m128 h = _mm_add_ps(v, _mm_movehl_ps(v, v));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* The fused kernels are written once with nb (inputs, 1..4), bits and ib as parameters
 * and instantiated with constants (noinline wrappers below), so the input loops unroll,
 * the accumulators stay in registers and the decoders are branch-free. */

AVX2 INLINE void factored_nb(const sq_linear *L, const uint8_t *row, const sq_lin_part *P, size_t r, const float *X,
                             const size_t nb, const float *gs, size_t G, float *y, const int bits)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L);
    for (size_t g = 0; g < G; g++) {
        size_t g0 = g * gsz;
        __m256 a[4][2];
        UNROLL for (size_t i = 0; i < nb; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
        _Pragma("GCC unroll 2") for (size_t j = g0; j < g0 + gsz; j += 16) {
            __m256i lo, hi;
            decode16(row, j, bits, &lo, &hi);
            __m256 c0 = _mm256_cvtepi32_ps(lo), c1 = _mm256_cvtepi32_ps(hi);
            UNROLL for (size_t i = 0; i < nb; i++) {
                const float *x = X + i * cols + j;
                a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(c0, _mm256_loadu_ps(x)));
                a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(c1, _mm256_loadu_ps(x + 8)));
            }
        }
        size_t p = sq_kparam(L, r, g);
        float s, m;
        if (P) {
            s = P->scale[p];
            m = P->min[p];
        } else {
            s = sq_kbf16(L->scale_bf16[p]);
            m = sq_kbf16(L->min_bf16[p]);
        }
        UNROLL for (size_t i = 0; i < nb; i++) {
            float A = red16(a[i][0], a[i][1]);
            y[i] = y[i] + (s * A + m * gs[i * G + g]);
        }
    }
}

#define FACTORED(nb, bits)                                                                                           \
    AVX2 __attribute__((noinline)) static void factored_##nb##_##bits(const sq_linear *L, const uint8_t *row,     \
                                                                      const sq_lin_part *P, size_t r,              \
                                                                      const float *X, const float *gs, size_t G,   \
                                                                      float *y)                                    \
    {                                                                                                                \
        factored_nb(L, row, P, r, X, nb, gs, G, y, bits);                                                            \
    }
FACTORED(1, 2) FACTORED(2, 2) FACTORED(3, 2) FACTORED(4, 2)
FACTORED(1, 4) FACTORED(2, 4) FACTORED(3, 4) FACTORED(4, 4)
FACTORED(1, 8) FACTORED(2, 8) FACTORED(3, 8) FACTORED(4, 8)
FACTORED(1, 3) FACTORED(2, 3) FACTORED(3, 3) FACTORED(4, 3)

typedef void (*factored_fn)(const sq_linear *, const uint8_t *, const sq_lin_part *, size_t, const float *,
                            const float *, size_t, float *);
static const factored_fn factored_fns[4][4] = {
    {factored_1_2, factored_2_2, factored_3_2, factored_4_2},
    {factored_1_4, factored_2_4, factored_3_4, factored_4_4},
    {factored_1_8, factored_2_8, factored_3_8, factored_4_8},
    {factored_1_3, factored_2_3, factored_3_3, factored_4_3},
};

AVX2 int sq_avx2_factored_row(const sq_linear *L, const uint8_t *row, const sq_lin_part *P, size_t r,
                                  const float *X, size_t nin, const float *gs, float *y)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L), G = (cols + gsz - 1) / gsz;
    int bi = L->bits == 2 ? 0 : L->bits == 4 ? 1 : L->bits == 8 ? 2 : L->bits == 3 ? 3 : -1;
    if (gsz % 16 || cols % gsz || bi < 0) return 0;
    for (size_t i = 0; i < nin; i += 4)
        factored_fns[bi][(nin - i < 4 ? nin - i : 4) - 1](L, row, P, r, X + i * cols, gs + i * G, G, y + i);
    return 1;
}
/* 16 ids of ib (1 or 2) bits at field j, unmasked (see table8). */
AVX2 INLINE void ids16(const uint8_t *row, size_t j, int ib, __m256i *lo, __m256i *hi)
{
    if (ib == 2) {
        const __m256i v = _mm256_set1_epi32((int)rd32(row + j / 4));
        *lo = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
        *hi = _mm256_srlv_epi32(v, _mm256_setr_epi32(16, 18, 20, 22, 24, 26, 28, 30));
    } else {
        const uint8_t *p = row + j / 8;
        const __m256i v = _mm256_set1_epi32((int)(p[0] | (uint32_t)p[1] << 8));
        *lo = _mm256_srlv_epi32(v, _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        *hi = _mm256_srlv_epi32(v, _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15));
    }
}

AVX2 INLINE void packedk_nb(const sq_linear *L, size_t r, const float *X, const size_t nb, float *y, const int bits,
                            const int ib)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L), G = cols / gsz;
    const int k = L->k;
    const uint8_t *crow = L->codes + r * L->row_bytes, *irow = L->ids + r * L->id_row_bytes;
    __m256 a[4][2];
    UNROLL for (size_t i = 0; i < nb; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        size_t p = sq_kparam(L, r, g) * (size_t)k;
        const __m256 S = table8(L->scale_bf16 + p, k, ib), M = table8(L->min_bf16 + p, k, ib);
        _Pragma("GCC unroll 2") for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            __m256i lo, hi, il, ih;
            decode16(crow, j, bits, &lo, &hi);
            ids16(irow, j, ib, &il, &ih);
            /* s*code is exact (see kernels_ref.h), so the fused s*code + m rounds as the
               canonical s*code then + m does */
            __m256 w0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(S, il), _mm256_cvtepi32_ps(lo),
                                        _mm256_permutevar8x32_ps(M, il));
            __m256 w1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(S, ih), _mm256_cvtepi32_ps(hi),
                                        _mm256_permutevar8x32_ps(M, ih));
            UNROLL for (size_t i = 0; i < nb; i++) {
                const float *x = X + i * cols + j;
                a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(w0, _mm256_loadu_ps(x)));
                a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(w1, _mm256_loadu_ps(x + 8)));
            }
        }
    }
    UNROLL for (size_t i = 0; i < nb; i++) y[i] = red16(a[i][0], a[i][1]);
}

#define PACKEDK(nb, bits, ib)                                                                                        \
    AVX2 __attribute__((noinline)) static void packedk_##nb##_##bits##_##ib(const sq_linear *L, size_t r,        \
                                                                            const float *X, float *y)            \
    {                                                                                                                \
        packedk_nb(L, r, X, nb, y, bits, ib);                                                                        \
    }
#define PACKEDK4(bits, ib) PACKEDK(1, bits, ib) PACKEDK(2, bits, ib) PACKEDK(3, bits, ib) PACKEDK(4, bits, ib)
PACKEDK4(2, 1) PACKEDK4(2, 2) PACKEDK4(4, 1) PACKEDK4(4, 2) PACKEDK4(8, 1) PACKEDK4(8, 2) PACKEDK4(3, 1) PACKEDK4(3, 2)

typedef void (*packedk_fn)(const sq_linear *, size_t, const float *, float *);
#define ROW4(bits, ib) {packedk_1_##bits##_##ib, packedk_2_##bits##_##ib, packedk_3_##bits##_##ib, packedk_4_##bits##_##ib}
static const packedk_fn packedk_fns[4][2][4] = {
    {ROW4(2, 1), ROW4(2, 2)}, {ROW4(4, 1), ROW4(4, 2)}, {ROW4(8, 1), ROW4(8, 2)}, {ROW4(3, 1), ROW4(3, 2)},
};

AVX2 int sq_avx2_packedk_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L);
    const int ib = sq_kid_bits(L->k), bi = L->bits == 2 ? 0 : L->bits == 4 ? 1 : L->bits == 8 ? 2 : L->bits == 3 ? 3 : -1;
    if (nin > 4 || gsz % 16 || cols % gsz || bi < 0 || !(ib == 1 || ib == 2) || L->scale_big) return 0;
    packedk_fns[bi][ib - 1][nin - 1](L, r, X, y);
    return 1;
}

/* BF16 row: 16 weights = 32 bytes, widened and shifted into floats in registers. */
AVX2 INLINE void bf16_nb(const sq_linear *L, size_t r, const float *X, const size_t nb, float *y)
{
    const size_t cols = L->cols;
    const uint16_t *w = L->w16 + r * cols;
    __m256 a[4][2];
    UNROLL for (size_t i = 0; i < nb; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    _Pragma("GCC unroll 2") for (size_t j = 0; j < cols; j += 16) {
        __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + j))), 16));
        __m256 w1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + j + 8))), 16));
        UNROLL for (size_t i = 0; i < nb; i++) {
            const float *x = X + i * cols + j;
            a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(w0, _mm256_loadu_ps(x)));
            a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(w1, _mm256_loadu_ps(x + 8)));
        }
    }
    UNROLL for (size_t i = 0; i < nb; i++) y[i] = red16(a[i][0], a[i][1]);
}

#define BF16ROW(nb)                                                                                                  \
    AVX2 __attribute__((noinline)) static void bf16_##nb(const sq_linear *L, size_t r, const float *X, float *y)   \
    {                                                                                                                \
        bf16_nb(L, r, X, nb, y);                                                                                     \
    }
BF16ROW(1) BF16ROW(2) BF16ROW(3) BF16ROW(4)
static const packedk_fn bf16_fns[4] = {bf16_1, bf16_2, bf16_3, bf16_4};

AVX2 int sq_avx2_bf16_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y)
{
    if (nin > 4 || L->cols % 16) return 0;
    bf16_fns[nin - 1](L, r, X, y);
    return 1;
}

/* int8 row (sym8 paper part): 16 codes sign-extended and converted in registers. */
AVX2 INLINE void sym8_nb(const sq_linear *L, int part, size_t r, const float *X, const size_t nb, float *y)
{
    const size_t cols = L->cols;
    const int8_t *w = (const int8_t *)L->parts[part].codes + r * cols;
    __m256 a[4][2];
    UNROLL for (size_t i = 0; i < nb; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    _Pragma("GCC unroll 2") for (size_t j = 0; j < cols; j += 16) {
        __m256 w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + j))));
        __m256 w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + j + 8))));
        UNROLL for (size_t i = 0; i < nb; i++) {
            const float *x = X + i * cols + j;
            a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(w0, _mm256_loadu_ps(x)));
            a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(w1, _mm256_loadu_ps(x + 8)));
        }
    }
    UNROLL for (size_t i = 0; i < nb; i++) y[i] = red16(a[i][0], a[i][1]);
}

#define SYM8ROW(nb)                                                                                                  \
    AVX2 __attribute__((noinline)) static void sym8_##nb(const sq_linear *L, int part, size_t r, const float *X,    \
                                                         float *y)                                                 \
    {                                                                                                                \
        sym8_nb(L, part, r, X, nb, y);                                                                               \
    }
SYM8ROW(1) SYM8ROW(2) SYM8ROW(3) SYM8ROW(4)
typedef void (*sym8_fn)(const sq_linear *, int, size_t, const float *, float *);
static const sym8_fn sym8_fns[4] = {sym8_1, sym8_2, sym8_3, sym8_4};

AVX2 int sq_avx2_sym8_row(const sq_linear *L, int part, size_t r, const float *X, size_t nin, float *y)
{
    if (nin > 4 || L->cols % 16) return 0;
    sym8_fns[nin - 1](L, part, r, X, y);
    return 1;
}

/* ---------------- one input, up to 4 rows per pass ---------------- */

/* Token-by-token decoding multiplies one input by every row. One row alone keeps only
 * two accumulator chains busy (its 16 lanes), so the loop waits on the latency of the
 * adds; R rows per pass give 2R independent chains and share each load of x. Every row's
 * arithmetic is exactly the single-row kernels' above. */

/* y[i] = y[i] + sum over groups of (s*A + m*X) for rows r0+i (i < R) whose codes start at
 * row0 + i*stride (packed k = 1, or one affine paper part P). y has 4 entries. */
AVX2 INLINE void factored_rows(const sq_linear *L, const uint8_t *row0, size_t stride, const sq_lin_part *P, size_t r0,
                               const float *x, const float *gs, size_t G, float *y, const int R, const int bits)
{
    const size_t gsz = sq_kgroup_size(L);
    __m128 yv = _mm_loadu_ps(y);
    for (size_t g = 0; g < G; g++) {
        const size_t g0 = g * gsz;
        __m256 a[4][2];
        UNROLL for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
        _Pragma("GCC unroll 2") for (size_t j = g0; j < g0 + gsz; j += 16) {
            const __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
            prefetch_next(row0, stride, R, j, 2 * (size_t)bits);
            UNROLL for (int i = 0; i < R; i++) {
                __m256i lo, hi;
                decode16(row0 + (size_t)i * stride, j, bits, &lo, &hi);
                a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(_mm256_cvtepi32_ps(lo), x0));
                a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(_mm256_cvtepi32_ps(hi), x1));
            }
        }
        float s[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
        UNROLL for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g);
            s[i] = P ? P->scale[p] : sq_kbf16(L->scale_bf16[p]);
            m[i] = P ? P->min[p] : sq_kbf16(L->min_bf16[p]);
        }
        const __m128 A = red16x4(a), S = _mm_setr_ps(s[0], s[1], s[2], s[3]), M = _mm_setr_ps(m[0], m[1], m[2], m[3]);
        yv = _mm_add_ps(yv, _mm_add_ps(_mm_mul_ps(S, A), _mm_mul_ps(M, _mm_set1_ps(gs[g]))));
    }
    _mm_storeu_ps(y, yv);
}

#define FROWS(R, bits)                                                                                               \
    AVX2 __attribute__((noinline)) static void frows_##R##_##bits(const sq_linear *L, const uint8_t *row0,         \
                                                                  size_t stride, const sq_lin_part *P, size_t r0,  \
                                                                  const float *x, const float *gs, size_t G,       \
                                                                  float *y)                                        \
    {                                                                                                                \
        factored_rows(L, row0, stride, P, r0, x, gs, G, y, R, bits);                                                 \
    }
FROWS(1, 2) FROWS(2, 2) FROWS(3, 2) FROWS(4, 2)
FROWS(1, 4) FROWS(2, 4) FROWS(3, 4) FROWS(4, 4)
FROWS(1, 8) FROWS(2, 8) FROWS(3, 8) FROWS(4, 8)
FROWS(1, 3) FROWS(2, 3) FROWS(3, 3) FROWS(4, 3)

/* y[i] = dot16(dequantized row r0+i, x) of a packed k > 1 layer, i < R. The rows' tables
 * live in memory (8 of them do not fit in registers beside the accumulators): vpermps
 * reads them from there. */
AVX2 INLINE void packedk_rows(const sq_linear *L, size_t r0, const float *x, float *y, const int R, const int bits,
                              const int ib)
{
    const size_t gsz = sq_kgroup_size(L), G = L->cols / gsz;
    const int k = L->k;
    __m256 a[4][2];
    UNROLL for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m256 S[4], M[4];
        UNROLL for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g) * (size_t)k;
            S[i] = table8(L->scale_bf16 + p, k, ib);
            M[i] = table8(L->min_bf16 + p, k, ib);
        }
        _Pragma("GCC unroll 2") for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            const __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
            prefetch_next(L->codes + r0 * L->row_bytes, L->row_bytes, R, j, 2 * (size_t)bits);
            prefetch_next(L->ids + r0 * L->id_row_bytes, L->id_row_bytes, R, j, 2 * (size_t)ib);
            UNROLL for (int i = 0; i < R; i++) {
                const size_t r = r0 + (size_t)i;
                __m256i lo, hi, il, ih;
                decode16(L->codes + r * L->row_bytes, j, bits, &lo, &hi);
                ids16(L->ids + r * L->id_row_bytes, j, ib, &il, &ih);
                /* exact s*code, so fused with + m (see packedk_nb) */
                __m256 w0 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(S[i], il), _mm256_cvtepi32_ps(lo),
                                            _mm256_permutevar8x32_ps(M[i], il));
                __m256 w1 = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(S[i], ih), _mm256_cvtepi32_ps(hi),
                                            _mm256_permutevar8x32_ps(M[i], ih));
                a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(w0, x0));
                a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(w1, x1));
            }
        }
    }
    _mm_storeu_ps(y, red16x4(a));
}

#define PKROWS(R, bits, ib)                                                                                          \
    AVX2 __attribute__((noinline)) static void pkrows_##R##_##bits##_##ib(const sq_linear *L, size_t r0,          \
                                                                          const float *x, float *y)              \
    {                                                                                                                \
        packedk_rows(L, r0, x, y, R, bits, ib);                                                                      \
    }
#define PKROWS4(bits, ib) PKROWS(1, bits, ib) PKROWS(2, bits, ib) PKROWS(3, bits, ib) PKROWS(4, bits, ib)
PKROWS4(2, 1) PKROWS4(2, 2) PKROWS4(4, 1) PKROWS4(4, 2) PKROWS4(8, 1) PKROWS4(8, 2) PKROWS4(3, 1) PKROWS4(3, 2)
#define PKROW4(bits, ib) {pkrows_1_##bits##_##ib, pkrows_2_##bits##_##ib, pkrows_3_##bits##_##ib, pkrows_4_##bits##_##ib}

/* y[i] = dot16(row r0+i, x) of a BF16 layer, or of the int8 codes of sym8 paper part
 * `part` (sym8 = 1), i < R. */
AVX2 INLINE void wide_rows(const sq_linear *L, int part, size_t r0, const float *x, float *y, const int R, const int sym8)
{
    const size_t cols = L->cols;
    __m256 a[4][2];
    UNROLL for (int i = 0; i < 4; i++) a[i][0] = a[i][1] = _mm256_setzero_ps();
    _Pragma("GCC unroll 2") for (size_t j = 0; j < cols; j += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 8);
        if (sym8) prefetch_next(L->parts[part].codes + r0 * cols, cols, R, j, 16);
        else prefetch_next(L->w16 + r0 * cols, 2 * cols, R, j, 32);
        UNROLL for (int i = 0; i < R; i++) {
            const size_t r = r0 + (size_t)i;
            __m256 w0, w1;
            if (sym8) {
                const int8_t *w = (const int8_t *)L->parts[part].codes + r * cols + j;
                w0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)w)));
                w1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + 8))));
            } else {
                const uint16_t *w = L->w16 + r * cols + j;
                w0 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)w)), 16));
                w1 = _mm256_castsi256_ps(
                    _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 8))), 16));
            }
            a[i][0] = _mm256_add_ps(a[i][0], _mm256_mul_ps(w0, x0));
            a[i][1] = _mm256_add_ps(a[i][1], _mm256_mul_ps(w1, x1));
        }
    }
    _mm_storeu_ps(y, red16x4(a));
}

#define WROWS(R)                                                                                                     \
    AVX2 __attribute__((noinline)) static void bf16rows_##R(const sq_linear *L, int part, size_t r0, const float *x, \
                                                            float *y)                                              \
    {                                                                                                                \
        wide_rows(L, part, r0, x, y, R, 0);                                                                          \
    }                                                                                                                \
    AVX2 __attribute__((noinline)) static void sym8rows_##R(const sq_linear *L, int part, size_t r0, const float *x, \
                                                            float *y)                                              \
    {                                                                                                                \
        wide_rows(L, part, r0, x, y, R, 1);                                                                          \
    }
WROWS(1) WROWS(2) WROWS(3) WROWS(4)

/* ---- int8 activations: the pair kernel (kernels_ref.h, sq_q8pairs) ----
 * A block is one vpmaddubsw (codes u8 x activations s8, pairs summed to int16: codes of
 * at most 7 bits cannot saturate) and one vpmaddwd per pair (8-bit codes and the
 * activations are widened to int16 instead: two vpmaddwd); eight pairs' eight partial
 * sums are then reduced together (integer: exact in any order) and enter the float
 * accumulators as one register, lane p = pair p. */
AVX2 INLINE __m256i hsum8x8(const __m256i p[8])
{
    __m256i a = _mm256_hadd_epi32(p[0], p[1]), b = _mm256_hadd_epi32(p[2], p[3]);
    __m256i c = _mm256_hadd_epi32(p[4], p[5]), d = _mm256_hadd_epi32(p[6], p[7]);
    __m256i ab = _mm256_hadd_epi32(a, b), cd = _mm256_hadd_epi32(c, d);
    return _mm256_add_epi32(_mm256_permute2x128_si256(ab, cd, 0x20), _mm256_permute2x128_si256(ab, cd, 0x31));
}

AVX2 INLINE void q8_pairs_rt(const sq_q8pairs *P, const int R, const int T, const int nib, const int wide)
{
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(15);
    const __m256i shift = _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4);
    const size_t G = P->nblk / P->gpb;
    const __m256i pidx = q8_param_index(P, R);
    __m256 y = _mm256_loadu_ps(P->y);
    for (size_t g = 0, b = 0; g < G; g++) {
        __m256 A = _mm256_setzero_ps();
        for (size_t e = b + P->gpb; b < e; b++) {
            __m256i x[2], xw[2][2], p[8];
            _Pragma("GCC unroll 2") for (int t = 0; t < T; t++)
            {
                if (wide) { /* activations widened to int16 once per block */
                    const int8_t *xp = P->xq[t] + b * SQ_QB;
                    xw[t][0] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)xp));
                    xw[t][1] = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(xp + 16)));
                } else x[t] = _mm256_loadu_si256((const __m256i *)(P->xq[t] + b * SQ_QB));
            }
            _Pragma("GCC unroll 8") for (int rr = 0; rr < R; rr++)
            {
                __m256i c;
                if (wide) { /* 8-bit codes: widened to int16, products summed in pairs (vpmaddwd) */
                    const uint8_t *cp = P->cu + (size_t)rr * P->ldc + b * SQ_QB;
                    const __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)cp));
                    const __m256i c1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(cp + 16)));
                    _Pragma("GCC unroll 2") for (int t = 0; t < T; t++) p[t * R + rr] =
                        _mm256_add_epi32(_mm256_madd_epi16(c0, xw[t][0]), _mm256_madd_epi16(c1, xw[t][1]));
                    continue;
                }
                if (nib) /* 16 bytes in both halves; the high half shifted by 4: [even | odd] */
                    c = _mm256_and_si256(
                        _mm256_srlv_epi32(_mm256_broadcastsi128_si256(_mm_loadu_si128(
                                              (const __m128i *)(P->cu + (size_t)rr * P->ldc + b * (SQ_QB / 2)))),
                                          shift),
                        low4);
                else c = _mm256_loadu_si256((const __m256i *)(P->cu + (size_t)rr * P->ldc + b * SQ_QB));
                _Pragma("GCC unroll 2") for (int t = 0; t < T; t++) p[t * R + rr] =
                    _mm256_madd_epi16(_mm256_maddubs_epi16(c, x[t]), ones);
            }
            __m256 d = T == 1 ? _mm256_broadcast_ss(P->d[0] + b)
                              : _mm256_set_m128(_mm_broadcast_ss(P->d[1] + b), _mm_broadcast_ss(P->d[0] + b));
            A = _mm256_add_ps(A, _mm256_mul_ps(d, _mm256_cvtepi32_ps(hsum8x8(p))));
        }
        const __m256 s = q8_params(P->s, P, g, R, pidx), m = q8_params(P->m, P, g, R, pidx);
        const __m256 X = R == 8 ? _mm256_broadcast_ss(P->X[0] + g)
                                : _mm256_set_m128(_mm_broadcast_ss(P->X[1] + g), _mm_broadcast_ss(P->X[0] + g));
        y = _mm256_add_ps(y, _mm256_add_ps(_mm256_mul_ps(s, A), _mm256_mul_ps(m, X)));
    }
    _mm256_storeu_ps(P->y, y);
}

AVX2 void sq_avx2_q8_pairs(const sq_q8pairs *P)
{
    if (P->bits == 8) {
        if (P->T == 1) q8_pairs_rt(P, 8, 1, 0, 1);
        else q8_pairs_rt(P, 4, 2, 0, 1);
    } else if (P->nib) q8_pairs_rt(P, 8, 1, 1, 0);
    else if (P->T == 1) q8_pairs_rt(P, 8, 1, 0, 0);
    else q8_pairs_rt(P, 4, 2, 0, 0);
}

/* Attention's weighted sum of values: 64 columns (8 registers) at a time kept in
 * registers over every t, one multiply then one add per term as the scalar loop. */
AVX2 void sq_avx2_wsum(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o)
{
    size_t d0 = 0;
    for (; d0 + 64 <= n; d0 += 64) {
        __m256 a[8];
        for (int q = 0; q < 8; q++) a[q] = _mm256_setzero_ps();
        for (size_t t = 0; t < T; t++) {
            const __m256 pt = _mm256_broadcast_ss(p + t);
            const float *v = V + t * ldv + d0;
            for (int q = 0; q < 8; q++) a[q] = _mm256_add_ps(a[q], _mm256_mul_ps(pt, _mm256_loadu_ps(v + 8 * q)));
        }
        for (int q = 0; q < 8; q++) _mm256_storeu_ps(o + d0 + 8 * q, a[q]);
    }
    for (; d0 + 8 <= n; d0 += 8) {
        __m256 a = _mm256_setzero_ps();
        for (size_t t = 0; t < T; t++) a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_broadcast_ss(p + t), _mm256_loadu_ps(V + t * ldv + d0)));
        _mm256_storeu_ps(o + d0, a);
    }
    for (; d0 < n; d0++) {
        float a = 0.0f;
        for (size_t t = 0; t < T; t++) a = a + p[t] * V[t * ldv + d0];
        o[d0] = a;
    }
}

static const sq_krows avx2_rows = {
    .rows = 4,
    .fma = 1,
    .factored = {[2] = {frows_1_2, frows_2_2, frows_3_2, frows_4_2},
                 [3] = {frows_1_3, frows_2_3, frows_3_3, frows_4_3},
                 [4] = {frows_1_4, frows_2_4, frows_3_4, frows_4_4},
                 [8] = {frows_1_8, frows_2_8, frows_3_8, frows_4_8}},
    .packedk = {[2] = {PKROW4(2, 1), PKROW4(2, 2)},
                [3] = {PKROW4(3, 1), PKROW4(3, 2)},
                [4] = {PKROW4(4, 1), PKROW4(4, 2)},
                [8] = {PKROW4(8, 1), PKROW4(8, 2)}},
    .bf16 = {bf16rows_1, bf16rows_2, bf16rows_3, bf16rows_4},
    .sym8 = {sym8rows_1, sym8rows_2, sym8rows_3, sym8rows_4},
};

const sq_kimpl sq_kimpl_avx2 = {
    .name = "avx2",
    .available = sq_cpu_has_avx2,
    SQ_AVX2_PRIMITIVES,
    .q8_pairs = sq_avx2_q8_pairs,
    .matvec = &avx2_rows,
};

#else
typedef int sq_kernels_avx2_unused; /* not x86-64 with GCC/clang: nothing here */
#endif
