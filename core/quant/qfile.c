/* qfile.c - reading sq's quantized files: the "sq.format" and "sq.tensors" metadata,
 * each source tensor's description with its derived geometry, and checked lookups of
 * its parts (docs/FORMAT.md). The file is hostile until proven otherwise: a description
 * is validated before anything is sized from it, and every part must exist with exactly
 * the dtype and shape the description implies.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "../json.h"
#include "qfile.h"
#include "quant.h"
#include "../formats/formats.h"

int sq_qfile_open(sq_qfile *q, const sq_st_file *f, sq_err *e)
{
    memset(q, 0, sizeof *q);
    q->f = f;
    const char *fmt = sq_st_meta(f, "sq.format");
    if (!fmt) return SQ_OK; /* not quantized: q->format stays 0 (none) */
    int id;
    if (sq_format_find(fmt, &id)) q->format = id + 1; /* SQ_QF_* */
    else {
        char names[64];
        return sq_fail(e, SQ_EINPUT, "unknown sq.format \"%.32s\" (expected %s)", fmt,
                       sq_formats_text(", ", " or ", names, sizeof names));
    }
    const char *tj = sq_st_meta(f, "sq.tensors");
    if (!tj) return sq_fail(e, SQ_EINPUT, "quantized file without \"sq.tensors\" metadata");
    q->desc = sq_json_parse(tj, strlen(tj));
    if (!q->desc || !cJSON_IsObject(q->desc)) {
        sq_qfile_close(q);
        return sq_fail(e, SQ_EINPUT, "\"sq.tensors\" metadata is not a JSON object");
    }
    return SQ_OK;
}

void sq_qfile_close(sq_qfile *q)
{
    cJSON_Delete(q->desc);
    q->desc = NULL;
}

static int get_int(const cJSON *d, const char *key, long lo, long hi, long *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, key);
    if (!cJSON_IsNumber(v)) return 0;
    double x = v->valuedouble;
    if (!(x >= (double)lo && x <= (double)hi) || x != (double)(long)x) return 0;
    *out = (long)x;
    return 1;
}

int sq_qfile_describe(const sq_qfile *q, const char *name, sq_qtensor *t, sq_err *e)
{
    memset(t, 0, sizeof *t);
    const cJSON *d = q->desc ? cJSON_GetObjectItemCaseSensitive(q->desc, name) : NULL;
    if (!d) return 0;
    if (!cJSON_IsObject(d)) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s'] is not an object", name);
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(d, "shape");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(d, "kind");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(d, "dtype");
    if (!cJSON_IsArray(shape) || cJSON_GetArraySize(shape) < 1 || cJSON_GetArraySize(shape) > SQ_ST_MAX_DIMS)
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: bad \"shape\"", name);
    if (!cJSON_IsString(kind) || !cJSON_IsString(dt))
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: missing \"kind\" or \"dtype\"", name);
    t->dtype = sq_dtype_from_name(dt->valuestring);
    if (!sq_dtype_is_float(t->dtype)) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: dtype must be F32, F16 or BF16", name);
    const sq_format *F = sq_format_find(kind->valuestring, &t->format);
    if (F) t->kind = F->qt_kind;
    else if (strcmp(kind->valuestring, "split") == 0) t->kind = SQ_QT_SPLIT;
    else if (strcmp(kind->valuestring, "bias") == 0) t->kind = SQ_QT_BIAS;
    else return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: unknown kind \"%.32s\"", name, kind->valuestring);
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(d, "role");
    if (role) {
        if (cJSON_IsString(role) && strcmp(role->valuestring, "embedding") == 0) t->role = SQ_QROLE_EMBEDDING;
        else if (cJSON_IsString(role) && strcmp(role->valuestring, "head") == 0) t->role = SQ_QROLE_HEAD;
        else return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: \"role\" must be \"embedding\" or \"head\"", name);
    }
    t->ndim = cJSON_GetArraySize(shape);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        const cJSON *v = cJSON_GetArrayItem(shape, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 4294967295.0) ||
            v->valuedouble != (double)(int64_t)v->valuedouble)
            return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: bad shape entry", name);
        t->shape[i] = (int64_t)v->valuedouble;
        if (numel > (UINT64_MAX >> 8) / (uint64_t)t->shape[i]) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: shape overflows", name);
        numel *= (uint64_t)t->shape[i];
    }
    if (numel > SIZE_MAX / 8) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: too large for this build", name);
    t->numel = (size_t)numel;
    t->rows = (size_t)t->shape[0];
    t->cols = t->numel / t->rows;
    long bits, k, group = 0;
    char wt[64];
    unsigned all = sq_widths_all();
    if (!get_int(d, "bits", 1, 32, &bits) || !(bits == 32 || (bits <= 8 && (all & SQ_BITS_MASK(bits)))))
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: \"bits\" must be %s", name, sq_widths_text(all, "32", wt, sizeof wt));
    if (!get_int(d, "k", 1, SQ_MAX_CLUSTERS, &k))
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: \"k\" must be 1..%d", name, SQ_MAX_CLUSTERS);
    t->bits = (int)bits;
    t->k = (int)k;
    if (!F) { /* float parts: no groups, no codes */
        t->format = -1;
        t->groups = 1;
        t->params = 1;
        if (t->k > 1) t->id_bytes = sq_packed_row_bytes(t->cols, sq_id_bits(t->k));
        return 1;
    }
    if (bits == 32) return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: quantized kind with bits 32", name);
    if (!(F->widths & SQ_BITS_MASK(bits)) || k > F->max_k) {
        char kt[16] = "1";
        if (F->max_k > 1) snprintf(kt, sizeof kt, "1..%d", F->max_k);
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: a %s tensor has bits %s and k %s", name, F->name,
                       sq_widths_text(F->widths, NULL, wt, sizeof wt), kt);
    }
    if (!get_int(d, "group", 0, (long)(t->cols < 0x7fffffff ? t->cols : 0x7fffffff), &group))
        return sq_fail(e, SQ_EINPUT, "sq.tensors['%s']: \"group\" must be 0..%zu", name, t->cols);
    sq_qgeom g = sq_qgeom_make(t->format, t->bits, t->k, t->rows, t->cols, (size_t)group);
    t->group = g.group;
    t->groups = g.groups;
    t->params = g.params;
    t->row_bytes = g.row_bytes;
    t->id_bytes = g.id_bytes;
    t->sym8 = g.sym8;
    return 1;
}

const sq_tensor_info *sq_qfile_part(const sq_qfile *q, const char *name, const char *suffix, sq_dtype dtype,
                                    int ndim, int64_t d0, int64_t d1, sq_err *e)
{
    char buf[1100];
    if (snprintf(buf, sizeof buf, "%s%s", name, suffix) >= (int)sizeof buf) {
        sq_fail(e, SQ_EINPUT, "tensor name too long");
        return NULL;
    }
    const sq_tensor_info *t = sq_st_find(q->f, buf);
    if (!t) { sq_fail(e, SQ_EINPUT, "tensor '%s' is missing (described in sq.tensors)", buf); return NULL; }
    int ok = t->dtype == dtype && t->ndim == ndim && (ndim < 1 || t->shape[0] == d0) && (ndim < 2 || t->shape[1] == d1);
    if (!ok) {
        char want[64], got[96];
        if (ndim == 2) snprintf(want, sizeof want, "[%lld, %lld]", (long long)d0, (long long)d1);
        else snprintf(want, sizeof want, "[%lld]", (long long)d0);
        int n = snprintf(got, sizeof got, "[");
        for (int i = 0; i < t->ndim && n < (int)sizeof got - 24; i++)
            n += snprintf(got + n, sizeof got - (size_t)n, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        snprintf(got + n, sizeof got - (size_t)n, "]");
        sq_fail(e, SQ_EINPUT, "tensor '%s': expected %s %s, found %s %s", buf, sq_dtype_name(dtype), want,
                sq_dtype_name(t->dtype), got);
        return NULL;
    }
    return t;
}

int sq_qfile_check(const sq_qfile *q, const char *name, const sq_qtensor *d, sq_err *e)
{
    char sfx[64];
    int k = d->k;
    if (d->kind == SQ_QT_SPLIT || d->kind == SQ_QT_BIAS) {
        for (int c = 0; c < k; c++) {
            snprintf(sfx, sizeof sfx, ".sq.part%d", c);
            char buf[1100];
            snprintf(buf, sizeof buf, "%s%s", name, sfx);
            const sq_tensor_info *t = sq_st_find(q->f, buf);
            if (!t || t->dtype != SQ_DT_F32 || t->numel != d->numel)
                return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing or has the wrong dtype/size (expected F32, %zu values)", buf, d->numel);
        }
        return SQ_OK;
    }
    sq_qgeom g = sq_qgeom_make(d->format, d->bits, d->k, d->rows, d->cols, d->group);
    sq_qpart parts[SQ_QPARTS_MAX];
    int np = sq_formats[d->format].parts(&g, parts);
    for (int i = 0; i < np; i++)
        if (!sq_qfile_part(q, name, parts[i].suffix, parts[i].dtype, parts[i].ndim, parts[i].d0, parts[i].d1, e))
            return e->code;
    return SQ_OK;
}

int sq_qfile_read_u16(const sq_st_file *f, const sq_tensor_info *t, uint16_t *out, size_t n, sq_err *e)
{
    if (sq_st_read_raw(f, t, out, e)) return e->code;
    uint8_t *b = (uint8_t *)out;
    for (size_t i = 0; i < n; i++) out[i] = (uint16_t)(b[2 * i] | (b[2 * i + 1] << 8));
    return SQ_OK;
}
