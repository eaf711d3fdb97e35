/* paper.h - the `paper` weight format (the reference recipe): k zero-padded sub-layers,
 * sub-layer c holding cluster c's weights and zeros elsewhere, each quantized plainly
 * (optimum-quanto's affine INT2..7 with F32 scale and min per group, symmetric per-row
 * INT8 with an F32 scale); w = the sum of the k dequantized sub-layers (docs/FORMAT.md).
 * The arithmetic is quant.h's affine and sym8 recipes; this file is the format's
 * descriptor hooks (formats.h).
 */
#ifndef SQ_FORMATS_PAPER_H
#define SQ_FORMATS_PAPER_H

#include "formats.h"

int sq_paper_parts(const sq_qgeom *g, sq_qpart *out);
int sq_paper_quantize(const struct sq_qrun *r, const struct sq_weight_in *in, const sq_qgeom *L,
                      const struct sq_kmeans_result *km, struct sq_layer_stats *st, sq_err *e);
int sq_paper_dequantize(const struct sq_qfile *q, const char *name, const struct sq_qtensor *d, float *out, sq_err *e);

#endif
