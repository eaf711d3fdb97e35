/* avx512.c - the one-input row kernels for x86-64 CPUs with AVX-512F (kernels_ref.h):
 * the 16 canonical lanes of a row are one 512-bit register, so each step of token-by-
 * token decoding (decode, convert, multiply, add) is one instruction per 16 weights
 * instead of AVX2's two. Only `matvec` differs from the avx2 table: the element-wise and
 * per-row primitives are avx2.c's (x86.h). The arithmetic is the same, element by
 * element, as everywhere else.
 */
#include "x86.h"

#if defined(SQ_HAVE_AVX2)
#define AVX512 __attribute__((target("avx512f,avx2,fma")))

int sq_cpu_has_avx512(void)
{
    __builtin_cpu_init();
    return sq_cpu_has_avx2() && __builtin_cpu_supports("avx512f") ? 1 : 0;
}

/* 16 b-bit fields (b = 2, 3, 4, 8) starting at field j (a multiple of 16), one per lane. */
AVX512 INLINE __m512i zdecode16(const uint8_t *row, size_t j, int bits)
{
    const __m512i halves = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    if (bits == 4) { /* dword 0 -> lanes 0..7, dword 1 -> lanes 8..15, then shifted */
        __m512i v = _mm512_castsi128_si512(_mm_loadl_epi64((const __m128i *)(row + j / 2)));
        v = _mm512_permutexvar_epi32(halves, v);
        return _mm512_and_si512(
            _mm512_srlv_epi32(v, _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28)),
            _mm512_set1_epi32(15));
    }
    if (bits == 3) {
        const uint8_t *p = row + j / 8 * 3;
        __m512i v = _mm512_castsi128_si512(_mm_setr_epi32((int)rd24(p), (int)rd24(p + 3), 0, 0));
        v = _mm512_permutexvar_epi32(halves, v);
        return _mm512_and_si512(
            _mm512_srlv_epi32(v, _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 0, 3, 6, 9, 12, 15, 18, 21)),
            _mm512_set1_epi32(7));
    }
    if (bits == 2) {
        const __m512i v = _mm512_set1_epi32((int)rd32(row + j / 4));
        return _mm512_and_si512(
            _mm512_srlv_epi32(v, _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)),
            _mm512_set1_epi32(3));
    }
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(row + j))); /* 8 */
}

/* red16x4 of four 16-lane registers (lanes 0..7 = the low half). */
AVX512 INLINE __m128 zred16x4(const __m512 *a)
{
    __m256 h[4][2];
    for (int i = 0; i < 4; i++) {
        h[i][0] = _mm512_castps512_ps256(a[i]);
        h[i][1] = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[i]), 1));
    }
    return red16x4(h);
}

/* factored_rows with 16-lane registers. */
AVX512 INLINE void zfactored_rows(const sq_linear *L, const uint8_t *row0, size_t stride, const sq_lin_part *P,
                                  size_t r0, const float *x, const float *gs, size_t G, float *y, const int R,
                                  const int bits)
{
    const size_t gsz = sq_kgroup_size(L);
    __m128 yv = _mm_loadu_ps(y);
    for (size_t g = 0; g < G; g++) {
        const size_t g0 = g * gsz;
        __m512 a[4];
        UNROLL for (int i = 0; i < 4; i++) a[i] = _mm512_setzero_ps();
        _Pragma("GCC unroll 2") for (size_t j = g0; j < g0 + gsz; j += 16) {
            const __m512 xv = _mm512_loadu_ps(x + j);
            prefetch_next(row0, stride, R, j, 2 * (size_t)bits);
            UNROLL for (int i = 0; i < R; i++)
                a[i] = _mm512_add_ps(a[i], _mm512_mul_ps(_mm512_cvtepi32_ps(zdecode16(row0 + (size_t)i * stride, j, bits)), xv));
        }
        float s[4] = {0, 0, 0, 0}, m[4] = {0, 0, 0, 0};
        UNROLL for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g);
            s[i] = P ? P->scale[p] : sq_kbf16(L->scale_bf16[p]);
            m[i] = P ? P->min[p] : sq_kbf16(L->min_bf16[p]);
        }
        const __m128 A = zred16x4(a), S = _mm_setr_ps(s[0], s[1], s[2], s[3]), M = _mm_setr_ps(m[0], m[1], m[2], m[3]);
        yv = _mm_add_ps(yv, _mm_add_ps(_mm_mul_ps(S, A), _mm_mul_ps(M, _mm_set1_ps(gs[g]))));
    }
    _mm_storeu_ps(y, yv);
}

#define ZFROWS(R, bits)                                                                                              \
    AVX512 __attribute__((noinline)) static void zfrows_##R##_##bits(const sq_linear *L, const uint8_t *row0,     \
                                                                     size_t stride, const sq_lin_part *P,          \
                                                                     size_t r0, const float *x, const float *gs,   \
                                                                     size_t G, float *y)                           \
    {                                                                                                                \
        zfactored_rows(L, row0, stride, P, r0, x, gs, G, y, R, bits);                                                \
    }
ZFROWS(1, 2) ZFROWS(2, 2) ZFROWS(3, 2) ZFROWS(4, 2)
ZFROWS(1, 4) ZFROWS(2, 4) ZFROWS(3, 4) ZFROWS(4, 4)
ZFROWS(1, 8) ZFROWS(2, 8) ZFROWS(3, 8) ZFROWS(4, 8)
ZFROWS(1, 3) ZFROWS(2, 3) ZFROWS(3, 3) ZFROWS(4, 3)

/* packedk_rows with 16-lane registers: vpermps over 16 entries reads the low 4 bits of
 * an index, so the k <= 4 table is repeated 4 times (ib = 2) or the 2-entry one 8 times
 * (ib = 1) and the ids need no masking, as in table8. */
AVX512 INLINE void zpackedk_rows(const sq_linear *L, size_t r0, const float *x, float *y, const int R, const int bits,
                                 const int ib)
{
    const size_t gsz = sq_kgroup_size(L), G = L->cols / gsz;
    const int k = L->k;
    const __m512i ish = ib == 2 ? _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
                                : _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512 a[4];
    UNROLL for (int i = 0; i < 4; i++) a[i] = _mm512_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m512 S[4], M[4];
        UNROLL for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g) * (size_t)k;
            S[i] = _mm512_broadcast_f32x4(_mm256_castps256_ps128(table8(L->scale_bf16 + p, k, ib)));
            M[i] = _mm512_broadcast_f32x4(_mm256_castps256_ps128(table8(L->min_bf16 + p, k, ib)));
        }
        _Pragma("GCC unroll 2") for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            const __m512 xv = _mm512_loadu_ps(x + j);
            prefetch_next(L->codes + r0 * L->row_bytes, L->row_bytes, R, j, 2 * (size_t)bits);
            prefetch_next(L->ids + r0 * L->id_row_bytes, L->id_row_bytes, R, j, 2 * (size_t)ib);
            UNROLL for (int i = 0; i < R; i++) {
                const size_t r = r0 + (size_t)i;
                const uint8_t *irow = L->ids + r * L->id_row_bytes;
                const __m512i id = _mm512_srlv_epi32(
                    _mm512_set1_epi32(ib == 2 ? (int)rd32(irow + j / 4) : (int)(irow[j / 8] | (uint32_t)irow[j / 8 + 1] << 8)),
                    ish);
                const __m512 c = _mm512_cvtepi32_ps(zdecode16(L->codes + r * L->row_bytes, j, bits));
                /* exact s*code, so fused with + m (see packedk_nb) */
                const __m512 w = _mm512_fmadd_ps(_mm512_permutexvar_ps(id, S[i]), c, _mm512_permutexvar_ps(id, M[i]));
                a[i] = _mm512_add_ps(a[i], _mm512_mul_ps(w, xv));
            }
        }
    }
    _mm_storeu_ps(y, zred16x4(a));
}

#define ZPKROWS(R, bits, ib)                                                                                         \
    AVX512 __attribute__((noinline)) static void zpkrows_##R##_##bits##_##ib(const sq_linear *L, size_t r0,      \
                                                                             const float *x, float *y)           \
    {                                                                                                                \
        zpackedk_rows(L, r0, x, y, R, bits, ib);                                                                     \
    }
#define ZPKROWS4(bits, ib) ZPKROWS(1, bits, ib) ZPKROWS(2, bits, ib) ZPKROWS(3, bits, ib) ZPKROWS(4, bits, ib)
ZPKROWS4(2, 1) ZPKROWS4(2, 2) ZPKROWS4(4, 1) ZPKROWS4(4, 2) ZPKROWS4(8, 1) ZPKROWS4(8, 2) ZPKROWS4(3, 1) ZPKROWS4(3, 2)
#define ZPKROW4(bits, ib) {zpkrows_1_##bits##_##ib, zpkrows_2_##bits##_##ib, zpkrows_3_##bits##_##ib, zpkrows_4_##bits##_##ib}

/* wide_rows (BF16, sym8 int8) with 16-lane registers. */
AVX512 INLINE void zwide_rows(const sq_linear *L, int part, size_t r0, const float *x, float *y, const int R,
                              const int sym8)
{
    const size_t cols = L->cols;
    __m512 a[4];
    UNROLL for (int i = 0; i < 4; i++) a[i] = _mm512_setzero_ps();
    _Pragma("GCC unroll 2") for (size_t j = 0; j < cols; j += 16) {
        const __m512 xv = _mm512_loadu_ps(x + j);
        if (sym8) prefetch_next(L->parts[part].codes + r0 * cols, cols, R, j, 16);
        else prefetch_next(L->w16 + r0 * cols, 2 * cols, R, j, 32);
        UNROLL for (int i = 0; i < R; i++) {
            const size_t r = r0 + (size_t)i;
            __m512 w;
            if (sym8)
                w = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                    _mm_loadu_si128((const __m128i *)((const int8_t *)L->parts[part].codes + r * cols + j))));
            else
                w = _mm512_castsi512_ps(_mm512_slli_epi32(
                    _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(L->w16 + r * cols + j))), 16));
            a[i] = _mm512_add_ps(a[i], _mm512_mul_ps(w, xv));
        }
    }
    _mm_storeu_ps(y, zred16x4(a));
}

#define ZWROWS(R)                                                                                                    \
    AVX512 __attribute__((noinline)) static void zbf16rows_##R(const sq_linear *L, int part, size_t r0,            \
                                                               const float *x, float *y)                           \
    {                                                                                                                \
        zwide_rows(L, part, r0, x, y, R, 0);                                                                         \
    }                                                                                                                \
    AVX512 __attribute__((noinline)) static void zsym8rows_##R(const sq_linear *L, int part, size_t r0,            \
                                                               const float *x, float *y)                           \
    {                                                                                                                \
        zwide_rows(L, part, r0, x, y, R, 1);                                                                         \
    }
ZWROWS(1) ZWROWS(2) ZWROWS(3) ZWROWS(4)

static const sq_krows avx512_rows = {
    .rows = 4,
    .fma = 1,
    .factored = {[2] = {zfrows_1_2, zfrows_2_2, zfrows_3_2, zfrows_4_2},
                 [3] = {zfrows_1_3, zfrows_2_3, zfrows_3_3, zfrows_4_3},
                 [4] = {zfrows_1_4, zfrows_2_4, zfrows_3_4, zfrows_4_4},
                 [8] = {zfrows_1_8, zfrows_2_8, zfrows_3_8, zfrows_4_8}},
    .packedk = {[2] = {ZPKROW4(2, 1), ZPKROW4(2, 2)},
                [3] = {ZPKROW4(3, 1), ZPKROW4(3, 2)},
                [4] = {ZPKROW4(4, 1), ZPKROW4(4, 2)},
                [8] = {ZPKROW4(8, 1), ZPKROW4(8, 2)}},
    .bf16 = {zbf16rows_1, zbf16rows_2, zbf16rows_3, zbf16rows_4},
    .sym8 = {zsym8rows_1, zsym8rows_2, zsym8rows_3, zsym8rows_4},
};

const sq_kimpl sq_kimpl_avx512 = {
    .name = "avx512",
    .available = sq_cpu_has_avx512,
    SQ_AVX2_PRIMITIVES,
    .matvec = &avx512_rows,
};

#else
typedef int sq_kernels_avx512_unused; /* not x86-64 with GCC/clang: nothing here */
#endif
