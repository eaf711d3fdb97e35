/* qload.h - loading a linear layer (kernels/linear.h) from a model file, in whatever
 * layout the file holds it: a float weight, or quantized in any format of formats.h. */
#ifndef SQ_QLOAD_H
#define SQ_QLOAD_H

#include <stddef.h>
#include "../kernels/linear.h"
#include "qfile.h"

/* Load the layer whose float weight would be called `weight_name` (e.g.
 * "model.layers.0.mlp.up_proj.weight") from q's file (q: sq_qfile_open'ed once per
 * model, so "sq.tensors" is parsed once), in whatever layout it holds it (original,
 * packed, paper, codebook or split parts); bias_name may be NULL or absent.
 * expect_rows/expect_cols: the shape the model needs; a mismatch is an SQ_EINPUT error
 * naming the tensor. */
int sq_linear_load_from(sq_linear *L, const sq_qfile *q, const char *weight_name, const char *bias_name,
                        size_t expect_rows, size_t expect_cols, sq_err *e);
/* The same for one layer of f (opens and closes f's description itself). */
int sq_linear_load(sq_linear *L, const sq_st_file *f, const char *weight_name, const char *bias_name,
                   size_t expect_rows, size_t expect_cols, sq_err *e);

/* Row r of L's weight as float32 (out: L->cols values): how a token embedding held in
 * any layout is looked up, one row per token instead of multiplying by the table. The
 * values are those sq_dequantize_model restores, bit for bit (w = code * scale + min of
 * docs/FORMAT.md in float32, a codebook's scale * level, the paper parts summed in
 * order); a float layer's row is converted exactly. r < L->rows. */
void sq_linear_row(const sq_linear *L, size_t r, float *out);

#endif
