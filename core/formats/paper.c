/* paper.c - the `paper` format's hooks (paper.h): its part tensors, quantizing a weight
 * into them (the sub-layer path of weight.c: one step per cluster, each sub-layer
 * written out whole before the next) and restoring it.
 */
#include "paper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/pipeline_int.h"
#include "../quant/qfile.h"
#include "../quant/quant.h"

/* k sub-layers, each codes + F32 scale (+ F32 min unless symmetric INT8) */
int sq_paper_parts(const sq_qgeom *g, sq_qpart *o)
{
    int n = 0;
    char sfx[24]; /* part numbers are < SQ_MAX_K: printed as unsigned char so gcc -O1 sees they fit */
    for (int c = 0; c < g->k && c < SQ_MAX_K; c++) {
        snprintf(sfx, sizeof sfx, ".sq.part%u.codes", (unsigned)(unsigned char)c);
        o[n++] = g->sym8 ? sq_qpart_make(sfx, SQ_DT_I8, 2, g->rows, g->cols)
                         : sq_qpart_make(sfx, SQ_DT_U8, 2, g->rows, g->row_bytes);
        snprintf(sfx, sizeof sfx, ".sq.part%u.scale", (unsigned)(unsigned char)c);
        o[n++] = sq_qpart_make(sfx, SQ_DT_F32, 1, g->params, 0);
        if (!g->sym8) {
            snprintf(sfx, sizeof sfx, ".sq.part%u.min", (unsigned)(unsigned char)c);
            o[n++] = sq_qpart_make(sfx, SQ_DT_F32, 1, g->params, 0);
        }
    }
    return n;
}

/* Rows [r0, r0 + nr) of sub-layer j->part (or, plain, of the weight itself) quantized
 * and dequantized: the sub-layer is added to the running sum, the plain weight replaces
 * it. */
static void paper_step(sq_sub_job *j, size_t r0, size_t nr)
{
    const layout *L = &j->L;
    size_t off = r0 * L->cols, cnt = nr * L->cols;
    const float *x = j->x + off;
    float *deq = j->deq + off;
    int bits = j->o->bits;
    const float *src = x;
    float *dst = deq;
    if (!j->plain) {
        float *pb = j->part_buf + off; /* dequantized in place after quantizing */
        for (size_t i = 0; i < cnt; i++) pb[i] = j->ids[off + i] == j->part ? x[i] : 0.0f;
        src = dst = pb;
    }
    if (L->sym8) {
        sq_quant_sym8(src, nr, L->cols, (int8_t *)j->codes + off, j->scale + r0);
        sq_dequant_sym8((const int8_t *)j->codes + off, j->scale + r0, nr, L->cols, dst);
    } else {
        sq_quant_affine(src, nr, L->cols, L->group, bits, j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups);
        sq_dequant_affine(j->codes + off, j->scale + r0 * L->groups, j->min + r0 * L->groups, nr, L->cols, L->group, dst);
    }
    if (!j->plain)
        for (size_t i = 0; i < cnt; i++) deq[i] += dst[i];
}

int sq_paper_quantize(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km,
                      sq_layer_stats *st, sq_err *e)
{
    workspace *ws = r->ws;
    int k = r->o->clusters, rc;
    sq_sub_job j;
    if ((rc = sq_sub_begin(r, in, L0, km, 1, &j, e))) return rc;
    j.step = paper_step;
    if (!L0->sym8) j.packed = sq_wbuf_get(&ws->lone.packed, L0->rows * L0->row_bytes + 1, e); /* INT8: codes as they are */
    j.scale = sq_wbuf_get(&ws->scale, L0->params * sizeof(float), e);
    j.min = sq_wbuf_get(&ws->min, L0->params * sizeof(float), e);
    if (e->code) return e->code;
    for (int c = 0; c < k; c++) {
        j.part = c;
        j.last = c == k - 1;
        if ((rc = sq_sub_run(r, &j, e))) return rc;
        if (L0->sym8) {
            if ((rc = sq_stw_data(r->w, j.codes, L0->n, e))) return rc;
            if ((rc = sq_put_f32(r->w, j.scale, L0->rows, j.tmp, WS_TMP, e))) return rc;
        } else {
            if ((rc = sq_stw_data(r->w, j.packed, L0->rows * L0->row_bytes, e))) return rc;
            if ((rc = sq_put_f32(r->w, j.scale, L0->params, j.tmp, WS_TMP, e))) return rc;
            if ((rc = sq_put_f32(r->w, j.min, L0->params, j.tmp, WS_TMP, e))) return rc;
        }
    }
    sq_sub_finish(r, in, &j, st);
    return SQ_OK;
}

/* The sum of the k sub-layers. */
int sq_paper_dequantize(const sq_qfile *q, const char *name, const sq_qtensor *d, float *out, sq_err *e)
{
    const sq_st_file *f = q->f;
    size_t n = d->numel;
    int rc = SQ_OK;
    char sfx[64];
    /* whole-tensor groups are stored as one long row for the math, packed per row */
    size_t qrows = d->group ? d->rows : 1, qcols = d->group ? d->cols : n, qg = d->group ? d->group : n;
    uint8_t *codes = sq_malloc(n, e);
    uint8_t *packed = sq_malloc(d->rows * d->row_bytes + 1, e);
    float *part = sq_malloc(n * sizeof(float), e);
    float *scale = sq_malloc(d->params * sizeof(float), e), *mn = sq_malloc(d->params * sizeof(float), e);
    if (!codes || !packed || !part || !scale || !mn) { rc = e->code; goto done; }
    memset(out, 0, n * sizeof(float));
    for (int c = 0; c < d->k; c++) {
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
            sq_unpack_rows(packed, d->rows, d->cols, d->bits, codes);
            sq_dequant_affine(codes, scale, mn, qrows, qcols, qg, part);
        }
        for (size_t i = 0; i < n; i++) out[i] += part[i];
    }
done:
    free(codes); free(packed); free(part); free(scale); free(mn);
    return rc;
}
