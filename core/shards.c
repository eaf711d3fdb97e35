/* shards.c - several safetensors shards opened as one logical file (see shards.h). */
#include "shards.h"

#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sq_st_shards {
    size_t n;
    char **names;           /* shard file names, for messages */
    const sq_reader *readers;
    uint64_t *base;         /* where shard i starts in the virtual byte space; base[n] = size */
    size_t *tensor_shard;   /* per merged tensor (file order): its shard */
    sq_reader reader;       /* the virtual reader f->reader points at */
};

int sq_shard_name_ok(const char *name)
{
    static const char ext[] = ".safetensors";
    size_t n = strlen(name), x = sizeof ext - 1;
    if (n <= x || n > 255 || name[0] == '.') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return 0;
    }
    return strcmp(name + n - x, ext) == 0;
}

void sq_shard_names_free(char **names, size_t n)
{
    if (!names) return;
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
}

/* The index's weight_map, checked: an object of tensor name -> acceptable file name. */
static int index_map(const char *json, size_t len, cJSON **root, const cJSON **map, sq_err *e)
{
    if (len > SQ_SHARD_INDEX_MAX)
        return sq_fail(e, SQ_EINPUT, "index: %zu bytes, more than the %u MB allowed", len, SQ_SHARD_INDEX_MAX >> 20);
    if (!sq_json_depth_ok(json, len))
        return sq_fail(e, SQ_EINPUT, "index: JSON nested deeper than %d levels", SQ_JSON_MAX_DEPTH);
    *root = cJSON_ParseWithLength(json, len);
    if (!*root) return sq_fail(e, SQ_EINPUT, "index: not valid JSON");
    *map = cJSON_GetObjectItemCaseSensitive(*root, "weight_map");
    if (!cJSON_IsObject(*root) || !cJSON_IsObject(*map))
        return sq_fail(e, SQ_EINPUT, "index: no \"weight_map\" object (expected {\"weight_map\": {tensor: file}})");
    if (!(*map)->child) return sq_fail(e, SQ_EINPUT, "index: \"weight_map\" is empty");
    const cJSON *kv;
    cJSON_ArrayForEach(kv, *map)
    {
        if (!kv->string || !kv->string[0]) return sq_fail(e, SQ_EINPUT, "index: weight_map has an entry with an empty tensor name");
        if (!cJSON_IsString(kv) || !sq_shard_name_ok(kv->valuestring))
            return sq_fail(e, SQ_EINPUT, "index: tensor '%.200s' maps to %s; expected a plain file name ending in .safetensors",
                           kv->string, cJSON_IsString(kv) ? "a name with a directory or a bad suffix" : "a non-string");
    }
    return SQ_OK;
}

int sq_shard_index_files(const char *json, size_t len, char ***names, size_t *n, sq_err *e)
{
    *names = NULL;
    *n = 0;
    cJSON *root = NULL;
    const cJSON *map = NULL;
    int rc = index_map(json, len, &root, &map, e);
    size_t count = 0, cap = 0;
    char **v = NULL;
    const cJSON *kv;
    if (!rc) cJSON_ArrayForEach(kv, map)
    {
        /* distinct names; the index is small next to the model, a linear scan is fine
           up to the shard limit, which bounds count */
        size_t i = 0;
        while (i < count && strcmp(v[i], kv->valuestring) != 0) i++;
        if (i < count) continue;
        if (count == SQ_SHARDS_MAX) { rc = sq_fail(e, SQ_EINPUT, "index: more than %d shard files", SQ_SHARDS_MAX); break; }
        if (count == cap) {
            cap = cap ? 2 * cap : 16;
            char **p = realloc(v, cap * sizeof *v);
            if (!p) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
            v = p;
        }
        if (!(v[count] = sq_strdup(kv->valuestring, e))) { rc = e->code; break; }
        count++;
    }
    cJSON_Delete(root);
    if (rc) { sq_shard_names_free(v, count); return rc; }
    qsort(v, count, sizeof *v, sq_cmp_str);
    *names = v;
    *n = count;
    return SQ_OK;
}

/* ---- the virtual reader ---- */

static int shards_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    const struct sq_st_shards *s = ctx;
    uint8_t *out = buf;
    /* binary search for the shard holding offset, then walk forward across boundaries */
    size_t lo = 0, hi = s->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->base[mid] <= offset) lo = mid; else hi = mid;
    }
    for (size_t i = lo; len > 0; i++) {
        if (i >= s->n) return -1;
        uint64_t at = offset - s->base[i], avail = s->base[i + 1] - offset;
        size_t m = len < avail ? len : (size_t)avail;
        if (m && s->readers[i].read(s->readers[i].ctx, at, out, m) != 0) return -1;
        out += m;
        offset += m;
        len -= m;
    }
    return 0;
}

void sq_st_shards_free(struct sq_st_shards *s)
{
    if (!s) return;
    sq_shard_names_free(s->names, s->n);
    free(s->base);
    free(s->tensor_shard);
    free(s);
}

size_t sq_st_n_shards(const sq_st_file *f)
{
    return f->shards ? f->shards->n : 1;
}

size_t sq_st_shard_of(const sq_st_file *f, const sq_tensor_info *t)
{
    if (!f->shards || t < f->tensors || t >= f->tensors + f->n_tensors) return 0;
    return f->shards->tensor_shard[t - f->tensors];
}

/* ---- merging ---- */

typedef struct named { const char *name; size_t shard; } named;

static int cmp_named(const void *a, const void *b)
{
    const named *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* Every tensor in exactly one shard, and (with an index) in the shard the index says. */
static int check_membership(const sq_st_file *parts, const char *const *names, size_t n, const cJSON *map,
                            size_t total, sq_err *e)
{
    named *all = sq_malloc((total ? total : 1) * sizeof *all, e);
    if (!all) return e->code;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < parts[i].n_tensors; j++) all[k++] = (named){parts[i].tensors[j].name, i};
    qsort(all, total, sizeof *all, cmp_named);
    int rc = SQ_OK;
    for (size_t i = 1; i < total && !rc; i++)
        if (strcmp(all[i - 1].name, all[i].name) == 0)
            rc = sq_fail(e, SQ_EINPUT, "tensor '%.200s' is in both %.100s and %.100s%s", all[i].name,
                         names[all[i - 1].shard], names[all[i].shard],
                         map ? "" : " (if these are two models, not shards of one, name the file to use)");
    if (!rc && map) {
        /* the index's view: every entry found where it says, and nothing unlisted */
        size_t listed = 0;
        const cJSON *kv;
        cJSON_ArrayForEach(kv, map)
        {
            named key = {kv->string, 0};
            const named *hit = bsearch(&key, all, total, sizeof *all, cmp_named);
            if (!hit) {
                rc = sq_fail(e, SQ_EINPUT, "index puts tensor '%.200s' in %.100s, which does not hold it", kv->string,
                             kv->valuestring);
                break;
            }
            if (strcmp(names[hit->shard], kv->valuestring) != 0) {
                rc = sq_fail(e, SQ_EINPUT, "index puts tensor '%.200s' in %.100s but it is in %.100s", kv->string,
                             kv->valuestring, names[hit->shard]);
                break;
            }
            listed++;
        }
        /* cJSON keeps duplicate keys, so a count cannot tell "unlisted" from "listed
           twice" (one of each even cancels out): sort the index's names, look each
           tensor up. */
        if (!rc) {
            const char **keys = sq_malloc(listed * sizeof *keys, e);
            if (!keys) rc = e->code;
            size_t nk = 0;
            if (!rc) cJSON_ArrayForEach(kv, map) keys[nk++] = kv->string;
            if (!rc) qsort(keys, nk, sizeof *keys, sq_cmp_str);
            for (size_t i = 1; !rc && i < nk; i++)
                if (strcmp(keys[i - 1], keys[i]) == 0)
                    rc = sq_fail(e, SQ_EINPUT, "index: weight_map lists tensor '%.200s' twice", keys[i]);
            for (size_t i = 0; !rc && i < total; i++)
                if (!bsearch(&all[i].name, keys, nk, sizeof *keys, sq_cmp_str))
                    rc = sq_fail(e, SQ_EINPUT, "tensor '%.200s' of %.100s is not in the index's weight_map", all[i].name,
                                 names[all[i].shard]);
            free(keys);
        }
    }
    free(all);
    return rc;
}

static int merge_meta(sq_st_file *f, sq_st_file *parts, const char *const *names, size_t n, sq_err *e)
{
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += parts[i].n_meta;
    f->meta = sq_calloc(cap ? cap : 1, sizeof *f->meta, e);
    if (!f->meta) return e->code;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < parts[i].n_meta; j++) {
            sq_meta_kv *kv = &parts[i].meta[j];
            const char *have = sq_st_meta(f, kv->key);
            if (have) {
                if (strcmp(have, kv->value) != 0)
                    return sq_fail(e, SQ_EINPUT, "metadata '%.100s' differs between the shards (%.100s has another value)",
                                   kv->key, names[i]);
                continue;
            }
            f->meta[f->n_meta++] = *kv; /* moved: the part no longer owns it */
            kv->key = kv->value = NULL;
        }
    return SQ_OK;
}

int sq_st_open_shards(sq_st_file *f, const sq_reader *readers, const char *const *names, size_t n,
                      const char *index_json, size_t index_len, sq_err *e)
{
    memset(f, 0, sizeof *f);
    if (n == 0) return sq_fail(e, SQ_EINPUT, "no shards to open");
    if (n > SQ_SHARDS_MAX) return sq_fail(e, SQ_EINPUT, "%zu shards, more than the %d allowed", n, SQ_SHARDS_MAX);
    cJSON *root = NULL;
    const cJSON *map = NULL;
    int rc = index_json ? index_map(index_json, index_len, &root, &map, e) : SQ_OK;
    sq_st_file *parts = rc ? NULL : sq_calloc(n, sizeof *parts, e);
    struct sq_st_shards *s = parts ? sq_calloc(1, sizeof *s, e) : NULL;
    if (!rc && !s) rc = e->code;
    size_t opened = 0, total = 0;
    for (size_t i = 0; !rc && i < n; i++, opened++) {
        if ((rc = sq_st_open(&parts[i], &readers[i], e))) {
            char pre[140];
            snprintf(pre, sizeof pre, "%.120s: ", names[i]);
            sq_err_prefix(e, pre);
            break;
        }
        total += parts[i].n_tensors;
        if (total > SQ_ST_MAX_TENSORS) rc = sq_fail(e, SQ_EINPUT, "more than %d tensors in the shards", SQ_ST_MAX_TENSORS);
    }
    if (!rc) rc = check_membership(parts, names, n, map, total, e);
    if (!rc) {
        s->n = n;
        s->readers = readers;
        s->names = sq_calloc(n, sizeof *s->names, e);
        s->base = sq_calloc(n + 1, sizeof *s->base, e);
        s->tensor_shard = sq_calloc(total ? total : 1, sizeof *s->tensor_shard, e);
        f->tensors = sq_calloc(total ? total : 1, sizeof *f->tensors, e);
        if (!s->names || !s->base || !s->tensor_shard || !f->tensors) rc = e->code;
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (!(s->names[i] = sq_strdup(names[i], e))) rc = e->code;
    if (!rc) {
        /* Whole shards end to end: shard i's byte x is virtual byte base[i] + x, so a
           tensor at data_start_i + begin of its shard sits at base[i] + that. */
        uint64_t at = 0;
        for (size_t i = 0; i < n; i++) {
            s->base[i] = at;
            for (size_t j = 0; j < parts[i].n_tensors; j++) {
                sq_tensor_info t = parts[i].tensors[j];
                t.begin += at + parts[i].data_start;
                t.end += at + parts[i].data_start;
                s->tensor_shard[f->n_tensors] = i;
                f->tensors[f->n_tensors++] = t;
                parts[i].tensors[j].name = NULL; /* moved */
            }
            at += readers[i].size;
        }
        s->base[n] = at;
        s->reader = (sq_reader){s, at, shards_read};
        f->reader = &s->reader;
        f->data_start = 0;
        f->shards = s;
        s = NULL;
        rc = merge_meta(f, parts, names, n, e);
    }
    for (size_t i = 0; i < opened; i++) sq_st_close(&parts[i]);
    free(parts);
    sq_st_shards_free(s); /* only if the merge did not take it */
    cJSON_Delete(root);
    if (rc) sq_st_close(f);
    return rc;
}
