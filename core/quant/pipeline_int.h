/* pipeline_int.h - the pieces sq_quantize_model is made of, shared by the files of
 * core/quant/ and the format families' quantize hooks in core/formats/ (not an API:
 * names and fields change with the pipeline).
 *
 *   plan.c      options; which tensors are split or copied; what each becomes
 *               (output tensor names, dtypes, shapes; the "sq.tensors" metadata)
 *   cluster.c   one tensor's values: scan (convert, check, histogram), k-means, ids
 *   schedule.c  workspace buffers, parallel sections with the background I/O task,
 *               the queue of output waiting to be written
 *   weight.c    one weight (or bias): clustered, then its format's quantize hook
 *               (core/formats/), or split into float parts; the row chunks they share
 *   pipeline.c  the walk over the model: read, scan, cluster, quantize, queue, report
 */
#ifndef SQ_PIPELINE_INT_H
#define SQ_PIPELINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline.h"

#define COPY_CHUNK (4u << 20) /* copied tensors stream through a buffer this big */
#define WS_TMP (1u << 16)     /* conversion buffer for sq_put_f32 / sq_put_u16 */

/* ---------------- plan.c: what each tensor becomes ---------------- */

typedef sq_qgeom layout; /* the group geometry of one weight (formats.h) */

layout sq_layout_of(const sq_plan_item *it, const sq_quant_opts *o);
/* A split bias is stored as k float parts (paper, f32), else kept as it is. */
int sq_bias_has_parts(const sq_quant_opts *o);
/* Declare the output tensors of one input tensor, in the order weight.c writes them. */
int sq_declare_outputs(sq_st_writer *w, const sq_plan_item *it, const sq_quant_opts *o, sq_err *e);
/* The "sq.tensors" metadata (malloc'd JSON, NULL when out of memory). */
char *sq_tensors_json(const sq_plan *p, const sq_quant_opts *o);

/* ---------------- schedule.c: buffers, sections, the output queue ---------------- */

/* Buffers kept from one tensor to the next, grown when a larger tensor comes (large
 * fresh allocations cost a page fault per 4 KiB on first touch: for a 1B model, more
 * than the arithmetic). Contents are undefined between uses. */
typedef struct wbuf {
    void *p;
    size_t cap;
} wbuf;
void *sq_wbuf_get(wbuf *b, size_t bytes, sq_err *e);

#define QUEUE_SETS 2 /* see "I/O in the background" in schedule.c */

/* The packed format's output tensors of one weight (two sets: one can wait to be written
 * out in the background while the next weight fills the other). */
typedef struct outset {
    wbuf packed, packed_ids, s16, m16;
} outset;

typedef struct workspace {
    wbuf raw[2];                            /* source bytes: this weight's, the next one's */
    int rcur;                               /* raw[rcur] is this weight's */
    wbuf x, cnt, tmp, scratch, sse, iobuf;
    outset lone;                            /* the sub-layer path's packed codes */
    outset sets[QUEUE_SETS];                /* packed weights' tensors, see pending */
    int set_busy[QUEUE_SETS];
    wbuf ids, codes, deq, part, scale, min; /* the sub-layer path (paper, f32, group=tensor) */
    const sq_tensor_info *ahead;            /* whose bytes raw[rcur ^ 1] holds (or NULL) */
} workspace;
void sq_ws_free(workspace *ws);

/* Output waiting to be written, in output order. */
enum { Q_WEIGHT = 0, Q_COPY = 1 };
typedef struct qentry {
    int kind;
    int set;               /* Q_WEIGHT: the output set holding its tensors */
    size_t codes_n, ids_n, pk;
    size_t item;           /* Q_COPY: the plan item */
    uint64_t done;         /* Q_COPY: bytes copied so far */
} qentry;

typedef struct pending {
    qentry *q;
    size_t head, tail, reaped; /* [head, tail) wait; [reaped, head) written, sets not yet freed */
    uint64_t weight_bytes;     /* bytes of queued weight tensors */
} pending;

#define QUEUE_BYTES ((uint64_t)256 << 20) /* beyond this much waiting, write it all */

/* What every tensor of one quantization run shares. */
typedef struct sq_qrun {
    sq_st_writer *w;
    workspace *ws;
    const sq_st_file *in;        /* NULL for sq_split_roundtrip (nothing to copy) */
    const sq_plan *plan;
    const sq_quant_opts *o;
    const sq_quant_hooks *hooks;
    pending *po;
    int defer;                   /* output may wait in the queue for a background task */
} qrun;

/* The I/O task of one parallel section: first read the next weight's bytes into
 * ws->raw[rcur ^ 1] (next: NULL = nothing), then write out about budget bytes of what
 * is queued (whole entries for weights). */
typedef struct bg_task {
    const qrun *r;
    uint64_t budget;
    const sq_tensor_info *next;
    int read_ok;
    int rc;
    sq_err e;
} bg_task;

/* Run fn(arg, i) for i in [0, n) through the host's parallel hook (or in turn), with
 * the I/O task bg (may be NULL) as one more task beside them: always task 0 of the call
 * (SQ_IO_TASK0 relies on it). Returns bg's error, if any, once all are done. */
int sq_run_with_io(const sq_quant_hooks *h, size_t n, sq_task_fn fn, void *arg, bg_task *bg, sq_err *e);

/* The queue: push one entry; write entries in order until about budget bytes went out
 * (UINT64_MAX: all); free the output sets of written entries (calling thread, between
 * sections); everything out now; an output set for the next packed weight (a free one,
 * or the queue written out first; negative error code on failure). */
qentry *sq_queue_push(pending *po, int kind);
int sq_queue_flush(const qrun *r, uint64_t budget, sq_err *e);
void sq_queue_reap(const qrun *r);
int sq_queue_flush_all(const qrun *r, sq_err *e);
int sq_queue_acquire_set(const qrun *r, sq_err *e);
uint64_t sq_qentry_bytes(const qentry *q);

/* Little-endian float32 / u16 values out through tmp (tmpn bytes) in chunks. */
int sq_put_f32(sq_st_writer *w, const float *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e);
int sq_put_u16(sq_st_writer *w, const uint16_t *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e);

/* ---------------- cluster.c: one tensor's values ---------------- */

#define SCAN_TASKS 16

typedef struct scan_part {
    uint32_t low, bad;
    float lo, hi;
    double sum;
} scan_part;

typedef struct scan_job {
    const uint8_t *raw; /* the source bytes (dtype), or NULL when x holds the values */
    sq_dtype dtype;
    float *x;           /* NULL: BF16 source bytes that nobody needs as floats */
    size_t n, per, tasks;
    uint32_t *cnt;      /* 2 * tasks tables of 65 536 bins, or NULL: statistics only */
    scan_part part[SCAN_TASKS];
    scan_part all;      /* merged: low, bad; lo, hi, sum only without histogram */
} scan_job;

/* Scan n values (from raw when given, else already in x); hist: count the histogram.
 * x may be NULL for BF16 source bytes (the floats are not needed). bg: the I/O task to
 * run beside it (may be NULL). */
int sq_scan(workspace *ws, const uint8_t *raw, sq_dtype dtype, float *x, size_t n, int hist, int threads,
            const sq_quant_hooks *hooks, bg_task *bg, scan_job *j, sq_err *e);
/* The statistics-only scan (no histogram) of a tensor of n values that comes in blocks,
 * in order (a streamed weight): the same parts and sums as sq_scan of the whole. A block
 * is m values from value first: BF16 bytes (raw; x NULL), or raw converted into x (m
 * floats). Returns 1 when the block holds a value sq_check_finite refuses. After the
 * last block, sq_scan_stream_end fills j->all. */
void sq_scan_stream_begin(scan_job *j, size_t n);
int sq_scan_stream_block(scan_job *j, const uint8_t *raw, sq_dtype dtype, float *x, size_t first, size_t m);
void sq_scan_stream_end(scan_job *j);
/* NaN, Inf and magnitudes of 2^126 and more are refused, naming the tensor (and the
 * index of the value, counted from first for a block that starts there). */
int sq_check_finite(const float *x, size_t n, const char *name, sq_err *e);
int sq_check_finite_at(const float *x, size_t n, size_t first, const char *name, sq_err *e);
/* The k-means seed of one tensor: the run's seed mixed with a hash of its name. */
uint64_t sq_name_seed(uint64_t seed, const char *name);

/* Cluster ids from the k-means cell bounds, padded to k - 1 (+inf past the clusters
 * found): the number of bounds below v, which is sq_kmeans_assign (bounds ascend). */
void sq_pad_bounds(const sq_kmeans_result *km, int k, float *b);
static inline uint8_t sq_assign_id(const float *b, int k, float v)
{
    int c = 0;
    for (int j = 0; j + 1 < k; j++) c += v > b[j];
    return (uint8_t)c;
}

/* k-means of a scanned weight and the layer's statistics (k == 1: statistics only). */
int sq_cluster_scanned(const scan_job *sj, const float *x, size_t n, int k, uint64_t seed, sq_kmeans_result *km,
                       sq_layer_stats *st, sq_err *e);
/* Cluster x (a bias: small, on this thread); fill ids (may be NULL) and the statistics. */
int sq_cluster_values(const float *x, size_t n, int k, uint64_t seed, uint8_t *ids, sq_layer_stats *st, sq_err *e);

/* ---------------- weight.c: one tensor in its format ---------------- */

/* A weight that comes in blocks of rows rather than whole (sq_is_streamed). next gives
 * rows [r0, r0 + nr), asked for in order from row 0 to the last: their values at *src,
 * as BF16 source bytes or host floats (*dt = SQ_DT_F32), valid until the next call; the
 * scan of the weight (weight_in.sj) is complete once the last block is in. */
typedef struct sq_row_source sq_row_source;
struct sq_row_source {
    int (*next)(sq_row_source *s, size_t r0, size_t nr, const void **src, sq_dtype *dt, sq_err *e);
};
/* Rows per block of a streamed weight: whole chunks (sq_chunk_rows), about this many
 * values (4 MiB of BF16 source bytes), however large the vocabulary. */
#define STREAM_VALUES ((size_t)1 << 21)

/* One scanned weight to quantize. Its values are in x, or, for the fused path from BF16
 * bytes, x is NULL and they are read from src (dtype); or, streamed, both are NULL and
 * rows gives them a block at a time (then sj is complete only after the last block). */
typedef struct sq_weight_in {
    const sq_plan_item *it;
    const float *x;
    const void *src;
    sq_dtype dtype;
    const scan_job *sj;
    bg_task *bg;    /* the I/O task for the first parallel section, or NULL */
    float *deq_out; /* the dequantized values back (the outlier lab), or NULL */
    sq_row_source *rows; /* a streamed weight's blocks, or NULL */
} weight_in;

/* Whether a weight's format reads its source bytes itself (sq_format.reads_source). */
int sq_is_fused(const sq_plan_item *it, const sq_quant_opts *o);
/* Whether a weight is streamed in row blocks: the token embedding and the LM head of
 * --embeddings (plain per-row codes, k = 1: rows are independent) with groups along
 * rows, the tensors that grow with the vocabulary. o: the run's options or the item's. */
int sq_is_streamed(const sq_plan_item *it, const sq_quant_opts *o);
/* Quantize one weight and write (or queue) its tensors; st gets mse and mse_plain. */
int sq_process_weight(const qrun *r, const weight_in *in, sq_layer_stats *st, sq_err *e);
/* Cluster one bias and write it (as parts or as it is). */
int sq_process_bias(const qrun *r, const sq_plan_item *it, const float *x, sq_layer_stats *st, sq_err *e);

/* ---- row chunks, for the formats' hooks ----
 * The heavy loops run over chunks of rows, so a host that has threads can run chunks in
 * parallel (sq_quant_hooks.parallel). Chunks have a fixed size (about 64 Ki values,
 * whole rows), every chunk writes only its own rows of the output buffers and its own
 * partial sums, and partial sums are added in chunk order: the same bytes, and the same
 * report, whatever the number of threads. */
size_t sq_chunk_rows(size_t rows, size_t cols);
double sq_sum_chunks(const double *s, size_t n);

/* The sub-layer path: the values in x (floats), steps over every row chunk, each
 * written out whole before the next (paper: one step per cluster; the packed format at
 * group=tensor and --bits f32: see their hooks). A step's math is the format's
 * (sq_sub_job.step, for rows [r0, r0 + nr) of the math's view L); around it, the first
 * step assigns cluster ids, every step packs the rows' codes (into packed, when set)
 * and ids (into packed_ids, when set), and the last one sums the squared error. */
typedef struct sq_sub_job sq_sub_job;
struct sq_sub_job {
    layout L;                /* the math's view (one long row for group=tensor) */
    layout P;                /* the stored rows, for packing */
    const sq_quant_opts *o;
    const float *x;          /* original values */
    int have_km;             /* k > 1: ids come from bounds */
    float bounds[SQ_MAX_K];
    int part;                /* paper / f32: the cluster whose sub-layer is being made */
    int plain;               /* 1: quantize plainly (k = 1) for mse_plain */
    void (*step)(sq_sub_job *j, size_t r0, size_t nr);
    uint8_t *ids;            /* cluster per value (all 0 for k == 1) */
    uint8_t *codes;          /* unpacked codes */
    uint8_t *packed;         /* packed codes (row_bytes per row), or NULL */
    uint8_t *packed_ids;     /* packed ids (id_bytes per row), or NULL */
    float *scale, *min;      /* affine / sym8 parameters (paper) */
    uint16_t *s16, *m16;     /* packed-format parameters */
    float *part_buf;         /* paper / f32: this part's values, zeros elsewhere */
    float *deq;              /* running sum of dequantized parts */
    size_t chunk_rows, n_chunks;
    double *sse;             /* per chunk: squared error (only on the last step) */
    int last;                /* this step finishes deq: compute sse */
    bg_task *bg;             /* the I/O task, for the first step only */
    uint8_t *tmp;            /* WS_TMP bytes, for sq_put_f32 / sq_put_u16 */
};
/* Write out what is queued (this path writes as it goes), then set up j for weight *in
 * of geometry *L0 with k-means cells km: views, chunks, ids (zeros for k == 1), codes,
 * deq (zeroed), sse, tmp, and part_buf when need_part. The format then gets its own
 * buffers (sq_wbuf_get from r->ws) and runs its steps. */
int sq_sub_begin(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km, int need_part,
                 sq_sub_job *j, sq_err *e);
/* One step over every chunk (the I/O task goes with the first step only). */
int sq_sub_run(const qrun *r, sq_sub_job *j, sq_err *e);
/* After the last step: st->mse, in->deq_out, and st->mse_plain (the same step with
 * plain = 1 and nothing packed, unless k == 1 or the options skip it). */
void sq_sub_finish(const qrun *r, const weight_in *in, sq_sub_job *j, sq_layer_stats *st);

#endif
