/* pipeline.h - model-level quantization: decide which tensors are split, stream every
 * tensor from the input safetensors through k-means + quantization into the output
 * safetensors, collect per-layer statistics (the report), and the way back
 * (dequantize). Holds one tensor (plus its outputs) at a time.
 */
#ifndef SQ_PIPELINE_H
#define SQ_PIPELINE_H

#include <stddef.h>
#include <stdint.h>
#include "../safetensors.h"
#include "../sq.h"
#include "kmeans.h"
#include "../formats/formats.h" /* SQ_FMT_*, SQ_BITS_F32, the widths each format takes */

typedef struct sq_quant_opts {
    int bits;       /* a width of the format (sq_formats[format].widths), or SQ_BITS_F32
                       (split without quantizing) */
    int clusters;   /* k >= 1 (1 = plain quantization), <= the format's max_k */
    int group;      /* SQ_GROUP_AUTO / SQ_GROUP_ROW / SQ_GROUP_TENSOR or a size N > 0 */
    int format;     /* SQ_FMT_PACKED, SQ_FMT_PAPER or SQ_FMT_CODEBOOK (formats.h) */
    uint64_t seed;  /* k-means seed; each tensor mixes in a hash of its name */
    int threads;    /* worker threads for the heavy loops (1 = none) */
    int skip_plain; /* 1: don't compute mse_plain (saves time) */
    int embeddings; /* the token embedding and an untied LM head: SQ_EMB_AUTO (the
                       format's default, sq_emb_bits), SQ_EMB_KEEP, or a width 2..8 of
                       plain per-row codes (packed format, k = 1) */
    int io_on_caller; /* with a parallel hook, where the reader and the writer may be
                         called (SQ_IO_*, below); the output is the same for each. Here
                         rather than in sq_quant_hooks so that positional initializers of
                         the hooks stay complete. */
} sq_quant_opts;

/* sq_quant_opts.io_on_caller. A browser's reader and writer live in one Web Worker only
 * (the File, the output chunks), so a host whose tasks run elsewhere keeps them there:
 *   SQ_IO_ANY    from whichever thread runs the I/O task (default; see sq_parallel_fn)
 *   SQ_IO_CALLER only on the thread that called sq_quantize_model, between parallel
 *                sections: tasks only compute, and the I/O no longer overlaps them
 *   SQ_IO_TASK0  only on the calling thread, which the parallel hook promises runs task
 *                0 of every call itself: the pipeline's I/O task is always task 0, so it
 *                still overlaps the arithmetic (wasm/pool.c does this) */
enum { SQ_IO_ANY = 0, SQ_IO_CALLER = 1, SQ_IO_TASK0 = 2 };

/* sq_quant_opts.embeddings besides a width: AUTO = 0 so that zeroed options get the default */
enum { SQ_EMB_AUTO = 0, SQ_EMB_KEEP = -1 };
/* What --embeddings resolves to for these options: 0 = kept as they are, else the width.
 * The default (AUTO) keeps them for --format paper and --bits f32 (the papers split only
 * linear layers, f32 is an exact split) and is INT8 for packed and codebook (measured:
 * docs/FORMAT.md "Embeddings"). */
int sq_emb_bits(const sq_quant_opts *o);
/* "keep", "int8", "int4", ... for sq_emb_bits's value. */
const char *sq_emb_name(int bits, char *buf, size_t n);

void sq_quant_opts_default(sq_quant_opts *o);
/* Check option values; errors are SQ_EINPUT with a sentence naming the option. */
int sq_quant_opts_check(const sq_quant_opts *o, sq_err *e);

/* What happens to each input tensor. */
enum { SQ_ROLE_COPY = 0, SQ_ROLE_WEIGHT = 1, SQ_ROLE_BIAS = 2 };

/* A weight that --embeddings quantizes (plain codes of its own width, not the format's):
 * the token embedding, or an untied LM head. Their role is SQ_ROLE_WEIGHT. */
enum { SQ_EMBR_NONE = 0, SQ_EMBR_TOKEN = 1, SQ_EMBR_HEAD = 2 };

typedef struct sq_plan_item {
    const sq_tensor_info *t;
    int role;
    int emb;           /* SQ_EMBR_*: NONE for linear layers, copies and biases */
    size_t rows, cols; /* WEIGHT: matrix view; BIAS: rows = length, cols = 1 */
} sq_plan_item;

typedef struct sq_plan {
    size_t n;
    sq_plan_item *items; /* input order (by file offset) */
    size_t n_weights, n_biases;
    uint64_t params;     /* elements of all float tensors */
    uint64_t split_params;
} sq_plan;

/* Classify every tensor: 2-D+ "*.weight" of a linear/conv (not a norm or embedding),
 * and the 1-D "*.bias" of such a layer; the rest is copied. */
int sq_plan_make(const sq_st_file *f, sq_plan *p, sq_err *e);
/* With --embeddings at a width (sq_emb_bits(o) > 0): mark the token embedding (names of
 * the model families sq runs: "*embed_tokens.weight", "*word_embeddings.weight",
 * "wte.weight") and an untied "lm_head.weight" as SQ_ROLE_WEIGHT with emb set. A
 * no-op for keep. */
void sq_plan_embeddings(sq_plan *p, const sq_quant_opts *o);
/* The options item it is quantized with: o itself, or for an embedding (it->emb) a copy
 * in *tmp with the packed format, k = 1 and the --embeddings width. */
const sq_quant_opts *sq_item_opts(const sq_plan_item *it, const sq_quant_opts *o, sq_quant_opts *tmp);
void sq_plan_free(sq_plan *p);

/* Statistics of one split weight (or bias), the rows of the report. */
typedef struct sq_layer_stats {
    const char *name;
    int role;
    int emb;                         /* SQ_EMBR_* of the plan item */
    int ndim;
    int64_t shape[SQ_ST_MAX_DIMS];
    int k;                           /* clusters found (<= asked when few distinct values) */
    double min, max, range;
    double centers[SQ_KMEANS_MAX_K];
    uint64_t counts[SQ_KMEANS_MAX_K];
    double cluster_min[SQ_KMEANS_MAX_K], cluster_max[SQ_KMEANS_MAX_K];
    double mse, mse_plain;           /* dequantized vs original (0 for biases and f32) */
    double seconds;                  /* wall time, when the host gave a clock */
    size_t bytes_out;
} sq_layer_stats;

/* Progress after each input tensor. Return non-zero to cancel (-> SQ_ECANCEL). */
typedef struct sq_progress {
    size_t index, total;         /* tensors done (1-based after this one), of total */
    uint64_t bytes_done, bytes_total; /* input bytes */
    const char *name;
    const sq_layer_stats *layer; /* non-NULL for split weights and biases */
} sq_progress;
typedef int (*sq_progress_fn)(void *ctx, const sq_progress *p);

/* Texts embedded in the output so it is self-contained (any may be NULL). */
typedef struct sq_model_texts {
    const char *config_json;
    const char *tokenizer_json;
    const char *vocab_txt;
    const char *tokenizer_config_json;
    const char *source_name;
} sq_model_texts;

/* Run fn(arg, i) for i in [0, n), in any order, possibly at once; return when all are
 * done. Hosts with threads supply one; the core itself never starts a thread. The core
 * never nests calls. With a parallel hook, sq_quantize_model also does its I/O inside
 * tasks (reading the next tensor, writing the finished ones while the next is
 * quantized): the input reader and the output writer are then called from whichever
 * thread runs that task (always task 0 of its call), never two calls at once;
 * opts.io_on_caller can keep them on the calling thread. The output bytes are the same
 * with or without the hook, for any thread count. */
typedef void (*sq_task_fn)(void *arg, size_t index);
typedef void (*sq_parallel_fn)(void *pool, size_t n, sq_task_fn fn, void *arg);

typedef struct sq_quant_hooks {
    sq_progress_fn progress;
    void *ctx;
    double (*now)(void);     /* seconds, for per-layer timing; NULL = no timing */
    sq_parallel_fn parallel; /* NULL = run everything on the calling thread */
    void *pool;
} sq_quant_hooks;

/* The collected report. layers: one per split weight, then biases follow their weight. */
typedef struct sq_report {
    sq_layer_stats *layers;
    size_t n_layers;
    uint64_t params, bytes_in, bytes_out;
    uint64_t quant_bytes_out; /* bytes of the quantized weight tensors only */
    uint64_t quant_bytes_in;  /* bytes of those weights in the input */
} sq_report;
void sq_report_free(sq_report *r);

/* Quantize the whole model from `in` into `out`. rep may be NULL. */
int sq_quantize_model(const sq_st_file *in, const sq_quant_opts *o, const sq_model_texts *texts, sq_writer out,
                      const sq_quant_hooks *hooks, sq_report *rep, sq_err *e);

/* Report as the JSON of the report contract (DESIGN.md, docs/FORMAT.md); malloc'd
 * string. model: display name; seconds: total wall time. (report.c) */
char *sq_report_json(const sq_report *r, const sq_quant_opts *o, const char *model, double seconds);

/* Bits per weight as stored: 8 x bytes / elements; NAN for no elements.
 *   layer:  all stored parts of one report layer (codes, ids, scales, offsets, parts)
 *   linear: the same over the report's linear layers (split weights and their biases;
 *           not the embedding and head that --embeddings quantizes)
 *   embeddings: the same over those (NAN when they are kept)
 *   file:   8 x bytes_out / params, the whole file (embeddings, norms, metadata too) */
double sq_layer_bpw(const sq_layer_stats *s);
double sq_report_bpw_linear(const sq_report *r);
double sq_report_bpw_embeddings(const sq_report *r);
double sq_report_bpw_file(const sq_report *r);

/* The same two model figures read back from any safetensors file, quantized by sq or
 * not (an unquantized model's linear layers are what sq would split). For a file
 * written by sq_quantize_model they equal its report's. */
typedef struct sq_file_bpw {
    uint64_t params;                     /* elements of the (source) float tensors */
    uint64_t linear_elems, linear_bytes; /* split layers: source elements, stored bytes */
    uint64_t emb_elems, emb_bytes;       /* quantized embedding / head (role in sq.tensors) */
    uint64_t bytes;                      /* the file */
    double linear, embeddings, file;     /* bits per weight (NAN for no elements) */
} sq_file_bpw;
int sq_file_bpw_of(const sq_st_file *f, sq_file_bpw *b, sq_err *e);

/* The JSON of `sq inspect --json` for both front ends. file: the name to show;
 * config_json: the model's config.json text or NULL. malloc'd; NULL + e on failure. */
char *sq_inspect_json(const sq_st_file *f, const char *file, const char *config_json, sq_err *e);
/* "auto", "row", "tensor" or the number, for --group values. */
const char *sq_group_name(int g, char *buf, size_t n);

/* Dequantize a file written by sq_quantize_model back to a plain model. dtype: SQ_DT_F32,
 * F16 or BF16 for every restored float tensor, or SQ_DT_INVALID to restore each to its
 * source dtype. Unsplit tensors are copied (converted when dtype is given). */
int sq_dequantize_model(const sq_st_file *in, sq_dtype dtype, sq_writer out, sq_err *e);

/* One-tensor helpers, also used by the wasm "outlier lab": quantize w (rows x cols)
 * with options o and write the dequantized values to deq. ids: cluster of each
 * value (may be NULL when k == 1). */
int sq_split_roundtrip(const float *w, size_t rows, size_t cols, const sq_quant_opts *o, uint64_t seed,
                       sq_layer_stats *st, float *deq, sq_err *e);

#endif
