/* linear.h - a linear layer y = W x + b in any of sq's weight layouts, and the kernels
 * that apply it. Models hold sq_linear values and never look inside the layout.
 *
 * Layouts (see docs/FORMAT.md):
 *   SQ_LIN_F32     plain float32 weight [rows, cols]
 *   SQ_LIN_PACKED  packed format: b-bit codes + cluster ids + BF16 scale/min per
 *                  (row group, cluster); one pass over the weights
 *   SQ_LIN_PAPER   paper format: nparts zero-padded sub-layers, each affine INTb
 *                  group-wise (F32 scale/min) or symmetric INT8 per row; summed
 *   (--bits f32 split files load as SQ_LIN_F32 after summing the parts: exact.)
 * Every kernel has a scalar reference (*_ref) and, in wasm builds, a SIMD128 twin.
 */
#ifndef SQ_LINEAR_H
#define SQ_LINEAR_H

#include <stddef.h>
#include <stdint.h>
#include "../safetensors.h"
#include "../sq.h"

#define SQ_LIN_MAX_PARTS 16

enum { SQ_LIN_F32 = 0, SQ_LIN_PACKED = 1, SQ_LIN_PAPER = 2 };

typedef struct sq_lin_part {
    uint8_t *codes;   /* rows * row_bytes (affine, packed bits) or rows*cols int8 (sym8) */
    float *scale;     /* P (affine) or rows (sym8) */
    float *min;       /* P (affine); NULL for sym8 */
} sq_lin_part;

typedef struct sq_linear {
    int kind;
    size_t rows, cols;   /* out_features, in_features */
    int bits;            /* 2,3,4,8 for quantized kinds */
    int k;               /* clusters (packed), parts (paper) */
    size_t group;        /* group size along a row; 0 = one group for the whole tensor */
    size_t groups;       /* G = groups per row (1 when group == 0) */
    size_t row_bytes;    /* packed code bytes per row */
    size_t id_row_bytes; /* packed id bytes per row (0 when k == 1) */
    int sym8;            /* paper INT8: symmetric per row */
    float *w;            /* F32 */
    uint8_t *codes, *ids;            /* PACKED */
    uint16_t *scale_bf16, *min_bf16; /* PACKED: [P, k] */
    sq_lin_part parts[SQ_LIN_MAX_PARTS]; /* PAPER */
    float *bias;         /* rows, or NULL */
} sq_linear;

/* y[rows] = W x + b. */
void sq_linear_matvec(const sq_linear *L, const float *x, float *y);
/* Y[n, rows] = X[n, cols] W^T + b. */
void sq_linear_matmul(const sq_linear *L, const float *X, size_t n, float *Y);

/* Load the layer whose float weight would be called `weight_name` (e.g.
 * "model.layers.0.mlp.up_proj.weight") from f, in whatever layout f holds it
 * (original, packed, paper or split parts); bias_name may be NULL or absent from f.
 * expect_rows/expect_cols: the shape the model needs; a mismatch is an SQ_EINPUT error
 * naming the tensor. */
int sq_linear_load(sq_linear *L, const sq_st_file *f, const char *weight_name, const char *bias_name,
                   size_t expect_rows, size_t expect_cols, sq_err *e);
void sq_linear_free(sq_linear *L);
/* Bytes of weight data the layer holds in memory. */
size_t sq_linear_bytes(const sq_linear *L);

#endif
