/* safetensors.c - header parsing with strict validation, streaming reads, streaming writer. */
#include "safetensors.h"

#include "json.h"
#include "shards.h"
#include <stdlib.h>
#include <string.h>

static int cmp_begin(const void *a, const void *b)
{
    const sq_tensor_info *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    /* zero-sized tensors share offsets: order by name for determinism */
    return strcmp(x->name, y->name);
}

static int cmp_name_ptr(const void *a, const void *b)
{
    const sq_tensor_info *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* A JSON number that is a non-negative integer exactly representable (< 2^53). */
static int json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j)) return 0;
    double d = j->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int parse_tensor(sq_tensor_info *t, const cJSON *item, sq_err *e)
{
    const char *name = item->string;
    if (!cJSON_IsObject(item)) return sq_fail(e, SQ_EINPUT, "tensor '%s': header entry is not an object", name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsString(dt)) return sq_fail(e, SQ_EINPUT, "tensor '%s': missing or non-string \"dtype\"", name);
    t->dtype = sq_dtype_from_name(dt->valuestring);
    if (t->dtype == SQ_DT_INVALID)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': unknown dtype \"%.32s\" (expected F32, F16, BF16, ...)", name,
                       dt->valuestring);
    if (!cJSON_IsArray(shape)) return sq_fail(e, SQ_EINPUT, "tensor '%s': missing or non-array \"shape\"", name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > SQ_ST_MAX_DIMS)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': %d dimensions (at most %d supported)", name, nd, SQ_ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape)
    {
        uint64_t v;
        if (!json_uint(d, &v)) return sq_fail(e, SQ_EINPUT, "tensor '%s': shape entry %d is not a non-negative integer", name, i);
        if (v != 0 && numel > UINT64_MAX / v)
            return sq_fail(e, SQ_EINPUT, "tensor '%s': shape product overflows", name);
        numel *= v;
        t->shape[i++] = (int64_t)v;
    }
    t->numel = numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': \"data_offsets\" must be [begin, end]", name);
    if (!json_uint(cJSON_GetArrayItem(offs, 0), &t->begin) || !json_uint(cJSON_GetArrayItem(offs, 1), &t->end))
        return sq_fail(e, SQ_EINPUT, "tensor '%s': \"data_offsets\" must be non-negative integers", name);
    if (t->end < t->begin) return sq_fail(e, SQ_EINPUT, "tensor '%s': data_offsets end < begin", name);
    size_t es = sq_dtype_size(t->dtype);
    if (numel > UINT64_MAX / es) return sq_fail(e, SQ_EINPUT, "tensor '%s': byte size overflows", name);
    if (t->end - t->begin != numel * es)
        return sq_fail(e, SQ_EINPUT, "tensor '%s': %llu bytes in data_offsets but dtype %s x shape needs %llu", name,
                       (unsigned long long)(t->end - t->begin), sq_dtype_name(t->dtype),
                       (unsigned long long)(numel * es));
    return SQ_OK;
}

int sq_st_open(sq_st_file *f, const sq_reader *r, sq_err *e)
{
    memset(f, 0, sizeof *f);
    f->reader = r;
    uint8_t lenbuf[8];
    if (r->size < 8) return sq_fail(e, SQ_EINPUT, "not a safetensors file: %llu bytes, too short for the 8-byte header length", (unsigned long long)r->size);
    if (sq_read_at(r, 0, lenbuf, 8, e)) return e->code;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
    if (n > SQ_ST_MAX_HEADER)
        return sq_fail(e, SQ_EINPUT, "header length %llu exceeds the 100 MB limit", (unsigned long long)n);
    if (n < 2) return sq_fail(e, SQ_EINPUT, "header length %llu is too short for a JSON object", (unsigned long long)n);
    if (n > r->size - 8)
        return sq_fail(e, SQ_EINPUT, "header length %llu runs past the end of the file (%llu bytes): truncated?",
                       (unsigned long long)n, (unsigned long long)r->size);
    char *text = sq_malloc((size_t)n + 1, e);
    if (!text) return e->code;
    if (sq_read_at(r, 8, text, (size_t)n, e)) { free(text); return e->code; }
    text[n] = 0;
    if (memchr(text, 0, (size_t)n)) { free(text); return sq_fail(e, SQ_EINPUT, "header contains a NUL byte"); }
    if (!sq_json_depth_ok(text, (size_t)n)) {
        free(text);
        return sq_fail(e, SQ_EINPUT, "header JSON is nested deeper than %d levels", SQ_JSON_MAX_DEPTH);
    }
    cJSON *root = cJSON_ParseWithLength(text, (size_t)n);
    free(text);
    if (!root) return sq_fail(e, SQ_EINPUT, "header is not valid JSON");
    int rc = SQ_OK;
    if (!cJSON_IsObject(root)) { rc = sq_fail(e, SQ_EINPUT, "header is not a JSON object"); goto done; }
    f->data_start = 8 + n;

    size_t count = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!item->string) { rc = sq_fail(e, SQ_EINPUT, "header entry without a name"); goto done; }
        if (strcmp(item->string, "__metadata__") == 0) continue;
        if (++count > SQ_ST_MAX_TENSORS) { rc = sq_fail(e, SQ_EINPUT, "more than %d tensors", SQ_ST_MAX_TENSORS); goto done; }
    }
    f->tensors = sq_calloc(count, sizeof *f->tensors, e);
    if (!f->tensors) { rc = e->code; goto done; }
    cJSON_ArrayForEach(item, root)
    {
        if (strcmp(item->string, "__metadata__") == 0) {
            if (!cJSON_IsObject(item)) { rc = sq_fail(e, SQ_EINPUT, "__metadata__ is not an object"); goto done; }
            if (f->meta) { rc = sq_fail(e, SQ_EINPUT, "__metadata__ appears twice in the header"); goto done; }
            size_t m = (size_t)cJSON_GetArraySize(item);
            f->meta = sq_calloc(m, sizeof *f->meta, e);
            if (!f->meta) { rc = e->code; goto done; }
            const cJSON *kv;
            cJSON_ArrayForEach(kv, item)
            {
                if (!cJSON_IsString(kv)) { rc = sq_fail(e, SQ_EINPUT, "__metadata__ value of '%.64s' is not a string", kv->string); goto done; }
                sq_meta_kv *d = &f->meta[f->n_meta++];
                if (!(d->key = sq_strdup(kv->string, e)) || !(d->value = sq_strdup(kv->valuestring, e))) { rc = e->code; goto done; }
            }
            continue;
        }
        sq_tensor_info *t = &f->tensors[f->n_tensors++];
        if (item->string[0] == 0) { rc = sq_fail(e, SQ_EINPUT, "tensor with an empty name"); goto done; }
        if (!(t->name = sq_strdup(item->string, e))) { rc = e->code; goto done; }
        if ((rc = parse_tensor(t, item, e))) goto done;
    }
    qsort(f->tensors, f->n_tensors, sizeof *f->tensors, cmp_begin);
    /* Contiguous from 0, no gaps, no overlaps, ending exactly at the end of the file. */
    uint64_t expect = 0;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sq_tensor_info *t = &f->tensors[i];
        if (t->begin != expect) {
            rc = sq_fail(e, SQ_EINPUT, "tensor '%s': data_offsets begin at %llu but the previous tensor ends at %llu (%s)",
                         t->name, (unsigned long long)t->begin, (unsigned long long)expect,
                         t->begin < expect ? "overlap" : "gap");
            goto done;
        }
        expect = t->end;
    }
    uint64_t data_len = r->size - f->data_start;
    if (expect != data_len) {
        rc = sq_fail(e, SQ_EINPUT, "tensor data is %llu bytes but the header describes %llu%s",
                     (unsigned long long)data_len, (unsigned long long)expect,
                     data_len < expect ? " (file truncated?)" : " (trailing bytes)");
        goto done;
    }
    /* Unique names: cJSON keeps duplicate keys, the format does not allow them. */
    if (f->n_tensors > 1) {
        const sq_tensor_info **byname = sq_malloc(f->n_tensors * sizeof *byname, e);
        if (!byname) { rc = e->code; goto done; }
        for (size_t i = 0; i < f->n_tensors; i++) byname[i] = &f->tensors[i];
        qsort(byname, f->n_tensors, sizeof *byname, cmp_name_ptr);
        for (size_t i = 1; i < f->n_tensors; i++)
            if (strcmp(byname[i - 1]->name, byname[i]->name) == 0) {
                rc = sq_fail(e, SQ_EINPUT, "tensor '%s' appears twice in the header", byname[i]->name);
                break;
            }
        free(byname);
    }
done:
    cJSON_Delete(root);
    if (rc) sq_st_close(f);
    return rc;
}

void sq_st_close(sq_st_file *f)
{
    for (size_t i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) { free(f->meta[i].key); free(f->meta[i].value); }
    free(f->meta);
    if (f->shards) { sq_st_shards_free(f->shards); f->reader = NULL; }
    f->tensors = NULL;
    f->meta = NULL;
    f->shards = NULL;
    f->n_tensors = f->n_meta = 0;
}

const sq_tensor_info *sq_st_find(const sq_st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *sq_st_meta(const sq_st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

int sq_st_read_raw(const sq_st_file *f, const sq_tensor_info *t, void *buf, sq_err *e)
{
    uint64_t n = t->end - t->begin;
    if (n > SIZE_MAX) return sq_fail(e, SQ_EINPUT, "tensor '%s' is too large for this build", t->name);
    if (sq_read_at(f->reader, f->data_start + t->begin, buf, (size_t)n, e))
        return sq_fail(e, e->code, "tensor '%s': read failed", t->name);
    return SQ_OK;
}

int sq_st_read_f32_range(const sq_st_file *f, const sq_tensor_info *t, uint64_t first, uint64_t count, float *out,
                         sq_err *e)
{
    if (!sq_dtype_is_float(t->dtype))
        return sq_fail(e, SQ_EINPUT, "tensor '%s' has dtype %s (expected F32, F16 or BF16)", t->name,
                       sq_dtype_name(t->dtype));
    if (first > t->numel || count > t->numel - first)
        return sq_fail(e, SQ_EINTERNAL, "tensor '%s': element range out of bounds", t->name);
    size_t es = sq_dtype_size(t->dtype);
    /* Convert in place: read the raw bytes into the tail of out (they take <= 4 bytes
       each), then expand front to back. For F16/BF16 the raw data occupies the last half. */
    if (count > SIZE_MAX / 4) return sq_fail(e, SQ_EINPUT, "tensor '%s' is too large for this build", t->name);
    uint8_t *raw = (uint8_t *)out + (size_t)count * (4 - es);
    if (sq_read_at(f->reader, f->data_start + t->begin + first * es, raw, (size_t)(count * es), e))
        return sq_fail(e, e->code, "tensor '%s': read failed", t->name);
    if (es == 4) {
        sq_to_f32(t->dtype, raw, out, (size_t)count); /* byte-order fix in place */
    } else {
        /* Chunk k of raw sits at bytes >= 2*count + 2*done, and writing it as floats
           touches bytes < 4*(done+m) <= 2*count + 2*(done+m): never unread input. */
        uint16_t tmp[1024];
        size_t done = 0;
        while (done < count) {
            size_t m = (size_t)count - done < 1024 ? (size_t)count - done : 1024;
            memcpy(tmp, raw + 2 * done, 2 * m);
            sq_to_f32(t->dtype, tmp, out + done, m);
            done += m;
        }
    }
    return SQ_OK;
}

int sq_st_read_f32(const sq_st_file *f, const sq_tensor_info *t, float *out, sq_err *e)
{
    return sq_st_read_f32_range(f, t, 0, t->numel, out, e);
}

static int nonfinite_at(const sq_tensor_info *t, uint64_t idx, int nan, sq_err *e)
{
    return sq_fail(e, SQ_EINPUT, "tensor '%s': element %llu is %s; refusing a model with non-finite values",
                   t->name, (unsigned long long)idx, nan ? "NaN" : "infinite");
}

int sq_st_check_finite(const sq_tensor_info *t, const void *bytes, size_t len, uint64_t byte_off, sq_err *e)
{
    const uint8_t *p = bytes;
    size_t es = sq_dtype_size(t->dtype), n = es ? len / es : 0;
    uint64_t first = es ? byte_off / es : 0;
    /* little-endian bit patterns: exponent all ones means Inf (mantissa 0) or NaN */
    switch (t->dtype) {
    case SQ_DT_F64:
        for (size_t i = 0; i < n; i++) {
            uint64_t u = 0;
            for (int b = 7; b >= 0; b--) u = (u << 8) | p[8 * i + (size_t)b];
            if ((u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull)
                return nonfinite_at(t, first + i, (u & 0x000fffffffffffffull) != 0, e);
        }
        break;
    case SQ_DT_F32:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            if ((u & 0x7f800000u) == 0x7f800000u) return nonfinite_at(t, first + i, (u & 0x007fffffu) != 0, e);
        }
        break;
    case SQ_DT_F16:
    case SQ_DT_BF16: {
        uint16_t ex = t->dtype == SQ_DT_F16 ? 0x7c00 : 0x7f80;
        for (size_t i = 0; i < n; i++) {
            uint16_t u = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            if ((u & ex) == ex) return nonfinite_at(t, first + i, (u & (uint16_t)~(ex | 0x8000)) != 0, e);
        }
        break;
    }
    case SQ_DT_F8_E5M2:
        for (size_t i = 0; i < n; i++)
            if ((p[i] & 0x7c) == 0x7c) return nonfinite_at(t, first + i, (p[i] & 3) != 0, e);
        break;
    case SQ_DT_F8_E4M3: /* no infinities; S.1111.111 is NaN */
        for (size_t i = 0; i < n; i++)
            if ((p[i] & 0x7f) == 0x7f) return nonfinite_at(t, first + i, 1, e);
        break;
    default:
        break;
    }
    return SQ_OK;
}

/* ---------------- writer ---------------- */

void sq_stw_init(sq_st_writer *w, sq_writer out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

int sq_stw_add(sq_st_writer *w, const char *name, sq_dtype dtype, int ndim, const int64_t *shape, sq_err *e)
{
    if (w->begun) return sq_fail(e, SQ_EINTERNAL, "writer: tensor '%s' added after the header was written", name);
    if (ndim < 0 || ndim > SQ_ST_MAX_DIMS) return sq_fail(e, SQ_EINTERNAL, "writer: bad rank for '%s'", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        sq_stw_tensor *p = realloc(w->tensors, cap * sizeof *p);
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
        w->tensors = p;
        w->cap = cap;
    }
    sq_stw_tensor *t = &w->tensors[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = sq_strdup(name, e))) return e->code;
    t->dtype = dtype;
    t->ndim = ndim;
    uint64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        numel *= (uint64_t)shape[i];
    }
    t->nbytes = numel * sq_dtype_size(dtype);
    w->n++;
    return SQ_OK;
}

int sq_stw_meta(sq_st_writer *w, const char *key, const char *value, sq_err *e)
{
    if (w->begun) return sq_fail(e, SQ_EINTERNAL, "writer: metadata added after the header was written");
    if (w->n_meta == w->cap_meta) {
        size_t cap = w->cap_meta ? 2 * w->cap_meta : 16;
        sq_meta_kv *p = realloc(w->meta, cap * sizeof *p);
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
        w->meta = p;
        w->cap_meta = cap;
    }
    sq_meta_kv *kv = &w->meta[w->n_meta];
    kv->key = sq_strdup(key, e);
    kv->value = sq_strdup(value, e);
    if (!kv->key || !kv->value) { free(kv->key); free(kv->value); return e->code; }
    w->n_meta++;
    return SQ_OK;
}

int sq_stw_begin(sq_st_writer *w, sq_err *e)
{
    cJSON *root = cJSON_CreateObject();
    int rc = SQ_OK;
    char *text = NULL;
    if (!root) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    if (w->n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < w->n_meta; i++)
            if (!cJSON_AddStringToObject(m, w->meta[i].key, w->meta[i].value)) m = NULL;
        if (!m) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); goto done; }
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n; i++) {
        sq_stw_tensor *t = &w->tensors[i];
        cJSON *o = cJSON_AddObjectToObject(root, t->name);
        if (!o) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); goto done; }
        cJSON_AddStringToObject(o, "dtype", sq_dtype_name(t->dtype));
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; shape && d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON *offs = cJSON_AddArrayToObject(o, "data_offsets");
        if (offs) {
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)off));
            cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)(off + t->nbytes)));
        }
        off += t->nbytes;
    }
    text = cJSON_PrintUnformatted(root);
    if (!text) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); goto done; }
    size_t len = strlen(text);
    size_t padded = (len + 7) & ~(size_t)7; /* data region 8-byte aligned, as the reference writer does */
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    if ((rc = sq_write_all(&w->out, lenbuf, 8, e))) goto done;
    if ((rc = sq_write_all(&w->out, text, len, e))) goto done;
    static const char spaces[8] = "        ";
    if ((rc = sq_write_all(&w->out, spaces, padded - len, e))) goto done;
    w->begun = 1;
    w->current = 0;
    w->written = 0;
done:
    free(text);
    cJSON_Delete(root);
    return rc;
}

int sq_stw_data(sq_st_writer *w, const void *bytes, size_t len, sq_err *e)
{
    const uint8_t *p = bytes;
    if (!w->begun) return sq_fail(e, SQ_EINTERNAL, "writer: data before header");
    while (len) {
        while (w->current < w->n && w->written == w->tensors[w->current].nbytes) { w->current++; w->written = 0; }
        if (w->current >= w->n) return sq_fail(e, SQ_EINTERNAL, "writer: more data than declared");
        uint64_t room = w->tensors[w->current].nbytes - w->written;
        size_t m = len < room ? len : (size_t)room;
        if (sq_write_all(&w->out, p, m, e)) return e->code;
        w->written += m;
        p += m;
        len -= m;
    }
    return SQ_OK;
}

int sq_stw_finish(sq_st_writer *w, sq_err *e)
{
    while (w->current < w->n && w->written == w->tensors[w->current].nbytes) { w->current++; w->written = 0; }
    if (w->current != w->n)
        return sq_fail(e, SQ_EINTERNAL, "writer: tensor '%s' is missing data", w->tensors[w->current].name);
    return SQ_OK;
}

void sq_stw_free(sq_st_writer *w)
{
    for (size_t i = 0; i < w->n; i++) free(w->tensors[i].name);
    free(w->tensors);
    for (size_t i = 0; i < w->n_meta; i++) { free(w->meta[i].key); free(w->meta[i].value); }
    free(w->meta);
    memset(w, 0, sizeof *w);
}
