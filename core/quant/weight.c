/* weight.c - one split weight (or bias): clustered, then quantized by its format's hook
 * (sq_format.quantize, core/formats/), or split into k float parts (--bits f32, which is
 * not a format); and the row-chunk machinery the hooks share (pipeline_int.h).
 *
 * Formats that take a step per sub-layer (paper; the packed format at group=tensor)
 * and --bits f32 run on the sub-layer path below: the values as floats, one parallel
 * step over the row chunks per sub-layer, each written out whole before the next. The
 * packed format's usual path (one fused sweep from the source bytes) and the codebook
 * (one call per tensor) are their own (formats/packed.c, formats/codebook.c).
 */
#include <math.h>
#include <string.h>

#include "pipeline_int.h"
#include "quant.h"

/* ---------------- row chunks ---------------- */

#define CHUNK ((size_t)1 << 16)

size_t sq_chunk_rows(size_t rows, size_t cols)
{
    size_t r = cols ? CHUNK / cols : rows;
    if (r < 1) r = 1;
    return r < rows ? r : rows ? rows : 1;
}

double sq_sum_chunks(const double *s, size_t n)
{
    double t = 0;
    for (size_t c = 0; c < n; c++) t += s[c];
    return t;
}

/* ---------------- the sub-layer path ---------------- */

static void sub_chunk(void *arg, size_t chunk)
{
    sq_sub_job *j = arg;
    const layout *L = &j->L;
    size_t r0 = chunk * j->chunk_rows;
    size_t r1 = r0 + j->chunk_rows < L->rows ? r0 + j->chunk_rows : L->rows;
    if (r0 >= r1) return;
    size_t nr = r1 - r0, off = r0 * L->cols, cnt = nr * L->cols;
    const float *x = j->x + off;
    float *deq = j->deq + off;

    if (j->have_km && j->part <= 0 && !j->plain) /* first step assigns clusters */
        for (size_t i = 0; i < cnt; i++) j->ids[off + i] = sq_assign_id(j->bounds, j->o->clusters, x[i]);
    j->step(j, r0, nr);
    /* pack this chunk's rows (all stored rows when the math saw one long row) */
    const layout *P = &j->P;
    size_t p0 = P->rows == L->rows ? r0 : 0, p1 = P->rows == L->rows ? r1 : P->rows;
    if (j->packed)
        for (size_t r = p0; r < p1; r++) sq_pack_row(j->codes + r * P->cols, P->cols, j->o->bits, j->packed + r * P->row_bytes);
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

int sq_sub_begin(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km, int need_part,
                 sq_sub_job *j, sq_err *e)
{
    workspace *ws = r->ws;
    int k = r->o->clusters, rc;
    /* this path writes as it goes: what is queued goes first */
    if ((rc = sq_queue_flush_all(r, e))) return rc;
    memset(j, 0, sizeof *j);
    /* one group for the whole tensor: the math sees one long row, packing still goes
       row by row (see sq_qgeom_make), so such tensors run as a single chunk */
    j->L = *L0;
    if (L0->group == 0) { j->L.rows = 1; j->L.cols = L0->n; j->L.group = L0->n; j->L.groups = 1; }
    j->P = *L0;
    j->o = r->o;
    j->x = in->x;
    j->bg = in->bg;
    j->chunk_rows = L0->group == 0 ? 1 : sq_chunk_rows(j->L.rows, j->L.cols);
    j->n_chunks = (j->L.rows + j->chunk_rows - 1) / j->chunk_rows;
    j->ids = sq_wbuf_get(&ws->ids, L0->n, e);
    j->codes = sq_wbuf_get(&ws->codes, L0->n, e);
    j->deq = sq_wbuf_get(&ws->deq, L0->n * sizeof(float), e);
    j->sse = sq_wbuf_get(&ws->sse, j->n_chunks * sizeof(double), e);
    j->tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    if (need_part) j->part_buf = sq_wbuf_get(&ws->part, L0->n * sizeof(float), e);
    if (e->code) return e->code;
    memset(j->deq, 0, L0->n * sizeof(float));
    j->have_km = k > 1;
    if (k > 1) sq_pad_bounds(km, k, j->bounds);
    else memset(j->ids, 0, L0->n);
    return SQ_OK;
}

int sq_sub_run(const qrun *r, sq_sub_job *j, sq_err *e)
{
    int rc = sq_run_with_io(r->hooks, j->n_chunks, sub_chunk, j, j->bg, e);
    j->bg = NULL;
    return rc;
}

void sq_sub_finish(const qrun *r, const weight_in *in, sq_sub_job *j, sq_layer_stats *st)
{
    const layout *L0 = &j->P;
    st->mse = L0->n ? sq_sum_chunks(j->sse, j->n_chunks) / (double)L0->n : 0;
    if (in->deq_out) memcpy(in->deq_out, j->deq, L0->n * sizeof(float));
    if (r->o->clusters == 1 || r->o->bits == SQ_BITS_F32) st->mse_plain = st->mse;
    else if (r->o->skip_plain) st->mse_plain = NAN;
    else {
        /* the same bits without splitting, for comparison */
        sq_err none = {0};
        memset(j->deq, 0, L0->n * sizeof(float));
        j->plain = 1;
        j->last = 1;
        j->part = 0;
        j->packed = NULL;
        j->packed_ids = NULL;
        sq_sub_run(r, j, &none); /* no I/O task left: cannot fail */
        st->mse_plain = L0->n ? sq_sum_chunks(j->sse, j->n_chunks) / (double)L0->n : 0;
    }
}

/* --bits f32: k float sub-layers, part c = the values of cluster c, zeros elsewhere. */
static void f32_step(sq_sub_job *j, size_t r0, size_t nr)
{
    size_t off = r0 * j->L.cols, cnt = nr * j->L.cols;
    const float *x = j->x + off;
    float *pb = j->part_buf + off, *deq = j->deq + off;
    for (size_t i = 0; i < cnt; i++) {
        pb[i] = j->ids[off + i] == j->part ? x[i] : 0.0f;
        deq[i] += pb[i];
    }
}

static int weight_f32(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km,
                      sq_layer_stats *st, sq_err *e)
{
    sq_sub_job j;
    int rc;
    if ((rc = sq_sub_begin(r, in, L0, km, 1, &j, e))) return rc;
    j.step = f32_step;
    for (int c = 0; c < r->o->clusters; c++) {
        j.part = c;
        j.last = c == r->o->clusters - 1;
        if ((rc = sq_sub_run(r, &j, e))) return rc;
        if ((rc = sq_put_f32(r->w, j.part_buf, L0->n, j.tmp, WS_TMP, e))) return rc;
    }
    sq_sub_finish(r, in, &j, st);
    return SQ_OK;
}

/* ---------------- one weight, one bias ---------------- */

int sq_is_fused(const sq_plan_item *it, const sq_quant_opts *o)
{
    const sq_format *F = &sq_formats[o->format];
    if (o->bits == SQ_BITS_F32 || !F->reads_source) return 0;
    layout L = sq_layout_of(it, o);
    return F->reads_source(&L);
}

int sq_is_streamed(const sq_plan_item *it, const sq_quant_opts *o)
{
    sq_quant_opts tmp;
    if (!it->emb) return 0;
    o = sq_item_opts(it, o, &tmp); /* packed, k = 1 (the same from the item's own options) */
    return o->format == SQ_FMT_PACKED && o->clusters == 1 && sq_is_fused(it, o);
}

int sq_process_weight(const qrun *r, const weight_in *in, sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    const sq_plan_item *it = in->it;
    layout L0 = sq_layout_of(it, o);
    sq_kmeans_result km;
    memset(&km, 0, sizeof km);
    if (in->rows) { /* streamed, k = 1: the statistics are known once the last block is in */
        int rc = sq_formats[o->format].quantize(r, in, &L0, &km, st, e);
        return rc ? rc : sq_cluster_scanned(in->sj, NULL, L0.n, 1, 0, &km, st, e);
    }
    int rc = sq_cluster_scanned(in->sj, in->x, L0.n, o->clusters, sq_name_seed(o->seed, it->t->name), &km, st, e);
    if (rc) return rc;
    if (o->bits == SQ_BITS_F32) return weight_f32(r, in, &L0, &km, st, e);
    return sq_formats[o->format].quantize(r, in, &L0, &km, st, e);
}

int sq_process_bias(const qrun *r, const sq_plan_item *it, const float *x, sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    size_t n = it->rows;
    int k = o->clusters;
    uint8_t *ids = sq_wbuf_get(&ws->ids, n, e);
    float *part = sq_wbuf_get(&ws->part, n * sizeof(float), e);
    uint8_t *tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    int rc = e->code;
    if (!ids || !part || !tmp) return rc;
    if ((rc = sq_cluster_values(x, n, k, sq_name_seed(o->seed, it->t->name), ids, st, e))) return rc;
    st->mse = st->mse_plain = 0; /* biases stay float */
    if (sq_bias_has_parts(o)) {
        for (int c = 0; c < k && !rc; c++) {
            for (size_t i = 0; i < n; i++) part[i] = ids[i] == c ? x[i] : 0.0f;
            rc = sq_put_f32(r->w, part, n, tmp, WS_TMP, e);
        }
    } else {
        /* kept as it is: copy the original bytes */
        size_t bytes = (size_t)(it->t->end - it->t->begin);
        uint8_t *raw = sq_wbuf_get(&ws->codes, bytes, e);
        if (!raw) return e->code;
        sq_from_f32(it->t->dtype, x, raw, n); /* exact: x came from this dtype */
        rc = sq_stw_data(r->w, raw, bytes, e);
    }
    return rc;
}
