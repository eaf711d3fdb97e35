/* codebook.h - the `codebook` weight format: a learned table of 2^b int8 levels per
 * tensor and one BF16 scale per group, w = scale[p] * table[code] (docs/FORMAT.md).
 *
 * The limit of splitting: where SplitQuant gives each of k clusters its own uniform grid
 * (and pays for a cluster id per weight and parameters per cluster), the codebook makes
 * every level a cluster of its own. The levels are the centres of a weighted 1-D k-means
 * (k = 2^b) over the group-normalised weights of the whole tensor, so a weight costs b
 * bits plus 16/group for its group's scale, and decoding is one table lookup.
 */
#ifndef SQ_FORMATS_CODEBOOK_H
#define SQ_FORMATS_CODEBOOK_H

#include <stddef.h>
#include <stdint.h>

#include "../sq.h"
#include "formats.h"

#define SQ_CB_MAX_ENTRIES 16 /* 2^4: one 16-byte shuffle register */
#define SQ_CB_AUTO_GROUP 64  /* --group auto for this format (measured: docs/results.md) */

/* Group size of --group policy (SQ_GROUP_*, or N) for this format: auto is 64 (the whole
 * row when it is shorter); row, tensor (0) and N as for the other formats. */
size_t sq_cb_group_size(int policy, size_t cols);

/* Quantize w (rows x cols, row-major, finite, |w| < 2^126) with `bits` = 2, 3 or 4 and
 * groups of `group` columns along each row (0 = one group for the whole tensor).
 * Outputs: table[2^bits] (ascending, distinct), scale_bf16[P] (P = rows * groups per
 * row, or 1), codes_packed[rows * sq_packed_row_bytes(cols, bits)] (LSB-first b-bit
 * fields, each row starting on a byte), deq (may be NULL): the dequantized values,
 * *sse: sum of (deq - w)^2 in double. Deterministic: the same bytes on every platform.
 * scratch: sq_cb_scratch(rows, cols, group) bytes. */
size_t sq_cb_scratch(size_t rows, size_t cols, size_t group);
void sq_cb_quantize(const float *w, size_t rows, size_t cols, size_t group, int bits, int8_t *table,
                    uint16_t *scale_bf16, uint8_t *codes_packed, float *deq, double *sse, void *scratch);

/* out[rows * cols] = scale * table[code] (float32, one rounding), from the stored parts. */
void sq_cb_dequant(const uint8_t *codes_packed, const int8_t *table, const uint16_t *scale_bf16, size_t rows,
                   size_t cols, size_t group, int bits, float *out);

/* The format's descriptor hooks (formats.h): codes, the table, the scales. */
int sq_cb_parts(const sq_qgeom *g, sq_qpart *out);
int sq_cb_quantize_weight(const struct sq_qrun *r, const struct sq_weight_in *in, const sq_qgeom *L,
                          const struct sq_kmeans_result *km, struct sq_layer_stats *st, sq_err *e);
int sq_cb_dequantize(const struct sq_qfile *q, const char *name, const struct sq_qtensor *d, float *out, sq_err *e);

#endif
