/* linear.h - a linear layer y = W x + b in any of sq's weight layouts, and the kernels
 * that apply it. Models hold sq_linear values and never look inside the layout.
 *
 * Layouts (see docs/FORMAT.md):
 *   SQ_LIN_F32     plain float32 weight [rows, cols]
 *   SQ_LIN_BF16    plain bfloat16 weight [rows, cols], kept in the file's dtype (2 bytes
 *   SQ_LIN_F16     / float16              a weight), converted exactly on use
 *   SQ_LIN_PACKED  packed format: b-bit codes + cluster ids + BF16 scale/min per
 *                  (row group, cluster); one pass over the weights
 *   SQ_LIN_CODEBOOK codebook format: b-bit codes into a learned int8 table of 2^b levels
 *                  per tensor, one BF16 scale per row group: w = scale * table[code]
 *   SQ_LIN_PAPER   paper format: nparts zero-padded sub-layers, each affine INTb
 *                  group-wise (F32 scale/min) or symmetric INT8 per row; summed
 *   (--bits f32 split files load as SQ_LIN_F32 after summing the parts: exact.)
 * Every kernel has a scalar reference (ref.c) and SIMD twins (simd128.c in wasm builds,
 * avx2.c / avx512.c on x86-64) that give the same bits; kernels_ref.h defines
 * the arithmetic. Results never depend on the thread count.
 */
#ifndef SQ_LINEAR_H
#define SQ_LINEAR_H

#include <stddef.h>
#include <stdint.h>
#include "../safetensors.h"
#include "../sq.h"
#include "../formats/formats.h"

#define SQ_LIN_MAX_PARTS SQ_MAX_K /* paper sub-layers (formats.h) */

enum { SQ_LIN_F32 = 0, SQ_LIN_PACKED = 1, SQ_LIN_PAPER = 2, SQ_LIN_BF16 = 3, SQ_LIN_F16 = 4, SQ_LIN_CODEBOOK = 5 };

typedef struct sq_lin_part {
    uint8_t *codes;   /* rows * row_bytes (affine, packed bits) or rows*cols int8 (sym8) */
    float *scale;     /* P (affine) or rows (sym8) */
    float *min;       /* P (affine); NULL for sym8 */
} sq_lin_part;

typedef struct sq_linear {
    int kind;
    size_t rows, cols;   /* out_features, in_features */
    int bits;            /* 2..8 for quantized kinds (2,3,4 for CODEBOOK): formats.h */
    int k;               /* clusters (packed), parts (paper) */
    size_t group;        /* group size along a row; 0 = one group for the whole tensor */
    size_t groups;       /* G = groups per row (1 when group == 0) */
    size_t row_bytes;    /* packed code bytes per row */
    size_t id_row_bytes; /* packed id bytes per row (0 when k == 1) */
    int sym8;            /* paper INT8: symmetric per row */
    float *w;            /* F32 */
    uint8_t *codes, *ids;            /* PACKED */
    uint16_t *scale_bf16, *min_bf16; /* PACKED: [P, k]; CODEBOOK: scale_bf16 [P] */
    int8_t table[16];    /* CODEBOOK: the 2^bits levels (unused entries 0) */
    sq_lin_part parts[SQ_LIN_MAX_PARTS]; /* PAPER */
    float *bias;         /* rows, or NULL */
    uint16_t *w16;       /* BF16 / F16: [rows, cols] */
    int scale_big;       /* PACKED: some |scale| * (2^bits - 1) overflows float, or is not
                            finite (hostile files only; the kernels then skip a shortcut) */
    int borrowed;        /* w / w16 belong to someone else (sq_linear_free leaves them) */
} sq_linear;

/* Host-provided parallel-for, the same types as quant/pipeline.h's: run fn(arg, i) for i
 * in [0, n), in any order, possibly at once; return when all are done. The core never
 * starts a thread itself. */
typedef void (*sq_task_fn)(void *arg, size_t index);
typedef void (*sq_parallel_fn)(void *pool, size_t n, sq_task_fn fn, void *arg);

/* How kernels may run: parallel == NULL (or threads <= 1) runs on the calling thread.
 * threads sizes the split only; every output row is computed by one task, so the results
 * are the same bits for any thread count. */
enum { SQ_ACT_F32 = 0, SQ_ACT_INT8 = 1 };

typedef struct sq_exec {
    sq_parallel_fn parallel;
    void *pool;
    int threads;
    /* how activations meet quantized weights: SQ_ACT_F32 (zero, the default of a zeroed
     * sq_exec) multiplies in float32, the exact arithmetic of kernels_ref.h; SQ_ACT_INT8
     * quantizes each input to int8 per 32 columns and uses integer dot products where the
     * layer allows (packed k = 1 and paper affine layers; others stay float32). Either
     * way the results do not depend on threads, implementation or batch size. */
    int act;
} sq_exec;

/* y[rows] = W x + b. */
void sq_linear_matvec(const sq_linear *L, const float *x, float *y);
/* Y[n, rows] = X[n, cols] W^T + b (row i of Y equals sq_linear_matvec of row i of X). */
void sq_linear_matmul(const sq_linear *L, const float *X, size_t n, float *Y);
/* The same, split over ex's threads (ex may be NULL). */
void sq_linear_matmul_ex(const sq_linear *L, const float *X, size_t n, float *Y, const sq_exec *ex);
/* count layers with the same input X (same cols) in one parallel pass: Y[c] = X L[c]^T. */
void sq_linear_matmul_multi(const sq_linear *const *L, float *const *Y, int count, const float *X, size_t n,
                            const sq_exec *ex);

/* Vector helpers for attention, on the kernel implementation in use (same bits in every
 * one): out[t] = dot16(q, K + t*ldk, n) for t < T (kernels_ref.h's canonical dot), and
 * o[d] = sum over t < T in order of p[t] * V[t*ldv + d] for d < n. */
void sq_vec_dots(const float *q, const float *K, size_t ldk, size_t T, size_t n, float *out);
void sq_vec_wsum(const float *p, const float *V, size_t ldv, size_t T, size_t n, float *o);

/* The kernel implementation in use ("ref", "avx2", "simd128"). */
const char *sq_linear_kernels(void);

/* Loading a layer from a file: quant/qload.h. */
void sq_linear_free(sq_linear *L);
/* Bytes of weight data the layer holds in memory. */
size_t sq_linear_bytes(const sq_linear *L);

#endif
