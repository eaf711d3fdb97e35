/* packed.c - the `packed` format's hooks (packed.h): its part tensors, quantizing a
 * weight into them and restoring it.
 *
 * Groups along rows (the usual case) take one fused sweep per row chunk straight from
 * the source bytes (sq_quant_clustered_rows) and leave the tensors in an output set of
 * the queue, to be written in the background of the next weight; the embedding and the
 * head (k = 1) take the same chunks a block of rows at a time, written as they go; one
 * group for the whole tensor takes the sub-layer path (weight.c) with a single step.
 */
#include "packed.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/pipeline_int.h"
#include "../quant/qfile.h"
#include "../quant/quant.h"

/* codes, cluster ids (k > 1), BF16 scale and min per (parameter set, cluster) */
int sq_packed_parts(const sq_qgeom *g, sq_qpart *o)
{
    int n = 0;
    o[n++] = sq_qpart_make(".sq.codes", SQ_DT_U8, 2, g->rows, g->row_bytes);
    if (g->k > 1) o[n++] = sq_qpart_make(".sq.ids", SQ_DT_U8, 2, g->rows, g->id_bytes);
    o[n++] = sq_qpart_make(".sq.scale", SQ_DT_BF16, 2, g->params, (size_t)g->k);
    o[n++] = sq_qpart_make(".sq.min", SQ_DT_BF16, 2, g->params, (size_t)g->k);
    return n;
}

int sq_packed_reads_source(const sq_qgeom *L) { return L->group != 0; }

/* ---------------- groups along rows: one fused sweep per chunk ---------------- */

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
    /* the rows [row0, row_end) that src, packed and packed_ids hold (all of them, unless
       streamed: one block), from chunk chunk0 on; s16, m16, deq and sse cover the tensor */
    size_t row0, row_end, chunk0;
} fused_job;

static void fused_chunk(void *arg, size_t t)
{
    fused_job *j = arg;
    const layout *L = j->L;
    size_t c = j->chunk0 + t;
    size_t r0 = c * j->chunk_rows, r1 = r0 + j->chunk_rows < j->row_end ? r0 + j->chunk_rows : j->row_end;
    size_t b = r0 - j->row0; /* the chunk's first row in the block */
    size_t pk = L->groups * (size_t)j->k;
    size_t es = j->dtype == SQ_DT_F32 ? sizeof(float) : sq_dtype_size(j->dtype);
    sq_quant_clustered_rows(j->src + b * L->cols * es, j->dtype, r1 - r0, L->cols, L->group, j->bits, j->k,
                            j->bounds, j->packed + b * L->row_bytes, j->k > 1 ? j->packed_ids + b * L->id_bytes : NULL,
                            j->s16 + r0 * pk, j->m16 + r0 * pk, j->deq ? j->deq + r0 * L->cols : NULL, &j->sse[c],
                            j->sse_plain ? &j->sse_plain[c] : NULL, j->scratch + t * j->scratch_stride);
}

/* The tensors wait in the current output set, described by the queue, until
 * sq_queue_flush writes them: at once unless defer (then in the background of the next
 * weight's scan, or before the next write of the calling thread). */
static int weight_fused(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km,
                        sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    int k = o->clusters, rc = SQ_OK;
    size_t pk = L0->params * (size_t)k;
    fused_job j;
    memset(&j, 0, sizeof j);
    j.L = L0;
    j.bits = o->bits;
    j.k = k;
    j.src = in->x ? (const void *)in->x : in->src;
    j.dtype = in->x ? SQ_DT_F32 : in->dtype;
    sq_pad_bounds(k > 1 ? km : NULL, k, j.bounds);
    j.chunk_rows = sq_chunk_rows(L0->rows, L0->cols);
    j.n_chunks = (L0->rows + j.chunk_rows - 1) / j.chunk_rows;
    j.row_end = L0->rows;
    int plain = k > 1 && !o->skip_plain;
    j.deq = in->deq_out;
    int set = sq_queue_acquire_set(r, e);
    if (set < 0) return e->code;
    ws->set_busy[set] = 1;
    outset *os = &ws->sets[set];
    j.packed = sq_wbuf_get(&os->packed, L0->rows * L0->row_bytes + 1, e);
    if (k > 1) j.packed_ids = sq_wbuf_get(&os->packed_ids, L0->rows * L0->id_bytes + 1, e);
    j.s16 = sq_wbuf_get(&os->s16, pk * sizeof(uint16_t), e);
    j.m16 = sq_wbuf_get(&os->m16, pk * sizeof(uint16_t), e);
    j.scratch_stride = (sq_quant_rows_scratch(L0->cols) + 15) & ~(size_t)15;
    j.scratch = sq_wbuf_get(&ws->scratch, j.n_chunks * j.scratch_stride, e);
    j.sse = sq_wbuf_get(&ws->sse, j.n_chunks * 2 * sizeof(double), e);
    if (e->code) return e->code;
    if (plain) j.sse_plain = j.sse + j.n_chunks;
    rc = sq_run_with_io(r->hooks, j.n_chunks, fused_chunk, &j, in->bg, e);
    sq_queue_reap(r);
    if (rc) return rc;
    qentry *q = sq_queue_push(r->po, Q_WEIGHT);
    q->set = set;
    q->codes_n = L0->rows * L0->row_bytes;
    q->ids_n = k > 1 ? L0->rows * L0->id_bytes : 0;
    q->pk = pk;
    r->po->weight_bytes += sq_qentry_bytes(q);
    if (!r->defer && (rc = sq_queue_flush_all(r, e))) return rc;
    st->mse = L0->n ? sq_sum_chunks(j.sse, j.n_chunks) / (double)L0->n : 0;
    if (k == 1) st->mse_plain = st->mse;
    else if (!plain) st->mse_plain = NAN;
    else st->mse_plain = L0->n ? sq_sum_chunks(j.sse_plain, j.n_chunks) / (double)L0->n : 0;
    return SQ_OK;
}

/* ---------------- groups along rows, streamed in row blocks ---------------- */

/* The token embedding and the LM head (k = 1: rows are independent) come a block of rows
 * at a time (weight_in.rows): each block goes through the same chunks as above, and its
 * codes are written at once, so memory is one block however large the vocabulary. The
 * scales and mins (4 bytes per group) follow all the codes in the file: they wait for the
 * last block. The same bytes and sums as the whole tensor in one sweep (same chunks). */
static int weight_streamed(const qrun *r, const weight_in *in, const layout *L0, sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    outset *os = &ws->lone;
    int rc;
    if (o->clusters != 1) return sq_fail(e, SQ_EINTERNAL, "a streamed weight has k = 1 (got %d)", o->clusters);
    /* this path writes as it goes: what is queued goes first */
    if ((rc = sq_queue_flush_all(r, e))) return rc;
    fused_job j;
    memset(&j, 0, sizeof j);
    j.L = L0;
    j.bits = o->bits;
    j.k = 1;
    j.chunk_rows = sq_chunk_rows(L0->rows, L0->cols);
    j.n_chunks = (L0->rows + j.chunk_rows - 1) / j.chunk_rows;
    size_t per_chunk = j.chunk_rows * L0->cols, chunks = per_chunk < STREAM_VALUES ? STREAM_VALUES / per_chunk : 1;
    size_t block = chunks * j.chunk_rows;
    j.deq = in->deq_out;
    j.packed = sq_wbuf_get(&os->packed, block * L0->row_bytes + 1, e);
    j.s16 = sq_wbuf_get(&os->s16, L0->params * sizeof(uint16_t), e);
    j.m16 = sq_wbuf_get(&os->m16, L0->params * sizeof(uint16_t), e);
    j.scratch_stride = (sq_quant_rows_scratch(L0->cols) + 15) & ~(size_t)15;
    j.scratch = sq_wbuf_get(&ws->scratch, chunks * j.scratch_stride, e);
    j.sse = sq_wbuf_get(&ws->sse, j.n_chunks * sizeof(double), e);
    uint8_t *tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    if (e->code) return e->code;
    for (size_t r0 = 0; r0 < L0->rows; r0 += block) {
        size_t nr = L0->rows - r0 < block ? L0->rows - r0 : block;
        const void *src;
        if ((rc = in->rows->next(in->rows, r0, nr, &src, &j.dtype, e))) return rc;
        j.src = src;
        j.row0 = r0;
        j.row_end = r0 + nr;
        j.chunk0 = r0 / j.chunk_rows;
        if ((rc = sq_run_with_io(r->hooks, (nr + j.chunk_rows - 1) / j.chunk_rows, fused_chunk, &j, NULL, e))) return rc;
        if ((rc = sq_stw_data(r->w, j.packed, nr * L0->row_bytes, e))) return rc;
    }
    if ((rc = sq_put_u16(r->w, j.s16, L0->params, tmp, WS_TMP, e))) return rc;
    if ((rc = sq_put_u16(r->w, j.m16, L0->params, tmp, WS_TMP, e))) return rc;
    st->mse = st->mse_plain = L0->n ? sq_sum_chunks(j.sse, j.n_chunks) / (double)L0->n : 0;
    return SQ_OK;
}

/* ---------------- one group for the whole tensor: the sub-layer path ---------------- */

static void tensor_step(sq_sub_job *j, size_t r0, size_t nr)
{
    const layout *L = &j->L;
    size_t off = r0 * L->cols;
    int k = j->plain ? 1 : j->o->clusters;
    size_t pk = L->groups * (size_t)k;
    const uint8_t *ids = j->plain ? NULL : j->ids + off;
    sq_quant_clustered(j->x + off, ids, k, nr, L->cols, L->group, j->o->bits, j->codes + off, j->s16 + r0 * pk,
                       j->m16 + r0 * pk);
    sq_dequant_clustered(j->codes + off, ids, k, j->s16 + r0 * pk, j->m16 + r0 * pk, nr, L->cols, L->group, j->deq + off);
}

static int weight_tensor(const qrun *r, const weight_in *in, const layout *L0, const sq_kmeans_result *km,
                         sq_layer_stats *st, sq_err *e)
{
    outset *os = &r->ws->lone;
    int k = r->o->clusters, rc;
    size_t pk = L0->params * (size_t)k;
    sq_sub_job j;
    if ((rc = sq_sub_begin(r, in, L0, km, 0, &j, e))) return rc;
    j.step = tensor_step;
    j.packed = sq_wbuf_get(&os->packed, L0->rows * L0->row_bytes + 1, e);
    j.s16 = sq_wbuf_get(&os->s16, pk * sizeof(uint16_t), e);
    j.m16 = sq_wbuf_get(&os->m16, pk * sizeof(uint16_t), e);
    if (k > 1) j.packed_ids = sq_wbuf_get(&os->packed_ids, L0->rows * L0->id_bytes + 1, e);
    if (e->code) return e->code;
    j.part = 0;
    j.last = 1;
    if ((rc = sq_sub_run(r, &j, e))) return rc;
    if ((rc = sq_stw_data(r->w, j.packed, L0->rows * L0->row_bytes, e))) return rc;
    if (k > 1 && (rc = sq_stw_data(r->w, j.packed_ids, L0->rows * L0->id_bytes, e))) return rc;
    if ((rc = sq_put_u16(r->w, j.s16, pk, j.tmp, WS_TMP, e))) return rc;
    if ((rc = sq_put_u16(r->w, j.m16, pk, j.tmp, WS_TMP, e))) return rc;
    sq_sub_finish(r, in, &j, st);
    return SQ_OK;
}

int sq_packed_quantize(const qrun *r, const weight_in *in, const layout *L, const sq_kmeans_result *km,
                       sq_layer_stats *st, sq_err *e)
{
    if (in->rows) return L->group != 0 ? weight_streamed(r, in, L, st, e) : sq_fail(e, SQ_EINTERNAL, "a streamed weight has groups along rows");
    return L->group != 0 ? weight_fused(r, in, L, km, st, e) : weight_tensor(r, in, L, km, st, e);
}

/* ---------------- restoring ---------------- */

int sq_packed_dequantize(const sq_qfile *q, const char *name, const sq_qtensor *d, float *out, sq_err *e)
{
    const sq_st_file *f = q->f;
    size_t n = d->numel;
    int k = d->k, rc = SQ_OK;
    size_t pk = d->params * (size_t)k;
    /* whole-tensor groups are stored as one long row for the math, packed per row */
    size_t qrows = d->group ? d->rows : 1, qcols = d->group ? d->cols : n, qg = d->group ? d->group : n;
    uint8_t *codes = sq_malloc(n, e);
    uint8_t *packed = sq_malloc(d->rows * (d->row_bytes > d->id_bytes ? d->row_bytes : d->id_bytes) + 1, e);
    uint8_t *ids = sq_calloc(n, 1, e);
    uint16_t *s16 = sq_malloc(pk * sizeof(uint16_t), e), *m16 = sq_malloc(pk * sizeof(uint16_t), e);
    if (!codes || !packed || !ids || !s16 || !m16) { rc = e->code; goto done; }
    const sq_tensor_info *tc = sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->row_bytes, e);
    if (!tc || sq_st_read_raw(f, tc, packed, e)) { rc = e->code; goto done; }
    sq_unpack_rows(packed, d->rows, d->cols, d->bits, codes);
    if (k > 1) {
        const sq_tensor_info *ti = sq_qfile_part(q, name, ".sq.ids", SQ_DT_U8, 2, (int64_t)d->rows, (int64_t)d->id_bytes, e);
        if (!ti || sq_st_read_raw(f, ti, packed, e)) { rc = e->code; goto done; }
        sq_unpack_rows(packed, d->rows, d->cols, sq_id_bits(k), ids);
        for (size_t i = 0; i < n; i++)
            if (ids[i] >= k) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s.sq.ids': cluster id %d >= k = %d", name, ids[i], k); goto done; }
    }
    const sq_tensor_info *ts = sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 2, (int64_t)d->params, k, e);
    const sq_tensor_info *tm = ts ? sq_qfile_part(q, name, ".sq.min", SQ_DT_BF16, 2, (int64_t)d->params, k, e) : NULL;
    if (!tm || sq_qfile_read_u16(f, ts, s16, pk, e) || sq_qfile_read_u16(f, tm, m16, pk, e)) { rc = e->code; goto done; }
    sq_dequant_clustered(codes, ids, k, s16, m16, qrows, qcols, qg, out);
done:
    free(codes); free(packed); free(ids); free(s16); free(m16);
    return rc;
}
