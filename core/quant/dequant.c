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
#include "../formats/codebook.h"

/* Read n little-endian u16 values. */
static int read_u16(const sq_st_file *f, const sq_tensor_info *t, uint16_t *out, size_t n, sq_err *e)
{
    if (sq_st_read_raw(f, t, out, e)) return e->code;
    uint8_t *b = (uint8_t *)out;
    for (size_t i = 0; i < n; i++) out[i] = (uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
    return SQ_OK;
}

static void unpack_all(const uint8_t *packed, size_t rows, size_t cols, int bits, uint8_t *codes)
{
    size_t rb = sq_packed_row_bytes(cols, bits);
    for (size_t r = 0; r < rows; r++) sq_unpack_row(packed + r * rb, cols, bits, codes + r * cols);
}



/* Restore source tensor `name` (described by d) to float32 (d->numel values). */
static int restore(const sq_qfile *q, const char *name, const sq_qtensor *d, float *out, sq_err *e)
{
    /* every part present with the right size before anything is sized from the description */
    if (sq_qfile_check(q, name, d, e)) return e->code;
    const sq_st_file *f = q->f;
    size_t n = d->numel;
    int k = d->k, rc = SQ_OK;
    char sfx[64];
    uint8_t *packed = NULL, *codes = NULL, *ids = NULL;
    float *part = NULL, *scale = NULL, *mn = NULL;
    uint16_t *s16 = NULL, *m16 = NULL;
    /* whole-tensor groups are stored as one long row for the math, packed per row */
    size_t qrows = d->group ? d->rows : 1, qcols = d->group ? d->cols : n, qg = d->group ? d->group : n;

    if (d->kind == SQ_QT_SPLIT || d->kind == SQ_QT_BIAS) {
        part = sq_malloc(n * sizeof(float), e);
        if (!part) return e->code;
        memset(out, 0, n * sizeof(float));
        for (int c = 0; c < k && !rc; c++) {
            char buf[1100];
            snprintf(buf, sizeof buf, "%s.sq.part%d", name, c);
            const sq_tensor_info *t = sq_st_find(f, buf);
            if (!t || t->dtype != SQ_DT_F32 || t->numel != n) {
                rc = sq_fail(e, SQ_EINPUT, "tensor '%s' is missing or has the wrong dtype/size (expected F32, %zu values)", buf, n);
                break;
            }
            if ((rc = sq_st_read_f32(f, t, part, e))) break;
            for (size_t i = 0; i < n; i++) out[i] += part[i];
        }
        free(part);
        return rc;
    }
    if (d->kind == SQ_QT_CODEBOOK) {
        int8_t table[SQ_CB_MAX_ENTRIES];
        packed = sq_malloc(d->rows * d->row_bytes + 1, e);
        s16 = sq_malloc(d->params * sizeof(uint16_t), e);
        if (!packed || !s16) { rc = e->code; goto done; }
        const sq_tensor_info *tc = sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->row_bytes, e);
        const sq_tensor_info *tt = tc ? sq_qfile_part(q, name, ".sq.table", SQ_DT_I8, 1, (int64_t)1 << d->bits, 0, e) : NULL;
        const sq_tensor_info *ts = tt ? sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 1, (int64_t)d->params, 0, e) : NULL;
        if (!ts || sq_st_read_raw(f, tc, packed, e) || sq_st_read_raw(f, tt, table, e) || read_u16(f, ts, s16, d->params, e)) {
            rc = e->code;
            goto done;
        }
        /* one group for the whole tensor: the codes are still packed per row */
        sq_cb_dequant(packed, table, s16, d->rows, d->cols, d->group, d->bits, out);
        goto done;
    }
    codes = sq_malloc(n, e);
    packed = sq_malloc(d->rows * (d->sym8 ? d->cols : d->row_bytes > d->id_bytes ? d->row_bytes : d->id_bytes) + 1, e);
    if (!codes || !packed) { rc = e->code; goto done; }
    if (d->kind == SQ_QT_PACKED) {
        size_t pk = d->params * (size_t)k;
        ids = sq_calloc(n, 1, e);
        s16 = sq_malloc(pk * sizeof(uint16_t), e);
        m16 = sq_malloc(pk * sizeof(uint16_t), e);
        if (!ids || !s16 || !m16) { rc = e->code; goto done; }
        const sq_tensor_info *tc = sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->row_bytes, e);
        if (!tc || sq_st_read_raw(f, tc, packed, e)) { rc = e->code; goto done; }
        unpack_all(packed, d->rows, d->cols, d->bits, codes);
        if (k > 1) {
            const sq_tensor_info *ti = sq_qfile_part(q, name, ".sq.ids", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->id_bytes, e);
            if (!ti || sq_st_read_raw(f, ti, packed, e)) { rc = e->code; goto done; }
            unpack_all(packed, d->rows, d->cols, sq_id_bits(k), ids);
            for (size_t i = 0; i < n; i++)
                if (ids[i] >= k) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s.sq.ids': cluster id %d >= k = %d", name, ids[i], k); goto done; }
        }
        const sq_tensor_info *ts = sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 2, (int64_t)d->params, k, e);
        const sq_tensor_info *tm = ts ? sq_qfile_part(q, name, ".sq.min", SQ_DT_BF16, 2, (int64_t)d->params, k, e) : NULL;
        if (!tm || read_u16(f, ts, s16, pk, e) || read_u16(f, tm, m16, pk, e)) { rc = e->code; goto done; }
        sq_dequant_clustered(codes, ids, k, s16, m16, qrows, qcols, qg, out);
        goto done;
    }
    /* paper: sum of k sub-layers */
    part = sq_malloc(n * sizeof(float), e);
    scale = sq_malloc(d->params * sizeof(float), e);
    mn = sq_malloc(d->params * sizeof(float), e);
    if (!part || !scale || !mn) { rc = e->code; goto done; }
    memset(out, 0, n * sizeof(float));
    for (int c = 0; c < k; c++) {
        snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
        const sq_tensor_info *tc = d->sym8 ? sq_qfile_part(q, name, sfx, SQ_DT_I8, 2, (int64_t)d->rows, (int64_t)d->cols, e)
                                           : sq_qfile_part(q, name, sfx, SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->row_bytes, e);
        snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
        const sq_tensor_info *ts = tc ? sq_qfile_part(q, name, sfx, SQ_DT_F32, 1, (int64_t)d->params, 0, e) : NULL;
        if (!ts || sq_st_read_f32(f, ts, scale, e)) { rc = e->code; goto done; }
        if (d->sym8) {
            if (sq_st_read_raw(f, tc, codes, e)) { rc = e->code; goto done; }
            sq_dequant_sym8((const int8_t *)codes, scale, d->rows, d->cols, part);
        } else {
            snprintf(sfx, sizeof sfx, ".sq.part%d.min", c);
            const sq_tensor_info *tm = sq_qfile_part(q, name, sfx, SQ_DT_F32, 1, (int64_t)d->params, 0, e);
            if (!tm || sq_st_read_f32(f, tm, mn, e) || sq_st_read_raw(f, tc, packed, e)) { rc = e->code; goto done; }
            unpack_all(packed, d->rows, d->cols, d->bits, codes);
            sq_dequant_affine(codes, scale, mn, qrows, qcols, qg, part);
        }
        for (size_t i = 0; i < n; i++) out[i] += part[i];
    }
done:
    free(packed); free(codes); free(ids); free(part); free(scale); free(mn); free(s16); free(m16);
    return rc;
}

/* The source tensor an output tensor belongs to: the name before ".sq." (or itself). */
static size_t source_len(const char *name)
{
    const char *p = strstr(name, ".sq.");
    return p ? (size_t)(p - name) : strlen(name);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A hostile file could interleave the parts of two sources or reuse a name. */
static int check_unique(const sq_st_writer *w, sq_err *e)
{
    if (w->n < 2) return SQ_OK;
    char **names = sq_malloc(w->n * sizeof *names, e);
    if (!names) return e->code;
    for (size_t i = 0; i < w->n; i++) names[i] = w->tensors[i].name;
    qsort(names, w->n, sizeof *names, cmp_str_ptr);
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
