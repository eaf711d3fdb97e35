/* pipeline.c - walk a model, split and quantize what should be, stream the result.
 *
 * One input tensor at a time: read it as float32, check it is finite, cluster it
 * (k-means), quantize it in the chosen format, write its output tensors, record its
 * statistics. Tensors that are not split are copied in chunks without conversion.
 * The output header is written first, so every output tensor's name, dtype and shape
 * is derived from the plan before any data is processed (layout_* below is the one
 * place that knows the names and shapes of docs/FORMAT.md).
 */
#include "pipeline.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quant.h"

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

int sq_quant_opts_check(const sq_quant_opts *o, sq_err *e)
{
    if (!(o->bits == 2 || o->bits == 3 || o->bits == 4 || o->bits == 8 || o->bits == SQ_BITS_F32))
        return sq_fail(e, SQ_EINPUT, "--bits must be 2, 3, 4, 8 or f32 (got %d)", o->bits);
    if (o->clusters < 1 || o->clusters > 8)
        return sq_fail(e, SQ_EINPUT, "--clusters must be between 1 and 8 (got %d)", o->clusters);
    if (o->format != SQ_FMT_PACKED && o->format != SQ_FMT_PAPER)
        return sq_fail(e, SQ_EINPUT, "--format must be paper or packed");
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
        L.group = sq_group_size(o->group, L.cols);
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

static const char *group_name(int g, char *buf, size_t n)
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
                           : o->format == SQ_FMT_PACKED ? "packed" : "paper";
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

static int check_finite(const float *x, size_t n, const char *name, sq_err *e)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return sq_fail(e, SQ_EINPUT, "tensor '%s': element %zu is %s; refusing to quantize non-finite weights",
                           name, i, isnan(x[i]) ? "NaN" : "infinite");
    return SQ_OK;
}

static double mse_of(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
    }
    return n ? s / (double)n : 0;
}

/* Cluster x; fill ids (may be NULL) and the statistics. */
static int cluster(const float *x, size_t n, int k, uint64_t seed, uint8_t *ids, sq_layer_stats *st, sq_err *e)
{
    sq_kmeans_result r;
    sq_kmeans_opts ko;
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

/* Quantize one weight in the chosen format; write its tensors when w != NULL; return the
 * dequantized values in deq. Scratch buffers are sized by the caller (see weight_scratch). */
typedef struct scratch {
    float *part, *deq_part;
    uint8_t *codes, *packed;
    float *scale, *min;
    uint16_t *scale16, *min16;
} scratch;

static void scratch_free(scratch *s)
{
    free(s->part); free(s->deq_part); free(s->codes); free(s->packed);
    free(s->scale); free(s->min); free(s->scale16); free(s->min16);
    memset(s, 0, sizeof *s);
}

static int scratch_alloc(scratch *s, const layout *L, int k, sq_err *e)
{
    memset(s, 0, sizeof *s);
    size_t pk = L->params * (size_t)(k > 0 ? k : 1);
    size_t rowmax = L->row_bytes > L->id_bytes ? L->row_bytes : L->id_bytes;
    if (rowmax < L->cols) rowmax = L->cols; /* int8 codes are one byte each */
    s->part = sq_malloc(L->n * sizeof(float), e);
    s->deq_part = sq_malloc(L->n * sizeof(float), e);
    s->codes = sq_malloc(L->n, e);
    s->packed = sq_malloc(L->rows * rowmax, e);
    s->scale = sq_malloc(pk * sizeof(float), e);
    s->min = sq_malloc(pk * sizeof(float), e);
    s->scale16 = sq_malloc(pk * sizeof(uint16_t), e);
    s->min16 = sq_malloc(pk * sizeof(uint16_t), e);
    if (!s->part || !s->deq_part || !s->codes || !s->packed || !s->scale || !s->min || !s->scale16 || !s->min16) {
        scratch_free(s);
        return e->code ? e->code : sq_fail(e, SQ_EINTERNAL, "out of memory");
    }
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
        for (size_t j = 0; j < m; j++) { tmp[2 * j] = (uint8_t)x[i + j]; tmp[2 * j + 1] = (uint8_t)(x[i + j] >> 8); }
        if (sq_stw_data(w, tmp, m * 2, e)) return e->code;
    }
    return SQ_OK;
}

/* Pack unpacked codes (L->n bytes) row by row with `bits` and write them. */
static int put_packed(sq_st_writer *w, const layout *L, const uint8_t *codes, int bits, uint8_t *packed, sq_err *e)
{
    size_t rb = sq_packed_row_bytes(L->cols, bits);
    for (size_t r = 0; r < L->rows; r++) sq_pack_row(codes + r * L->cols, L->cols, bits, packed + r * rb);
    return sq_stw_data(w, packed, L->rows * rb, e);
}

/* Affine reference quantization of x with the layout's groups (whole tensor as one row
 * for group 0). */
static void affine(const layout *L, const float *x, int bits, uint8_t *codes, float *scale, float *min, float *deq)
{
    size_t rows = L->group ? L->rows : 1, cols = L->group ? L->cols : L->n, g = L->group ? L->group : L->n;
    sq_quant_affine(x, rows, cols, g, bits, codes, scale, min);
    if (deq) sq_dequant_affine(codes, scale, min, rows, cols, g, deq);
}

static void clustered(const layout *L, const float *x, const uint8_t *ids, int k, int bits, uint8_t *codes,
                      uint16_t *s16, uint16_t *m16, float *deq)
{
    size_t rows = L->group ? L->rows : 1, cols = L->group ? L->cols : L->n, g = L->group ? L->group : L->n;
    sq_quant_clustered(x, ids, k, rows, cols, g, bits, codes, s16, m16);
    if (deq) sq_dequant_clustered(codes, ids, k, s16, m16, rows, cols, g, deq);
}

/* Plain (k = 1) quantization of x in the same format, for mse_plain. */
static double plain_mse(const layout *L, const float *x, const sq_quant_opts *o, scratch *s, uint8_t *zeros)
{
    if (o->bits == SQ_BITS_F32) return 0;
    if (o->format == SQ_FMT_PAPER && L->sym8) {
        sq_quant_sym8(x, L->rows, L->cols, (int8_t *)s->codes, s->scale);
        sq_dequant_sym8((const int8_t *)s->codes, s->scale, L->rows, L->cols, s->deq_part);
    } else if (o->format == SQ_FMT_PAPER) {
        affine(L, x, o->bits, s->codes, s->scale, s->min, s->deq_part);
    } else {
        clustered(L, x, zeros, 1, o->bits, s->codes, s->scale16, s->min16, s->deq_part);
    }
    return mse_of(x, s->deq_part, L->n);
}

static int process_weight(sq_st_writer *w, const sq_plan_item *it, const float *x, const sq_quant_opts *o,
                          sq_layer_stats *st, float *deq_out, sq_err *e)
{
    layout L = make_layout(it, o);
    int k = o->clusters;
    uint8_t *ids = NULL, *tmp = NULL;
    float *deq = NULL;
    scratch s;
    size_t tmpn = 1 << 16;
    int rc;
    if ((rc = scratch_alloc(&s, &L, k, e))) return rc;
    ids = sq_calloc(L.n, 1, e);
    deq = sq_calloc(L.n, sizeof(float), e);
    tmp = sq_malloc(tmpn, e);
    if (!ids || !deq || !tmp) { rc = e->code; goto done; }

    if (k > 1) {
        if ((rc = cluster(x, L.n, k, name_seed(o->seed, it->t->name), ids, st, e))) goto done;
    } else {
        if ((rc = cluster(x, L.n, 1, 0, NULL, st, e))) goto done;
    }
    /* ids stays all zero for k == 1 */

    if (o->bits == SQ_BITS_F32) {
        for (int c = 0; c < k; c++) {
            for (size_t i = 0; i < L.n; i++) s.part[i] = ids[i] == c ? x[i] : 0.0f;
            if ((rc = put_floats(w, s.part, L.n, tmp, tmpn, e))) goto done;
            for (size_t i = 0; i < L.n; i++) deq[i] += s.part[i];
        }
    } else if (o->format == SQ_FMT_PACKED) {
        clustered(&L, x, ids, k, o->bits, s.codes, s.scale16, s.min16, deq);
        if ((rc = put_packed(w, &L, s.codes, o->bits, s.packed, e))) goto done;
        if (k > 1 && (rc = put_packed(w, &L, ids, sq_id_bits(k), s.packed, e))) goto done;
        if ((rc = put_u16(w, s.scale16, L.params * (size_t)k, tmp, tmpn, e))) goto done;
        if ((rc = put_u16(w, s.min16, L.params * (size_t)k, tmp, tmpn, e))) goto done;
    } else {
        for (int c = 0; c < k; c++) {
            for (size_t i = 0; i < L.n; i++) s.part[i] = ids[i] == c ? x[i] : 0.0f;
            if (L.sym8) {
                sq_quant_sym8(s.part, L.rows, L.cols, (int8_t *)s.codes, s.scale);
                sq_dequant_sym8((const int8_t *)s.codes, s.scale, L.rows, L.cols, s.deq_part);
                if ((rc = sq_stw_data(w, s.codes, L.n, e))) goto done;
                if ((rc = put_floats(w, s.scale, L.rows, tmp, tmpn, e))) goto done;
            } else {
                affine(&L, s.part, o->bits, s.codes, s.scale, s.min, s.deq_part);
                if ((rc = put_packed(w, &L, s.codes, o->bits, s.packed, e))) goto done;
                if ((rc = put_floats(w, s.scale, L.params, tmp, tmpn, e))) goto done;
                if ((rc = put_floats(w, s.min, L.params, tmp, tmpn, e))) goto done;
            }
            for (size_t i = 0; i < L.n; i++) deq[i] += s.deq_part[i];
        }
    }
    st->mse = mse_of(x, deq, L.n);
    if (deq_out) memcpy(deq_out, deq, L.n * sizeof(float));
    if (k == 1) st->mse_plain = st->mse;
    else if (!o->skip_plain) {
        memset(ids, 0, L.n);
        st->mse_plain = plain_mse(&L, x, o, &s, ids);
    } else st->mse_plain = NAN;
    rc = SQ_OK;
done:
    scratch_free(&s);
    free(ids);
    free(deq);
    free(tmp);
    return rc;
}

static int process_bias(sq_st_writer *w, const sq_plan_item *it, const float *x, const sq_quant_opts *o,
                        sq_layer_stats *st, sq_err *e)
{
    size_t n = it->rows;
    int k = o->clusters;
    uint8_t *ids = sq_calloc(n, 1, e);
    float *part = sq_malloc(n * sizeof(float), e);
    uint8_t *tmp = sq_malloc(1 << 16, e);
    int rc = e->code;
    if (!ids || !part || !tmp) goto done;
    if ((rc = cluster(x, n, k, name_seed(o->seed, it->t->name), ids, st, e))) goto done;
    st->mse = st->mse_plain = 0; /* biases stay float */
    if (bias_has_parts(o)) {
        for (int c = 0; c < k && !rc; c++) {
            for (size_t i = 0; i < n; i++) part[i] = ids[i] == c ? x[i] : 0.0f;
            rc = put_floats(w, part, n, tmp, 1 << 16, e);
        }
    } else {
        /* kept as it is: copy the original bytes */
        size_t bytes = (size_t)(it->t->end - it->t->begin);
        uint8_t *raw = sq_malloc(bytes, e);
        if (!raw) { rc = e->code; goto done; }
        sq_from_f32(it->t->dtype, x, raw, n); /* exact: x came from this dtype */
        rc = sq_stw_data(w, raw, bytes, e);
        free(raw);
    }
done:
    free(ids);
    free(part);
    free(tmp);
    return rc;
}

static int copy_tensor(sq_st_writer *w, const sq_st_file *in, const sq_tensor_info *t, sq_err *e)
{
    uint64_t total = t->end - t->begin;
    size_t chunk = total < COPY_CHUNK ? (size_t)total : COPY_CHUNK;
    uint8_t *buf = sq_malloc(chunk, e);
    if (!buf) return e->code;
    int rc = SQ_OK;
    for (uint64_t off = 0; off < total && !rc; off += chunk) {
        size_t m = total - off < chunk ? (size_t)(total - off) : chunk;
        rc = sq_read_at(in->reader, in->data_start + t->begin + off, buf, m, e);
        if (!rc) rc = sq_stw_data(w, buf, m, e);
    }
    free(buf);
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

void sq_report_free(sq_report *r)
{
    free(r->layers);
    memset(r, 0, sizeof *r);
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
    float *x = NULL;

    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if ((rc = sq_quant_opts_check(o, e))) return rc;
    if ((rc = sq_plan_make(in, &plan, e))) return rc;
    sq_stw_init(&w, cw);

    /* metadata: the source's own keys first (e.g. "format": "pt"), then ours */
    for (size_t i = 0; i < in->n_meta; i++)
        if (strncmp(in->meta[i].key, "sq.", 3) != 0 && (rc = sq_stw_meta(&w, in->meta[i].key, in->meta[i].value, e))) goto done;
    if (sq_st_meta(in, "sq.format")) { rc = sq_fail(e, SQ_EINPUT, "this file is already quantized by sq (sq.format = %s); dequantize it first", sq_st_meta(in, "sq.format")); goto done; }
    if ((rc = sq_stw_meta(&w, "sq.format", o->format == SQ_FMT_PAPER ? "paper" : "packed", e))) goto done;
    if ((rc = sq_stw_meta(&w, "sq.version", SQ_VERSION, e))) goto done;
    if (o->bits == SQ_BITS_F32) snprintf(num, sizeof num, "f32"); else snprintf(num, sizeof num, "%d", o->bits);
    if ((rc = sq_stw_meta(&w, "sq.bits", num, e))) goto done;
    snprintf(num, sizeof num, "%d", o->clusters);
    if ((rc = sq_stw_meta(&w, "sq.clusters", num, e))) goto done;
    if ((rc = sq_stw_meta(&w, "sq.group", group_name(o->group, gbuf, sizeof gbuf), e))) goto done;
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
    for (size_t i = 0; i < plan.n; i++)
        if ((rc = declare(&w, &plan.items[i], o, e))) goto done;
    if ((rc = sq_stw_begin(&w, e))) goto done;

    uint64_t bytes_total = in->reader->size, bytes_done = in->data_start;
    rep->params = plan.params;
    rep->bytes_in = bytes_total;
    for (size_t i = 0; i < plan.n; i++) {
        const sq_plan_item *it = &plan.items[i];
        const sq_tensor_info *t = it->t;
        sq_layer_stats st;
        int have_stats = 0;
        double t0 = hooks && hooks->now ? hooks->now() : 0;
        uint64_t out_before = cnt.bytes;
        memset(&st, 0, sizeof st);
        if (it->role == SQ_ROLE_COPY) {
            if ((rc = copy_tensor(&w, in, t, e))) goto done;
        } else {
            size_t n = (size_t)t->numel;
            if (t->numel > SIZE_MAX / sizeof(float)) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s' is too large for this build", t->name); goto done; }
            x = sq_malloc(n * sizeof(float), e);
            if (!x) { rc = e->code; goto done; }
            if ((rc = sq_st_read_f32(in, t, x, e))) goto done;
            if ((rc = check_finite(x, n, t->name, e))) goto done;
            st.name = t->name;
            st.role = it->role;
            st.ndim = t->ndim;
            memcpy(st.shape, t->shape, sizeof st.shape);
            rc = it->role == SQ_ROLE_WEIGHT ? process_weight(&w, it, x, o, &st, NULL, e) : process_bias(&w, it, x, o, &st, e);
            if (rc) {
                if (strstr(e->msg, t->name) == NULL) {
                    char pre[300];
                    snprintf(pre, sizeof pre, "tensor '%.280s': ", t->name);
                    sq_err_prefix(e, pre);
                }
                goto done;
            }
            free(x);
            x = NULL;
            st.bytes_out = (size_t)(cnt.bytes - out_before);
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
    if ((rc = sq_stw_finish(&w, e))) goto done;
    rep->bytes_out = cnt.bytes;
done:
    free(x);
    free(tj);
    sq_stw_free(&w);
    sq_plan_free(&plan);
    if (rep == &local) sq_report_free(&local);
    return rc;
}

/* ---------------- the report ---------------- */

static cJSON *num_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(isfinite(v[i]) ? v[i] : 0));
    return a;
}

char *sq_report_json(const sq_report *r, const sq_quant_opts *o, const char *model, double seconds)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "model", model ? model : "");
    if (o->bits == SQ_BITS_F32) cJSON_AddStringToObject(root, "bits", "f32");
    else cJSON_AddNumberToObject(root, "bits", o->bits);
    cJSON_AddNumberToObject(root, "clusters", o->clusters);
    cJSON_AddStringToObject(root, "format", o->format == SQ_FMT_PAPER ? "paper" : "packed");
    char gbuf[32];
    cJSON_AddStringToObject(root, "group", group_name(o->group, gbuf, sizeof gbuf));
    cJSON_AddNumberToObject(root, "seconds", seconds);
    cJSON_AddNumberToObject(root, "params", (double)r->params);
    cJSON_AddNumberToObject(root, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(root, "bytes_out", (double)r->bytes_out);
    cJSON_AddNumberToObject(root, "quant_bytes_in", (double)r->quant_bytes_in);
    cJSON_AddNumberToObject(root, "quant_bytes_out", (double)r->quant_bytes_out);
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (size_t i = 0; layers && i < r->n_layers; i++) {
        const sq_layer_stats *s = &r->layers[i];
        cJSON *l = cJSON_CreateObject();
        if (!l) break;
        cJSON_AddItemToArray(layers, l);
        cJSON_AddStringToObject(l, "name", s->name);
        cJSON_AddStringToObject(l, "kind", s->role == SQ_ROLE_BIAS ? "bias" : "weight");
        cJSON *shape = cJSON_AddArrayToObject(l, "shape");
        for (int d = 0; shape && d < s->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)s->shape[d]));
        cJSON_AddBoolToObject(l, "split", o->clusters > 1);
        cJSON_AddNumberToObject(l, "range", s->range);
        double cr[SQ_KMEANS_MAX_K], counts[SQ_KMEANS_MAX_K];
        for (int c = 0; c < s->k; c++) {
            cr[c] = s->cluster_max[c] - s->cluster_min[c];
            counts[c] = (double)s->counts[c];
        }
        cJSON_AddItemToObject(l, "cluster_ranges", num_array(cr, s->k));
        cJSON_AddItemToObject(l, "cluster_min", num_array(s->cluster_min, s->k));
        cJSON_AddItemToObject(l, "cluster_max", num_array(s->cluster_max, s->k));
        cJSON_AddItemToObject(l, "centers", num_array(s->centers, s->k));
        cJSON_AddItemToObject(l, "counts", num_array(counts, s->k));
        cJSON_AddNumberToObject(l, "min", s->min);
        cJSON_AddNumberToObject(l, "max", s->max);
        cJSON_AddNumberToObject(l, "mse", s->mse);
        if (isfinite(s->mse_plain)) cJSON_AddNumberToObject(l, "mse_plain", s->mse_plain);
        else cJSON_AddNullToObject(l, "mse_plain");
        cJSON_AddNumberToObject(l, "seconds", s->seconds);
        cJSON_AddNumberToObject(l, "bytes_out", (double)s->bytes_out);
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    return txt;
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
    if (!rc) rc = process_weight(&sw, &it, w, &oo, st, deq, e);
    sq_stw_free(&sw);
    sq_buf_free(&sink);
    return rc;
}
