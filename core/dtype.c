/* dtype.c - dtype names and f16/bf16 <-> f32 conversion (bit exact, portable). */
#include "dtype.h"

#include <string.h>

static const struct { const char *name; sq_dtype t; size_t size; } dtypes[] = {
    {"F64", SQ_DT_F64, 8}, {"F32", SQ_DT_F32, 4}, {"F16", SQ_DT_F16, 2}, {"BF16", SQ_DT_BF16, 2},
    {"I64", SQ_DT_I64, 8}, {"I32", SQ_DT_I32, 4}, {"I16", SQ_DT_I16, 2}, {"I8", SQ_DT_I8, 1},
    {"U64", SQ_DT_U64, 8}, {"U32", SQ_DT_U32, 4}, {"U16", SQ_DT_U16, 2}, {"U8", SQ_DT_U8, 1},
    {"BOOL", SQ_DT_BOOL, 1}, {"F8_E4M3", SQ_DT_F8_E4M3, 1}, {"F8_E5M2", SQ_DT_F8_E5M2, 1},
};

sq_dtype sq_dtype_from_name(const char *name)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].t;
    return SQ_DT_INVALID;
}

const char *sq_dtype_name(sq_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].t == t) return dtypes[i].name;
    return "?";
}

size_t sq_dtype_size(sq_dtype t)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].t == t) return dtypes[i].size;
    return 0;
}

int sq_dtype_is_float(sq_dtype t) { return t == SQ_DT_F32 || t == SQ_DT_F16 || t == SQ_DT_BF16; }

static uint32_t f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float sq_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) return u2f(sign | 0x7f800000u | (man << 13)); /* inf / nan */
    if (exp == 0) {
        if (man == 0) return u2f(sign);
        /* subnormal: value = man * 2^-24, exact in float32 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    return u2f(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t sq_f32_to_f16(float f)
{
    uint32_t u = f2u(f);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t abs = u & 0x7fffffff;
    if (abs >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (abs > 0x7f800000u ? 0x200 | ((abs >> 13) & 0x3ff) : 0));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {                                 /* below f16 normal range */
        /* subnormal f16: value / 2^-24, rounded half to even */
        uint32_t exp = abs >> 23;
        if (exp < 102) return (uint16_t)sign; /* < 2^-25: rounds to zero */
        uint32_t man = (abs & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - exp; /* 14..24 */
        uint32_t q = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = abs + 0xfff + ((abs >> 13) & 1); /* round half to even at bit 13 */
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float sq_bf16_to_f32(uint16_t b) { return u2f((uint32_t)b << 16); }

uint16_t sq_f32_to_bf16(float f)
{
    uint32_t u = f2u(f);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet nan */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

void sq_to_f32(sq_dtype t, const void *src, float *dst, size_t n)
{
    const uint8_t *p = src;
    switch (t) {
    case SQ_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                         (uint32_t)p[4 * i + 3] << 24;
            dst[i] = u2f(u);
        }
        break;
    case SQ_DT_F16:
        for (size_t i = 0; i < n; i++) dst[i] = sq_f16_to_f32(rd16(p + 2 * i));
        break;
    case SQ_DT_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = sq_bf16_to_f32(rd16(p + 2 * i));
        break;
    default:
        for (size_t i = 0; i < n; i++) dst[i] = 0;
        break;
    }
}

void sq_from_f32(sq_dtype t, const float *src, void *dst, size_t n)
{
    uint8_t *p = dst;
    for (size_t i = 0; i < n; i++) {
        if (t == SQ_DT_F32) {
            uint32_t u = f2u(src[i]);
            p[4 * i] = (uint8_t)u; p[4 * i + 1] = (uint8_t)(u >> 8);
            p[4 * i + 2] = (uint8_t)(u >> 16); p[4 * i + 3] = (uint8_t)(u >> 24);
        } else {
            uint16_t h = t == SQ_DT_F16 ? sq_f32_to_f16(src[i]) : sq_f32_to_bf16(src[i]);
            p[2 * i] = (uint8_t)h; p[2 * i + 1] = (uint8_t)(h >> 8);
        }
    }
}
