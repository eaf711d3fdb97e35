/* pack.c - bit packing of codes and cluster ids (see quant.h): b-bit fields per row,
 * LSB-first, each row starting on a byte. The common widths go 8 or 16 codes at a time
 * (SSE2 natively, SIMD128 in wasm); every path writes the same bit stream as the
 * one-code-at-a-time loop at the end.
 */
#include "quant.h"

#include <string.h>

#if defined(__SSE2__) && !defined(SQ_NO_SIMD)
#include <emmintrin.h>
#elif defined(__wasm_simd128__) && !defined(SQ_NO_SIMD)
#include <wasm_simd128.h>
#endif

size_t sq_packed_row_bytes(size_t cols, int bits) { return (cols * (size_t)bits + 7) / 8; }

int sq_id_bits(int k)
{
    int b = 0;
    while (b < 31 && (1 << b) < k) b++;
    return b;
}

/* 8 codes as a 64-bit word, code t in byte t (the compiler makes this one load). */
static inline uint64_t load8(const uint8_t *c)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, c, sizeof w);
    return w;
#else
    return (uint64_t)c[0] | (uint64_t)c[1] << 8 | (uint64_t)c[2] << 16 | (uint64_t)c[3] << 24 |
           (uint64_t)c[4] << 32 | (uint64_t)c[5] << 40 | (uint64_t)c[6] << 48 | (uint64_t)c[7] << 56;
#endif
}

/* 4 bytes, the low one first. */
static inline void put32le(uint8_t *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof v);
#else
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
#endif
}

void sq_pack_row(const uint8_t *codes, size_t n, int bits, uint8_t *out)
{
    size_t i = 0, o = 0;
    switch (bits) { /* the common widths 8 codes at a time; the same bit stream as below */
    case 8:
        memcpy(out, codes, n);
        return;
    case 4:
#if defined(__SSE2__) && !defined(SQ_NO_SIMD)
        for (; i + 16 <= n; i += 16, o += 8) { /* 16-bit lanes c0 | c1 << 8 -> c0 | c1 << 4 */
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(codes + i));
            __m128i t = _mm_or_si128(_mm_and_si128(v, _mm_set1_epi16(0x0F)),
                                     _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi16(0xF0)));
            _mm_storel_epi64((__m128i *)(void *)(out + o), _mm_packus_epi16(t, t));
        }
#elif defined(__wasm_simd128__) && !defined(SQ_NO_SIMD)
        for (; i + 16 <= n; i += 16, o += 8) {
            v128_t v = wasm_v128_load(codes + i);
            v128_t t = wasm_v128_or(wasm_v128_and(v, wasm_i16x8_splat(0x0F)),
                                    wasm_v128_and(wasm_u16x8_shr(v, 4), wasm_i16x8_splat(0xF0)));
            wasm_v128_store64_lane(out + o, wasm_u8x16_narrow_i16x8(t, t), 0);
        }
#endif
        for (; i + 8 <= n; i += 8, o += 4) {
            uint64_t x = load8(codes + i) & 0x0F0F0F0F0F0F0F0Full;
            x = (x | x >> 4) & 0x00FF00FF00FF00FFull;
            x = (x | x >> 8) & 0x0000FFFF0000FFFFull;
            put32le(out + o, (uint32_t)(x | x >> 16));
        }
        break;
    case 2:
#if defined(__SSE2__) && !defined(SQ_NO_SIMD)
        for (; i + 16 <= n; i += 16, o += 4) { /* 2 codes per 16-bit lane, then 4 per 32 */
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(codes + i));
            __m128i t = _mm_or_si128(_mm_and_si128(v, _mm_set1_epi16(0x03)),
                                     _mm_and_si128(_mm_srli_epi16(v, 6), _mm_set1_epi16(0x0C)));
            t = _mm_or_si128(_mm_and_si128(t, _mm_set1_epi32(0x0F)),
                             _mm_and_si128(_mm_srli_epi32(t, 12), _mm_set1_epi32(0xF0)));
            t = _mm_packs_epi32(t, t); /* lanes are 0..255 */
            t = _mm_packus_epi16(t, t);
            put32le(out + o, (uint32_t)_mm_cvtsi128_si32(t));
        }
#elif defined(__wasm_simd128__) && !defined(SQ_NO_SIMD)
        for (; i + 16 <= n; i += 16, o += 4) {
            v128_t v = wasm_v128_load(codes + i);
            v128_t t = wasm_v128_or(wasm_v128_and(v, wasm_i16x8_splat(0x03)),
                                    wasm_v128_and(wasm_u16x8_shr(v, 6), wasm_i16x8_splat(0x0C)));
            t = wasm_v128_or(wasm_v128_and(t, wasm_i32x4_splat(0x0F)),
                             wasm_v128_and(wasm_u32x4_shr(t, 12), wasm_i32x4_splat(0xF0)));
            t = wasm_u8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(t, t), t);
            wasm_v128_store32_lane(out + o, t, 0);
        }
#endif
        for (; i + 8 <= n; i += 8, o += 2) {
            uint64_t x = load8(codes + i) & 0x0303030303030303ull;
            x = (x | x >> 6) & 0x000F000F000F000Full;
            x = (x | x >> 12) & 0x000000FF000000FFull;
            x = (x | x >> 24);
            out[o] = (uint8_t)x;
            out[o + 1] = (uint8_t)(x >> 8);
        }
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

void sq_unpack_rows(const uint8_t *packed, size_t rows, size_t cols, int bits, uint8_t *codes)
{
    size_t rb = sq_packed_row_bytes(cols, bits);
    for (size_t r = 0; r < rows; r++) sq_unpack_row(packed + r * rb, cols, bits, codes + r * cols);
}
