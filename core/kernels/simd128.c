/* simd128.c - the kernels' primitives in WebAssembly SIMD128 (kernels_ref.h), the twin
 * of ref.c selected at build time in wasm builds (-msimd128). Same bits as
 * the reference: element-wise steps are exact or one multiply then one add (wasm has no
 * fused multiply-add), and the 16 canonical lanes are four f32x4 accumulators per input.
 * Compiled to nothing elsewhere.
 */
#include "kernels_ref.h"

#if defined(__wasm_simd128__)
#include <string.h>
#include <wasm_simd128.h>

#include "../dtype.h"

#define INLINE static inline __attribute__((always_inline))

/* ---------------- decoding ---------------- */

/* 16 4-bit fields from 8 bytes at p, in field order (one byte each). */
INLINE v128_t nib16(const uint8_t *p)
{
    v128_t v = wasm_v128_load64_zero(p);
    v128_t lo = wasm_v128_and(v, wasm_i8x16_const_splat(0x0f)), hi = wasm_u8x16_shr(v, 4);
    return wasm_i8x16_shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/* 16 2-bit fields from 4 bytes at p. */
INLINE v128_t crumb16(const uint8_t *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    v128_t v = wasm_i32x4_make((int32_t)w, 0, 0, 0), m = wasm_i8x16_const_splat(3);
    v128_t p0 = wasm_v128_and(v, m), p1 = wasm_v128_and(wasm_u8x16_shr(v, 2), m);
    v128_t p2 = wasm_v128_and(wasm_u8x16_shr(v, 4), m), p3 = wasm_u8x16_shr(v, 6);
    v128_t a = wasm_i8x16_shuffle(p0, p1, 0, 16, 1, 17, 2, 18, 3, 19, 0, 0, 0, 0, 0, 0, 0, 0);
    v128_t b = wasm_i8x16_shuffle(p2, p3, 0, 16, 1, 17, 2, 18, 3, 19, 0, 0, 0, 0, 0, 0, 0, 0);
    return wasm_i8x16_shuffle(a, b, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}

/* 16 1-bit fields from 2 bytes at p. */
INLINE v128_t bit16(const uint8_t *p)
{
    v128_t v = wasm_i16x8_splat((int16_t)(p[0] | p[1] << 8));
    /* byte i holds byte i/8 of the pair; pick bit i%8 */
    v = wasm_i8x16_shuffle(v, v, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    v128_t bit = wasm_v128_and(v, wasm_i8x16_const(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128));
    return wasm_v128_and(wasm_i8x16_ne(bit, wasm_i8x16_const_splat(0)), wasm_i8x16_const_splat(1));
}

/* 16 b-bit fields (b = 2, 4, 8) starting at field j, j*b a multiple of 8. */
INLINE v128_t fields16(const uint8_t *row, size_t j, int bits)
{
    if (bits == 4) return nib16(row + j / 2);
    if (bits == 2) return crumb16(row + j / 4);
    return wasm_v128_load(row + j);
}

/* 16 3-bit fields from 6 bytes at p as four i32x4: each lane gets the 16-bit window
 * holding its field, shifted into place by a multiply (wasm has no per-lane shifts),
 * then >> 16 and masked. Field i sits at bit 3i: window byte 3i/8, shift 3i%8. */
INLINE void tri16(const uint8_t *p, v128_t *f)
{
    uint64_t w = 0;
    memcpy(&w, p, 6);
    v128_t v = wasm_i64x2_make((int64_t)w, 0), m = wasm_i32x4_const_splat(7);
    /* fields 0..3: bytes (0,1) (0,1) (0,1) (1,2); shifts 0 3 6 1 */
    v128_t z = wasm_i32x4_const_splat(0);
    v128_t a = wasm_i8x16_shuffle(v, z, 0, 1, 16, 16, 0, 1, 16, 16, 0, 1, 16, 16, 1, 2, 16, 16);
    /* 4..7: (1,2) (1,2) (2,3) (2,3); shifts 4 7 2 5 */
    v128_t b = wasm_i8x16_shuffle(v, z, 1, 2, 16, 16, 1, 2, 16, 16, 2, 3, 16, 16, 2, 3, 16, 16);
    /* 8..11: (3,4) (3,4) (3,4) (4,5); shifts 0 3 6 1 */
    v128_t c = wasm_i8x16_shuffle(v, z, 3, 4, 16, 16, 3, 4, 16, 16, 3, 4, 16, 16, 4, 5, 16, 16);
    /* 12..15: (4,5) (4,5) (5,6) (5,6); shifts 4 7 2 5 (byte 6 is 0) */
    v128_t d = wasm_i8x16_shuffle(v, z, 4, 5, 16, 16, 4, 5, 16, 16, 5, 6, 16, 16, 5, 6, 16, 16);
    const v128_t m0 = wasm_i32x4_const(1 << 16, 1 << 13, 1 << 10, 1 << 15), m1 = wasm_i32x4_const(1 << 12, 1 << 9, 1 << 14, 1 << 11);
    f[0] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(a, m0), 16), m));
    f[1] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(b, m1), 16), m));
    f[2] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(c, m0), 16), m));
    f[3] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(d, m1), 16), m));
}

/* u8x16 -> four f32x4 (lanes 0..3, 4..7, 8..11, 12..15). */
INLINE void u8_to_4f(v128_t v, v128_t *f)
{
    v128_t lo = wasm_u16x8_extend_low_u8x16(v), hi = wasm_u16x8_extend_high_u8x16(v);
    f[0] = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(lo));
    f[1] = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(lo));
    f[2] = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_low_u16x8(hi));
    f[3] = wasm_f32x4_convert_i32x4(wasm_u32x4_extend_high_u16x8(hi));
}

INLINE void i8_to_4f(v128_t v, v128_t *f)
{
    v128_t lo = wasm_i16x8_extend_low_i8x16(v), hi = wasm_i16x8_extend_high_i8x16(v);
    f[0] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(lo));
    f[1] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(lo));
    f[2] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_low_i16x8(hi));
    f[3] = wasm_f32x4_convert_i32x4(wasm_i32x4_extend_high_i16x8(hi));
}

/* 16 2-bit fields from 4 bytes at p as four f32x4: each lane gets its byte, shifted into
 * place by a multiply (field s of a byte: (b << (6 - 2s)) >> 6, then & 3). */
INLINE void crumb16f(const uint8_t *p, v128_t *f)
{
    uint32_t w;
    memcpy(&w, p, 4);
    v128_t v = wasm_i32x4_make((int32_t)w, 0, 0, 0), z = wasm_i32x4_const_splat(0), m = wasm_i32x4_const_splat(3);
    const v128_t mul = wasm_i32x4_const(64, 16, 4, 1);
    v128_t b[4];
    b[0] = wasm_i8x16_shuffle(v, z, 0, 16, 16, 16, 0, 16, 16, 16, 0, 16, 16, 16, 0, 16, 16, 16);
    b[1] = wasm_i8x16_shuffle(v, z, 1, 16, 16, 16, 1, 16, 16, 16, 1, 16, 16, 16, 1, 16, 16, 16);
    b[2] = wasm_i8x16_shuffle(v, z, 2, 16, 16, 16, 2, 16, 16, 16, 2, 16, 16, 16, 2, 16, 16, 16);
    b[3] = wasm_i8x16_shuffle(v, z, 3, 16, 16, 16, 3, 16, 16, 16, 3, 16, 16, 16, 3, 16, 16, 16);
    for (int q = 0; q < 4; q++)
        f[q] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(b[q], mul), 6), m));
}

INLINE void nib16f(const uint8_t *p, v128_t *f)
{
    v128_t v = wasm_v128_load64_zero(p), z = wasm_i32x4_const_splat(0), m = wasm_i32x4_const_splat(15);
    const v128_t mul = wasm_i32x4_const(16, 1, 16, 1);
    v128_t b[4];
    b[0] = wasm_i8x16_shuffle(v, z, 0, 16, 16, 16, 0, 16, 16, 16, 1, 16, 16, 16, 1, 16, 16, 16);
    b[1] = wasm_i8x16_shuffle(v, z, 2, 16, 16, 16, 2, 16, 16, 16, 3, 16, 16, 16, 3, 16, 16, 16);
    b[2] = wasm_i8x16_shuffle(v, z, 4, 16, 16, 16, 4, 16, 16, 16, 5, 16, 16, 16, 5, 16, 16, 16);
    b[3] = wasm_i8x16_shuffle(v, z, 6, 16, 16, 16, 6, 16, 16, 16, 7, 16, 16, 16, 7, 16, 16, 16);
    for (int q = 0; q < 4; q++)
        f[q] = wasm_f32x4_convert_i32x4(wasm_v128_and(wasm_u32x4_shr(wasm_i32x4_mul(b[q], mul), 4), m));
}

/* 16 b-bit codes (b = 2, 3, 4, 8) at field j (a multiple of 16) as four f32x4. */
INLINE void codes16f(const uint8_t *row, size_t j, int bits, v128_t *f)
{
    if (bits == 3) tri16(row + j / 8 * 3, f);
    else if (bits == 2) crumb16f(row + j / 4, f);
    else if (bits == 4) nib16f(row + j / 2, f);
    else u8_to_4f(fields16(row, j, bits), f);
}

/* ---------------- element-wise primitives ---------------- */

static void s_unpack(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst)
{
    size_t i = 0;
    if (bits == 8) {
        memcpy(dst, row + j, n);
        return;
    }
    if (bits == 4 && (j & 1) == 0) {
        const uint8_t *p = row + j / 2;
        for (; i + 32 <= n; i += 32, p += 16) {
            v128_t v = wasm_v128_load(p);
            v128_t lo = wasm_v128_and(v, wasm_i8x16_const_splat(0x0f)), hi = wasm_u8x16_shr(v, 4);
            wasm_v128_store(dst + i, wasm_i8x16_shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23));
            wasm_v128_store(dst + i + 16,
                            wasm_i8x16_shuffle(lo, hi, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31));
        }
    } else if (bits == 2 && (j & 3) == 0) {
        const uint8_t *p = row + j / 4;
        for (; i + 64 <= n; i += 64, p += 16) {
            v128_t v = wasm_v128_load(p), m = wasm_i8x16_const_splat(3);
            v128_t p0 = wasm_v128_and(v, m), p1 = wasm_v128_and(wasm_u8x16_shr(v, 2), m);
            v128_t p2 = wasm_v128_and(wasm_u8x16_shr(v, 4), m), p3 = wasm_u8x16_shr(v, 6);
            v128_t a = wasm_i8x16_shuffle(p0, p1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            v128_t b = wasm_i8x16_shuffle(p2, p3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            v128_t c = wasm_i8x16_shuffle(p0, p1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            v128_t d = wasm_i8x16_shuffle(p2, p3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            wasm_v128_store(dst + i, wasm_i16x8_shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11));
            wasm_v128_store(dst + i + 16, wasm_i16x8_shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15));
            wasm_v128_store(dst + i + 32, wasm_i16x8_shuffle(c, d, 0, 8, 1, 9, 2, 10, 3, 11));
            wasm_v128_store(dst + i + 48, wasm_i16x8_shuffle(c, d, 4, 12, 5, 13, 6, 14, 7, 15));
        }
    }
    sq_kunpack_any(row, j + i, bits, n - i, dst + i);
}

static void s_u8_f32(const uint8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v128_t f[4];
        u8_to_4f(wasm_v128_load(src + i), f);
        for (int q = 0; q < 4; q++) wasm_v128_store(dst + i + 4 * q, f[q]);
    }
    for (; i < n; i++) dst[i] = (float)src[i];
}

static void s_i8_f32(const int8_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v128_t f[4];
        i8_to_4f(wasm_v128_load(src + i), f);
        for (int q = 0; q < 4; q++) wasm_v128_store(dst + i + 4 * q, f[q]);
    }
    for (; i < n; i++) dst[i] = (float)src[i];
}

/* The table lookup of the codebook format: 16 codes at a time through one
 * i8x16.swizzle of the int8 table, then widened exactly to float. */
static void s_lut_f32(const uint8_t *code, const int8_t *table, size_t n, float *dst)
{
    const v128_t tab = wasm_v128_load(table), lo4 = wasm_i8x16_splat(15);
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v128_t f[4];
        i8_to_4f(wasm_i8x16_swizzle(tab, wasm_v128_and(wasm_v128_load(code + i), lo4)), f);
        for (int q = 0; q < 4; q++) wasm_v128_store(dst + i + 4 * q, f[q]);
    }
    for (; i < n; i++) dst[i] = (float)table[code[i] & 15];
}

static void s_bf16_f32(const uint16_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t v = wasm_v128_load(src + i);
        wasm_v128_store(dst + i, wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(v), 16));
        wasm_v128_store(dst + i + 4, wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(v), 16));
    }
    for (; i < n; i++) dst[i] = sq_kbf16(src[i]);
}

/* Exact f16 -> f32 of four u32 lanes holding f16 bits (see avx2.c). */
INLINE v128_t h2f(v128_t h)
{
    v128_t u = wasm_i32x4_shl(wasm_v128_and(h, wasm_i32x4_const_splat(0x7fff)), 13);
    v128_t f = wasm_f32x4_mul(u, wasm_i32x4_const_splat(0x77800000)); /* 2^112 */
    v128_t special = wasm_i32x4_eq(wasm_v128_and(h, wasm_i32x4_const_splat(0x7c00)), wasm_i32x4_const_splat(0x7c00));
    f = wasm_v128_bitselect(wasm_v128_or(u, wasm_i32x4_const_splat(0x7f800000)), f, special);
    return wasm_v128_or(f, wasm_i32x4_shl(wasm_u32x4_shr(h, 15), 31));
}

static void s_f16_f32(const uint16_t *src, size_t n, float *dst)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        v128_t v = wasm_v128_load(src + i);
        wasm_v128_store(dst + i, h2f(wasm_u32x4_extend_low_u16x8(v)));
        wasm_v128_store(dst + i + 4, h2f(wasm_u32x4_extend_high_u16x8(v)));
    }
    for (; i < n; i++) dst[i] = sq_f16_to_f32(src[i]);
}

/* Table lookup of 4 floats by the ids in the low 4 bytes of id4 (each id*4), from nt
 * 16-byte tables (4 floats each). */
INLINE v128_t lookup4(const v128_t *tab, int nt, v128_t idx)
{
    v128_t r = wasm_i8x16_swizzle(tab[0], idx);
    for (int t = 1; t < nt; t++) {
        idx = wasm_i8x16_sub(idx, wasm_i8x16_const_splat(16));
        r = wasm_v128_or(r, wasm_i8x16_swizzle(tab[t], idx));
    }
    return r;
}

/* Byte indices for lanes q*4..q*4+3 of the 16 ids in v (u8x16): id*4 + (0, 1, 2, 3). */
INLINE v128_t idx_q(v128_t id4, int q)
{
    v128_t r;
    switch (q) {
    case 0: r = wasm_i8x16_shuffle(id4, id4, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3); break;
    case 1: r = wasm_i8x16_shuffle(id4, id4, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7); break;
    case 2: r = wasm_i8x16_shuffle(id4, id4, 8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11); break;
    default: r = wasm_i8x16_shuffle(id4, id4, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15); break;
    }
    return wasm_i8x16_add(r, wasm_i8x16_const(0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3));
}

/* Dequantize 16 weights: codes c (four f32x4) and ids (u8x16) -> w = S[id]*c + M[id]. */
INLINE void deq16(const v128_t *c, v128_t id, const v128_t *S, const v128_t *M, int nt, v128_t *w)
{
    v128_t id4 = wasm_i8x16_shl(id, 2);
    for (int q = 0; q < 4; q++) {
        v128_t ix = idx_q(id4, q);
        w[q] = wasm_f32x4_add(wasm_f32x4_mul(lookup4(S, nt, ix), c[q]), lookup4(M, nt, ix));
    }
}

static void s_dequant(const uint8_t *code, const uint8_t *id, const float *ts, const float *tm, int k, size_t n,
                      float *dst)
{
    size_t i = 0;
    int nt = (k + 3) / 4;
    v128_t S[4], M[4];
    for (int t = 0; t < nt; t++) {
        S[t] = wasm_v128_load(ts + 4 * t);
        M[t] = wasm_v128_load(tm + 4 * t);
    }
    for (; i + 16 <= n; i += 16) {
        v128_t w[4], c[4];
        u8_to_4f(wasm_v128_load(code + i), c);
        deq16(c, wasm_v128_load(id + i), S, M, nt, w);
        for (int q = 0; q < 4; q++) wasm_v128_store(dst + i + 4 * q, w[q]);
    }
    for (; i < n; i++) dst[i] = ts[id[i]] * (float)code[i] + tm[id[i]];
}

/* ---------------- lanes ---------------- */

INLINE float red16(const v128_t *a)
{
    v128_t v = wasm_f32x4_add(wasm_f32x4_add(a[0], a[1]), wasm_f32x4_add(a[2], a[3]));
    v128_t h = wasm_f32x4_add(v, wasm_i32x4_shuffle(v, v, 2, 3, 2, 3));
    return wasm_f32x4_extract_lane(h, 0) + wasm_f32x4_extract_lane(h, 1);
}

/* a[q] += w[q] * x[4q..4q+3] */
INLINE void mac16(v128_t *a, const v128_t *w, const float *x)
{
    for (int q = 0; q < 4; q++) a[q] = wasm_f32x4_add(a[q], wasm_f32x4_mul(w[q], wasm_v128_load(x + 4 * q)));
}

static void s_lanes(const float *w, const float *X, size_t ldx, size_t nin, size_t nblk, float *acc)
{
    size_t i = 0;
    for (; i + 2 <= nin; i += 2) {
        const float *x0 = X + i * ldx, *x1 = x0 + ldx;
        float *a = acc + i * SQ_KL;
        v128_t a0[4], a1[4];
        for (int q = 0; q < 4; q++) {
            a0[q] = wasm_v128_load(a + 4 * q);
            a1[q] = wasm_v128_load(a + 16 + 4 * q);
        }
        for (size_t b = 0; b < nblk; b++) {
            size_t o = b * SQ_KL;
            v128_t wv[4];
            for (int q = 0; q < 4; q++) wv[q] = wasm_v128_load(w + o + 4 * q);
            mac16(a0, wv, x0 + o);
            mac16(a1, wv, x1 + o);
        }
        for (int q = 0; q < 4; q++) {
            wasm_v128_store(a + 4 * q, a0[q]);
            wasm_v128_store(a + 16 + 4 * q, a1[q]);
        }
    }
    for (; i < nin; i++) {
        const float *x = X + i * ldx;
        float *a = acc + i * SQ_KL;
        v128_t av[4];
        for (int q = 0; q < 4; q++) av[q] = wasm_v128_load(a + 4 * q);
        for (size_t b = 0; b < nblk; b++) {
            size_t o = b * SQ_KL;
            v128_t wv[4];
            for (int q = 0; q < 4; q++) wv[q] = wasm_v128_load(w + o + 4 * q);
            mac16(av, wv, x + o);
        }
        for (int q = 0; q < 4; q++) wasm_v128_store(a + 4 * q, av[q]);
    }
}

static void s_reduce(const float *acc, size_t nin, float *out)
{
    for (size_t i = 0; i < nin; i++) {
        v128_t a[4];
        for (int q = 0; q < 4; q++) a[q] = wasm_v128_load(acc + i * SQ_KL + 4 * (size_t)q);
        out[i] = red16(a);
    }
}

/* ---------------- fused row kernels ---------------- */

/* The fused kernels are written once with nb, bits and ib as parameters and instantiated
 * with constants (noinline wrappers), so the decoders are branch-free. Only one input
 * (token-by-token decoding) is instantiated, to keep the module small: batches take the
 * generic path, which decodes a row once for up to SQ_KNB inputs. */
INLINE void factored_nb(const sq_linear *L, const uint8_t *row, const sq_lin_part *P, size_t r, const float *X,
                        const size_t nb, const float *gs, size_t G, float *y, const int bits)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L);
    for (size_t g = 0; g < G; g++) {
        size_t g0 = g * gsz;
        v128_t a[2][4];
        for (size_t i = 0; i < nb; i++)
            for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
        for (size_t j = g0; j < g0 + gsz; j += 16) {
            v128_t c[4];
            codes16f(row, j, bits, c);
            for (size_t i = 0; i < nb; i++) mac16(a[i], c, X + i * cols + j);
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
        for (size_t i = 0; i < nb; i++) {
            float A = red16(a[i]);
            y[i] = y[i] + (s * A + m * gs[i * G + g]);
        }
    }
}

#define FACTORED(nb, bits)                                                                                           \
    __attribute__((noinline)) static void factored_##nb##_##bits(const sq_linear *L, const uint8_t *row,          \
                                                                 const sq_lin_part *P, size_t r, const float *X,   \
                                                                 const float *gs, size_t G, float *y)              \
    {                                                                                                                \
        factored_nb(L, row, P, r, X, nb, gs, G, y, bits);                                                            \
    }
FACTORED(1, 2) FACTORED(1, 4) FACTORED(1, 8) FACTORED(1, 3)

typedef void (*factored_fn)(const sq_linear *, const uint8_t *, const sq_lin_part *, size_t, const float *,
                            const float *, size_t, float *);
static const factored_fn factored_fns[4] = {factored_1_2, factored_1_4, factored_1_8, factored_1_3};

static int s_factored_row(const sq_linear *L, const uint8_t *row, const sq_lin_part *P, size_t r, const float *X,
                          size_t nin, const float *gs, float *y)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L), G = (cols + gsz - 1) / gsz;
    int bi = L->bits == 2 ? 0 : L->bits == 4 ? 1 : L->bits == 8 ? 2 : L->bits == 3 ? 3 : -1;
    if (nin > 1 || gsz % 16 || cols % gsz || bi < 0) return 0;
    factored_fns[bi](L, row, P, r, X, gs, G, y);
    return 1;
}

INLINE v128_t ids16(const uint8_t *irow, size_t j, int ib)
{
    return ib == 2 ? crumb16(irow + j / 4) : ib == 1 ? bit16(irow + j / 8) : nib16(irow + j / 2);
}

INLINE void packedk_nb(const sq_linear *L, size_t r, const float *X, const size_t nb, float *y, const int bits,
                       const int ib)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L), G = cols / gsz;
    const int k = L->k; /* <= 4: ids of 1 or 2 bits, one 4-entry table */
    const uint8_t *crow = L->codes + r * L->row_bytes, *irow = L->ids + r * L->id_row_bytes;
    v128_t a[2][4];
    for (size_t i = 0; i < nb; i++)
        for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
    for (size_t g = 0; g < G; g++) {
        /* the group's table built in registers (a trip through memory would stall) */
        const uint16_t *sp = L->scale_bf16 + sq_kparam(L, r, g) * (size_t)k, *mp = L->min_bf16 + sq_kparam(L, r, g) * (size_t)k;
        const v128_t S = wasm_i32x4_make((int32_t)((uint32_t)sp[0] << 16), k > 1 ? (int32_t)((uint32_t)sp[1] << 16) : 0,
                                         k > 2 ? (int32_t)((uint32_t)sp[2] << 16) : 0, k > 3 ? (int32_t)((uint32_t)sp[3] << 16) : 0);
        const v128_t M = wasm_i32x4_make((int32_t)((uint32_t)mp[0] << 16), k > 1 ? (int32_t)((uint32_t)mp[1] << 16) : 0,
                                         k > 2 ? (int32_t)((uint32_t)mp[2] << 16) : 0, k > 3 ? (int32_t)((uint32_t)mp[3] << 16) : 0);
        for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            v128_t w[4], c[4];
            codes16f(crow, j, bits, c);
            deq16(c, ids16(irow, j, ib), &S, &M, 1, w);
            for (size_t i = 0; i < nb; i++) mac16(a[i], w, X + i * cols + j);
        }
    }
    for (size_t i = 0; i < nb; i++) y[i] = red16(a[i]);
}

#define PACKEDK(nb, bits, ib)                                                                                        \
    __attribute__((noinline)) static void packedk_##nb##_##bits##_##ib(const sq_linear *L, size_t r,             \
                                                                       const float *X, float *y)                 \
    {                                                                                                                \
        packedk_nb(L, r, X, nb, y, bits, ib);                                                                        \
    }
PACKEDK(1, 2, 1) PACKEDK(1, 2, 2) PACKEDK(1, 4, 1) PACKEDK(1, 4, 2) PACKEDK(1, 8, 1) PACKEDK(1, 8, 2)
PACKEDK(1, 3, 1) PACKEDK(1, 3, 2)

typedef void (*packedk_fn)(const sq_linear *, size_t, const float *, float *);
static const packedk_fn packedk_fns[4][2] = {{packedk_1_2_1, packedk_1_2_2},
                                             {packedk_1_4_1, packedk_1_4_2},
                                             {packedk_1_8_1, packedk_1_8_2},
                                             {packedk_1_3_1, packedk_1_3_2}};

static int s_packedk_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y)
{
    const size_t cols = L->cols, gsz = sq_kgroup_size(L);
    const int ib = sq_kid_bits(L->k), bi = L->bits == 2 ? 0 : L->bits == 4 ? 1 : L->bits == 8 ? 2 : L->bits == 3 ? 3 : -1;
    if (nin > 1 || gsz % 16 || cols % gsz || bi < 0 || !(ib == 1 || ib == 2)) return 0;
    packedk_fns[bi][ib - 1](L, r, X, y);
    return 1;
}

/* BF16 row: 16 weights widened and shifted into floats in registers. */
INLINE void bf16_nb(const sq_linear *L, size_t r, const float *X, const size_t nb, float *y)
{
    const size_t cols = L->cols;
    const uint16_t *w = L->w16 + r * cols;
    v128_t a[2][4];
    for (size_t i = 0; i < nb; i++)
        for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
    for (size_t j = 0; j < cols; j += 16) {
        v128_t v0 = wasm_v128_load(w + j), v1 = wasm_v128_load(w + j + 8), c[4];
        c[0] = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(v0), 16);
        c[1] = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(v0), 16);
        c[2] = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(v1), 16);
        c[3] = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(v1), 16);
        for (size_t i = 0; i < nb; i++) mac16(a[i], c, X + i * cols + j);
    }
    for (size_t i = 0; i < nb; i++) y[i] = red16(a[i]);
}

__attribute__((noinline)) static void bf16_1(const sq_linear *L, size_t r, const float *X, float *y)
{
    bf16_nb(L, r, X, 1, y);
}

static int s_bf16_row(const sq_linear *L, size_t r, const float *X, size_t nin, float *y)
{
    if (nin > 1 || L->cols % 16) return 0;
    bf16_1(L, r, X, y);
    return 1;
}

/* int8 row (sym8 paper part), one input. */
static int s_sym8_row(const sq_linear *L, int part, size_t r, const float *X, size_t nin, float *y)
{
    const size_t cols = L->cols;
    if (nin > 1 || cols % 16) return 0;
    const int8_t *w = (const int8_t *)L->parts[part].codes + r * cols;
    v128_t a[4];
    for (int q = 0; q < 4; q++) a[q] = wasm_f32x4_splat(0.0f);
    for (size_t j = 0; j < cols; j += 16) {
        v128_t c[4];
        i8_to_4f(wasm_v128_load(w + j), c);
        mac16(a, c, X + j);
    }
    y[0] = red16(a);
    return 1;
}

/* ---------------- one input, 2 rows per pass ---------------- */

/* Token-by-token decoding: two rows per pass share each load of x and give the engine
 * two independent sets of accumulators (more would spill: x86 hosts have 16 vector
 * registers). Each row's arithmetic is exactly the single-row kernels' above. */

/* y[i] = y[i] + sum over groups of (s*A + m*X) for rows r0+i (i < R) whose codes start
 * at row0 + i*stride (packed k = 1, or one affine paper part P). */
INLINE void factored_rows(const sq_linear *L, const uint8_t *row0, size_t stride, const sq_lin_part *P, size_t r0,
                          const float *x, const float *gs, size_t G, float *y, const int R, const int bits)
{
    const size_t gsz = sq_kgroup_size(L);
    for (size_t g = 0; g < G; g++) {
        const size_t g0 = g * gsz;
        v128_t a[2][4];
        for (int i = 0; i < R; i++)
            for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
        for (size_t j = g0; j < g0 + gsz; j += 16) {
            v128_t xv[4], c[4];
            for (int q = 0; q < 4; q++) xv[q] = wasm_v128_load(x + j + 4 * (size_t)q);
            for (int i = 0; i < R; i++) {
                codes16f(row0 + (size_t)i * stride, j, bits, c);
                for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_add(a[i][q], wasm_f32x4_mul(c[q], xv[q]));
            }
        }
        for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g);
            float sc = P ? P->scale[p] : sq_kbf16(L->scale_bf16[p]), mn = P ? P->min[p] : sq_kbf16(L->min_bf16[p]);
            y[i] = y[i] + (sc * red16(a[i]) + mn * gs[g]);
        }
    }
}

#define FROWS(R, bits)                                                                                               \
    __attribute__((noinline)) static void frows_##R##_##bits(const sq_linear *L, const uint8_t *row0, size_t stride, \
                                                             const sq_lin_part *P, size_t r0, const float *x,       \
                                                             const float *gs, size_t G, float *y)                   \
    {                                                                                                                \
        factored_rows(L, row0, stride, P, r0, x, gs, G, y, R, bits);                                                 \
    }
FROWS(1, 2) FROWS(2, 2) FROWS(1, 4) FROWS(2, 4) FROWS(1, 8) FROWS(2, 8) FROWS(1, 3) FROWS(2, 3)

/* The group's dequantization table (k <= 4 BF16 values at p) built in registers. */
INLINE v128_t table4(const uint16_t *p, int k)
{
    return wasm_i32x4_make((int32_t)((uint32_t)p[0] << 16), k > 1 ? (int32_t)((uint32_t)p[1] << 16) : 0,
                           k > 2 ? (int32_t)((uint32_t)p[2] << 16) : 0, k > 3 ? (int32_t)((uint32_t)p[3] << 16) : 0);
}

/* y[i] = dot16(dequantized row r0+i, x) of a packed k > 1 layer (k <= 4), i < R. */
INLINE void packedk_rows(const sq_linear *L, size_t r0, const float *x, float *y, const int R, const int bits,
                         const int ib)
{
    const size_t gsz = sq_kgroup_size(L), G = L->cols / gsz;
    const int k = L->k;
    v128_t a[2][4];
    for (int i = 0; i < R; i++)
        for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
    for (size_t g = 0; g < G; g++) {
        v128_t S[2], M[2];
        for (int i = 0; i < R; i++) {
            size_t p = sq_kparam(L, r0 + (size_t)i, g) * (size_t)k;
            S[i] = table4(L->scale_bf16 + p, k);
            M[i] = table4(L->min_bf16 + p, k);
        }
        for (size_t j = g * gsz; j < (g + 1) * gsz; j += 16) {
            v128_t xv[4];
            for (int q = 0; q < 4; q++) xv[q] = wasm_v128_load(x + j + 4 * (size_t)q);
            for (int i = 0; i < R; i++) {
                const size_t r = r0 + (size_t)i;
                v128_t w[4], c[4];
                codes16f(L->codes + r * L->row_bytes, j, bits, c);
                deq16(c, ids16(L->ids + r * L->id_row_bytes, j, ib), &S[i], &M[i], 1, w);
                for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_add(a[i][q], wasm_f32x4_mul(w[q], xv[q]));
            }
        }
    }
    for (int i = 0; i < R; i++) y[i] = red16(a[i]);
}

#define PKROWS(R, bits, ib)                                                                                          \
    __attribute__((noinline)) static void pkrows_##R##_##bits##_##ib(const sq_linear *L, size_t r0, const float *x, \
                                                                     float *y)                                     \
    {                                                                                                                \
        packedk_rows(L, r0, x, y, R, bits, ib);                                                                      \
    }
#define PKROWS2(bits, ib) PKROWS(1, bits, ib) PKROWS(2, bits, ib)
PKROWS2(2, 1) PKROWS2(2, 2) PKROWS2(4, 1) PKROWS2(4, 2) PKROWS2(8, 1) PKROWS2(8, 2) PKROWS2(3, 1) PKROWS2(3, 2)
#define PKROW2(bits, ib) {pkrows_1_##bits##_##ib, pkrows_2_##bits##_##ib}

/* y[i] = dot16(BF16 row r0+i, x), i < R. */
INLINE void bf16_rows(const sq_linear *L, size_t r0, const float *x, float *y, const int R)
{
    const size_t cols = L->cols;
    v128_t a[2][4];
    for (int i = 0; i < R; i++)
        for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_splat(0.0f);
    for (size_t j = 0; j < cols; j += 16) {
        v128_t xv[4];
        for (int q = 0; q < 4; q++) xv[q] = wasm_v128_load(x + j + 4 * (size_t)q);
        for (int i = 0; i < R; i++) {
            const uint16_t *w = L->w16 + (r0 + (size_t)i) * cols + j;
            v128_t v0 = wasm_v128_load(w), v1 = wasm_v128_load(w + 8), c[4];
            c[0] = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(v0), 16);
            c[1] = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(v0), 16);
            c[2] = wasm_i32x4_shl(wasm_u32x4_extend_low_u16x8(v1), 16);
            c[3] = wasm_i32x4_shl(wasm_u32x4_extend_high_u16x8(v1), 16);
            for (int q = 0; q < 4; q++) a[i][q] = wasm_f32x4_add(a[i][q], wasm_f32x4_mul(c[q], xv[q]));
        }
    }
    for (int i = 0; i < R; i++) y[i] = red16(a[i]);
}

/* (part: unused, the sq_kwrows_fn signature shared with the sym8 kernels) */
__attribute__((noinline)) static void bf16rows_1(const sq_linear *L, int part, size_t r0, const float *x, float *y)
{
    (void)part;
    bf16_rows(L, r0, x, y, 1);
}
__attribute__((noinline)) static void bf16rows_2(const sq_linear *L, int part, size_t r0, const float *x, float *y)
{
    (void)part;
    bf16_rows(L, r0, x, y, 2);
}

/* Two rows per pass (more would spill: x86 hosts of wasm have 16 vector registers). No
 * sym8 kernel: one input of a sym8 layer takes the per-row s_sym8_row. No FMA in wasm, so
 * layers with scale_big need no special path. */
static const sq_krows simd128_rows = {
    .rows = 2,
    .fma = 0,
    .factored = {[2] = {frows_1_2, frows_2_2}, [3] = {frows_1_3, frows_2_3}, [4] = {frows_1_4, frows_2_4},
                 [8] = {frows_1_8, frows_2_8}},
    .packedk = {[2] = {PKROW2(2, 1), PKROW2(2, 2)},
                [3] = {PKROW2(3, 1), PKROW2(3, 2)},
                [4] = {PKROW2(4, 1), PKROW2(4, 2)},
                [8] = {PKROW2(8, 1), PKROW2(8, 2)}},
    .bf16 = {bf16rows_1, bf16rows_2},
};

/* ---------------- int8 activations: the pair kernel (kernels_ref.h) ----------------
 * Codes of at most 7 bits are non-negative int8, so one i16x8.extmul per 8 products and
 * a pairwise add to int32; 8-bit codes widen to int16 first (i32x4.dot_i16x8). The eight
 * pairs' partial sums are reduced with shuffles (integer: exact) into two i32x4, pair p
 * in lane p % 4 of register p / 4. */
INLINE v128_t q8_dot16(v128_t c, v128_t x, const int wide)
{
    if (wide)
        return wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_u16x8_extend_low_u8x16(c), wasm_i16x8_extend_low_i8x16(x)),
                              wasm_i32x4_dot_i16x8(wasm_u16x8_extend_high_u8x16(c), wasm_i16x8_extend_high_i8x16(x)));
    return wasm_i32x4_add(wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extmul_low_i8x16(c, x)),
                          wasm_i32x4_extadd_pairwise_i16x8(wasm_i16x8_extmul_high_i8x16(c, x)));
}

/* [a0+a1, a2+a3, b0+b1, b2+b3] */
INLINE v128_t q8_pairsum(v128_t a, v128_t b)
{
    return wasm_i32x4_add(wasm_i32x4_shuffle(a, b, 0, 2, 4, 6), wasm_i32x4_shuffle(a, b, 1, 3, 5, 7));
}

/* The 8 pairs' values of group g of v (P->s or P->m), pairs 0-3 and 4-7 (rows 4-7, or
 * rows 0-3 again for the second input): loads when the group's R values are together. */
INLINE void q8_params(const float *v, const sq_q8pairs *P, size_t g, const int R, v128_t *lo, v128_t *hi)
{
    const float *p = v + g * P->sg;
    const size_t l = P->sr, h = R == 8 ? 4 * l : 0;
    if (l == 1) {
        *lo = wasm_v128_load(p);
        *hi = wasm_v128_load(p + h);
        return;
    }
    *lo = wasm_f32x4_make(p[0], p[l], p[2 * l], p[3 * l]);
    *hi = wasm_f32x4_make(p[h], p[h + l], p[h + 2 * l], p[h + 3 * l]);
}

INLINE void q8_pairs_rt(const sq_q8pairs *P, const int R, const int T, const int nib, const int wide)
{
    const size_t G = P->nblk / P->gpb;
    v128_t y0 = wasm_v128_load(P->y), y1 = wasm_v128_load(P->y + 4);
    for (size_t g = 0, b = 0; g < G; g++) {
        v128_t A0 = wasm_f32x4_splat(0.0f), A1 = A0;
        for (size_t e = b + P->gpb; b < e; b++) {
            v128_t x[2][2], p[8];
            for (int t = 0; t < T; t++) {
                x[t][0] = wasm_v128_load(P->xq[t] + b * SQ_QB);
                x[t][1] = wasm_v128_load(P->xq[t] + b * SQ_QB + 16);
            }
            for (int rr = 0; rr < R; rr++) {
                const uint8_t *cp = P->cu + (size_t)rr * P->ldc;
                v128_t c0, c1;
                if (nib) { /* even columns' codes, then the odd ones' (inputs in nibble order) */
                    v128_t v = wasm_v128_load(cp + b * (SQ_QB / 2));
                    c0 = wasm_v128_and(v, wasm_i8x16_const_splat(0x0f));
                    c1 = wasm_u8x16_shr(v, 4);
                } else {
                    c0 = wasm_v128_load(cp + b * SQ_QB);
                    c1 = wasm_v128_load(cp + b * SQ_QB + 16);
                }
                for (int t = 0; t < T; t++)
                    p[t * R + rr] = wasm_i32x4_add(q8_dot16(c0, x[t][0], wide), q8_dot16(c1, x[t][1], wide));
            }
            v128_t t0 = q8_pairsum(q8_pairsum(p[0], p[1]), q8_pairsum(p[2], p[3]));
            v128_t t1 = q8_pairsum(q8_pairsum(p[4], p[5]), q8_pairsum(p[6], p[7]));
            v128_t d0 = wasm_f32x4_splat(P->d[0][b]), d1 = T == 1 ? d0 : wasm_f32x4_splat(P->d[1][b]);
            A0 = wasm_f32x4_add(A0, wasm_f32x4_mul(d0, wasm_f32x4_convert_i32x4(t0)));
            A1 = wasm_f32x4_add(A1, wasm_f32x4_mul(d1, wasm_f32x4_convert_i32x4(t1)));
        }
        v128_t s0, s1, m0, m1;
        q8_params(P->s, P, g, R, &s0, &s1);
        q8_params(P->m, P, g, R, &m0, &m1);
        const v128_t X0 = wasm_f32x4_splat(P->X[0][g]), X1 = R == 8 ? X0 : wasm_f32x4_splat(P->X[1][g]);
        y0 = wasm_f32x4_add(y0, wasm_f32x4_add(wasm_f32x4_mul(s0, A0), wasm_f32x4_mul(m0, X0)));
        y1 = wasm_f32x4_add(y1, wasm_f32x4_add(wasm_f32x4_mul(s1, A1), wasm_f32x4_mul(m1, X1)));
    }
    wasm_v128_store(P->y, y0);
    wasm_v128_store(P->y + 4, y1);
}

static void s_q8_pairs(const sq_q8pairs *P)
{
    if (P->bits == 8) {
        if (P->T == 1) q8_pairs_rt(P, 8, 1, 0, 1);
        else q8_pairs_rt(P, 4, 2, 0, 1);
    } else if (P->nib) q8_pairs_rt(P, 8, 1, 1, 0);
    else if (P->T == 1) q8_pairs_rt(P, 8, 1, 0, 0);
    else q8_pairs_rt(P, 4, 2, 0, 0);
}

/* Attention's weighted sum of values, 32 columns (8 registers) at a time over every t. */
static void s_wsum(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o)
{
    size_t d0 = 0;
    for (; d0 + 32 <= n; d0 += 32) {
        v128_t a[8];
        for (int q = 0; q < 8; q++) a[q] = wasm_f32x4_splat(0.0f);
        for (size_t t = 0; t < T; t++) {
            const v128_t pt = wasm_f32x4_splat(p[t]);
            const float *v = V + t * ldv + d0;
            for (int q = 0; q < 8; q++) a[q] = wasm_f32x4_add(a[q], wasm_f32x4_mul(pt, wasm_v128_load(v + 4 * q)));
        }
        for (int q = 0; q < 8; q++) wasm_v128_store(o + d0 + 4 * q, a[q]);
    }
    for (; d0 < n; d0++) {
        float a = 0.0f;
        for (size_t t = 0; t < T; t++) a = a + p[t] * V[t * ldv + d0];
        o[d0] = a;
    }
}

const sq_kimpl sq_kimpl_simd128 = {
    .name = "simd128",
    .unpack = s_unpack,
    .u8_f32 = s_u8_f32,
    .i8_f32 = s_i8_f32,
    .bf16_f32 = s_bf16_f32,
    .f16_f32 = s_f16_f32,
    .dequant = s_dequant,
    .lut_f32 = s_lut_f32,
    .lanes = s_lanes,
    .reduce = s_reduce,
    .factored_row = s_factored_row,
    .packedk_row = s_packedk_row,
    .bf16_row = s_bf16_row,
    .sym8_row = s_sym8_row,
    .matvec = &simd128_rows,
    .q8_pairs = s_q8_pairs,
    .wsum = s_wsum,
};

#else
typedef int sq_kernels_simd128_unused; /* not a wasm SIMD128 build: nothing here */
#endif
