/* qload.c - load a linear layer (kernels/linear.h) from any of sq's layouts
 * (docs/FORMAT.md): a float weight as it is, or a quantized one from the parts its
 * "sq.tensors" description names, with the geometry of its format (formats.h).
 *
 * The file is hostile until proven otherwise: every tensor is checked against the shape
 * the model expects (and, for quantized layers, against the geometry its description
 * implies) before a byte of it is used, and cluster ids are checked to be < k so the
 * kernels can index parameters without further checks.
 */
#include "qload.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/formats.h"

_Static_assert(SQ_MAX_CLUSTERS <= SQ_LIN_MAX_PARTS, "a paper layer holds up to SQ_LIN_MAX_PARTS sub-layers");

static int id_bits(int k)
{
    int b = 0;
    while ((1 << b) < k) b++;
    return b;
}

/* The matrix view [rows, cols] of a shape: rows = d0, cols = the rest. */
static void matrix_of(int ndim, const int64_t *shape, size_t *rows, size_t *cols)
{
    *rows = ndim >= 1 ? (size_t)shape[0] : 1;
    size_t c = 1;
    for (int i = 1; i < ndim; i++) c *= (size_t)shape[i];
    *cols = c;
}

static int read_u16_le(const sq_st_file *f, const sq_tensor_info *t, uint16_t *out, size_t n, sq_err *e)
{
    if (sq_st_read_raw(f, t, out, e)) return e->code;
    const uint8_t *b = (const uint8_t *)out;
    for (size_t i = 0; i < n; i++) out[i] = (uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
    return SQ_OK;
}

/* Unpacked value i of an LSB-first bit stream (row of bytes `nbytes` long). */
static unsigned get_bits(const uint8_t *row, size_t i, int bits)
{
    size_t off = i * (size_t)bits;
    size_t byte = off >> 3;
    unsigned shift = (unsigned)(off & 7);
    unsigned v = row[byte] >> shift;
    if (shift + (unsigned)bits > 8) v |= (unsigned)row[byte + 1] << (8 - shift);
    return v & ((1u << bits) - 1u);
}

/* A plain float weight, shape [rows, cols]: F32 as it is, BF16 and F16 kept in their
 * 2-byte dtype (SQ_LIN_BF16 / SQ_LIN_F16; the kernels convert exactly on use). */
static int load_plain(sq_linear *L, const sq_st_file *f, const sq_tensor_info *t, size_t rows, size_t cols,
                      sq_err *e)
{
    if (!sq_dtype_is_float(t->dtype))
        return sq_fail(e, SQ_EINPUT, "tensor '%s': dtype %s, expected a float weight (F32, F16 or BF16)", t->name,
                       sq_dtype_name(t->dtype));
    size_t r, c;
    matrix_of(t->ndim, t->shape, &r, &c);
    if (t->ndim != 2 || r != rows || c != cols)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': expected shape [%zu, %zu] for this model, found %d dims [%lld, ...]",
                       t->name, rows, cols, t->ndim, t->ndim ? (long long)t->shape[0] : 0LL);
    if (t->dtype == SQ_DT_BF16 || t->dtype == SQ_DT_F16) {
        L->kind = t->dtype == SQ_DT_BF16 ? SQ_LIN_BF16 : SQ_LIN_F16;
        L->w16 = sq_malloc(rows * cols * sizeof(uint16_t), e);
        if (!L->w16) return e->code;
        return read_u16_le(f, t, L->w16, rows * cols, e);
    }
    L->kind = SQ_LIN_F32;
    L->w = sq_malloc(rows * cols * sizeof(float), e);
    if (!L->w) return e->code;
    return sq_st_read_f32(f, t, L->w, e);
}

/* --bits f32 split: parts T.sq.part{c}, F32 with T's shape, summed (exact). */
static int load_split(sq_linear *L, const sq_qfile *q, const char *name, const sq_qtensor *d, sq_err *e)
{
    size_t n = d->rows * d->cols;
    float *part = sq_malloc(n * sizeof(float), e);
    L->w = sq_calloc(n, sizeof(float), e);
    int rc = SQ_OK;
    if (!part || !L->w) { free(part); return e->code; }
    L->kind = SQ_LIN_F32;
    for (int c = 0; c < d->k && !rc; c++) {
        char sfx[32];
        snprintf(sfx, sizeof sfx, ".sq.part%d", c);
        const sq_tensor_info *t =
            sq_qfile_part(q, name, sfx, SQ_DT_F32, 2, (int64_t)d->rows, (int64_t)d->cols, e);
        if (!t || sq_st_read_f32(q->f, t, part, e)) { rc = e->code; break; }
        for (size_t i = 0; i < n; i++) L->w[i] += part[i];
    }
    free(part);
    return rc;
}

static int check_ids(const sq_linear *L, const char *name, sq_err *e)
{
    int ib = id_bits(L->k);
    for (size_t r = 0; r < L->rows; r++) {
        const uint8_t *row = L->ids + r * L->id_row_bytes;
        for (size_t j = 0; j < L->cols; j++) {
            unsigned id = get_bits(row, j, ib);
            if (id >= (unsigned)L->k)
                return sq_fail(e, SQ_EINPUT, "tensor '%s.sq.ids': cluster id %u at [%zu, %zu] is not below k = %d", name,
                               id, r, j, L->k);
        }
    }
    return SQ_OK;
}

/* The number of parameter sets P of a layer's geometry. */
static size_t param_sets(const sq_linear *L)
{
    if (L->sym8) return L->rows;
    return L->group ? L->rows * L->groups : 1;
}

static int load_packed(sq_linear *L, const sq_qfile *q, const char *name, sq_err *e)
{
    const sq_st_file *f = q->f;
    size_t P = param_sets(L), pk = P * (size_t)L->k;
    const sq_tensor_info *tc =
        sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)L->rows, (int64_t)L->row_bytes, e);
    if (!tc) return e->code;
    const sq_tensor_info *ti = NULL;
    if (L->k > 1) {
        ti = sq_qfile_part(q, name, ".sq.ids", SQ_DT_U8, 2, (int64_t)L->rows, (int64_t)L->id_row_bytes, e);
        if (!ti) return e->code;
    }
    const sq_tensor_info *ts = sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 2, (int64_t)P, L->k, e);
    if (!ts) return e->code;
    const sq_tensor_info *tm = sq_qfile_part(q, name, ".sq.min", SQ_DT_BF16, 2, (int64_t)P, L->k, e);
    if (!tm) return e->code;

    L->codes = sq_malloc(L->rows * L->row_bytes + 1, e);
    L->scale_bf16 = sq_malloc(pk * sizeof(uint16_t), e);
    L->min_bf16 = sq_malloc(pk * sizeof(uint16_t), e);
    if (!L->codes || !L->scale_bf16 || !L->min_bf16) return e->code;
    if (sq_st_read_raw(f, tc, L->codes, e)) return e->code;
    if (read_u16_le(f, ts, L->scale_bf16, pk, e) || read_u16_le(f, tm, L->min_bf16, pk, e)) return e->code;
    /* scale * code is exact in float32 (8 + 8 significant bits) unless it overflows: the
       kernels may then fuse it with + min (kernels_ref.h); flag the layers where not */
    float top = (float)((1u << L->bits) - 1u);
    for (size_t i = 0; i < pk && !L->scale_big; i++) {
        float v = sq_bf16_to_f32(L->scale_bf16[i]) * top;
        L->scale_big = !(v <= FLT_MAX && v >= -FLT_MAX);
    }
    if (ti) {
        L->ids = sq_malloc(L->rows * L->id_row_bytes + 1, e);
        if (!L->ids || sq_st_read_raw(f, ti, L->ids, e)) return e->code;
        if (check_ids(L, name, e)) return e->code;
    }
    return SQ_OK;
}

/* codebook: T.sq.codes [rows, row_bytes], T.sq.table I8 [2^bits], T.sq.scale BF16 [P].
 * Any codes and table bytes are valid (a code < 2^bits always indexes the table). */
static int load_codebook(sq_linear *L, const sq_qfile *q, const char *name, sq_err *e)
{
    const sq_st_file *f = q->f;
    size_t P = param_sets(L), K = (size_t)1 << L->bits;
    const sq_tensor_info *tc =
        sq_qfile_part(q, name, ".sq.codes", SQ_DT_U8, 2, (int64_t)L->rows, (int64_t)L->row_bytes, e);
    const sq_tensor_info *tt = tc ? sq_qfile_part(q, name, ".sq.table", SQ_DT_I8, 1, (int64_t)K, 0, e) : NULL;
    const sq_tensor_info *ts = tt ? sq_qfile_part(q, name, ".sq.scale", SQ_DT_BF16, 1, (int64_t)P, 0, e) : NULL;
    if (!ts) return e->code;
    L->codes = sq_malloc(L->rows * L->row_bytes + 1, e);
    L->scale_bf16 = sq_malloc(P * sizeof(uint16_t), e);
    if (!L->codes || !L->scale_bf16) return e->code;
    memset(L->table, 0, sizeof L->table);
    if (sq_st_read_raw(f, tc, L->codes, e) || sq_st_read_raw(f, tt, L->table, e)) return e->code;
    return read_u16_le(f, ts, L->scale_bf16, P, e);
}

static int load_paper(sq_linear *L, const sq_qfile *q, const char *name, sq_err *e)
{
    const sq_st_file *f = q->f;
    size_t P = param_sets(L);
    for (int c = 0; c < L->k; c++) {
        sq_lin_part *p = &L->parts[c];
        char sfx[40];
        snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
        const sq_tensor_info *tc =
            L->sym8 ? sq_qfile_part(q, name, sfx, SQ_DT_I8, 2, (int64_t)L->rows, (int64_t)L->cols, e)
                    : sq_qfile_part(q, name, sfx, SQ_DT_U8, 2, (int64_t)L->rows, (int64_t)L->row_bytes, e);
        if (!tc) return e->code;
        snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
        const sq_tensor_info *ts = sq_qfile_part(q, name, sfx, SQ_DT_F32, 1, (int64_t)P, 0, e);
        if (!ts) return e->code;
        const sq_tensor_info *tm = NULL;
        if (!L->sym8) {
            snprintf(sfx, sizeof sfx, ".sq.part%d.min", c);
            tm = sq_qfile_part(q, name, sfx, SQ_DT_F32, 1, (int64_t)P, 0, e);
            if (!tm) return e->code;
        }
        size_t nbytes = L->sym8 ? L->rows * L->cols : L->rows * L->row_bytes;
        p->codes = sq_malloc(nbytes + 1, e);
        p->scale = sq_malloc(P * sizeof(float), e);
        if (!p->codes || !p->scale) return e->code;
        if (sq_st_read_raw(f, tc, p->codes, e) || sq_st_read_f32(f, ts, p->scale, e)) return e->code;
        if (tm) {
            p->min = sq_malloc(P * sizeof(float), e);
            if (!p->min || sq_st_read_f32(f, tm, p->min, e)) return e->code;
        }
    }
    return SQ_OK;
}

/* A bias: B as it is (float, [rows]), or parts B.sq.part{c} summed; absent -> NULL. */
static int load_bias(sq_linear *L, const sq_qfile *q, const char *name, sq_err *e)
{
    const sq_st_file *f = q->f;
    const sq_tensor_info *t = sq_st_find(f, name);
    sq_qtensor d;
    int described = sq_qfile_describe(q, name, &d, e);
    if (e->code) return e->code;
    if (t && described)
        return sq_fail(e, SQ_EINPUT, "tensor '%s' is stored both as it is and as parts (sq.tensors); refusing to guess", name);
    if (t) {
        if (!sq_dtype_is_float(t->dtype) || t->ndim != 1 || (size_t)t->shape[0] != L->rows)
            return sq_fail(e, SQ_EINPUT, "tensor '%s': expected a float bias of shape [%zu], found %s with %d dims", name,
                           L->rows, sq_dtype_name(t->dtype), t->ndim);
        L->bias = sq_malloc(L->rows * sizeof(float), e);
        if (!L->bias) return e->code;
        return sq_st_read_f32(f, t, L->bias, e);
    }
    if (!described) return SQ_OK; /* no bias */
    if (sq_qfile_check(q, name, &d, e)) return e->code;
    if (d.kind != SQ_QT_BIAS && d.kind != SQ_QT_SPLIT)
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: a bias must be of kind \"bias\" (split into float parts)", name);
    if (d.ndim != 1 || d.rows != L->rows)
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: shape [%lld%s], expected [%zu] for this model", name,
                       (long long)d.shape[0], d.ndim > 1 ? ", ..." : "", L->rows);
    float *part = sq_malloc(L->rows * sizeof(float), e);
    L->bias = sq_calloc(L->rows, sizeof(float), e);
    if (!part || !L->bias) { free(part); return e->code; }
    int rc = SQ_OK;
    for (int c = 0; c < d.k && !rc; c++) {
        char sfx[32];
        snprintf(sfx, sizeof sfx, ".sq.part%d", c);
        const sq_tensor_info *tp = sq_qfile_part(q, name, sfx, SQ_DT_F32, 1, (int64_t)L->rows, 0, e);
        if (!tp || sq_st_read_f32(f, tp, part, e)) { rc = e->code; break; }
        for (size_t i = 0; i < L->rows; i++) L->bias[i] += part[i];
    }
    free(part);
    return rc;
}

static int load_weight(sq_linear *L, const sq_qfile *q, const char *name, size_t rows, size_t cols, sq_err *e)
{
    const sq_tensor_info *t = sq_st_find(q->f, name);
    sq_qtensor d;
    int described = sq_qfile_describe(q, name, &d, e);
    if (e->code) return e->code;
    if (t && described)
        return sq_fail(e, SQ_EINPUT, "tensor '%s' is stored both as it is and quantized (sq.tensors); refusing to guess", name);
    if (t) return load_plain(L, q->f, t, rows, cols, e);
    if (!described) return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing (neither stored nor described in sq.tensors)", name);
    if (d.ndim != 2 || d.rows != rows || d.cols != cols)
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: %d-dim shape [%lld, ...], expected [%zu, %zu] for this model", name,
                       d.ndim, (long long)d.shape[0], rows, cols);
    if (sq_qfile_check(q, name, &d, e)) return e->code; /* parts exist before we allocate */
    if (d.kind == SQ_QT_SPLIT) return load_split(L, q, name, &d, e);
    if (d.kind == SQ_QT_BIAS)
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: kind \"bias\" for a weight", name);
    if (d.group > cols) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: group %zu larger than a row (%zu)", name, d.group, cols);
    /* the geometry is the description's (formats.h), whose widths and k were checked */
    L->kind = sq_formats[d.format].lin_kind;
    L->bits = d.bits;
    L->k = d.k;
    L->sym8 = d.sym8;
    L->group = d.group;
    L->groups = d.groups;
    L->row_bytes = d.row_bytes;
    switch (L->kind) {
    case SQ_LIN_PACKED:
        L->id_row_bytes = d.id_bytes;
        return load_packed(L, q, name, e);
    case SQ_LIN_CODEBOOK:
        return load_codebook(L, q, name, e);
    default:
        return load_paper(L, q, name, e);
    }
}

int sq_linear_load_from(sq_linear *L, const sq_qfile *q, const char *weight_name, const char *bias_name,
                        size_t expect_rows, size_t expect_cols, sq_err *e)
{
    memset(L, 0, sizeof *L);
    L->rows = expect_rows;
    L->cols = expect_cols;
    L->groups = 1;
    if (expect_rows == 0 || expect_cols == 0)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': the model expects an empty [%zu, %zu] layer", weight_name, expect_rows,
                       expect_cols);
    if (expect_cols > SIZE_MAX / sizeof(float) / expect_rows)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': [%zu, %zu] is too large for this build", weight_name, expect_rows,
                       expect_cols);
    int rc = load_weight(L, q, weight_name, expect_rows, expect_cols, e);
    if (!rc && bias_name) rc = load_bias(L, q, bias_name, e);
    if (rc) {
        sq_linear_free(L);
        return rc;
    }
    return SQ_OK;
}

/* ---------------- one row, for embedding lookups ---------------- */

void sq_linear_row(const sq_linear *L, size_t r, float *out)
{
    size_t cols = L->cols, G = L->group ? L->groups : 1;
    /* the parameter set of column j: per (row, group), or one for the whole tensor */
#define PSET(j) (L->group ? r * G + (j) / L->group : 0)
    switch (L->kind) {
    case SQ_LIN_F32:
        memcpy(out, L->w + r * cols, cols * sizeof(float));
        return;
    case SQ_LIN_BF16:
    case SQ_LIN_F16:
        for (size_t j = 0; j < cols; j++) {
            uint16_t h = L->w16[r * cols + j];
            out[j] = L->kind == SQ_LIN_BF16 ? sq_bf16_to_f32(h) : sq_f16_to_f32(h);
        }
        return;
    case SQ_LIN_PACKED: { /* as sq_dequant_clustered */
        const uint8_t *codes = L->codes + r * L->row_bytes, *ids = L->k > 1 ? L->ids + r * L->id_row_bytes : NULL;
        int ib = id_bits(L->k);
        for (size_t j = 0; j < cols; j++) {
            size_t p = PSET(j) * (size_t)L->k + (ids ? get_bits(ids, j, ib) : 0);
            float s = sq_bf16_to_f32(L->scale_bf16[p]), m = sq_bf16_to_f32(L->min_bf16[p]);
            if (s == 0) {
                out[j] = m;
                continue;
            }
            float t = (float)get_bits(codes, j, L->bits) * s;
            out[j] = t + m;
        }
        return;
    }
    case SQ_LIN_CODEBOOK: { /* as sq_cb_dequant */
        const uint8_t *codes = L->codes + r * L->row_bytes;
        for (size_t j = 0; j < cols; j++)
            out[j] = sq_bf16_to_f32(L->scale_bf16[PSET(j)]) * (float)L->table[get_bits(codes, j, L->bits)];
        return;
    }
    default: /* paper: the parts summed in order, as sq_dequant_affine / sq_dequant_sym8 */
        memset(out, 0, cols * sizeof(float));
        for (int c = 0; c < L->k; c++) {
            const sq_lin_part *P = &L->parts[c];
            for (size_t j = 0; j < cols; j++) {
                float v;
                if (L->sym8) {
                    v = (float)((const int8_t *)P->codes)[r * cols + j] * P->scale[r];
                } else {
                    size_t p = PSET(j);
                    float s = P->scale[p], lo = P->min[p], shift = -lo;
                    if (s == 0) v = lo;
                    else {
                        float t = (float)get_bits(P->codes + r * L->row_bytes, j, L->bits) * s;
                        v = t - shift;
                    }
                }
                out[j] += v;
            }
        }
        return;
    }
#undef PSET
}

int sq_linear_load(sq_linear *L, const sq_st_file *f, const char *weight_name, const char *bias_name,
                   size_t expect_rows, size_t expect_cols, sq_err *e)
{
    sq_qfile q;
    memset(L, 0, sizeof *L);
    int rc = sq_qfile_open(&q, f, e);
    if (rc) return rc;
    rc = sq_linear_load_from(L, &q, weight_name, bias_name, expect_rows, expect_cols, e);
    sq_qfile_close(&q);
    return rc;
}
