/* quant.h - linear quantization of one 2-D weight [rows, cols] (the reference recipe
 * and our per-cluster variant), bit packing, and dequantization. Implemented in pack.c
 * (packing), quant.c (the reference recipes, the group policy) and clustered.c (the
 * clustered recipe and its fused sweep).
 *
 * Groups run along a row (the input dimension): group size g (1..cols); the last group of
 * a row may be shorter when g does not divide cols. G = ceil(cols / g) groups per row.
 *
 * Recipes:
 *  - SQ_AFFINE (INT2/3/4 in the reference, optimum-quanto):
 *        L = 2^b - 1, per group: lo = min, hi = max,
 *        scale = (hi - lo) / L            (float32 arithmetic, as torch does)
 *        shift = -lo
 *        q = clamp(rint((w + shift) / scale), 0, L)   (round half to even, float32)
 *        deq = q * scale - shift          (float32, no FMA)
 *        scale == 0 (all equal): q = 0 and deq = lo exactly (the reference would be NaN).
 *    Stored: codes, scale[rows*G], min[rows*G] with min = lo (== -shift, exact).
 *  - SQ_SYMMETRIC (INT8 in the reference): per row, scale = absmax / 127,
 *        q = clamp(rint(w / scale), -128, 127), deq = q * scale; scale 0 -> q = 0.
 *    Stored: codes as int8 (two's complement in a byte), scale[rows]; no min.
 *  - Clustered affine (our packed format): every weight also carries a cluster id
 *    (0..k-1); each (row, group, cluster) has its own lo/hi over that cluster's members
 *    only. Parameters are stored as BF16: lo is rounded toward -inf to BF16 (m),
 *    then scale = (hi - m) / L is rounded toward +inf to BF16 (s), so [m, m + L*s]
 *    still covers the members; q = clamp(rint((w - m) / s), 0, L) computed in double
 *    (w - m rounded to double, then the quotient rounded to double, then rint). The code
 *    gets that integer without a division per value: sq_quant_clustered multiplies by
 *    1/s in double, the fused path by 1/s in float32 lanes, and both use the recipe
 *    itself wherever the product is too close to a half-integer to be sure (see
 *    div_rint and docs/ALGORITHM.md). deq = q * s + m (float32). s == 0 happens only
 *    when hi == m (exact).
 *
 * Packing: codes of b bits (1..8) are packed per row LSB-first into a bit stream,
 * each row starting on a byte boundary: row bytes = ceil(cols * b / 8).
 * The same packing holds cluster ids (id bits = ceil(log2 k), k >= 2).
 */
#ifndef SQ_QUANT_H
#define SQ_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "../dtype.h"
#include "../sq.h"
#include "../formats/formats.h"

size_t sq_packed_row_bytes(size_t cols, int bits);
/* Pack n codes (each < 2^bits) of one row into out (sq_packed_row_bytes(n, bits) bytes). */
void sq_pack_row(const uint8_t *codes, size_t n, int bits, uint8_t *out);
void sq_unpack_row(const uint8_t *packed, size_t n, int bits, uint8_t *codes);
/* rows packed rows of cols codes each (row stride sq_packed_row_bytes) into rows*cols codes */
void sq_unpack_rows(const uint8_t *packed, size_t rows, size_t cols, int bits, uint8_t *codes);
int sq_id_bits(int k); /* 0 for k == 1, else ceil(log2 k) */

/* Reference affine group quantization (see above). w is rows x cols, row-major.
 * codes: rows*cols bytes (unpacked, 0..L); scale, min: rows*G floats. */
void sq_quant_affine(const float *w, size_t rows, size_t cols, size_t group, int bits,
                     uint8_t *codes, float *scale, float *min);
void sq_dequant_affine(const uint8_t *codes, const float *scale, const float *min, size_t rows,
                       size_t cols, size_t group, float *out);

/* Reference symmetric per-row INT8. codes: rows*cols int8; scale: rows floats. */
void sq_quant_sym8(const float *w, size_t rows, size_t cols, int8_t *codes, float *scale);
void sq_dequant_sym8(const int8_t *codes, const float *scale, size_t rows, size_t cols, float *out);

/* Clustered affine (packed format). ids: rows*cols cluster ids (0..k-1), given; may be
 * NULL when k == 1. A (group, cluster) without members gets scale = min = 0. Parameters
 * saturate at the largest finite BF16 (|values| beyond ~3.39e38 are not covered).
 * codes: rows*cols (unpacked); scale, min: rows*G*k BF16 values (index (r*G+g)*k + c). */
void sq_quant_clustered(const float *w, const uint8_t *ids, int k, size_t rows, size_t cols,
                        size_t group, int bits, uint8_t *codes, uint16_t *scale_bf16,
                        uint16_t *min_bf16);
void sq_dequant_clustered(const uint8_t *codes, const uint8_t *ids, int k, const uint16_t *scale_bf16,
                          const uint16_t *min_bf16, size_t rows, size_t cols, size_t group,
                          float *out);

/* The packed format's whole job for a block of rows in one sweep (what the pipeline
 * runs per row chunk). w: rows x cols values, host floats when dtype is SQ_DT_F32, else
 * little-endian BF16 or F16 bytes (widened a row at a time). Equivalent to
 *     ids[i] = number of j < k-1 with w[i] > bounds[j]     (bounds ascending: the
 *              k-means cell boundaries, sq_kmeans_assign; pad unused ones with +inf)
 *     sq_quant_clustered(w, ids, k, ...) -> codes, scale_bf16, min_bf16
 *     codes and ids packed per row (sq_pack_row) into codes_packed / ids_packed
 *     (row strides sq_packed_row_bytes(cols, bits) / (cols, sq_id_bits(k)); ids_packed
 *     may be NULL, and is unused when k == 1)
 *     sq_dequant_clustered -> deq (may be NULL)
 *     *sse = sum of (deq - w)^2 in double
 *     *sse_plain (may be NULL): the same for sq_quant_clustered(w, NULL, 1, ...), i.e.
 *     plain quantization with the same bits and groups (nothing else of it is kept)
 * with the same bytes, but reading w once instead of five times (twice per group, in
 * cache). scratch: sq_quant_rows_scratch(cols) bytes, 4-byte aligned. k <= SQ_CQ_MAX_K.
 * The sums add in another order than a separate pass would (last bits may differ). */
#define SQ_CQ_MAX_K SQ_MAX_K /* formats.h */
size_t sq_quant_rows_scratch(size_t cols);
/* The vector width sq_quant_clustered_rows uses (0: scalar, 4, or 8 with AVX2), and a
 * switch for tests and benchmarks (-1: the best the CPU has, else at most w); every
 * width gives the same bytes and sums. Returns the previous setting. */
int sq_quant_width(void);
int sq_quant_force_width(int w);
void sq_quant_clustered_rows(const void *w, sq_dtype dtype, size_t rows, size_t cols, size_t group, int bits, int k,
                             const float *bounds, uint8_t *codes_packed, uint8_t *ids_packed, uint16_t *scale_bf16,
                             uint16_t *min_bf16, float *deq, double *sse, double *sse_plain, uint8_t *scratch);

/* Group size policy. policy: SQ_GROUP_AUTO (reference: g = 128 when cols > 128, stepping
 * down by 32 until it divides cols, min 32, else the whole row), SQ_GROUP_ROW (g = cols),
 * SQ_GROUP_TENSOR (one group for the whole tensor: returns 0, callers treat the tensor as
 * one row of rows*cols), or a fixed N > 0 (clamped to cols). */
enum { SQ_GROUP_AUTO = -1, SQ_GROUP_ROW = -2, SQ_GROUP_TENSOR = -3 };
size_t sq_group_size(int policy, size_t cols);
/* A group size as the recipes' loops use it: 1..cols (0 or more than cols: the row). */
static inline size_t sq_eff_group(size_t group, size_t cols) { return (group == 0 || group > cols) ? cols : group; }

#endif
