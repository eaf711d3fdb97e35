/* formats.h - the quantized weight formats, one descriptor each, in one table: their
 * names in files, the widths and clusters they take, the geometry of a weight (groups,
 * parameter sets, bytes per row), the part tensors it is stored as (suffix, dtype,
 * shape), how a weight is quantized into those parts and restored from them, and the
 * kernel family that runs it. The quantizer's options check, its output declarations
 * and "sq.tensors", the weight quantizer, the file reader's checks, the dequantizer, the
 * loader and the report all read this table, so a width or a format is added here once
 * (docs/FORMAT.md).
 *
 * One file per format family holds its descriptor's hooks (packed.c, paper.c,
 * codebook.c, each with a header saying what the format stores); formats.c holds the
 * table and the geometry every family shares. A new format is one more family file,
 * one more row in the table (and SQ_FMT_* entry), its kernels and its tests.
 *
 * Not formats: copied tensors, and the float parts of `--bits f32` splits and split
 * biases ("split" / "bias" kinds: k F32 tensors T.sq.part{c} with T's shape).
 */
#ifndef SQ_FORMATS_H
#define SQ_FORMATS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../dtype.h"
#include "../sq.h"

enum { SQ_FMT_PACKED = 0, SQ_FMT_PAPER = 1, SQ_FMT_CODEBOOK = 2, SQ_FMT_COUNT };
#define SQ_BITS_F32 32 /* --bits f32: split without quantizing (k float parts) */

/* Clusters: --clusters and a file's "k" go up to SQ_MAX_CLUSTERS; every per-cluster
 * array (k-means results, quantizer tables, kernel tables, paper sub-layers) holds
 * SQ_MAX_K, so the limit can grow to it without other changes. */
#define SQ_MAX_CLUSTERS 8
#define SQ_MAX_K 16

/* The code widths a format may have (bits 1..8 of a mask), as one list. */
#define SQ_BITS_MASK(b) (1u << (b))
#define SQ_WIDTHS_SPLIT                                                                                      \
    (SQ_BITS_MASK(2) | SQ_BITS_MASK(3) | SQ_BITS_MASK(4) | SQ_BITS_MASK(5) | SQ_BITS_MASK(6) | SQ_BITS_MASK(7) | \
     SQ_BITS_MASK(8))
#define SQ_WIDTHS_CODEBOOK (SQ_BITS_MASK(2) | SQ_BITS_MASK(3) | SQ_BITS_MASK(4))

/* Group geometry of one quantized weight [rows, cols]. */
typedef struct sq_qgeom {
    int format, bits, k;
    size_t rows, cols, n;
    size_t group;     /* elements per group along a row; 0 = one group for the whole tensor */
    size_t groups;    /* per row (1 for the whole tensor) */
    size_t params;    /* parameter sets P */
    size_t row_bytes; /* packed codes per row (cols for INT8 paper: int8 codes) */
    size_t id_bytes;  /* packed cluster ids per row (0 when k == 1) */
    int sym8;         /* paper INT8: symmetric per row, no min */
} sq_qgeom;

/* The geometry of format `format` at `bits` with k clusters and groups of `group`
 * columns (0 = whole tensor; paper INT8 is always per row, whatever group says).
 * Inline here so that the kernel tests (tests/kernels/kcases.h, which link only the
 * kernels and dtype.c) lay out their layers with it too. */
static inline size_t sq_qgeom_bytes(size_t cols, int bits) { return (cols * (size_t)bits + 7) / 8; }
static inline sq_qgeom sq_qgeom_make(int format, int bits, int k, size_t rows, size_t cols, size_t group)
{
    sq_qgeom g;
    memset(&g, 0, sizeof g);
    g.format = format;
    g.bits = bits;
    g.k = k;
    g.rows = rows;
    g.cols = cols;
    g.n = rows * cols;
    g.sym8 = format == SQ_FMT_PAPER && bits == 8;
    if (g.sym8) {
        g.group = cols;
        g.groups = 1;
        g.params = rows;
    } else if (group == 0) {
        g.groups = 1;
        g.params = 1;
    } else {
        g.group = group;
        g.groups = (cols + group - 1) / group;
        g.params = rows * g.groups;
    }
    if (bits != SQ_BITS_F32) g.row_bytes = sq_qgeom_bytes(cols, bits);
    if (k > 1) {
        int ib = 0; /* id bits: ceil(log2 k) */
        while ((1 << ib) < k) ib++;
        g.id_bytes = sq_qgeom_bytes(cols, ib);
    }
    return g;
}

/* One stored tensor of a weight: name = source name + suffix. ndim 1: [d0]; 2: [d0, d1]. */
typedef struct sq_qpart {
    char suffix[24];
    sq_dtype dtype;
    int ndim;
    int64_t d0, d1;
} sq_qpart;
#define SQ_QPARTS_MAX (3 * SQ_MAX_K)
sq_qpart sq_qpart_make(const char *suffix, sq_dtype dtype, int ndim, size_t d0, size_t d1);

/* What the hooks are handed: the quantizer's run and weight (core/quant/pipeline_int.h,
 * its buffers, output queue and parallel sections), the k-means result, a layer's
 * statistics (pipeline.h), a quantized file and one tensor's description (qfile.h). */
struct sq_qrun;
struct sq_weight_in;
struct sq_kmeans_result;
struct sq_layer_stats;
struct sq_qfile;
struct sq_qtensor;

typedef struct sq_format {
    const char *name;  /* "sq.format" value and the "kind" of its weights in "sq.tensors" */
    unsigned widths;   /* SQ_BITS_MASK(b) for every b it takes */
    int max_k;         /* clusters it takes (1: none of its own) */
    /* group size of a --group policy (SQ_GROUP_*, or N) for a row of cols */
    size_t (*group_size)(int policy, size_t cols);
    /* the parts of a weight of geometry g, in the order the quantizer writes them;
       returns how many (<= SQ_QPARTS_MAX) */
    int (*parts)(const sq_qgeom *g, sq_qpart *out);
    int lin_kind;      /* the sq_linear kind (SQ_LIN_*) it loads as: its kernel family */
    int qt_kind;       /* the kind of its weights in a file's description (SQ_QT_*, qfile.h) */
    /* Quantize one split weight of geometry *L (k-means cells in *km when L->k > 1) and
       write, or queue, its parts in the order `parts` gives; st gets mse and mse_plain
       (the same bits without splitting, or NAN when the options skip it), and
       in->deq_out, when not NULL, the dequantized values. Called by core/quant/weight.c,
       never for --bits f32 (float parts are not a format). */
    int (*quantize)(const struct sq_qrun *r, const struct sq_weight_in *in, const sq_qgeom *L,
                    const struct sq_kmeans_result *km, struct sq_layer_stats *st, sq_err *e);
    /* Whether quantize reads the source bytes itself for a weight of geometry *L (then
       the values of a BF16 weight are never converted to floats: in->x is NULL);
       NULL: never. */
    int (*reads_source)(const sq_qgeom *L);
    /* Restore source tensor `name` (description *d, its parts already checked against
       `parts`) to d->numel float32 values. Called by core/quant/dequant.c. */
    int (*dequantize)(const struct sq_qfile *q, const char *name, const struct sq_qtensor *d, float *out, sq_err *e);
} sq_format;

extern const sq_format sq_formats[SQ_FMT_COUNT];

/* The format of that name, or NULL. */
const sq_format *sq_format_find(const char *name, int *id);
/* "packed", "paper", "codebook" */
const char *sq_format_name(int format);
/* Every format's name for messages, sep between them and " or " before the last:
 * sep ", ": "packed, paper or codebook"; sep "|" and last "|": "packed|paper|codebook". */
const char *sq_formats_text(const char *sep, const char *last, char *buf, size_t n);
/* Whether some format takes b bits (the list CLI and bindings parse against), and the
 * one-line error for a --bits value that is not: "--bits must be 2, 3, 4, 5, 6, 7, 8 or f32". */
int sq_bits_known(long b);
unsigned sq_widths_all(void);
const char *sq_bits_usage(char *buf, size_t n);
/* The widths of a mask for messages, with `last` (may be NULL) as one more item:
 * "2, 3 or 4"; "2, 3, 4, 5, 6, 7, 8 or f32". */
const char *sq_widths_text(unsigned widths, const char *last, char *buf, size_t n);

#endif
