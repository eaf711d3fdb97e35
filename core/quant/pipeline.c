/* pipeline.c - walk a model, split and quantize what should be, stream the result.
 *
 * One input tensor at a time: read its bytes, scan them (convert, check they are finite,
 * count the histogram), cluster it (k-means), quantize it in the chosen format, write
 * its output tensors, record its statistics. Tensors that are not split are copied in
 * chunks without conversion. The output header is written first, so every output
 * tensor's name, dtype and shape is derived from the plan before any data is processed
 * (plan.c is the one place that knows the names and shapes of docs/FORMAT.md).
 *
 * Speed (a 1B model is 2.5 GB): the scan and the quantization run in parallel parts
 * through the host's parallel-for; the packed format does all of a group's work in one
 * sweep from the source bytes (weight.c); buffers live from one tensor to the next
 * (workspace); with threads, the reads and writes happen in a background task beside the
 * arithmetic (schedule.c). Parts are fixed by the data's shape, so the output bytes and
 * the report are the same for any number of threads.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"

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

/* The output's metadata: the source's own keys first (e.g. "format": "pt"), then ours. */
static int write_meta(sq_st_writer *w, const sq_st_file *in, const sq_plan *plan, const sq_quant_opts *o,
                      const sq_model_texts *texts, sq_err *e)
{
    int rc;
    char num[32], gbuf[32];
    for (size_t i = 0; i < in->n_meta; i++)
        if (strncmp(in->meta[i].key, "sq.", 3) != 0 && (rc = sq_stw_meta(w, in->meta[i].key, in->meta[i].value, e))) return rc;
    if (sq_st_meta(in, "sq.format"))
        return sq_fail(e, SQ_EINPUT, "this file is already quantized by sq (sq.format = %s); dequantize it first", sq_st_meta(in, "sq.format"));
    if ((rc = sq_stw_meta(w, "sq.format", sq_format_name(o->format), e))) return rc;
    if ((rc = sq_stw_meta(w, "sq.version", SQ_VERSION, e))) return rc;
    if (o->bits == SQ_BITS_F32) snprintf(num, sizeof num, "f32"); else snprintf(num, sizeof num, "%d", o->bits);
    if ((rc = sq_stw_meta(w, "sq.bits", num, e))) return rc;
    snprintf(num, sizeof num, "%d", o->clusters);
    if ((rc = sq_stw_meta(w, "sq.clusters", num, e))) return rc;
    if ((rc = sq_stw_meta(w, "sq.group", sq_group_name(o->group, gbuf, sizeof gbuf), e))) return rc;
    snprintf(num, sizeof num, "%llu", (unsigned long long)o->seed);
    if ((rc = sq_stw_meta(w, "sq.seed", num, e))) return rc;
    /* absent when kept (as in files from before the option): such files stay the same bytes */
    int eb = sq_emb_bits(o);
    if (eb > 0 && (rc = sq_stw_meta(w, "sq.embeddings", sq_emb_name(eb, num, sizeof num), e))) return rc;
    char *tj = sq_tensors_json(plan, o);
    if (!tj) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    rc = sq_stw_meta(w, "sq.tensors", tj, e);
    free(tj);
    if (rc) return rc;
    if (texts) {
        if ((rc = add_meta(w, "sq.source", texts->source_name, e))) return rc;
        if ((rc = add_meta(w, "sq.config", texts->config_json, e))) return rc;
        if ((rc = add_meta(w, "sq.tokenizer.json", texts->tokenizer_json, e))) return rc;
        if ((rc = add_meta(w, "sq.vocab.txt", texts->vocab_txt, e))) return rc;
        if ((rc = add_meta(w, "sq.tokenizer_config.json", texts->tokenizer_config_json, e))) return rc;
    }
    return SQ_OK;
}

/* Plan item i, a split weight: read its bytes (unless the last section read them ahead),
 * scan them with the queue's I/O beside, then quantize it while the next weight's bytes
 * are read in the background. x: its floats (NULL on the fused path from BF16 bytes). */
static int quantize_weight(qrun *r, size_t i, float *x, sq_layer_stats *st, sq_err *e)
{
    const sq_plan *plan = r->plan;
    const sq_plan_item *it = &plan->items[i];
    const sq_tensor_info *t = it->t;
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    pending *po = r->po;
    size_t n = (size_t)t->numel, bytes = (size_t)(t->end - t->begin);
    int rc;
    if (ws->ahead == t) ws->rcur ^= 1; /* read ahead: its bytes are there */
    uint8_t *raw = sq_wbuf_get(&ws->raw[ws->rcur], bytes, e);
    if (!raw) return e->code;
    if (ws->ahead != t && sq_read_at(r->in->reader, r->in->data_start + t->begin, raw, bytes, e))
        return sq_fail(e, e->code, "tensor '%s': read failed", t->name);
    ws->ahead = NULL;
    /* both sections write out what waits, within a budget that about matches their
       arithmetic (all of it when much waits in memory); the quantization first reads the
       next weight's bytes into the other raw buffer */
    bg_task bg1 = {r, n / 2 + 1, NULL, 0, 0, {0, ""}}, bg2 = bg1;
    if (po->weight_bytes > QUEUE_BYTES) bg1.budget = UINT64_MAX;
    bg2.budget = 2 * (uint64_t)n + 1;
    const sq_quant_hooks *hooks = r->hooks;
    scan_job sj;
    rc = sq_scan(ws, raw, t->dtype, x, n, o->clusters > 1, hooks && hooks->parallel ? o->threads : 1, hooks,
                 r->defer && po->head < po->tail ? &bg1 : NULL, &sj, e);
    sq_queue_reap(r);
    if (rc) return rc;
    if (sj.all.bad) {
        if (!x && !(x = sq_wbuf_get(&ws->x, n * sizeof(float), e))) return e->code;
        sq_to_f32(t->dtype, raw, x, n);
        if ((rc = sq_check_finite(x, n, t->name, e))) return rc;
    }
    for (size_t q = i + 1; r->defer && q < plan->n && !bg2.next; q++)
        if (plan->items[q].role == SQ_ROLE_WEIGHT) {
            if (sq_is_streamed(&plan->items[q], o)) break; /* it reads its own blocks */
            bg2.next = plan->items[q].t;
            if (!sq_wbuf_get(&ws->raw[ws->rcur ^ 1], (size_t)(bg2.next->end - bg2.next->begin), e)) return e->code;
        }
    weight_in wi = {it, x, raw, t->dtype, &sj, r->defer && (bg2.next || po->head < po->tail) ? &bg2 : NULL, NULL, NULL};
    rc = sq_process_weight(r, &wi, st, e);
    if (!rc && bg2.read_ok) ws->ahead = bg2.next;
    return rc;
}

/* A streamed weight's blocks (sq_row_source): read, scanned, checked and, unless BF16,
 * converted here, on the calling thread, when the format's hook asks for them. */
typedef struct stream_src {
    sq_row_source rs; /* first: the hook's pointer is this struct's */
    const qrun *r;
    const sq_tensor_info *t;
    size_t rows, cols;
    scan_job sj;
} stream_src;

static int stream_next(sq_row_source *s, size_t r0, size_t nr, const void **src, sq_dtype *dt, sq_err *e)
{
    stream_src *ss = (stream_src *)s;
    const qrun *r = ss->r;
    const sq_tensor_info *t = ss->t;
    workspace *ws = r->ws;
    size_t es = sq_dtype_size(t->dtype), first = r0 * ss->cols, m = nr * ss->cols;
    uint8_t *raw = sq_wbuf_get(&ws->raw[ws->rcur], m * es, e);
    if (!raw) return e->code;
    if (sq_read_at(r->in->reader, r->in->data_start + t->begin + (uint64_t)first * es, raw, m * es, e))
        return sq_fail(e, e->code, "tensor '%s': read failed", t->name);
    float *x = NULL;
    if (t->dtype != SQ_DT_BF16 && !(x = sq_wbuf_get(&ws->x, m * sizeof(float), e))) return e->code;
    if (sq_scan_stream_block(&ss->sj, raw, t->dtype, x, first, m)) { /* name the first bad value */
        if (!x && !(x = sq_wbuf_get(&ws->x, m * sizeof(float), e))) return e->code;
        sq_to_f32(t->dtype, raw, x, m);
        int rc = sq_check_finite_at(x, m, first, t->name, e);
        if (rc) return rc;
    }
    if (r0 + nr == ss->rows) sq_scan_stream_end(&ss->sj);
    *src = x ? (const void *)x : raw;
    *dt = x ? SQ_DT_F32 : SQ_DT_BF16;
    return SQ_OK;
}

/* Plan item i, a streamed weight (sq_is_streamed): never held whole. */
static int quantize_streamed(qrun *r, size_t i, sq_layer_stats *st, sq_err *e)
{
    const sq_plan_item *it = &r->plan->items[i];
    stream_src ss;
    memset(&ss, 0, sizeof ss);
    ss.rs.next = stream_next;
    ss.r = r;
    ss.t = it->t;
    ss.rows = it->rows;
    ss.cols = it->cols;
    sq_scan_stream_begin(&ss.sj, (size_t)it->t->numel);
    weight_in wi = {it, NULL, NULL, it->t->dtype, &ss.sj, NULL, NULL, &ss.rs};
    return sq_process_weight(r, &wi, st, e);
}

/* Plan item i, split (a weight or a bias): its statistics in st. */
static int quantize_split(qrun *r_run, size_t i, sq_layer_stats *st, sq_err *e)
{
    const sq_plan_item *it = &r_run->plan->items[i];
    /* an embedding has options of its own (sq_item_opts); the rest of the run is shared */
    sq_quant_opts tmp;
    qrun rr = *r_run, *r = &rr;
    rr.o = sq_item_opts(it, r_run->o, &tmp);
    const sq_tensor_info *t = it->t;
    size_t n = (size_t)t->numel;
    int rc;
    if (t->numel > SIZE_MAX / sizeof(float)) return sq_fail(e, SQ_EINPUT, "tensor '%s' is too large for this build", t->name);
    st->name = t->name;
    st->role = it->role;
    st->emb = it->emb;
    st->ndim = t->ndim;
    memcpy(st->shape, t->shape, sizeof st->shape);
    if (it->role == SQ_ROLE_WEIGHT && sq_is_streamed(it, r->o)) return quantize_streamed(r, i, st, e);
    /* the values as floats, except for the fused path from BF16 bytes, which reads the
       bytes itself */
    float *x = NULL;
    int need_x = !(it->role == SQ_ROLE_WEIGHT && sq_is_fused(it, r->o) && t->dtype == SQ_DT_BF16);
    if (need_x && !(x = sq_wbuf_get(&r->ws->x, n * sizeof(float), e))) return e->code;
    if (it->role == SQ_ROLE_WEIGHT) return quantize_weight(r, i, x, st, e);
    if ((rc = sq_queue_flush_all(r, e))) return rc;
    if ((rc = sq_st_read_f32(r->in, t, x, e))) return rc;
    if ((rc = sq_check_finite(x, n, t->name, e))) return rc;
    return sq_process_bias(r, it, x, st, e);
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
    sq_plan_embeddings(&plan, o);
    sq_stw_init(&w, cw);
    if ((rc = write_meta(&w, in, &plan, o, texts, e))) goto done;
    if (!(out_first = sq_calloc(plan.n + 1, sizeof *out_first, e))) { rc = e->code; goto done; }
    for (size_t i = 0; i < plan.n; i++) {
        out_first[i] = w.n;
        if ((rc = sq_declare_outputs(&w, &plan.items[i], o, e))) goto done;
    }
    out_first[plan.n] = w.n;
    if ((rc = sq_stw_begin(&w, e))) goto done;

    uint64_t bytes_total = in->reader->size, bytes_done = in->data_start;
    rep->params = plan.params;
    rep->bytes_in = bytes_total;
    /* I/O in the background (schedule.c), unless the host wants it on this thread */
    qrun r = {&w, &ws, in, &plan, o, hooks, &pend, hooks && hooks->parallel && o->io_on_caller != SQ_IO_CALLER};
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
            sq_queue_push(&pend, Q_COPY)->item = i;
            if (!r.defer && (rc = sq_queue_flush_all(&r, e))) goto done;
        } else {
            if ((rc = quantize_split(&r, i, &st, e))) {
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
    if ((rc = sq_queue_flush_all(&r, e))) goto done;
    if ((rc = sq_stw_finish(&w, e))) goto done;
    rep->bytes_out = cnt.bytes;
done:
    free(pend.q);
    free(out_first);
    sq_ws_free(&ws);
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
    memset(&it, 0, sizeof it); /* emb = SQ_EMBR_NONE: a linear layer */
    it.t = &t;
    it.role = SQ_ROLE_WEIGHT;
    it.rows = rows;
    it.cols = cols;
    if (sq_quant_opts_check(o, e)) return e->code;
    if (sq_check_finite(w, rows * cols, "tensor", e)) return e->code;
    /* A writer to nowhere: only the dequantized values are wanted. */
    sq_buf sink = {0};
    sq_st_writer sw;
    sq_stw_init(&sw, sq_writer_to_buf(&sink));
    sq_quant_opts oo = *o;
    oo.seed = seed;
    int rc = sq_declare_outputs(&sw, &it, &oo, e);
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
    qrun r = {&sw, &ws, NULL, NULL, &oo, NULL, &pend, 0};
    if (!rc) rc = sq_scan(&ws, NULL, SQ_DT_F32, (float *)(uintptr_t)w, rows * cols, oo.clusters > 1, 1, NULL, NULL, &sj, e);
    weight_in wi = {&it, w, NULL, SQ_DT_F32, &sj, NULL, deq, NULL};
    if (!rc) rc = sq_process_weight(&r, &wi, st, e);
    sq_ws_free(&ws);
    sq_stw_free(&sw);
    sq_buf_free(&sink);
    return rc;
}
