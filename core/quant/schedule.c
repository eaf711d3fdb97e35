/* schedule.c - how the pipeline's work is laid out in time: the workspace kept from one
 * tensor to the next, parallel sections with the background I/O task beside them, and
 * the queue of output waiting to be written.
 *
 * ---- I/O in the background ----
 * With a host that has threads, the serial I/O runs beside the arithmetic: every
 * parallel section of a weight gets one extra task (index 0: SQ_IO_TASK0 relies on it)
 * that writes out what is waiting (queued in output order: packed weights' tensors, held
 * in output sets, and the tensors copied unchanged, such as the embedding) within a byte
 * budget that about matches the section's arithmetic, and, in the quantization, first
 * reads the next weight's bytes. The reader and the writer are then called from inside a
 * task, but never two at once, and never while the calling thread uses them. Without
 * threads (a NULL parallel hook) everything happens in turn.
 * Two output sets: while one weight's tensors wait, the next fills the other; when
 * neither is free the queue is written out at once. More sets would let a large copied
 * tensor at the front (the embedding) be written while several weights are quantized,
 * but fresh memory costs a page fault per 4 KiB, and measured on a 1B model that costs
 * more than the overlap gains.
 */
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"

/* ---------------- the workspace ---------------- */

void *sq_wbuf_get(wbuf *b, size_t bytes, sq_err *e)
{
    if (b->p && bytes <= b->cap) return b->p;
    free(b->p);
    b->cap = 0;
    b->p = sq_malloc(bytes ? bytes : 1, e);
    if (b->p) b->cap = bytes;
    return b->p;
}

static void outset_free(outset *s)
{
    free(s->packed.p);
    free(s->packed_ids.p);
    free(s->s16.p);
    free(s->m16.p);
}

void sq_ws_free(workspace *ws)
{
    wbuf *all[] = {&ws->raw[0], &ws->raw[1], &ws->x, &ws->cnt, &ws->tmp, &ws->scratch, &ws->sse, &ws->iobuf,
                   &ws->ids, &ws->codes, &ws->deq, &ws->part, &ws->scale, &ws->min};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->p);
    for (int s = 0; s < QUEUE_SETS; s++) outset_free(&ws->sets[s]);
    outset_free(&ws->lone);
    memset(ws, 0, sizeof *ws);
}

/* ---------------- the output queue ---------------- */

uint64_t sq_qentry_bytes(const qentry *q) { return q->codes_n + q->ids_n + 4 * (uint64_t)q->pk; }

qentry *sq_queue_push(pending *po, int kind)
{
    qentry *q = &po->q[po->tail++];
    memset(q, 0, sizeof *q);
    q->kind = kind;
    return q;
}

int sq_queue_flush(const qrun *r, uint64_t budget, sq_err *e)
{
    int rc = SQ_OK;
    pending *po = r->po;
    workspace *ws = r->ws;
    if (po->head == po->tail) return SQ_OK;
    uint8_t *buf = sq_wbuf_get(&ws->iobuf, COPY_CHUNK, e);
    if (!buf) return e->code;
    uint64_t spent = 0;
    while (po->head < po->tail && spent < budget) {
        qentry *q = &po->q[po->head];
        if (q->kind == Q_WEIGHT) {
            outset *s = &ws->sets[q->set];
            if ((rc = sq_stw_data(r->w, s->packed.p, q->codes_n, e))) return rc;
            if (q->ids_n && (rc = sq_stw_data(r->w, s->packed_ids.p, q->ids_n, e))) return rc;
            if ((rc = sq_put_u16(r->w, s->s16.p, q->pk, buf, COPY_CHUNK, e))) return rc;
            if ((rc = sq_put_u16(r->w, s->m16.p, q->pk, buf, COPY_CHUNK, e))) return rc;
            spent += sq_qentry_bytes(q);
            po->weight_bytes -= sq_qentry_bytes(q);
            po->head++;
        } else {
            const sq_tensor_info *t = r->plan->items[q->item].t;
            uint64_t total = t->end - t->begin;
            while (q->done < total && spent < budget) {
                size_t m = total - q->done < COPY_CHUNK ? (size_t)(total - q->done) : COPY_CHUNK;
                if ((rc = sq_read_at(r->in->reader, r->in->data_start + t->begin + q->done, buf, m, e))) return rc;
                if ((rc = sq_st_check_finite(t, buf, m, q->done, e))) return rc; /* copied tensors too */
                if ((rc = sq_stw_data(r->w, buf, m, e))) return rc;
                q->done += m;
                spent += m;
            }
            if (q->done == total) po->head++;
        }
    }
    return SQ_OK;
}

void sq_queue_reap(const qrun *r)
{
    pending *po = r->po;
    for (; po->reaped < po->head; po->reaped++)
        if (po->q[po->reaped].kind == Q_WEIGHT) r->ws->set_busy[po->q[po->reaped].set] = 0;
}

int sq_queue_flush_all(const qrun *r, sq_err *e)
{
    int rc = sq_queue_flush(r, UINT64_MAX, e);
    sq_queue_reap(r);
    return rc;
}

int sq_queue_acquire_set(const qrun *r, sq_err *e)
{
    for (int s = 0; s < QUEUE_SETS; s++)
        if (!r->ws->set_busy[s]) return s;
    if (sq_queue_flush_all(r, e)) return -e->code;
    return 0;
}

/* ---------------- parallel sections ---------------- */

static void run_tasks(const sq_quant_hooks *h, size_t n, sq_task_fn fn, void *arg)
{
    if (h && h->parallel && n > 1) h->parallel(h->pool, n, fn, arg);
    else
        for (size_t i = 0; i < n; i++) fn(arg, i);
}

static void bg_run(bg_task *b)
{
    const qrun *r = b->r;
    if (b->next) {
        sq_err e = {0};
        b->read_ok = sq_read_at(r->in->reader, r->in->data_start + b->next->begin, r->ws->raw[r->ws->rcur ^ 1].p,
                                (size_t)(b->next->end - b->next->begin), &e) == SQ_OK;
    }
    b->rc = sq_queue_flush(r, b->budget, &b->e);
}

typedef struct section {
    sq_task_fn fn;
    void *arg;
    bg_task *bg;
} section;

static void section_task(void *arg, size_t t)
{
    section *s = arg;
    if (s->bg) {
        if (t == 0) {
            bg_run(s->bg);
            return;
        }
        t--;
    }
    s->fn(s->arg, t);
}

int sq_run_with_io(const sq_quant_hooks *h, size_t n, sq_task_fn fn, void *arg, bg_task *bg, sq_err *e)
{
    if (!bg) {
        run_tasks(h, n, fn, arg);
        return SQ_OK;
    }
    section s = {fn, arg, bg};
    run_tasks(h, n + 1, section_task, &s);
    if (!bg->rc) return SQ_OK;
    if (!e->code) *e = bg->e;
    return bg->rc;
}

/* ---------------- little-endian output ---------------- */

int sq_put_f32(sq_st_writer *w, const float *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e)
{
    size_t per = tmpn / 4;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        sq_from_f32(SQ_DT_F32, x + i, tmp, m);
        if (sq_stw_data(w, tmp, m * 4, e)) return e->code;
    }
    return SQ_OK;
}

int sq_put_u16(sq_st_writer *w, const uint16_t *x, size_t n, uint8_t *tmp, size_t tmpn, sq_err *e)
{
    size_t per = tmpn / 2;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t q = 0; q < m; q++) { tmp[2 * q] = (uint8_t)x[i + q]; tmp[2 * q + 1] = (uint8_t)(x[i + q] >> 8); }
        if (sq_stw_data(w, tmp, m * 2, e)) return e->code;
    }
    return SQ_OK;
}
