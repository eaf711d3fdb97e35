/* pipeline.c - walk a model, split and quantize what should be, stream the result.
 *
 * One input tensor at a time: read its bytes, scan them (convert, check they are finite,
 * count the histogram), cluster it (k-means), quantize it in the chosen format, write
 * its output tensors, record its statistics. Tensors that are not split are copied in
 * chunks without conversion. The output header is written first, so every output
 * tensor's name, dtype and shape is derived from the plan before any data is processed
 * (layout_* below is the one place that knows the names and shapes of docs/FORMAT.md).
 *
 * Speed (a 1B model is 2.5 GB): the scan and the quantization run in parallel parts
 * through the host's parallel-for; the packed format does all of a group's work in one
 * sweep from the source bytes (sq_quant_clustered_rows); buffers live from one tensor
 * to the next (workspace); with threads, the reads and writes happen in a background
 * task beside the arithmetic (bg_task). Parts are fixed by the data's shape, so the
 * output bytes and the report are the same for any number of threads.
 */
#include "pipeline.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"
#include "../formats/codebook.h"

#define COPY_CHUNK (4u << 20)

void sq_quant_opts_default(sq_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->clusters = 3;
    o->group = SQ_GROUP_AUTO;
    o->format = SQ_FMT_PACKED;
    o->seed = 0;
    o->threads = 1;
}

const char *sq_format_name(int format)
{
    return format == SQ_FMT_PAPER ? "paper" : format == SQ_FMT_CODEBOOK ? "codebook" : "packed";
}

int sq_quant_opts_check(const sq_quant_opts *o, sq_err *e)
{
    if (!(o->bits == 2 || o->bits == 3 || o->bits == 4 || o->bits == 8 || o->bits == SQ_BITS_F32))
        return sq_fail(e, SQ_EINPUT, "--bits must be 2, 3, 4, 8 or f32 (got %d)", o->bits);
    if (o->clusters < 1 || o->clusters > 8)
        return sq_fail(e, SQ_EINPUT, "--clusters must be between 1 and 8 (got %d)", o->clusters);
    if (o->format != SQ_FMT_PACKED && o->format != SQ_FMT_PAPER && o->format != SQ_FMT_CODEBOOK)
        return sq_fail(e, SQ_EINPUT, "--format must be packed, paper or codebook");
    if (o->format == SQ_FMT_CODEBOOK && !(o->bits >= 2 && o->bits <= 4))
        return sq_fail(e, SQ_EINPUT, "--format codebook needs --bits 2, 3 or 4 (got %s)", o->bits == SQ_BITS_F32 ? "f32" : o->bits == 8 ? "8" : "?");
    if (o->format == SQ_FMT_CODEBOOK && o->clusters != 1)
        return sq_fail(e, SQ_EINPUT, "--format codebook takes no --clusters: its 2^bits table levels are its clusters");
    if (o->group == 0 || o->group < SQ_GROUP_TENSOR)
        return sq_fail(e, SQ_EINPUT, "--group must be auto, row, tensor or a positive size");
    return SQ_OK;
}

/* ---------------- the plan ---------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && (s[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* Norm weights and embeddings are never split (the papers' rule). Names follow the
 * Hugging Face conventions of BERT, Llama, GPT-2 and friends. */
static int is_norm_or_embedding(const char *name)
{
    static const char *const words[] = {"norm", "embed", "wte.", "wpe.", "ln_", "ln1", "ln2", "shared.weight"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (contains_ci(name, words[i])) return 1;
    return 0;
}

int sq_plan_make(const sq_st_file *f, sq_plan *p, sq_err *e)
{
    memset(p, 0, sizeof *p);
    p->items = sq_calloc(f->n_tensors, sizeof *p->items, e);
    if (!p->items) return e->code;
    p->n = f->n_tensors;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sq_tensor_info *t = &f->tensors[i];
        sq_plan_item *it = &p->items[i];
        it->t = t;
        if (sq_dtype_is_float(t->dtype)) p->params += t->numel;
        if (sq_dtype_is_float(t->dtype) && t->ndim >= 2 && t->numel > 0 && ends_with(t->name, ".weight") &&
            !is_norm_or_embedding(t->name)) {
            it->role = SQ_ROLE_WEIGHT;
            it->rows = (size_t)t->shape[0];
            it->cols = (size_t)(t->numel / (uint64_t)t->shape[0]);
            p->n_weights++;
            p->split_params += t->numel;
        }
    }
    /* A bias belongs to a split weight of the same layer with as many rows. */
    for (size_t i = 0; i < p->n; i++) {
        sq_plan_item *it = &p->items[i];
        const sq_tensor_info *t = it->t;
        if (!sq_dtype_is_float(t->dtype) || t->ndim != 1 || t->numel == 0 || !ends_with(t->name, ".bias")) continue;
        size_t base = strlen(t->name) - strlen(".bias");
        for (size_t j = 0; j < p->n; j++) {
            const sq_plan_item *w = &p->items[j];
            if (w->role != SQ_ROLE_WEIGHT || strncmp(w->t->name, t->name, base) != 0 ||
                strcmp(w->t->name + base, ".weight") != 0)
                continue;
            if ((uint64_t)w->rows == t->numel) {
                it->role = SQ_ROLE_BIAS;
                it->rows = (size_t)t->numel;
                it->cols = 1;
                p->n_biases++;
                p->split_params += t->numel;
            }
            break;
        }
    }
    return SQ_OK;
}

void sq_plan_free(sq_plan *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}

/* ---------------- output layout ---------------- */

/* Group geometry of one weight. */
typedef struct layout {
    size_t rows, cols, n;
    size_t group;     /* elements per group along a row; 0 = whole tensor */
    size_t groups;    /* per row (1 for whole tensor) */
    size_t params;    /* parameter sets P */
    size_t row_bytes; /* packed codes per row */
    size_t id_bytes;  /* packed ids per row */
    int sym8;         /* paper INT8: symmetric per row */
} layout;

static layout make_layout(const sq_plan_item *it, const sq_quant_opts *o)
{
    layout L;
    memset(&L, 0, sizeof L);
    L.rows = it->rows;
    L.cols = it->cols;
    L.n = it->rows * it->cols;
    L.sym8 = o->format == SQ_FMT_PAPER && o->bits == 8;
    if (L.sym8) {
        L.group = L.cols;
        L.groups = 1;
        L.params = L.rows;
    } else if (o->group == SQ_GROUP_TENSOR) {
        L.group = 0;
        L.groups = 1;
        L.params = 1;
    } else {
        L.group = o->format == SQ_FMT_CODEBOOK ? sq_cb_group_size(o->group, L.cols) : sq_group_size(o->group, L.cols);
        L.groups = (L.cols + L.group - 1) / L.group;
        L.params = L.rows * L.groups;
    }
    if (o->bits != SQ_BITS_F32) L.row_bytes = sq_packed_row_bytes(L.cols, o->bits);
    if (o->clusters > 1) L.id_bytes = sq_packed_row_bytes(L.cols, sq_id_bits(o->clusters));
    return L;
}

static int bias_has_parts(const sq_quant_opts *o)
{
    return o->clusters > 1 && (o->format == SQ_FMT_PAPER || o->bits == SQ_BITS_F32);
}

static int add2(sq_st_writer *w, const char *name, const char *suffix, sq_dtype dt, int64_t a, int64_t b, int nd,
                sq_err *e)
{
    char buf[1024];
    int64_t shape[2] = {a, b};
    if (snprintf(buf, sizeof buf, "%s%s", name, suffix) >= (int)sizeof buf)
        return sq_fail(e, SQ_EINPUT, "tensor name too long: '%.64s...'", name);
    return sq_stw_add(w, buf, dt, nd, shape, e);
}

/* Declare the output tensors of one input tensor, in the order process_* writes them. */
static int declare(sq_st_writer *w, const sq_plan_item *it, const sq_quant_opts *o, sq_err *e)
{
    const sq_tensor_info *t = it->t;
    int k = o->clusters;
    char sfx[64];
    if (it->role == SQ_ROLE_COPY || (it->role == SQ_ROLE_BIAS && !bias_has_parts(o)))
        return sq_stw_add(w, t->name, t->dtype, t->ndim, t->shape, e);
    if (it->role == SQ_ROLE_BIAS || o->bits == SQ_BITS_F32) {
        for (int c = 0; c < k; c++) {
            char buf[1024];
            if (snprintf(buf, sizeof buf, "%s.sq.part%d", t->name, c) >= (int)sizeof buf)
                return sq_fail(e, SQ_EINPUT, "tensor name too long: '%.64s...'", t->name);
            if (sq_stw_add(w, buf, SQ_DT_F32, t->ndim, t->shape, e)) return e->code;
        }
        return SQ_OK;
    }
    layout L = make_layout(it, o);
    if (o->format == SQ_FMT_CODEBOOK) {
        if (add2(w, t->name, ".sq.codes", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.table", SQ_DT_I8, (int64_t)1 << o->bits, 0, 1, e)) return e->code;
        return add2(w, t->name, ".sq.scale", SQ_DT_BF16, (int64_t)L.params, 0, 1, e);
    }
    if (o->format == SQ_FMT_PACKED) {
        if (add2(w, t->name, ".sq.codes", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
        if (k > 1 && add2(w, t->name, ".sq.ids", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.id_bytes, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.scale", SQ_DT_BF16, (int64_t)L.params, k, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.min", SQ_DT_BF16, (int64_t)L.params, k, 2, e)) return e->code;
        return SQ_OK;
    }
    for (int c = 0; c < k; c++) {
        if (L.sym8) {
            snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
            if (add2(w, t->name, sfx, SQ_DT_I8, (int64_t)L.rows, (int64_t)L.cols, 2, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.rows, 0, 1, e)) return e->code;
        } else {
            snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
            if (add2(w, t->name, sfx, SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.params, 0, 1, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.min", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.params, 0, 1, e)) return e->code;
        }
    }
    return SQ_OK;
}

const char *sq_group_name(int g, char *buf, size_t n)
{
    if (g == SQ_GROUP_AUTO) return "auto";
    if (g == SQ_GROUP_ROW) return "row";
    if (g == SQ_GROUP_TENSOR) return "tensor";
    snprintf(buf, n, "%d", g);
    return buf;
}

/* The "sq.tensors" metadata: what each transformed source tensor was and became. */
static char *tensors_json(const sq_plan *p, const sq_quant_opts *o)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    for (size_t i = 0; i < p->n; i++) {
        const sq_plan_item *it = &p->items[i];
        if (it->role == SQ_ROLE_COPY || (it->role == SQ_ROLE_BIAS && !bias_has_parts(o))) continue;
        cJSON *d = cJSON_AddObjectToObject(root, it->t->name);
        if (!d) break;
        cJSON *shape = cJSON_AddArrayToObject(d, "shape");
        for (int j = 0; shape && j < it->t->ndim; j++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)it->t->shape[j]));
        cJSON_AddStringToObject(d, "dtype", sq_dtype_name(it->t->dtype));
        const char *kind = it->role == SQ_ROLE_BIAS ? "bias"
                           : o->bits == SQ_BITS_F32 ? "split"
                           : sq_format_name(o->format);
        cJSON_AddStringToObject(d, "kind", kind);
        cJSON_AddNumberToObject(d, "bits", o->bits);
        cJSON_AddNumberToObject(d, "k", o->clusters);
        if (it->role == SQ_ROLE_WEIGHT && o->bits != SQ_BITS_F32) {
            layout L = make_layout(it, o);
            cJSON_AddNumberToObject(d, "group", (double)L.group);
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

/* ---------------- per-tensor work ---------------- */

static uint64_t name_seed(uint64_t seed, const char *name)
{
    uint64_t h = 1469598103934665603ull ^ seed;
    for (; *name; name++) h = (h ^ (uint8_t)*name) * 1099511628211ull;
    return h;
}

/* NaN and Inf are refused; so are magnitudes of 2^126 and more, whose ranges and scales
 * would overflow float32 (no real model comes near: BF16/F16 weights are far smaller). */
#define SQ_MAX_WEIGHT 0x1p126f
static int check_finite(const float *x, size_t n, const char *name, sq_err *e)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return sq_fail(e, SQ_EINPUT, "tensor '%s': element %zu is %s; refusing to quantize non-finite weights",
                           name, i, isnan(x[i]) ? "NaN" : "infinite");
        if (fabsf(x[i]) >= SQ_MAX_WEIGHT)
            return sq_fail(e, SQ_EINPUT, "tensor '%s': element %zu is %g; weights of magnitude 2^126 (8.5e37) or more would overflow float32 ranges and scales",
                           name, i, (double)x[i]);
    }
    return SQ_OK;
}

/* ---- the workspace ----
 * Buffers kept from one tensor to the next, grown when a larger tensor comes (large
 * fresh allocations cost a page fault per 4 KiB on first touch: for a 1B model, more
 * than the arithmetic). Contents are undefined between uses. */
typedef struct wbuf {
    void *p;
    size_t cap;
} wbuf;

static void *wbuf_get(wbuf *b, size_t bytes, sq_err *e)
{
    if (b->p && bytes <= b->cap) return b->p;
    free(b->p);
    b->cap = 0;
    b->p = sq_malloc(bytes ? bytes : 1, e);
    if (b->p) b->cap = bytes;
    return b->p;
}

#define QUEUE_SETS 2 /* see "I/O in the background" */

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

static void ws_free(workspace *ws)
{
    wbuf *all[] = {&ws->raw[0], &ws->raw[1], &ws->x, &ws->cnt, &ws->tmp, &ws->scratch, &ws->sse, &ws->iobuf,
                   &ws->ids, &ws->codes, &ws->deq, &ws->part, &ws->scale, &ws->min};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->p);
    for (int s = 0; s < QUEUE_SETS; s++) {
        free(ws->sets[s].packed.p);
        free(ws->sets[s].packed_ids.p);
        free(ws->sets[s].s16.p);
        free(ws->sets[s].m16.p);
    }
    free(ws->lone.packed.p);
    free(ws->lone.packed_ids.p);
    free(ws->lone.s16.p);
    free(ws->lone.m16.p);
    memset(ws, 0, sizeof *ws);
}

#define WS_TMP (1u << 16) /* conversion buffer for put_floats / put_u16 */

static void run_tasks(const sq_quant_hooks *h, size_t n, sq_task_fn fn, void *arg)
{
    if (h && h->parallel && n > 1) h->parallel(h->pool, n, fn, arg);
    else
        for (size_t i = 0; i < n; i++) fn(arg, i);
}

/* ---- I/O in the background ----
 * With a host that has threads, the serial I/O runs beside the arithmetic: every
 * parallel section of a weight gets one extra task (index 0: SQ_IO_TASK0 relies on it) that writes out what is
 * waiting (queued in output order: packed weights' tensors, held in output sets, and
 * the tensors copied unchanged, such as the embedding) within a byte budget that about
 * matches the section's arithmetic, and, in the quantization, first reads the next
 * weight's bytes. The reader and the writer are then called from inside a task, but
 * never two at once, and never while the calling thread uses them. Without threads (a
 * NULL parallel hook) everything happens in turn.
 * Two output sets: while one weight's tensors wait, the next fills the other; when
 * neither is free the queue is written out at once. More sets would let a large copied
 * tensor at the front (the embedding) be written while several weights are quantized,
 * but fresh memory costs a page fault per 4 KiB, and measured on a 1B model that costs
 * more than the overlap gains. */
#define QUEUE_BYTES ((uint64_t)256 << 20) /* beyond this much waiting, write it all */

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

typedef struct bg_task {
    sq_st_writer *w;
    workspace *ws;
    const sq_st_file *in;
    const sq_plan *plan;
    pending *po;                /* write out of this (NULL: nothing) */
    uint64_t budget;            /* ... about this many bytes (whole entries for weights) */
    const sq_tensor_info *next; /* first read this weight's bytes into ws->raw[rcur ^ 1] (NULL: nothing) */
    int read_ok;
    int rc;
    sq_err e;
} bg_task;

static int put_u16(sq_st_writer *w, const uint16_t *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e);

static uint64_t qentry_bytes(const qentry *q) { return q->codes_n + q->ids_n + 4 * (uint64_t)q->pk; }

/* Write queued entries in order until about budget bytes went out (UINT64_MAX: all). */
static int flush_pending(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan, pending *po,
                         uint64_t budget, sq_err *e)
{
    int rc = SQ_OK;
    if (po->head == po->tail) return SQ_OK;
    uint8_t *buf = wbuf_get(&ws->iobuf, COPY_CHUNK, e);
    if (!buf) return e->code;
    uint64_t spent = 0;
    while (po->head < po->tail && spent < budget) {
        qentry *q = &po->q[po->head];
        if (q->kind == Q_WEIGHT) {
            outset *s = &ws->sets[q->set];
            if ((rc = sq_stw_data(w, s->packed.p, q->codes_n, e))) return rc;
            if (q->ids_n && (rc = sq_stw_data(w, s->packed_ids.p, q->ids_n, e))) return rc;
            if ((rc = put_u16(w, s->s16.p, q->pk, buf, COPY_CHUNK, e))) return rc;
            if ((rc = put_u16(w, s->m16.p, q->pk, buf, COPY_CHUNK, e))) return rc;
            spent += qentry_bytes(q);
            po->weight_bytes -= qentry_bytes(q);
            po->head++;
        } else {
            const sq_tensor_info *t = plan->items[q->item].t;
            uint64_t total = t->end - t->begin;
            while (q->done < total && spent < budget) {
                size_t m = total - q->done < COPY_CHUNK ? (size_t)(total - q->done) : COPY_CHUNK;
                if ((rc = sq_read_at(in->reader, in->data_start + t->begin + q->done, buf, m, e))) return rc;
                if ((rc = sq_st_check_finite(t, buf, m, q->done, e))) return rc; /* copied tensors too */
                if ((rc = sq_stw_data(w, buf, m, e))) return rc;
                q->done += m;
                spent += m;
            }
            if (q->done == total) po->head++;
        }
    }
    return SQ_OK;
}

/* Free the output sets of written entries (by the calling thread, between sections). */
static void reap(workspace *ws, pending *po)
{
    for (; po->reaped < po->head; po->reaped++)
        if (po->q[po->reaped].kind == Q_WEIGHT) ws->set_busy[po->q[po->reaped].set] = 0;
}

/* Everything out, now (the calling thread is about to write, or is done). */
static int flush_all(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan, pending *po, sq_err *e)
{
    int rc = flush_pending(w, ws, in, plan, po, UINT64_MAX, e);
    reap(ws, po);
    return rc;
}

/* An output set for the next packed weight: a free one, or (none free) the queue written
 * out first. */
static int acquire_set(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan, pending *po,
                       sq_err *e)
{
    for (int s = 0; s < QUEUE_SETS; s++)
        if (!ws->set_busy[s]) return s;
    if (flush_all(w, ws, in, plan, po, e)) return -e->code;
    return 0;
}

static void bg_run(bg_task *b)
{
    if (b->next) {
        sq_err e = {0};
        b->read_ok = sq_read_at(b->in->reader, b->in->data_start + b->next->begin, b->ws->raw[b->ws->rcur ^ 1].p,
                                (size_t)(b->next->end - b->next->begin), &e) == SQ_OK;
    }
    if (b->po) b->rc = flush_pending(b->w, b->ws, b->in, b->plan, b->po, b->budget, &b->e);
}

/* After a section: pass on the background task's error. */
static int bg_check(const bg_task *b, sq_err *e)
{
    if (!b || !b->rc) return SQ_OK;
    if (!e->code) *e = b->e;
    return b->rc;
}

/* ---- reading a tensor: conversion to float32, finiteness, histogram, in parallel ----
 * The values are split into at most SCAN_TASKS parts (a count that depends only on n):
 * each converts its part from the source bytes, checks it and counts its own BF16
 * histogram; the tables are then summed. Integer counts: the same result in any order. */
#define SCAN_TASKS 16
#define SCAN_TASK_MIN ((size_t)1 << 16)
#define SCAN_BLOCK 8192

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
    bg_task *bg;        /* task 0 runs it when set */
    scan_part part[SCAN_TASKS];
    scan_part all;      /* merged: low, bad; lo, hi, sum only without histogram */
} scan_job;

static void scan_task(void *arg, size_t t)
{
    scan_job *j = arg;
    if (j->bg) {
        if (t == 0) {
            bg_run(j->bg);
            return;
        }
        t--;
    }
    size_t a = t * j->per, b = a + j->per < j->n ? a + j->per : j->n;
    scan_part *p = &j->part[t];
    /* two tables per part: alternate values count into alternate tables (fewer
       read-after-write stalls on a bin), added up with the others afterwards */
    uint32_t *cnt = j->cnt ? j->cnt + 2 * t * (size_t)65536 : NULL, *cnt2 = cnt ? cnt + 65536 : NULL;
    size_t es = sq_dtype_size(j->dtype);
    p->low = p->bad = 0;
    p->lo = INFINITY;
    p->hi = -INFINITY;
    p->sum = 0;
    if (cnt) memset(cnt, 0, 2 * 65536 * sizeof *cnt);
    if (j->raw && j->dtype == SQ_DT_BF16) {
        /* BF16 source, the common case: straight from the bytes (the bin of a BF16 h is
           the high half of fkey(h << 16); -0 counts as +0); floats only when wanted */
        const uint8_t *r = j->raw + 2 * a;
        float *x = j->x;
        uint32_t bad = 0;
        if (cnt) {
            uint32_t ex = 0; /* bit 15: some exponent >= 253 (NaN, Inf or |x| >= 2^126) */
            /* bin: negative h: ~h, else h | 0x8000; -0 lands in 0x7FFF (no other h does),
               moved to +0's bin 0x8000 after the merge */
#define BIN(h) ((h) ^ (((0u - ((h) >> 15)) & 0x7FFFu) | 0x8000u))
            size_t i = a;
            for (; i + 2 <= b; i += 2, r += 4) {
                uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8, h2 = (uint32_t)r[2] | (uint32_t)r[3] << 8;
                ex |= ((h & 0x7F80u) + 0x180u) | ((h2 & 0x7F80u) + 0x180u);
                cnt[BIN(h)]++;
                cnt2[BIN(h2)]++;
            }
            if (i < b) {
                uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8;
                ex |= (h & 0x7F80u) + 0x180u;
                cnt[BIN(h)]++;
            }
#undef BIN
            bad = ex >> 15 & 1u;
        } else {
            float lo = INFINITY, hi = -INFINITY;
            double sum = 0;
            for (size_t i = a; i < b; i++, r += 2) {
                uint32_t h = (uint32_t)r[0] | (uint32_t)r[1] << 8, u = h << 16;
                float v;
                memcpy(&v, &u, sizeof v);
                bad |= (uint32_t)((h & 0x7F80u) >= 0x7E80u);
                if (v < lo) lo = v;
                if (v > hi) hi = v;
                sum += v;
            }
            p->lo = lo;
            p->hi = hi;
            p->sum = sum;
        }
        if (x) sq_to_f32(SQ_DT_BF16, j->raw + 2 * a, x + a, b - a);
        p->bad = bad;
        return;
    }
    for (size_t s = a; s < b; s += SCAN_BLOCK) {
        size_t m = b - s < SCAN_BLOCK ? b - s : SCAN_BLOCK;
        float *x = j->x + s;
        if (j->raw) sq_to_f32(j->dtype, j->raw + s * es, x, m);
        if (cnt) {
            sq_hist_count(x, m, cnt, &p->low, &p->bad);
            continue;
        }
        float lo = p->lo, hi = p->hi;
        double sum = p->sum;
        uint32_t bad = 0;
        for (size_t i = 0; i < m; i++) {
            float v = x[i];
            uint32_t u;
            memcpy(&u, &v, sizeof u);
            bad |= (uint32_t)((u & 0x7F800000u) >= 0x7E800000u);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            sum += v;
        }
        p->lo = lo;
        p->hi = hi;
        p->sum = sum;
        p->bad |= bad;
    }
}

/* Scan n values (from raw when given, else already in x); hist: count the histogram.
 * x may be NULL for BF16 source bytes (the floats are not needed). */
static int scan(workspace *ws, const uint8_t *raw, sq_dtype dtype, float *x, size_t n, int hist, int threads,
                const sq_quant_hooks *hooks, bg_task *bg, scan_job *j, sq_err *e)
{
    memset(j, 0, sizeof *j);
    j->bg = bg;
    j->raw = raw;
    j->dtype = raw ? dtype : SQ_DT_F32;
    j->x = x;
    j->n = n;
    size_t tasks = n / SCAN_TASK_MIN;
    if (tasks < 1) tasks = 1;
    if (tasks > SCAN_TASKS) tasks = SCAN_TASKS;
    /* a histogram is the same whatever the parts (integer counts): as many as threads
       can use (fewer tables to clear and add up); the sums of the statistics-only scan
       keep parts that depend on n alone, so the report does not depend on threads */
    if (hist && threads > 0 && tasks > 2 * (size_t)threads) tasks = 2 * (size_t)threads;
    j->per = (n + tasks - 1) / tasks;
    if (j->per == 0) j->per = 1;
    j->tasks = (n + j->per - 1) / j->per;
    if (j->tasks == 0) j->tasks = 1;
    if (hist && !(j->cnt = wbuf_get(&ws->cnt, 2 * j->tasks * (size_t)65536 * sizeof(uint32_t), e))) return e->code;
    run_tasks(hooks, j->tasks + (bg != NULL), scan_task, j);
    if (bg_check(bg, e)) return e->code;
    j->all = j->part[0];
    for (size_t t = 1; t < j->tasks; t++) {
        const scan_part *p = &j->part[t];
        j->all.low |= p->low;
        j->all.bad |= p->bad;
        if (p->lo < j->all.lo) j->all.lo = p->lo;
        if (p->hi > j->all.hi) j->all.hi = p->hi;
        j->all.sum += p->sum;
    }
    for (size_t t = 1; hist && t < 2 * j->tasks; t++) { /* every table into the first */
        uint32_t *c0 = j->cnt, *ct = j->cnt + t * (size_t)65536;
        for (size_t d = 0; d < 65536; d++) c0[d] += ct[d];
    }
    if (hist && raw && dtype == SQ_DT_BF16) { /* -0 counts as +0 (see scan_task) */
        j->cnt[0x8000] += j->cnt[0x7FFF];
        j->cnt[0x7FFF] = 0;
    }
    return SQ_OK;
}

/* Cluster ids from the k-means cell bounds, padded to k - 1 (+inf past the clusters
 * found): the number of bounds below v, which is sq_kmeans_assign (bounds ascend). */
static void pad_bounds(const sq_kmeans_result *km, int k, float *b)
{
    for (int j = 0; j + 1 < k; j++) b[j] = km && j + 1 < km->k ? km->bounds[j] : INFINITY;
}

static inline uint8_t assign_id(const float *b, int k, float v)
{
    int c = 0;
    for (int j = 0; j + 1 < k; j++) c += v > b[j];
    return (uint8_t)c;
}

/* k-means of a scanned weight (k > 1; the histogram counted by the scan when every value
 * was a BF16) and the layer's statistics. */
static int cluster_scanned(const scan_job *sj, const float *x, size_t n, int k, uint64_t seed, sq_kmeans_result *km,
                           sq_layer_stats *st, sq_err *e)
{
    if (k == 1) {
        st->k = 1;
        st->min = st->cluster_min[0] = sj->all.lo;
        st->max = st->cluster_max[0] = sj->all.hi;
        st->range = st->max - st->min;
        st->centers[0] = sj->all.sum / (double)n;
        st->counts[0] = n;
        return SQ_OK;
    }
    sq_hist h;
    int rc = sj->cnt && !sj->all.low ? sq_hist_from_counts(&h, sj->cnt, n, e) : sq_hist_build(&h, x, n, e);
    if (rc) return rc;
    sq_kmeans_opts ko;
    memset(&ko, 0, sizeof ko);
    ko.k = k;
    ko.seed = seed;
    rc = sq_kmeans_hist(&h, &ko, km, e);
    if (!rc) {
        st->k = km->k;
        st->min = h.values[0];
        st->max = h.values[h.m - 1];
        st->range = st->max - st->min;
        for (int c = 0; c < km->k; c++) {
            st->centers[c] = km->centers[c];
            st->counts[c] = km->counts[c];
            st->cluster_min[c] = km->mins[c];
            st->cluster_max[c] = km->maxs[c];
        }
    }
    sq_hist_free(&h);
    return rc;
}

/* Cluster x (a bias: small, on this thread); fill ids and the statistics. */
static int cluster(const float *x, size_t n, int k, uint64_t seed, uint8_t *ids, sq_layer_stats *st, sq_err *e)
{
    sq_kmeans_result r;
    if (k == 1) { /* plain quantization: no clustering, just the statistics */
        double lo = x[0], hi = x[0], sum = 0;
        for (size_t i = 0; i < n; i++) {
            if (x[i] < lo) lo = x[i];
            if (x[i] > hi) hi = x[i];
            sum += x[i];
        }
        st->k = 1;
        st->min = st->cluster_min[0] = lo;
        st->max = st->cluster_max[0] = hi;
        st->range = hi - lo;
        st->centers[0] = sum / (double)n;
        st->counts[0] = n;
        if (ids) memset(ids, 0, n);
        return SQ_OK;
    }
    sq_kmeans_opts ko;
    memset(&ko, 0, sizeof ko);
    ko.k = k;
    ko.seed = seed;
    if (sq_kmeans(x, n, &ko, &r, e)) return e->code;
    st->k = r.k;
    double lo = x[0], hi = x[0];
    for (size_t i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
    }
    st->min = lo;
    st->max = hi;
    st->range = hi - lo;
    for (int c = 0; c < r.k; c++) {
        st->centers[c] = r.centers[c];
        st->counts[c] = r.counts[c];
        st->cluster_min[c] = r.mins[c];
        st->cluster_max[c] = r.maxs[c];
    }
    if (ids)
        for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)sq_kmeans_assign(&r, x[i]);
    return SQ_OK;
}

static int put_floats(sq_st_writer *w, const float *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e)
{
    /* little-endian float32 in chunks through tmp */
    size_t per = tmpn / 4;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        sq_from_f32(SQ_DT_F32, x + i, tmp, m);
        if (sq_stw_data(w, tmp, m * 4, e)) return e->code;
    }
    return SQ_OK;
}

static int put_u16(sq_st_writer *w, const uint16_t *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e)
{
    size_t per = tmpn / 2;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t q = 0; q < m; q++) { tmp[2 * q] = (uint8_t)x[i + q]; tmp[2 * q + 1] = (uint8_t)(x[i + q] >> 8); }
        if (sq_stw_data(w, tmp, m * 2, e)) return e->code;
    }
    return SQ_OK;
}

/* ---- one weight, in row chunks ----
 * The heavy loops run over chunks of rows, so a host that has threads can run chunks in
 * parallel (sq_quant_hooks.parallel). Chunks have a fixed size (CHUNK values, whole
 * rows), every chunk writes only its own rows of the output buffers and its own partial
 * sums, and partial sums are added in chunk order: the same bytes, and the same report,
 * whatever the number of threads. */
#define CHUNK ((size_t)1 << 16)

static size_t chunk_rows_for(size_t rows, size_t cols)
{
    size_t r = cols ? CHUNK / cols : rows;
    if (r < 1) r = 1;
    return r < rows ? r : rows ? rows : 1;
}

/* The packed format (bits 2..8, groups along rows): one fused sweep per chunk. */
typedef struct fused_job {
    const layout *L;
    int bits, k;
    const uint8_t *src;        /* host floats (dtype F32) or source bytes (BF16, F16) */
    sq_dtype dtype;
    size_t scratch_stride;
    float bounds[SQ_CQ_MAX_K];
    uint8_t *packed, *packed_ids, *scratch;
    uint16_t *s16, *m16;
    float *deq;                /* NULL unless the caller wants the values back */
    size_t chunk_rows, n_chunks;
    double *sse, *sse_plain;   /* per chunk; sse_plain NULL: not wanted */
    bg_task *bg;               /* task 0 runs it when set */
} fused_job;

static void fused_chunk(void *arg, size_t t)
{
    fused_job *j = arg;
    if (j->bg) {
        if (t == 0) {
            bg_run(j->bg);
            return;
        }
        t--;
    }
    const layout *L = j->L;
    size_t r0 = t * j->chunk_rows, r1 = r0 + j->chunk_rows < L->rows ? r0 + j->chunk_rows : L->rows;
    size_t pk = L->groups * (size_t)j->k;
    size_t es = j->dtype == SQ_DT_F32 ? sizeof(float) : sq_dtype_size(j->dtype);
    sq_quant_clustered_rows(j->src + r0 * L->cols * es, j->dtype, r1 - r0, L->cols, L->group, j->bits, j->k,
                            j->bounds, j->packed + r0 * L->row_bytes, j->k > 1 ? j->packed_ids + r0 * L->id_bytes : NULL,
                            j->s16 + r0 * pk, j->m16 + r0 * pk, j->deq ? j->deq + r0 * L->cols : NULL, &j->sse[t],
                            j->sse_plain ? &j->sse_plain[t] : NULL, j->scratch + t * j->scratch_stride);
}

/* The sub-layer formats (paper, f32) and group=tensor: a step per sub-layer. */
typedef struct weight_job {
    const layout *L;         /* the math's view (one long row for group=tensor) */
    const layout *P;         /* the stored rows, for packing */
    const sq_quant_opts *o;
    const float *x;          /* original values */
    int have_km;             /* k > 1: ids come from bounds */
    float bounds[SQ_CQ_MAX_K];
    int part;                /* paper / f32: the cluster whose sub-layer is being made */
    int plain;               /* 1: quantize plainly (k = 1) for mse_plain */
    uint8_t *ids;            /* cluster per value (all 0 for k == 1) */
    uint8_t *codes;          /* unpacked codes */
    uint8_t *packed;         /* packed codes (row_bytes per row) */
    uint8_t *packed_ids;     /* packed ids (id_bytes per row) */
    float *scale, *min;      /* affine / sym8 parameters */
    uint16_t *s16, *m16;     /* packed-format parameters */
    float *part_buf;         /* paper: this part's values, zeros elsewhere */
    float *deq;              /* running sum of dequantized parts */
    size_t chunk_rows, n_chunks;
    double *sse;             /* per chunk: squared error (only on the last step) */
    int last;                /* this step finishes deq: compute sse */
    bg_task *bg;             /* task 0 runs it when set */
} weight_job;

static void weight_chunk(void *arg, size_t chunk)
{
    weight_job *j = arg;
    if (j->bg) {
        if (chunk == 0) {
            bg_run(j->bg);
            return;
        }
        chunk--;
    }
    const layout *L = j->L;
    size_t r0 = chunk * j->chunk_rows;
    size_t r1 = r0 + j->chunk_rows < L->rows ? r0 + j->chunk_rows : L->rows;
    if (r0 >= r1) return;
    size_t nr = r1 - r0, off = r0 * L->cols, cnt = nr * L->cols;
    const float *x = j->x + off;
    float *deq = j->deq + off;
    int bits = j->o->bits, k = j->plain ? 1 : j->o->clusters;

    if (j->have_km && j->part <= 0 && !j->plain) /* first step assigns clusters */
        for (size_t i = 0; i < cnt; i++) j->ids[off + i] = assign_id(j->bounds, j->o->clusters, x[i]);

    if (bits == SQ_BITS_F32) {
        float *pb = j->part_buf + off;
        for (size_t i = 0; i < cnt; i++) {
            pb[i] = j->ids[off + i] == j->part ? x[i] : 0.0f;
            deq[i] += pb[i];
        }
    } else if (j->o->format == SQ_FMT_PACKED || j->plain) {
        if (j->o->format == SQ_FMT_PACKED) {
            size_t pk = L->groups * (size_t)k;
            const uint8_t *ids = j->plain ? NULL : j->ids + off;
            sq_quant_clustered(x, ids, k, nr, L->cols, L->group, bits, j->codes + off, j->s16 + r0 * pk, j->m16 + r0 * pk);
            sq_dequant_clustered(j->codes + off, ids, k, j->s16 + r0 * pk, j->m16 + r0 * pk, nr, L->cols, L->group, deq);
        } else if (L->sym8) {
            sq_quant_sym8(x, nr, L->cols, (int8_t *)j->codes + off, j->scale + r0);
            sq_dequant_sym8((const int8_t *)j->codes + off, j->scale + r0, nr, L->cols, deq);
        } else {
            sq_quant_affine(x, nr, L->cols, L->group, bits, j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups);
            sq_dequant_affine(j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups, nr, L->cols, L->group, deq);
        }
    } else { /* paper: sub-layer j->part, added to the running sum */
        float *pb = j->part_buf + off;
        float *tmp = j->part_buf + off; /* dequantized in place after quantizing */
        for (size_t i = 0; i < cnt; i++) pb[i] = j->ids[off + i] == j->part ? x[i] : 0.0f;
        if (L->sym8) {
            sq_quant_sym8(pb, nr, L->cols, (int8_t *)j->codes + off, j->scale + r0);
            sq_dequant_sym8((const int8_t *)j->codes + off, j->scale + r0, nr, L->cols, tmp);
        } else {
            sq_quant_affine(pb, nr, L->cols, L->group, bits, j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups);
            sq_dequant_affine(j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups, nr, L->cols, L->group, tmp);
        }
        for (size_t i = 0; i < cnt; i++) deq[i] += tmp[i];
    }
    /* pack this chunk's rows (all stored rows when the math saw one long row) */
    const layout *P = j->P;
    size_t p0 = P->rows == L->rows ? r0 : 0, p1 = P->rows == L->rows ? r1 : P->rows;
    if (bits != SQ_BITS_F32 && !L->sym8 && j->packed)
        for (size_t r = p0; r < p1; r++) sq_pack_row(j->codes + r * P->cols, P->cols, bits, j->packed + r * P->row_bytes);
    if (j->packed_ids)
        for (size_t r = p0; r < p1; r++)
            sq_pack_row(j->ids + r * P->cols, P->cols, sq_id_bits(j->o->clusters), j->packed_ids + r * P->id_bytes);
    if (j->last) {
        double sse = 0;
        for (size_t i = 0; i < cnt; i++) {
            double d = (double)deq[i] - (double)x[i];
            sse += d * d;
        }
        j->sse[chunk] = sse;
    }
}

static void run_chunks(const sq_quant_hooks *h, weight_job *j)
{
    run_tasks(h, j->n_chunks + (j->bg != NULL), weight_chunk, j);
    j->bg = NULL; /* once */
}

static double sum_chunks(const double *s, size_t n)
{
    double t = 0;
    for (size_t c = 0; c < n; c++) t += s[c];
    return t;
}

/* The packed format, fused. */
/* The packed format, fused. The tensors wait in the current output set, described by po,
 * until flush_pending writes them: at once unless defer (then in the background of the
 * next weight's scan, or before the next write of the calling thread). */
static int weight_fused(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan, const layout *L0,
                        const sq_kmeans_result *km, const void *src, sq_dtype dtype, const sq_quant_opts *o,
                        const sq_quant_hooks *hooks, bg_task *bg, pending *po, int defer, sq_layer_stats *st,
                        float *deq_out, sq_err *e)
{
    int k = o->clusters, rc = SQ_OK;
    size_t pk = L0->params * (size_t)k;
    fused_job j;
    memset(&j, 0, sizeof j);
    j.L = L0;
    j.bits = o->bits;
    j.k = k;
    j.src = src;
    j.dtype = dtype;
    pad_bounds(k > 1 ? km : NULL, k, j.bounds);
    j.chunk_rows = chunk_rows_for(L0->rows, L0->cols);
    j.n_chunks = (L0->rows + j.chunk_rows - 1) / j.chunk_rows;
    int plain = k > 1 && !o->skip_plain;
    j.deq = deq_out;
    j.bg = bg;
    int set = acquire_set(w, ws, in, plan, po, e);
    if (set < 0) return e->code;
    ws->set_busy[set] = 1;
    outset *os = &ws->sets[set];
    j.packed = wbuf_get(&os->packed, L0->rows * L0->row_bytes + 1, e);
    if (k > 1) j.packed_ids = wbuf_get(&os->packed_ids, L0->rows * L0->id_bytes + 1, e);
    j.s16 = wbuf_get(&os->s16, pk * sizeof(uint16_t), e);
    j.m16 = wbuf_get(&os->m16, pk * sizeof(uint16_t), e);
    j.scratch_stride = (sq_quant_rows_scratch(L0->cols) + 15) & ~(size_t)15;
    j.scratch = wbuf_get(&ws->scratch, j.n_chunks * j.scratch_stride, e);
    j.sse = wbuf_get(&ws->sse, j.n_chunks * 2 * sizeof(double), e);
    if (e->code) return e->code;
    if (plain) j.sse_plain = j.sse + j.n_chunks;
    run_tasks(hooks, j.n_chunks + (bg != NULL), fused_chunk, &j);
    reap(ws, po);
    if (bg_check(bg, e)) return e->code;
    qentry *q = &po->q[po->tail++];
    memset(q, 0, sizeof *q);
    q->kind = Q_WEIGHT;
    q->set = set;
    q->codes_n = L0->rows * L0->row_bytes;
    q->ids_n = k > 1 ? L0->rows * L0->id_bytes : 0;
    q->pk = pk;
    po->weight_bytes += qentry_bytes(q);
    if (!defer && (rc = flush_all(w, ws, in, plan, po, e))) return rc;
    st->mse = L0->n ? sum_chunks(j.sse, j.n_chunks) / (double)L0->n : 0;
    if (k == 1) st->mse_plain = st->mse;
    else if (!plain) st->mse_plain = NAN;
    else st->mse_plain = L0->n ? sum_chunks(j.sse_plain, j.n_chunks) / (double)L0->n : 0;
    return SQ_OK;
}

/* Whether a weight takes the fused path (which reads the source bytes itself). */
/* The codebook format (formats/codebook.c): one table per tensor, so the whole tensor is
 * quantized on this thread in one call, then written. mse_plain: the packed format's
 * plain quantization (k = 1) with the same bits at its own default groups, the
 * baseline this format is meant to beat at equal size. */
static int weight_codebook(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan, const layout *L,
                           const float *x, const sq_quant_opts *o, pending *po, sq_layer_stats *st, float *deq_out,
                           sq_err *e)
{
    int rc;
    if ((rc = flush_all(w, ws, in, plan, po, e))) return rc;
    size_t K = (size_t)1 << o->bits;
    uint8_t *packed = wbuf_get(&ws->lone.packed, L->rows * L->row_bytes + 1, e);
    uint16_t *s16 = wbuf_get(&ws->lone.s16, L->params * sizeof(uint16_t), e);
    void *scr = wbuf_get(&ws->scratch, sq_cb_scratch(L->rows, L->cols, L->group), e);
    uint8_t *tmp = wbuf_get(&ws->tmp, WS_TMP, e);
    if (!packed || !s16 || !scr || !tmp) return e->code;
    int8_t table[SQ_CB_MAX_ENTRIES];
    double sse = 0;
    sq_cb_quantize(x, L->rows, L->cols, L->group, o->bits, table, s16, packed, deq_out, &sse, scr);
    if ((rc = sq_stw_data(w, packed, L->rows * L->row_bytes, e))) return rc;
    if ((rc = sq_stw_data(w, table, K, e))) return rc;
    if ((rc = put_u16(w, s16, L->params, tmp, WS_TMP, e))) return rc;
    st->mse = L->n ? sse / (double)L->n : 0;
    if (o->skip_plain || !L->n) {
        st->mse_plain = o->skip_plain ? NAN : 0;
        return SQ_OK;
    }
    size_t g = sq_group_size(o->group, L->cols), P = g ? L->rows * ((L->cols + g - 1) / g) : 1;
    size_t pr = g ? L->rows : 1, pc = g ? L->cols : L->n;
    uint8_t *codes = wbuf_get(&ws->codes, L->n, e);
    float *deq = wbuf_get(&ws->deq, L->n * sizeof(float), e);
    uint16_t *ps = wbuf_get(&ws->scale, P * sizeof(uint16_t), e), *pm = wbuf_get(&ws->min, P * sizeof(uint16_t), e);
    if (!codes || !deq || !ps || !pm) return e->code;
    sq_quant_clustered(x, NULL, 1, pr, pc, g ? g : L->n, o->bits, codes, ps, pm);
    sq_dequant_clustered(codes, NULL, 1, ps, pm, pr, pc, g ? g : L->n, deq);
    double sp = 0;
    for (size_t i = 0; i < L->n; i++) {
        double d = (double)deq[i] - (double)x[i];
        sp += d * d;
    }
    st->mse_plain = sp / (double)L->n;
    return SQ_OK;
}

static int is_fused(const sq_plan_item *it, const sq_quant_opts *o)
{
    return o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32 && make_layout(it, o).group != 0;
}

/* Quantize one weight (scanned: sj) and write its tensors. Its values are in x, or, for
 * the fused path from BF16 bytes, x is NULL and they are read from src (dtype). */
static int process_weight(sq_st_writer *w, workspace *ws, const sq_st_file *in, const sq_plan *plan,
                          const sq_plan_item *it, const float *x, const void *src,
                          sq_dtype dtype, const scan_job *sj, const sq_quant_opts *o, const sq_quant_hooks *hooks, bg_task *bg,
                          pending *po, int defer, sq_layer_stats *st, float *deq_out, sq_err *e)
{
    layout L0 = make_layout(it, o);
    int k = o->clusters, rc = SQ_OK;
    sq_kmeans_result km;
    memset(&km, 0, sizeof km);
    if ((rc = cluster_scanned(sj, x, L0.n, k, name_seed(o->seed, it->t->name), &km, st, e))) return rc;
    if (o->format == SQ_FMT_CODEBOOK) return weight_codebook(w, ws, in, plan, &L0, x, o, po, st, deq_out, e);
    if (o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32 && L0.group != 0)
        return weight_fused(w, ws, in, plan, &L0, &km, x ? (const void *)x : src, x ? SQ_DT_F32 : dtype, o, hooks,
                            bg, po, defer, st, deq_out, e);

    /* this path writes as it goes: what is queued goes first */
    if ((rc = flush_all(w, ws, in, plan, po, e))) return rc;
    /* one group for the whole tensor: the math sees one long row, packing still goes
       row by row (see layout()), so such tensors run as a single chunk */
    layout Lq = L0;
    if (L0.group == 0) { Lq.rows = 1; Lq.cols = L0.n; Lq.group = L0.n; Lq.groups = 1; }
    size_t pk = L0.params * (size_t)k;
    weight_job j;
    memset(&j, 0, sizeof j);
    j.L = &Lq;
    j.P = &L0;
    j.o = o;
    j.x = x;
    j.bg = bg;
    j.chunk_rows = L0.group == 0 ? 1 : chunk_rows_for(Lq.rows, Lq.cols);
    j.n_chunks = (Lq.rows + j.chunk_rows - 1) / j.chunk_rows;
    j.ids = wbuf_get(&ws->ids, L0.n, e);
    j.codes = wbuf_get(&ws->codes, L0.n, e);
    j.deq = wbuf_get(&ws->deq, L0.n * sizeof(float), e);
    j.sse = wbuf_get(&ws->sse, j.n_chunks * sizeof(double), e);
    uint8_t *tmp = wbuf_get(&ws->tmp, WS_TMP, e);
    size_t tmpn = WS_TMP;
    int need_part = o->bits == SQ_BITS_F32 || o->format == SQ_FMT_PAPER;
    if (need_part) j.part_buf = wbuf_get(&ws->part, L0.n * sizeof(float), e);
    outset *os = &ws->lone;
    if (o->bits != SQ_BITS_F32 && !L0.sym8) j.packed = wbuf_get(&os->packed, L0.rows * L0.row_bytes + 1, e);
    if (o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32) {
        j.s16 = wbuf_get(&os->s16, pk * sizeof(uint16_t), e);
        j.m16 = wbuf_get(&os->m16, pk * sizeof(uint16_t), e);
        if (k > 1) j.packed_ids = wbuf_get(&os->packed_ids, L0.rows * L0.id_bytes + 1, e);
    } else {
        j.scale = wbuf_get(&ws->scale, L0.params * sizeof(float), e);
        j.min = wbuf_get(&ws->min, L0.params * sizeof(float), e);
    }
    if (e->code) return e->code;
    memset(j.deq, 0, L0.n * sizeof(float));
    j.have_km = k > 1;
    if (k > 1) pad_bounds(&km, k, j.bounds);
    else memset(j.ids, 0, L0.n);

    if (o->bits == SQ_BITS_F32 || o->format == SQ_FMT_PAPER) {
        /* k sub-layers, each written whole before the next */
        for (int c = 0; c < k; c++) {
            j.part = c;
            j.last = c == k - 1;
            run_chunks(hooks, &j);
            if (bg_check(bg, e)) return e->code;
            if (o->bits == SQ_BITS_F32) {
                if ((rc = put_floats(w, j.part_buf, L0.n, tmp, tmpn, e))) return rc;
            } else if (L0.sym8) {
                if ((rc = sq_stw_data(w, j.codes, L0.n, e))) return rc;
                if ((rc = put_floats(w, j.scale, L0.rows, tmp, tmpn, e))) return rc;
            } else {
                if ((rc = sq_stw_data(w, j.packed, L0.rows * L0.row_bytes, e))) return rc;
                if ((rc = put_floats(w, j.scale, L0.params, tmp, tmpn, e))) return rc;
                if ((rc = put_floats(w, j.min, L0.params, tmp, tmpn, e))) return rc;
            }
        }
    } else {
        j.part = 0;
        j.last = 1;
        run_chunks(hooks, &j);
        if (bg_check(bg, e)) return e->code;
        if ((rc = sq_stw_data(w, j.packed, L0.rows * L0.row_bytes, e))) return rc;
        if (k > 1 && (rc = sq_stw_data(w, j.packed_ids, L0.rows * L0.id_bytes, e))) return rc;
        if ((rc = put_u16(w, j.s16, pk, tmp, tmpn, e))) return rc;
        if ((rc = put_u16(w, j.m16, pk, tmp, tmpn, e))) return rc;
    }
    st->mse = L0.n ? sum_chunks(j.sse, j.n_chunks) / (double)L0.n : 0;
    if (deq_out) memcpy(deq_out, j.deq, L0.n * sizeof(float));
    if (k == 1 || o->bits == SQ_BITS_F32) st->mse_plain = st->mse;
    else if (o->skip_plain) st->mse_plain = NAN;
    else {
        /* the same bits without splitting, for comparison */
        memset(j.deq, 0, L0.n * sizeof(float));
        j.plain = 1;
        j.last = 1;
        j.part = 0;
        j.packed = NULL;
        j.packed_ids = NULL;
        run_chunks(hooks, &j);
        st->mse_plain = L0.n ? sum_chunks(j.sse, j.n_chunks) / (double)L0.n : 0;
    }
    return SQ_OK;
}

static int process_bias(sq_st_writer *w, workspace *ws, const sq_plan_item *it, const float *x, const sq_quant_opts *o,
                        sq_layer_stats *st, sq_err *e)
{
    size_t n = it->rows;
    int k = o->clusters;
    uint8_t *ids = wbuf_get(&ws->ids, n, e);
    float *part = wbuf_get(&ws->part, n * sizeof(float), e);
    uint8_t *tmp = wbuf_get(&ws->tmp, WS_TMP, e);
    int rc = e->code;
    if (!ids || !part || !tmp) return rc;
    if ((rc = cluster(x, n, k, name_seed(o->seed, it->t->name), ids, st, e))) return rc;
    st->mse = st->mse_plain = 0; /* biases stay float */
    if (bias_has_parts(o)) {
        for (int c = 0; c < k && !rc; c++) {
            for (size_t i = 0; i < n; i++) part[i] = ids[i] == c ? x[i] : 0.0f;
            rc = put_floats(w, part, n, tmp, WS_TMP, e);
        }
    } else {
        /* kept as it is: copy the original bytes */
        size_t bytes = (size_t)(it->t->end - it->t->begin);
        uint8_t *raw = wbuf_get(&ws->codes, bytes, e);
        if (!raw) return e->code;
        sq_from_f32(it->t->dtype, x, raw, n); /* exact: x came from this dtype */
        rc = sq_stw_data(w, raw, bytes, e);
    }
    return rc;
}

static int report_push(sq_report *rep, const sq_layer_stats *st, sq_err *e)
{
    sq_layer_stats *p = realloc(rep->layers, (rep->n_layers + 1) * sizeof *p);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    rep->layers = p;
    rep->layers[rep->n_layers++] = *st;
    return SQ_OK;
}

static int add_meta(sq_st_writer *w, const char *k, const char *v, sq_err *e)
{
    return v ? sq_stw_meta(w, k, v, e) : SQ_OK;
}

/* Counts bytes going out, so the report can say how big the result is. */
typedef struct counting { sq_writer inner; uint64_t bytes; } counting;
static int counting_write(void *ctx, const void *buf, size_t len)
{
    counting *c = ctx;
    c->bytes += len;
    return c->inner.write(c->inner.ctx, buf, len);
}

int sq_quantize_model(const sq_st_file *in, const sq_quant_opts *o, const sq_model_texts *texts, sq_writer out,
                      const sq_quant_hooks *hooks, sq_report *rep, sq_err *e)
{
    sq_plan plan;
    sq_st_writer w;
    counting cnt = {out, 0};
    sq_writer cw = {&cnt, counting_write};
    sq_report local;
    int rc;
    char num[32], gbuf[32];
    char *tj = NULL;
    workspace ws;
    pending pend;
    size_t *out_first = NULL; /* writer tensors of plan item i: [out_first[i], out_first[i+1]) */
    memset(&ws, 0, sizeof ws);
    memset(&pend, 0, sizeof pend);

    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if ((rc = sq_quant_opts_check(o, e))) return rc;
    for (size_t i = 0; i < in->n_tensors; i++)
        if (strstr(in->tensors[i].name, ".sq.") || strncmp(in->tensors[i].name, "sq.", 3) == 0)
            return sq_fail(e, SQ_EINPUT, "tensor '%s': names containing \".sq.\" are reserved for sq's own quantized tensors%s",
                           in->tensors[i].name, sq_st_meta(in, "sq.format") ? " (this file is already quantized: dequantize it first)" : "");
    if ((rc = sq_plan_make(in, &plan, e))) return rc;
    sq_stw_init(&w, cw);

    /* metadata: the source's own keys first (e.g. "format": "pt"), then ours */
    for (size_t i = 0; i < in->n_meta; i++)
        if (strncmp(in->meta[i].key, "sq.", 3) != 0 && (rc = sq_stw_meta(&w, in->meta[i].key, in->meta[i].value, e))) goto done;
    if (sq_st_meta(in, "sq.format")) { rc = sq_fail(e, SQ_EINPUT, "this file is already quantized by sq (sq.format = %s); dequantize it first", sq_st_meta(in, "sq.format")); goto done; }
    if ((rc = sq_stw_meta(&w, "sq.format", sq_format_name(o->format), e))) goto done;
    if ((rc = sq_stw_meta(&w, "sq.version", SQ_VERSION, e))) goto done;
    if (o->bits == SQ_BITS_F32) snprintf(num, sizeof num, "f32"); else snprintf(num, sizeof num, "%d", o->bits);
    if ((rc = sq_stw_meta(&w, "sq.bits", num, e))) goto done;
    snprintf(num, sizeof num, "%d", o->clusters);
    if ((rc = sq_stw_meta(&w, "sq.clusters", num, e))) goto done;
    if ((rc = sq_stw_meta(&w, "sq.group", sq_group_name(o->group, gbuf, sizeof gbuf), e))) goto done;
    snprintf(num, sizeof num, "%llu", (unsigned long long)o->seed);
    if ((rc = sq_stw_meta(&w, "sq.seed", num, e))) goto done;
    if (!(tj = tensors_json(&plan, o))) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); goto done; }
    if ((rc = sq_stw_meta(&w, "sq.tensors", tj, e))) goto done;
    if (texts) {
        if ((rc = add_meta(&w, "sq.source", texts->source_name, e))) goto done;
        if ((rc = add_meta(&w, "sq.config", texts->config_json, e))) goto done;
        if ((rc = add_meta(&w, "sq.tokenizer.json", texts->tokenizer_json, e))) goto done;
        if ((rc = add_meta(&w, "sq.vocab.txt", texts->vocab_txt, e))) goto done;
        if ((rc = add_meta(&w, "sq.tokenizer_config.json", texts->tokenizer_config_json, e))) goto done;
    }
    if (!(out_first = sq_calloc(plan.n + 1, sizeof *out_first, e))) { rc = e->code; goto done; }
    for (size_t i = 0; i < plan.n; i++) {
        out_first[i] = w.n;
        if ((rc = declare(&w, &plan.items[i], o, e))) goto done;
    }
    out_first[plan.n] = w.n;
    if ((rc = sq_stw_begin(&w, e))) goto done;

    uint64_t bytes_total = in->reader->size, bytes_done = in->data_start;
    rep->params = plan.params;
    rep->bytes_in = bytes_total;
    /* I/O in the background (see bg_task), unless the host wants it on this thread */
    int defer = hooks && hooks->parallel && o->io_on_caller != SQ_IO_CALLER;
    pend.q = sq_calloc(plan.n + 1, sizeof *pend.q, e);
    if (!pend.q) { rc = e->code; goto done; }
    for (size_t i = 0; i < plan.n; i++) {
        const sq_plan_item *it = &plan.items[i];
        const sq_tensor_info *t = it->t;
        sq_layer_stats st;
        int have_stats = 0;
        double t0 = hooks && hooks->now ? hooks->now() : 0;
        memset(&st, 0, sizeof st);
        if (it->role == SQ_ROLE_COPY) {
            qentry *q = &pend.q[pend.tail++];
            memset(q, 0, sizeof *q);
            q->kind = Q_COPY;
            q->item = i;
            if (!defer && (rc = flush_all(&w, &ws, in, &plan, &pend, e))) goto done;
        } else {
            size_t n = (size_t)t->numel;
            if (t->numel > SIZE_MAX / sizeof(float)) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s' is too large for this build", t->name); goto done; }
            /* the values as floats, except for the fused path from BF16 bytes, which reads
               the bytes itself */
            float *x = NULL;
            int need_x = !(it->role == SQ_ROLE_WEIGHT && is_fused(it, o) && t->dtype == SQ_DT_BF16);
            if (need_x && !(x = wbuf_get(&ws.x, n * sizeof(float), e))) { rc = e->code; goto done; }
            st.name = t->name;
            st.role = it->role;
            st.ndim = t->ndim;
            memcpy(st.shape, t->shape, sizeof st.shape);
            if (it->role == SQ_ROLE_WEIGHT) {
                size_t bytes = (size_t)(t->end - t->begin);
                if (ws.ahead == t) ws.rcur ^= 1; /* read ahead: its bytes are there */
                uint8_t *raw = wbuf_get(&ws.raw[ws.rcur], bytes, e);
                if (!raw) { rc = e->code; goto done; }
                if (ws.ahead != t && sq_read_at(in->reader, in->data_start + t->begin, raw, bytes, e)) {
                    rc = sq_fail(e, e->code, "tensor '%s': read failed", t->name);
                    goto done;
                }
                ws.ahead = NULL;
                /* both sections write out what waits, within a budget that about matches
                   their arithmetic (all of it when much waits in memory); the
                   quantization first reads the next weight's bytes into the other raw
                   buffer */
                bg_task bg1 = {&w, &ws, in, &plan, &pend, n / 2 + 1, NULL, 0, 0, {0, ""}}, bg2 = bg1;
                if (pend.weight_bytes > QUEUE_BYTES) bg1.budget = UINT64_MAX;
                bg2.budget = 2 * (uint64_t)n + 1;
                scan_job sj;
                rc = scan(&ws, raw, t->dtype, x, n, o->clusters > 1, hooks && hooks->parallel ? o->threads : 1, hooks, defer && pend.head < pend.tail ? &bg1 : NULL, &sj, e);
                reap(&ws, &pend);
                if (rc) goto done;
                if (sj.all.bad) {
                    if (!x && !(x = wbuf_get(&ws.x, n * sizeof(float), e))) { rc = e->code; goto done; }
                    sq_to_f32(t->dtype, raw, x, n);
                    if ((rc = check_finite(x, n, t->name, e))) goto done;
                }
                for (size_t q = i + 1; defer && q < plan.n && !bg2.next; q++)
                    if (plan.items[q].role == SQ_ROLE_WEIGHT) {
                        bg2.next = plan.items[q].t;
                        if (!wbuf_get(&ws.raw[ws.rcur ^ 1], (size_t)(bg2.next->end - bg2.next->begin), e)) { rc = e->code; goto done; }
                    }
                rc = process_weight(&w, &ws, in, &plan, it, x, raw, t->dtype, &sj, o, hooks,
                                    defer && (bg2.next || pend.head < pend.tail) ? &bg2 : NULL, &pend, defer, &st, NULL, e);
                if (!rc && bg2.read_ok) ws.ahead = bg2.next;
            } else {
                if ((rc = flush_all(&w, &ws, in, &plan, &pend, e))) goto done;
                if ((rc = sq_st_read_f32(in, t, x, e))) goto done;
                if ((rc = check_finite(x, n, t->name, e))) goto done;
                rc = process_bias(&w, &ws, it, x, o, &st, e);
            }
            if (rc) {
                if (strstr(e->msg, t->name) == NULL) {
                    char pre[300];
                    snprintf(pre, sizeof pre, "tensor '%.280s': ", t->name);
                    sq_err_prefix(e, pre);
                }
                goto done;
            }
            /* what this tensor becomes, from the declared shapes (its bytes may still be
               on their way out) */
            for (size_t d = out_first[i]; d < out_first[i + 1]; d++) st.bytes_out += (size_t)w.tensors[d].nbytes;
            if (it->role == SQ_ROLE_WEIGHT) {
                rep->quant_bytes_in += t->end - t->begin;
                rep->quant_bytes_out += st.bytes_out;
            }
            have_stats = 1;
        }
        st.seconds = hooks && hooks->now ? hooks->now() - t0 : 0;
        if (have_stats && (rc = report_push(rep, &st, e))) goto done;
        bytes_done += t->end - t->begin;
        if (hooks && hooks->progress) {
            sq_progress pr = {i + 1, plan.n, bytes_done, bytes_total, t->name, have_stats ? &st : NULL};
            if (hooks->progress(hooks->ctx, &pr)) { rc = sq_fail(e, SQ_ECANCEL, "cancelled"); goto done; }
        }
    }
    if ((rc = flush_all(&w, &ws, in, &plan, &pend, e))) goto done;
    if ((rc = sq_stw_finish(&w, e))) goto done;
    rep->bytes_out = cnt.bytes;
done:
    free(pend.q);
    free(out_first);
    ws_free(&ws);
    free(tj);
    sq_stw_free(&w);
    sq_plan_free(&plan);
    if (rep == &local) sq_report_free(&local);
    return rc;
}

/* ---------------- one tensor, for the outlier lab ---------------- */

int sq_split_roundtrip(const float *w, size_t rows, size_t cols, const sq_quant_opts *o, uint64_t seed,
                       sq_layer_stats *st, float *deq, sq_err *e)
{
    sq_tensor_info t;
    sq_plan_item it;
    memset(&t, 0, sizeof t);
    t.name = "tensor";
    t.dtype = SQ_DT_F32;
    t.ndim = 2;
    t.shape[0] = (int64_t)rows;
    t.shape[1] = (int64_t)cols;
    t.numel = (uint64_t)rows * cols;
    it.t = &t;
    it.role = SQ_ROLE_WEIGHT;
    it.rows = rows;
    it.cols = cols;
    if (sq_quant_opts_check(o, e)) return e->code;
    if (check_finite(w, rows * cols, "tensor", e)) return e->code;
    /* A writer to nowhere: only the dequantized values are wanted. */
    sq_buf sink = {0};
    sq_st_writer sw;
    sq_stw_init(&sw, sq_writer_to_buf(&sink));
    sq_quant_opts oo = *o;
    oo.seed = seed;
    int rc = declare(&sw, &it, &oo, e);
    if (!rc) rc = sq_stw_begin(&sw, e);
    memset(st, 0, sizeof *st);
    st->name = "tensor";
    st->role = SQ_ROLE_WEIGHT;
    st->ndim = 2;
    st->shape[0] = (int64_t)rows;
    st->shape[1] = (int64_t)cols;
    for (size_t d = 0; d < sw.n; d++) st->bytes_out += (size_t)sw.tensors[d].nbytes;
    workspace ws;
    memset(&ws, 0, sizeof ws);
    scan_job sj;
    /* x is only read: the scan converts nothing when given no source bytes */
    pending pend;
    qentry q1[1];
    memset(&pend, 0, sizeof pend);
    pend.q = q1;
    if (!rc) rc = scan(&ws, NULL, SQ_DT_F32, (float *)(uintptr_t)w, rows * cols, oo.clusters > 1, 1, NULL, NULL, &sj, e);
    if (!rc) rc = process_weight(&sw, &ws, NULL, NULL, &it, w, NULL, SQ_DT_F32, &sj, &oo, NULL, NULL, &pend, 0, st, deq, e);
    ws_free(&ws);
    sq_stw_free(&sw);
    sq_buf_free(&sink);
    return rc;
}
