/* dtype.h - element types of safetensors and conversions to and from float32. */
#ifndef SQ_DTYPE_H
#define SQ_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum sq_dtype {
    SQ_DT_INVALID = 0,
    SQ_DT_F64, SQ_DT_F32, SQ_DT_F16, SQ_DT_BF16,
    SQ_DT_I64, SQ_DT_I32, SQ_DT_I16, SQ_DT_I8,
    SQ_DT_U64, SQ_DT_U32, SQ_DT_U16, SQ_DT_U8,
    SQ_DT_BOOL, SQ_DT_F8_E4M3, SQ_DT_F8_E5M2
} sq_dtype;

/* "F32" -> SQ_DT_F32; unknown -> SQ_DT_INVALID. */
sq_dtype sq_dtype_from_name(const char *name);
const char *sq_dtype_name(sq_dtype t);
/* Bytes per element (0 for invalid). */
size_t sq_dtype_size(sq_dtype t);
/* F32, F16, BF16: the float types the quantizer accepts. */
int sq_dtype_is_float(sq_dtype t);

float sq_f16_to_f32(uint16_t h);
uint16_t sq_f32_to_f16(float f);      /* round to nearest even; NaN stays NaN */
float sq_bf16_to_f32(uint16_t b);
uint16_t sq_f32_to_bf16(float f);     /* round to nearest even; NaN stays NaN */

/* Convert n little-endian elements of type t (F32, F16 or BF16) to float32.
 * src and dst may not overlap. */
void sq_to_f32(sq_dtype t, const void *src, float *dst, size_t n);
/* Convert n float32 values to type t (F32, F16 or BF16), little-endian. */
void sq_from_f32(sq_dtype t, const float *src, void *dst, size_t n);

#endif
