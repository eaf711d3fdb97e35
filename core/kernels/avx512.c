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

/* The shifts that put 16 ids of ib bits (from one dword) in the low bits of 16 lanes. */
AVX512 INLINE __m512i zid_shifts(const int ib)
{
    return ib == 2 ? _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
                   : _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/* Group g's scale and min tables of rows r0 .. r0 + R - 1, each in a 16-lane register. */
AVX512 INLINE void zpk_tables(const sq_linear *L, size_t r0, size_t g, const int R, const int ib, __m512 *S, __m512 *M)
{
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
        size_t p = sq_kparam(L, r0 + (size_t)i, g) * (size_t)L->k;
        S[i] = _mm512_broadcast_f32x4(_mm256_castps256_ps128(table8(L->scale_bf16 + p, L->k, ib)));
        M[i] = _mm512_broadcast_f32x4(_mm256_castps256_ps128(table8(L->min_bf16 + p, L->k, ib)));
    }
}

/* Weights j .. j + 15 of row r dequantized with its group's tables S, M: s*code is
 * exact, so it is fused with + m (see packedk_nb). */
AVX512 INLINE __m512 zpk_weights(const sq_linear *L, size_t r, size_t j, const int bits, const int ib, __m512i ish,
                                 __m512 S, __m512 M)
{
    const uint8_t *irow = L->ids + r * L->id_row_bytes;
    const __m512i id = _mm512_srlv_epi32(
        _mm512_set1_epi32(ib == 2 ? (int)rd32(irow + j / 4) : (int)(irow[j / 8] | (uint32_t)irow[j / 8 + 1] << 8)), ish);
    const __m512 c = _mm512_cvtepi32_ps(zdecode16(L->codes + r * L->row_bytes, j, bits));
    return _mm512_fmadd_ps(_mm512_permutexvar_ps(id, S), c, _mm512_permutexvar_ps(id, M));
}
AVX512 INLINE void zpackedk_rows(const sq_linear *L, size_t r0, const float *x, float *y, const int R, const int bits,
                                 const int ib)
{
    const size_t gsz = sq_kgroup_size(L), G = L->cols / gsz;
    const __m512i ish = zid_shifts(ib);
    __m512 a[4];
    UNROLL for (int i = 0; i < 4; i++) a[i] = _mm512_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m512 S[4], M[4];
        zpk_tables(L, r0, g, R, ib, S, M);
        _Pragma("GCC unroll 2") for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            const __m512 xv = _mm512_loadu_ps(x + j);
            prefetch_next(L->codes + r0 * L->row_bytes, L->row_bytes, R, j, 2 * (size_t)bits);
            prefetch_next(L->ids + r0 * L->id_row_bytes, L->id_row_bytes, R, j, 2 * (size_t)ib);
            UNROLL for (int i = 0; i < R; i++) {
                const __m512 w = zpk_weights(L, r0 + (size_t)i, j, bits, ib, ish, S[i], M[i]);
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

/* A prompt through a packed k > 1 layer: 4 rows x 4 inputs, each row decoded once per
 * 4 inputs (zpackedk_rows decodes it once per input), the 16 (row, input) lane sets in
 * registers. Per (row, input) the arithmetic is zpackedk_rows' (the canonical dot16). */
AVX512 INLINE void zpackedk_tile(const sq_linear *L, size_t r0, const float *X, float *y, const int bits,
                                 const int ib)
{
    enum { R = SQ_KTILE_R, NI = SQ_KTILE_N };
    const size_t cols = L->cols, gsz = sq_kgroup_size(L), G = cols / gsz;
    const __m512i ish = zid_shifts(ib);
    __m512 a[R][NI];
    _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) _Pragma("GCC unroll 8") for (int t = 0; t < NI; t++) a[i][t] =
        _mm512_setzero_ps();
    for (size_t g = 0; g < G; g++) {
        __m512 S[R], M[R];
        zpk_tables(L, r0, g, R, ib, S, M);
        for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            _Pragma("GCC unroll 8") for (int i = 0; i < R; i++) {
                const __m512 w = zpk_weights(L, r0 + (size_t)i, j, bits, ib, ish, S[i], M[i]);
                _Pragma("GCC unroll 8") for (int t = 0; t < NI; t++) a[i][t] =
                    _mm512_add_ps(a[i][t], _mm512_mul_ps(w, _mm512_loadu_ps(X + (size_t)t * cols + j)));
            }
        }
    }
    /* the canonical reduction of each (row, input), four rows at a time (padding: zero) */
    _Pragma("GCC unroll 8") for (int t = 0; t < NI; t++) for (int i0 = 0; i0 < R; i0 += 4) {
        __m512 four[4];
        for (int q = 0; q < 4; q++) four[q] = i0 + q < R ? a[i0 + q][t] : _mm512_setzero_ps();
        float o[4];
        _mm_storeu_ps(o, zred16x4(four));
        for (int q = 0; q < 4 && i0 + q < R; q++) y[t * R + i0 + q] = o[q];
    }
}

#define ZPKTILE(bits, ib)                                                                                            \
    AVX512 __attribute__((noinline)) static void zpktile_##bits##_##ib(const sq_linear *L, size_t r0,            \
                                                                       const float *X, float *y)                 \
    {                                                                                                                \
        zpackedk_tile(L, r0, X, y, bits, ib);                                                                        \
    }
ZPKTILE(2, 1) ZPKTILE(2, 2) ZPKTILE(3, 1) ZPKTILE(3, 2) ZPKTILE(4, 1) ZPKTILE(4, 2) ZPKTILE(8, 1) ZPKTILE(8, 2)

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

/* ---- int8 activations with AVX-512 VNNI: the pair kernel (kernels_ref.h, sq_q8pairs) ----
 * vpdpbusd multiplies 64 unsigned codes by 64 signed activations and sums each four
 * products into an int32 lane in one instruction, with no int16 step to saturate, so
 * every width 1..8 takes the same path. Two blocks of a row are one 512-bit register
 * (four 128-bit quarters); the integer sums of 8 pairs x 2 blocks are then reduced
 * together (integer: exact in any order) and enter the float accumulators one block at a
 * time, block b before b + 1, as in the scalar kernel: the same bits. */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")))

int sq_cpu_has_avx512vnni(void)
{
    __builtin_cpu_init();
    return sq_cpu_has_avx512() && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512vnni")
               ? 1
               : 0;
}

/* Four registers z_k whose quarters hold the int32 partial sums of (pair 2k, block b),
 * (2k, b + 1), (2k + 1, b), (2k + 1, b + 1): their 16 totals as
 * [pairs 0..7 of block b | pairs 0..7 of block b + 1]. */
VNNI INLINE __m512i vsum16(__m512i z0, __m512i z1, __m512i z2, __m512i z3)
{
    const __m512i s01 = _mm512_add_epi32(_mm512_unpacklo_epi32(z0, z1), _mm512_unpackhi_epi32(z0, z1));
    const __m512i s23 = _mm512_add_epi32(_mm512_unpacklo_epi32(z2, z3), _mm512_unpackhi_epi32(z2, z3));
    /* quarter l, element k: the total of z_k's quarter l */
    const __m512i t = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15), t);
}

/* 4-bit codes read in place (one input, 8 rows): rows 2k and 2k + 1 of blocks b and b + 1
 * (two = 0: block b only, the rest zero) as one register, the low nibbles against the
 * even columns' activations, the high ones against the odd columns' (nibble order). */
VNNI INLINE __m512i vnib_pair(const sq_q8pairs *P, int k, size_t b, __m512i xe, __m512i xo, int two)
{
    const uint8_t *r0 = P->cu + (size_t)(2 * k) * P->ldc + b * (SQ_QB / 2), *r1 = r0 + P->ldc;
    const __mmask32 n = two ? 0xffffffffu : 0xffffu;
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_maskz_loadu_epi8(n, r0)),
                                         _mm256_maskz_loadu_epi8(n, r1), 1);
    const __m512i low4 = _mm512_set1_epi8(15);
    const __m512i lo = _mm512_and_si512(v, low4), hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xe), hi, xo);
}

VNNI INLINE __m512i vnib_sums(const sq_q8pairs *P, size_t b, int two)
{
    /* quarters [even b, odd b, even b+1, odd b+1] -> [even b, even b+1] twice, odd alike */
    const __m512i x = _mm512_maskz_loadu_epi8(two ? ~0ull : 0xffffffffull, P->xq[0] + b * SQ_QB);
    const __m512i xe = _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(2, 0, 2, 0));
    const __m512i xo = _mm512_shuffle_i64x2(x, x, _MM_SHUFFLE(3, 1, 3, 1));
    return vsum16(vnib_pair(P, 0, b, xe, xo, two), vnib_pair(P, 1, b, xe, xo, two), vnib_pair(P, 2, b, xe, xo, two),
                  vnib_pair(P, 3, b, xe, xo, two));
}

/* One code per byte: pair p = t*R + rr is row rr's blocks b, b + 1 against input t's;
 * pairs 2j and 2j + 1 fold into the quarter layout of vsum16. */
VNNI INLINE __m512i vbyte_sums(const sq_q8pairs *P, const int R, const int T, size_t b, int two)
{
    const __mmask64 n = two ? ~0ull : 0xffffffffull;
    __m512i x[2], c[8], z[8];
    _Pragma("GCC unroll 2") for (int t = 0; t < T; t++) x[t] = _mm512_maskz_loadu_epi8(n, P->xq[t] + b * SQ_QB);
    _Pragma("GCC unroll 8") for (int rr = 0; rr < R; rr++) c[rr] =
        _mm512_maskz_loadu_epi8(n, P->cu + (size_t)rr * P->ldc + b * SQ_QB);
    _Pragma("GCC unroll 8") for (int p = 0; p < 8; p++) z[p] =
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), c[p % R], x[p / R]);
    __m512i w[4];
    _Pragma("GCC unroll 4") for (int j = 0; j < 4; j++) w[j] =
        _mm512_add_epi32(_mm512_shuffle_i64x2(z[2 * j], z[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_i64x2(z[2 * j], z[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return vsum16(w[0], w[1], w[2], w[3]);
}

/* The activation scales of block b for the 8 pairs. */
VNNI INLINE __m256 vq8_d(const sq_q8pairs *P, const int T, size_t b)
{
    return T == 1 ? _mm256_broadcast_ss(P->d[0] + b)
                  : _mm256_set_m128(_mm_broadcast_ss(P->d[1] + b), _mm_broadcast_ss(P->d[0] + b));
}

VNNI INLINE void vq8_pairs_rt(const sq_q8pairs *P, const int R, const int T, const int nib)
{
    const size_t G = P->nblk / P->gpb;
    const __m256i pidx = q8_param_index(P, R);
    __m256 y = _mm256_loadu_ps(P->y);
    for (size_t g = 0, b = 0; g < G; g++) {
        __m256 A = _mm256_setzero_ps();
        const size_t e = b + P->gpb;
        for (; b + 2 <= e; b += 2) {
            if (P->pf) { /* the next pass's rows, as much as this step reads of these */
                const size_t step = (size_t)R * (nib ? SQ_QB : 2 * SQ_QB);
                for (size_t o = 0; o < step; o += 64) _mm_prefetch((const char *)(P->pf + b / 2 * step + o), _MM_HINT_T0);
            }
            const __m512 f = _mm512_cvtepi32_ps(nib ? vnib_sums(P, b, 1) : vbyte_sums(P, R, T, b, 1));
            A = _mm256_add_ps(A, _mm256_mul_ps(vq8_d(P, T, b), _mm512_castps512_ps256(f)));
            A = _mm256_add_ps(A, _mm256_mul_ps(vq8_d(P, T, b + 1),
                                               _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(f), 1))));
        }
        if (b < e) { /* an odd block count: the last one alone */
            const __m512 f = _mm512_cvtepi32_ps(nib ? vnib_sums(P, b, 0) : vbyte_sums(P, R, T, b, 0));
            A = _mm256_add_ps(A, _mm256_mul_ps(vq8_d(P, T, b), _mm512_castps512_ps256(f)));
            b++;
        }
        const __m256 s = q8_params(P->s, P, g, R, pidx), m = q8_params(P->m, P, g, R, pidx);
        const __m256 X = T == 1 ? _mm256_broadcast_ss(P->X[0] + g)
                                : _mm256_set_m128(_mm_broadcast_ss(P->X[1] + g), _mm_broadcast_ss(P->X[0] + g));
        y = _mm256_add_ps(y, _mm256_add_ps(_mm256_mul_ps(s, A), _mm256_mul_ps(m, X)));
    }
    _mm256_storeu_ps(P->y, y);
}

VNNI static void vnni_q8_pairs(const sq_q8pairs *P)
{
    if (P->nib) vq8_pairs_rt(P, 8, 1, 1);
    else if (P->T == 1) vq8_pairs_rt(P, 8, 1, 0);
    else vq8_pairs_rt(P, 4, 2, 0);
}

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
    .packedk_tile = {[2] = {zpktile_2_1, zpktile_2_2},
                     [3] = {zpktile_3_1, zpktile_3_2},
                     [4] = {zpktile_4_1, zpktile_4_2},
                     [8] = {zpktile_8_1, zpktile_8_2}},
};

const sq_kimpl sq_kimpl_avx512 = {
    .name = "avx512",
    .available = sq_cpu_has_avx512,
    SQ_AVX2_PRIMITIVES,
    .q8_pairs = sq_avx2_q8_pairs,
    .matvec = &avx512_rows,
};

/* avx512 with the VNNI pair kernel for int8 activations. */
const sq_kimpl sq_kimpl_avx512vnni = {
    .name = "avx512vnni",
    .available = sq_cpu_has_avx512vnni,
    SQ_AVX2_PRIMITIVES,
    .q8_pairs = vnni_q8_pairs,
    .matvec = &avx512_rows,
};

#else
typedef int sq_kernels_avx512_unused; /* not x86-64 with GCC/clang: nothing here */
#endif
