/* packed.h - the `packed` weight format (ours: one pass over the weights): b-bit codes,
 * a cluster id per weight (k > 1), and a BF16 scale and minimum per (parameter set,
 * cluster) covering only that cluster's members; w = codes * scale[p, id] + min[p, id]
 * (docs/FORMAT.md). The arithmetic is quant.h's clustered affine recipe; this file is the
 * format's descriptor hooks (formats.h).
 */
#ifndef SQ_FORMATS_PACKED_H
#define SQ_FORMATS_PACKED_H

#include "formats.h"

int sq_packed_parts(const sq_qgeom *g, sq_qpart *out);
int sq_packed_quantize(const struct sq_qrun *r, const struct sq_weight_in *in, const sq_qgeom *L,
                       const struct sq_kmeans_result *km, struct sq_layer_stats *st, sq_err *e);
int sq_packed_reads_source(const sq_qgeom *L);
int sq_packed_dequantize(const struct sq_qfile *q, const char *name, const struct sq_qtensor *d, float *out, sq_err *e);

#endif
