/* weight.c - one split weight (or bias) quantized in its format and written out.
 *
 * The packed format does all of a group's work in one sweep from the source bytes
 * (sq_quant_clustered_rows) and leaves its tensors in an output set of the queue; the
 * sub-layer formats (paper, --bits f32) and group=tensor take a step per sub-layer and
 * write as they go; the codebook format quantizes the whole tensor in one call.
 */
#include <math.h>
#include <string.h>

#include "pipeline_int.h"
#include "quant.h"
#include "../formats/codebook.h"

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
} fused_job;

static void fused_chunk(void *arg, size_t t)
{
    fused_job *j = arg;
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
} weight_job;

static void weight_chunk(void *arg, size_t chunk)
{
    weight_job *j = arg;
    const layout *L = j->L;
    size_t r0 = chunk * j->chunk_rows;
    size_t r1 = r0 + j->chunk_rows < L->rows ? r0 + j->chunk_rows : L->rows;
    if (r0 >= r1) return;
    size_t nr = r1 - r0, off = r0 * L->cols, cnt = nr * L->cols;
    const float *x = j->x + off;
    float *deq = j->deq + off;
    int bits = j->o->bits, k = j->plain ? 1 : j->o->clusters;

    if (j->have_km && j->part <= 0 && !j->plain) /* first step assigns clusters */
        for (size_t i = 0; i < cnt; i++) j->ids[off + i] = sq_assign_id(j->bounds, j->o->clusters, x[i]);

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

/* One step over every chunk; the I/O task *bg goes with the first step only. */
static int run_chunks(const sq_quant_hooks *h, weight_job *j, bg_task **bg, sq_err *e)
{
    int rc = sq_run_with_io(h, j->n_chunks, weight_chunk, j, *bg, e);
    *bg = NULL;
    return rc;
}

static double sum_chunks(const double *s, size_t n)
{
    double t = 0;
    for (size_t c = 0; c < n; c++) t += s[c];
    return t;
}

/* The packed format, fused. The tensors wait in the current output set, described by the
 * queue, until sq_queue_flush writes them: at once unless defer (then in the background of the
 * next weight's scan, or before the next write of the calling thread). */
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
    j.chunk_rows = chunk_rows_for(L0->rows, L0->cols);
    j.n_chunks = (L0->rows + j.chunk_rows - 1) / j.chunk_rows;
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
    st->mse = L0->n ? sum_chunks(j.sse, j.n_chunks) / (double)L0->n : 0;
    if (k == 1) st->mse_plain = st->mse;
    else if (!plain) st->mse_plain = NAN;
    else st->mse_plain = L0->n ? sum_chunks(j.sse_plain, j.n_chunks) / (double)L0->n : 0;
    return SQ_OK;
}

/* The codebook format (formats/codebook.c): one table per tensor, so the whole tensor is
 * quantized on this thread in one call, then written. mse_plain: the packed format's
 * plain quantization (k = 1) with the same bits at its own default groups, the
 * baseline this format is meant to beat at equal size. */
static int weight_codebook(const qrun *r, const weight_in *in, const layout *L, sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    workspace *ws = r->ws;
    sq_st_writer *w = r->w;
    const float *x = in->x;
    int rc;
    if ((rc = sq_queue_flush_all(r, e))) return rc;
    size_t K = (size_t)1 << o->bits;
    uint8_t *packed = sq_wbuf_get(&ws->lone.packed, L->rows * L->row_bytes + 1, e);
    uint16_t *s16 = sq_wbuf_get(&ws->lone.s16, L->params * sizeof(uint16_t), e);
    void *scr = sq_wbuf_get(&ws->scratch, sq_cb_scratch(L->rows, L->cols, L->group), e);
    uint8_t *tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    if (!packed || !s16 || !scr || !tmp) return e->code;
    int8_t table[SQ_CB_MAX_ENTRIES];
    double sse = 0;
    sq_cb_quantize(x, L->rows, L->cols, L->group, o->bits, table, s16, packed, in->deq_out, &sse, scr);
    if ((rc = sq_stw_data(w, packed, L->rows * L->row_bytes, e))) return rc;
    if ((rc = sq_stw_data(w, table, K, e))) return rc;
    if ((rc = sq_put_u16(w, s16, L->params, tmp, WS_TMP, e))) return rc;
    st->mse = L->n ? sse / (double)L->n : 0;
    if (o->skip_plain || !L->n) {
        st->mse_plain = o->skip_plain ? NAN : 0;
        return SQ_OK;
    }
    size_t g = sq_group_size(o->group, L->cols), P = g ? L->rows * ((L->cols + g - 1) / g) : 1;
    size_t pr = g ? L->rows : 1, pc = g ? L->cols : L->n;
    uint8_t *codes = sq_wbuf_get(&ws->codes, L->n, e);
    float *deq = sq_wbuf_get(&ws->deq, L->n * sizeof(float), e);
    uint16_t *ps = sq_wbuf_get(&ws->scale, P * sizeof(uint16_t), e), *pm = sq_wbuf_get(&ws->min, P * sizeof(uint16_t), e);
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

int sq_is_fused(const sq_plan_item *it, const sq_quant_opts *o)
{
    return o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32 && sq_layout_of(it, o).group != 0;
}

int sq_process_weight(const qrun *r, const weight_in *in, sq_layer_stats *st, sq_err *e)
{
    const sq_quant_opts *o = r->o;
    const sq_quant_hooks *hooks = r->hooks;
    workspace *ws = r->ws;
    sq_st_writer *w = r->w;
    const sq_plan_item *it = in->it;
    const float *x = in->x;
    bg_task *bg = in->bg;
    layout L0 = sq_layout_of(it, o);
    int k = o->clusters, rc = SQ_OK;
    sq_kmeans_result km;
    memset(&km, 0, sizeof km);
    if ((rc = sq_cluster_scanned(in->sj, x, L0.n, k, sq_name_seed(o->seed, it->t->name), &km, st, e))) return rc;
    if (o->format == SQ_FMT_CODEBOOK) return weight_codebook(r, in, &L0, st, e);
    if (o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32 && L0.group != 0) return weight_fused(r, in, &L0, &km, st, e);

    /* this path writes as it goes: what is queued goes first */
    if ((rc = sq_queue_flush_all(r, e))) return rc;
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
    j.chunk_rows = L0.group == 0 ? 1 : chunk_rows_for(Lq.rows, Lq.cols);
    j.n_chunks = (Lq.rows + j.chunk_rows - 1) / j.chunk_rows;
    j.ids = sq_wbuf_get(&ws->ids, L0.n, e);
    j.codes = sq_wbuf_get(&ws->codes, L0.n, e);
    j.deq = sq_wbuf_get(&ws->deq, L0.n * sizeof(float), e);
    j.sse = sq_wbuf_get(&ws->sse, j.n_chunks * sizeof(double), e);
    uint8_t *tmp = sq_wbuf_get(&ws->tmp, WS_TMP, e);
    size_t tmpn = WS_TMP;
    int need_part = o->bits == SQ_BITS_F32 || o->format == SQ_FMT_PAPER;
    if (need_part) j.part_buf = sq_wbuf_get(&ws->part, L0.n * sizeof(float), e);
    outset *os = &ws->lone;
    if (o->bits != SQ_BITS_F32 && !L0.sym8) j.packed = sq_wbuf_get(&os->packed, L0.rows * L0.row_bytes + 1, e);
    if (o->format == SQ_FMT_PACKED && o->bits != SQ_BITS_F32) {
        j.s16 = sq_wbuf_get(&os->s16, pk * sizeof(uint16_t), e);
        j.m16 = sq_wbuf_get(&os->m16, pk * sizeof(uint16_t), e);
        if (k > 1) j.packed_ids = sq_wbuf_get(&os->packed_ids, L0.rows * L0.id_bytes + 1, e);
    } else {
        j.scale = sq_wbuf_get(&ws->scale, L0.params * sizeof(float), e);
        j.min = sq_wbuf_get(&ws->min, L0.params * sizeof(float), e);
    }
    if (e->code) return e->code;
    memset(j.deq, 0, L0.n * sizeof(float));
    j.have_km = k > 1;
    if (k > 1) sq_pad_bounds(&km, k, j.bounds);
    else memset(j.ids, 0, L0.n);

    if (o->bits == SQ_BITS_F32 || o->format == SQ_FMT_PAPER) {
        /* k sub-layers, each written whole before the next */
        for (int c = 0; c < k; c++) {
            j.part = c;
            j.last = c == k - 1;
            if ((rc = run_chunks(hooks, &j, &bg, e))) return rc;
            if (o->bits == SQ_BITS_F32) {
                if ((rc = sq_put_f32(w, j.part_buf, L0.n, tmp, tmpn, e))) return rc;
            } else if (L0.sym8) {
                if ((rc = sq_stw_data(w, j.codes, L0.n, e))) return rc;
                if ((rc = sq_put_f32(w, j.scale, L0.rows, tmp, tmpn, e))) return rc;
            } else {
                if ((rc = sq_stw_data(w, j.packed, L0.rows * L0.row_bytes, e))) return rc;
                if ((rc = sq_put_f32(w, j.scale, L0.params, tmp, tmpn, e))) return rc;
                if ((rc = sq_put_f32(w, j.min, L0.params, tmp, tmpn, e))) return rc;
            }
        }
    } else {
        j.part = 0;
        j.last = 1;
        if ((rc = run_chunks(hooks, &j, &bg, e))) return rc;
        if ((rc = sq_stw_data(w, j.packed, L0.rows * L0.row_bytes, e))) return rc;
        if (k > 1 && (rc = sq_stw_data(w, j.packed_ids, L0.rows * L0.id_bytes, e))) return rc;
        if ((rc = sq_put_u16(w, j.s16, pk, tmp, tmpn, e))) return rc;
        if ((rc = sq_put_u16(w, j.m16, pk, tmp, tmpn, e))) return rc;
    }
    st->mse = L0.n ? sum_chunks(j.sse, j.n_chunks) / (double)L0.n : 0;
    if (in->deq_out) memcpy(in->deq_out, j.deq, L0.n * sizeof(float));
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
        run_chunks(hooks, &j, &bg, e); /* no I/O task left: cannot fail */
        st->mse_plain = L0.n ? sum_chunks(j.sse, j.n_chunks) / (double)L0.n : 0;
    }
    return SQ_OK;
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

