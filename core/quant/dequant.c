/* dequant.c - read a quantized file back into float tensors.
 *
 * The file is hostile until proven otherwise: every tensor named by "sq.tensors" must
 * exist with exactly the dtype and shape its description implies, or we refuse with the
 * tensor's name. Source tensors are restored in the order their first output appears.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "qfile.h"
#include "quant.h"
#include "../formats/formats.h"

/* Restore source tensor `name` (described by d) to float32 (d->numel values): the float
 * parts of a split bias or --bits f32 summed here, a quantized weight by its format's
 * hook (formats.h). */
static int restore(const sq_qfile *q, const char *name, const sq_qtensor *d, float *out, sq_err *e)
{
    /* every part present with the right size before anything is sized from the description */
    if (sq_qfile_check(q, name, d, e)) return e->code;
    if (d->kind != SQ_QT_SPLIT && d->kind != SQ_QT_BIAS) return sq_formats[d->format].dequantize(q, name, d, out, e);
    size_t n = d->numel;
    int rc = SQ_OK;
    float *part = sq_malloc(n * sizeof(float), e);
    if (!part) return e->code;
    memset(out, 0, n * sizeof(float));
    for (int c = 0; c < d->k && !rc; c++) {
        char buf[1100];
        snprintf(buf, sizeof buf, "%s.sq.part%d", name, c);
        const sq_tensor_info *t = sq_st_find(q->f, buf);
        if (!t || t->dtype != SQ_DT_F32 || t->numel != n) {
            rc = sq_fail(e, SQ_EINPUT, "tensor '%s' is missing or has the wrong dtype/size (expected F32, %zu values)", buf, n);
            break;
        }
        if ((rc = sq_st_read_f32(q->f, t, part, e))) break;
        for (size_t i = 0; i < n; i++) out[i] += part[i];
    }
    free(part);
    return rc;
}

/* The source tensor an output tensor belongs to: the name before ".sq." (or itself). */
static size_t source_len(const char *name)
{
    const char *p = strstr(name, ".sq.");
    return p ? (size_t)(p - name) : strlen(name);
}

/* A hostile file could interleave the parts of two sources or reuse a name. */
static int check_unique(const sq_st_writer *w, sq_err *e)
{
    if (w->n < 2) return SQ_OK;
    char **names = sq_malloc(w->n * sizeof *names, e);
    if (!names) return e->code;
    for (size_t i = 0; i < w->n; i++) names[i] = w->tensors[i].name;
    qsort(names, w->n, sizeof *names, sq_cmp_str);
    int rc = SQ_OK;
    for (size_t i = 1; i < w->n && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = sq_fail(e, SQ_EINPUT, "tensor '%s' would be restored twice (its parts are not adjacent, or it also exists unquantized)", names[i]);
    free(names);
    return rc;
}

int sq_dequantize_model(const sq_st_file *in, sq_dtype dtype, sq_writer out, sq_err *e)
{
    sq_qfile q;
    sq_st_writer w;
    int rc;
    char name[1100];
    float *x = NULL;
    uint8_t *raw = NULL;
    if ((rc = sq_qfile_open(&q, in, e))) return rc;
    if (q.format == 0) return sq_fail(e, SQ_EINPUT, "not a quantized file (no sq.format metadata); nothing to dequantize");
    sq_stw_init(&w, out);
    for (size_t i = 0; i < in->n_meta; i++)
        if (strncmp(in->meta[i].key, "sq.", 3) != 0 && (rc = sq_stw_meta(&w, in->meta[i].key, in->meta[i].value, e))) goto done;

    /* pass 1: declare, in order of first appearance */
    for (size_t i = 0; i < in->n_tensors; i++) {
        const sq_tensor_info *t = &in->tensors[i];
        size_t sl = source_len(t->name);
        if (sl >= sizeof name) { rc = sq_fail(e, SQ_EINPUT, "tensor name too long"); goto done; }
        memcpy(name, t->name, sl);
        name[sl] = 0;
        if (sl == strlen(t->name)) {
            sq_dtype dt = dtype != SQ_DT_INVALID && sq_dtype_is_float(t->dtype) ? dtype : t->dtype;
            if ((rc = sq_stw_add(&w, t->name, dt, t->ndim, t->shape, e))) goto done;
            continue;
        }
        /* outputs of one source are adjacent (sq writes them so; duplicates are caught below) */
        if (i > 0 && source_len(in->tensors[i - 1].name) == sl && strncmp(in->tensors[i - 1].name, name, sl) == 0) continue;
        sq_qtensor d;
        int found = sq_qfile_describe(&q, name, &d, e);
        if (found < 0 || e->code) { rc = e->code ? e->code : SQ_EINPUT; goto done; }
        if (!found) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s' has no description in sq.tensors", t->name); goto done; }
        if ((rc = sq_qfile_check(&q, name, &d, e))) goto done;
        if ((rc = sq_stw_add(&w, name, dtype != SQ_DT_INVALID ? dtype : d.dtype, d.ndim, d.shape, e))) goto done;
    }
    if ((rc = check_unique(&w, e))) goto done;
    if ((rc = sq_stw_begin(&w, e))) goto done;
    /* pass 2: data, in the declared order */
    for (size_t i = 0; i < w.n; i++) {
        const sq_stw_tensor *o = &w.tensors[i];
        const sq_tensor_info *t = sq_st_find(in, o->name);
        if (t && t->dtype == o->dtype) {
            raw = sq_malloc((size_t)(t->end - t->begin), e);
            if (!raw || sq_st_read_raw(in, t, raw, e) || sq_stw_data(&w, raw, (size_t)(t->end - t->begin), e)) { rc = e->code; goto done; }
            free(raw); raw = NULL;
            continue;
        }
        size_t n;
        if (t) {
            n = (size_t)t->numel;
            x = sq_malloc(n * sizeof(float), e);
            if (!x || sq_st_read_f32(in, t, x, e)) { rc = e->code; goto done; }
        } else {
            sq_qtensor d;
            sq_qfile_describe(&q, o->name, &d, e);
            n = d.numel;
            x = sq_malloc(n * sizeof(float), e);
            if (!x || restore(&q, o->name, &d, x, e)) { rc = e->code; goto done; }
        }
        raw = sq_malloc(n * sq_dtype_size(o->dtype), e);
        if (!raw) { rc = e->code; goto done; }
        sq_from_f32(o->dtype, x, raw, n);
        if ((rc = sq_stw_data(&w, raw, n * sq_dtype_size(o->dtype), e))) goto done;
        free(raw); raw = NULL;
        free(x); x = NULL;
    }
    rc = sq_stw_finish(&w, e);
done:
    free(x);
    free(raw);
    sq_stw_free(&w);
    sq_qfile_close(&q);
    return rc;
}
