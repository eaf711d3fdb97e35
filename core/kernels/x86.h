/* x86.h - internal to core/kernels: what the two x86-64 implementations share. avx2.c
 * (AVX2 + FMA) and avx512.c (AVX-512F one-input kernels) are separate files so each ISA
 * reads on its own; the AVX-512 table reuses every AVX2 primitive except `matvec`
 * (SQ_AVX2_PRIMITIVES below), and its row kernels use the AVX2 helpers here (the group
 * table, the 4-row reduction, the prefetch). Functions carry target attributes, so the
 * rest of the build stays baseline x86-64.
 */
#ifndef SQ_KERNELS_X86_H
#define SQ_KERNELS_X86_H

#include "kernels_ref.h"

#if defined(SQ_HAVE_AVX2)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

#define INLINE static inline __attribute__((always_inline))

static inline uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint32_t rd24(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
}

#define UNROLL _Pragma("GCC unroll 4")

/* The dequantization table of a group: k <= 4 (ib 1 or 2) BF16 values at p, widened to
 * floats in registers (no trip through memory) and repeated to fill 8 lanes: vpermps
 * reads the low 3 bits of an index, so ids need no masking (the bits above an id are the
 * next ids', which the repetition ignores). Reads exactly k values. */
AVX2 INLINE __m256 table8(const uint16_t *p, int k, int ib)
{
    __m128i v;
    if (k == 4) v = _mm_loadl_epi64((const __m128i *)p);
    else {
        v = _mm_cvtsi32_si128(k >= 2 ? (int)rd32((const uint8_t *)p) : (int)p[0]);
        if (k == 3) v = _mm_insert_epi16(v, p[2], 2);
    }
    __m128 q = _mm_castsi128_ps(_mm_slli_epi32(_mm_cvtepu16_epi32(v), 16));
    if (ib == 1) q = _mm_movelh_ps(q, q); /* t0 t1 t0 t1 */
    return _mm256_set_m128(q, q);
}

/* The canonical reductions of 4 rows' lanes at once: [red16(a[0]) .. red16(a[3])]. Rows
 * 0/1 and 2/3 share registers: v = (L[i] + L[4+i]) + (L[8+i] + L[12+i]) per row, then
 * (v0 + v2) + (v1 + v3). */
AVX2 INLINE __m128 red16x4(__m256 a[4][2])
{
    __m256 v01 = _mm256_add_ps(_mm256_add_ps(_mm256_permute2f128_ps(a[0][0], a[1][0], 0x20),
                                             _mm256_permute2f128_ps(a[0][0], a[1][0], 0x31)),
                               _mm256_add_ps(_mm256_permute2f128_ps(a[0][1], a[1][1], 0x20),
                                             _mm256_permute2f128_ps(a[0][1], a[1][1], 0x31)));
    __m256 v23 = _mm256_add_ps(_mm256_add_ps(_mm256_permute2f128_ps(a[2][0], a[3][0], 0x20),
                                             _mm256_permute2f128_ps(a[2][0], a[3][0], 0x31)),
                               _mm256_add_ps(_mm256_permute2f128_ps(a[2][1], a[3][1], 0x20),
                                             _mm256_permute2f128_ps(a[2][1], a[3][1], 0x31)));
    /* [r0: v0+v2, v1+v3, r2: v0+v2, v1+v3 | r1: .., r3: ..] */
    __m256 s = _mm256_add_ps(_mm256_shuffle_ps(v01, v23, 0x44), _mm256_shuffle_ps(v01, v23, 0xee));
    /* [R0, R2, R0, R2 | R1, R3, R1, R3] */
    __m256 t = _mm256_add_ps(_mm256_shuffle_ps(s, s, 0x88), _mm256_shuffle_ps(s, s, 0xdd));
    return _mm_unpacklo_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* R rows side by side are R short streams (a row of a 2048-column INT4 layer is 1 KiB),
 * too short for the hardware prefetchers to lock on, so the kernels ask for the next R
 * rows themselves: at step j (16 columns, `step` bytes of each row) the matching slice of
 * the R*stride bytes that follow this block. A prefetch past the end of the weights is
 * harmless (a hint, never a fault); the address is formed as an integer for that reason. */
AVX2 INLINE void prefetch_next(const void *row0, size_t stride, int R, size_t j, size_t step)
{
    uintptr_t a = (uintptr_t)row0 + (size_t)R * stride + j / 16 * (size_t)R * step;
    for (size_t b = 0; b < (size_t)R * step; b += 64) _mm_prefetch((const char *)(a + b), _MM_HINT_T0);
}

/* ---- int8 activations (sq_q8pairs): the pair kernels' shared steps ---- */

/* Where pair p's row (p % R) has its group parameters, in units of P->sr (a gather's
 * indices; unused when sr == 1). */
AVX2 INLINE __m256i q8_param_index(const sq_q8pairs *P, const int R)
{
    const int l = (int)P->sr;
    return R == 8 ? _mm256_setr_epi32(0, l, 2 * l, 3 * l, 4 * l, 5 * l, 6 * l, 7 * l)
                  : _mm256_setr_epi32(0, l, 2 * l, 3 * l, 0, l, 2 * l, 3 * l);
}

/* The 8 pairs' values of group g of v (P->s or P->m): one load when the group's R values
 * are together (sr == 1), else a gather. */
AVX2 INLINE __m256 q8_params(const float *v, const sq_q8pairs *P, size_t g, const int R, __m256i idx)
{
    const float *p = v + g * P->sg;
    if (P->sr == 1) return R == 8 ? _mm256_loadu_ps(p) : _mm256_broadcast_ps((const __m128 *)p);
    return _mm256_i32gather_ps(p, idx, 4);
}

int sq_cpu_has_avx2(void);
int sq_cpu_has_avx512(void);
int sq_cpu_has_avx512vnni(void);

/* The AVX2 primitives (avx2.c), shared by the avx2 and avx512 tables (SQ_AVX2_PRIMITIVES:
 * all but q8_pairs, which each table names: avx512vnni has its own). */
void sq_avx2_unpack(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst);
void sq_avx2_u8_f32(const uint8_t *src, size_t n, float *dst);
void sq_avx2_i8_f32(const int8_t *src, size_t n, float *dst);
void sq_avx2_lut_f32(const uint8_t *code, const int8_t *table, size_t n, float *dst);
void sq_avx2_bf16_f32(const uint16_t *src, size_t n, float *dst);
void sq_avx2_f16_f32(const uint16_t *src, size_t n, float *dst);
void sq_avx2_dequant(const uint8_t *code, const uint8_t *id, const float *ts, const float *tm, int k, size_t n,
                     float *dst);
void sq_avx2_lanes(const float *w, const float *X, size_t ldx, size_t nin, size_t nblk, float *acc);
void sq_avx2_reduce(const float *acc, size_t nin, float *out);
int sq_avx2_factored_row(const sq_linear *L, const uint8_t *row, const sq_lin_part *P, size_t r, const float *X,
                         size_t nin, const float *gs, float *y);
int sq_avx2_packedk_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y);
int sq_avx2_bf16_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y);
int sq_avx2_sym8_row(const sq_linear *L, int part, size_t r, const float *X, size_t nin, float *y);
void sq_avx2_q8_pairs(const sq_q8pairs *P);
void sq_avx2_wsum(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o);

#define SQ_AVX2_PRIMITIVES                                                                                          \
    .unpack = sq_avx2_unpack, .u8_f32 = sq_avx2_u8_f32, .i8_f32 = sq_avx2_i8_f32, .bf16_f32 = sq_avx2_bf16_f32,    \
    .f16_f32 = sq_avx2_f16_f32, .dequant = sq_avx2_dequant, .lut_f32 = sq_avx2_lut_f32, .lanes = sq_avx2_lanes,    \
    .reduce = sq_avx2_reduce, .factored_row = sq_avx2_factored_row, .packedk_row = sq_avx2_packedk_row,            \
    .bf16_row = sq_avx2_bf16_row, .sym8_row = sq_avx2_sym8_row, .wsum = sq_avx2_wsum

#endif
#endif
