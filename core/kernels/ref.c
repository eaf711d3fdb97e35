/* ref.c - the scalar reference primitives of the kernels (kernels_ref.h): the ground
 * truth the SIMD twins (simd128.c, avx2.c, avx512.c) are tested against bit for bit.
 * Written for clarity: one element at a time, in the canonical order. No fused kernels:
 * matmul.c's generic path is the reference's per-row and one-input path.
 */
#include "../dtype.h"
#include "kernels_ref.h"

/* Fields j..j+n-1 of an LSB-first b-bit stream, one byte each: a streaming reader that
 * touches only the bytes holding requested bits. */
static void ref_unpack(const uint8_t *row, size_t j, int bits, size_t n, uint8_t *dst)
{
    if (n == 0) return;
    size_t off = j * (size_t)bits;
    const uint8_t *p = row + (off >> 3);
    unsigned have = 8 - (unsigned)(off & 7), mask = (1u << bits) - 1u;
    uint32_t buf = (uint32_t)(*p++) >> (off & 7);
    for (size_t i = 0; i < n; i++) {
        if (have < (unsigned)bits) {
            buf |= (uint32_t)(*p++) << have;
            have += 8;
        }
        dst[i] = (uint8_t)(buf & mask);
        buf >>= bits;
        have -= (unsigned)bits;
    }
}

static void ref_u8_f32(const uint8_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void ref_i8_f32(const int8_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

static void ref_bf16_f32(const uint16_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) dst[i] = sq_bf16_to_f32(src[i]);
}

static void ref_f16_f32(const uint16_t *src, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) dst[i] = sq_f16_to_f32(src[i]);
}

static void ref_dequant(const uint8_t *code, const uint8_t *id, const float *ts, const float *tm, int k, size_t n,
                        float *dst)
{
    (void)k;
    for (size_t i = 0; i < n; i++) dst[i] = ts[id[i]] * (float)code[i] + tm[id[i]];
}

static void ref_lanes(const float *w, const float *X, size_t ldx, size_t nin, size_t nblk, float *acc)
{
    for (size_t i = 0; i < nin; i++) {
        const float *x = X + i * ldx;
        float *a = acc + i * SQ_KL;
        for (size_t b = 0; b < nblk; b++)
            for (int l = 0; l < SQ_KL; l++) a[l] = a[l] + w[b * SQ_KL + (size_t)l] * x[b * SQ_KL + (size_t)l];
    }
}

static void ref_reduce(const float *acc, size_t nin, float *out)
{
    for (size_t i = 0; i < nin; i++) out[i] = sq_kred16(acc + i * SQ_KL);
}

static void ref_lut_f32(const uint8_t *code, const int8_t *table, size_t n, float *dst)
{
    for (size_t i = 0; i < n; i++) dst[i] = (float)table[code[i] & 15];
}

const sq_kimpl sq_kimpl_ref = {
    .name = "ref",
    .unpack = ref_unpack,
    .u8_f32 = ref_u8_f32,
    .i8_f32 = ref_i8_f32,
    .bf16_f32 = ref_bf16_f32,
    .f16_f32 = ref_f16_f32,
    .dequant = ref_dequant,
    .lut_f32 = ref_lut_f32,
    .lanes = ref_lanes,
    .reduce = ref_reduce,
};
