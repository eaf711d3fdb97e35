/* shard_out.c - `sq quantize --shard-size SIZE`: a finished output over SIZE bytes is cut
 * into Hugging Face-style shards (NAME-00001-of-0000N.safetensors + NAME.safetensors.index.json)
 * that every sq command (and transformers' loader) opens as one model (core/shards.h).
 *
 * The single file is written first, as always, then read back tensor by tensor into the
 * shards (bounded memory: one copy buffer); each shard carries the whole __metadata__
 * (config, tokenizer, sq.tensors), so the shards agree on it as the reader requires.
 * Tensors keep their file order; a shard is closed before it would pass SIZE (a tensor
 * larger than SIZE gets a shard of its own). Shards are written to temporary names and
 * renamed into place only when all of them and the index are complete; the single file
 * is removed last.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK (4u << 20)

/* "dir/model.safetensors" -> prefix "dir/model" (the index is prefix.safetensors.index.json). */
static char *name_prefix(const char *path)
{
    size_t n = strlen(path);
    const char *ext = ".safetensors";
    size_t x = strlen(ext);
    if (n > x && strcmp(path + n - x, ext) == 0) n -= x;
    return strndup(path, n);
}

static int copy_tensor(const sq_st_file *in, const sq_tensor_info *t, sq_st_writer *w, uint8_t *buf, sq_err *e)
{
    uint64_t done = 0, n = t->end - t->begin;
    while (done < n) {
        size_t m = n - done < COPY_CHUNK ? (size_t)(n - done) : COPY_CHUNK;
        if (sq_read_at(in->reader, in->data_start + t->begin + done, buf, m, e)) return e->code;
        if (sq_stw_data(w, buf, m, e)) return e->code;
        done += m;
    }
    return SQ_OK;
}

int cli_split_shards(const char *path, uint64_t max_bytes, size_t *n_shards, sq_err *e)
{
    *n_shards = 1;
    cli_file f;
    sq_st_file st;
    if (cli_file_open(&f, path, e)) return e->code;
    if (f.reader.size <= max_bytes) { cli_file_close(&f); return SQ_OK; }
    if (sq_st_open(&st, &f.reader, e)) { cli_file_close(&f); return e->code; }
    /* plan: shard index of every tensor (file order) */
    size_t *shard_of = calloc(st.n_tensors ? st.n_tensors : 1, sizeof *shard_of);
    uint8_t *buf = malloc(COPY_CHUNK);
    char *prefix = name_prefix(path);
    int rc = shard_of && buf && prefix ? SQ_OK : sq_fail(e, SQ_EINTERNAL, "out of memory");
    size_t count = 0;
    uint64_t used = 0;
    for (size_t i = 0; !rc && i < st.n_tensors; i++) {
        uint64_t b = st.tensors[i].end - st.tensors[i].begin;
        if (count == 0 || (used > 0 && used + b > max_bytes)) { count++; used = 0; }
        shard_of[i] = count - 1;
        used += b;
    }
    if (!rc && count > 99999) rc = sq_fail(e, SQ_EINPUT, "--shard-size %llu would make %zu shards (at most 99999)", (unsigned long long)max_bytes, count);
    cli_out *outs = rc ? NULL : calloc(count, sizeof *outs);
    if (!rc && !outs) rc = sq_fail(e, SQ_EINTERNAL, "out of memory");
    cJSON *index = rc ? NULL : cJSON_CreateObject();
    cJSON *map = index ? cJSON_CreateObject() : NULL;
    size_t opened = 0, t0 = 0;
    uint64_t total = 0;
    for (size_t s = 0; !rc && s < count; s++) {
        char *name = malloc(strlen(prefix) + 40);
        if (!name) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
        sprintf(name, "%s-%05zu-of-%05zu.safetensors", prefix, s + 1, count);
        rc = cli_out_open(&outs[s], name, e);
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        sq_st_writer w;
        sq_stw_init(&w, outs[s].writer);
        size_t t1 = t0;
        while (t1 < st.n_tensors && shard_of[t1] == s) t1++;
        for (size_t i = t0; !rc && i < t1; i++) {
            const sq_tensor_info *t = &st.tensors[i];
            rc = sq_stw_add(&w, t->name, t->dtype, t->ndim, t->shape, e);
            cJSON_AddStringToObject(map, t->name, base);
            total += t->end - t->begin;
        }
        for (size_t k = 0; !rc && k < st.n_meta; k++) rc = sq_stw_meta(&w, st.meta[k].key, st.meta[k].value, e);
        if (!rc) rc = sq_stw_begin(&w, e);
        for (size_t i = t0; !rc && i < t1; i++) rc = copy_tensor(&st, &st.tensors[i], &w, buf, e);
        if (!rc) rc = sq_stw_finish(&w, e);
        sq_stw_free(&w);
        free(name);
        if (!rc || outs[s].fp) opened = s + 1;
        t0 = t1;
    }
    char *json = NULL;
    cli_out ix = {0};
    if (!rc) {
        cJSON *meta = cJSON_AddObjectToObject(index, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON_AddItemToObject(index, "weight_map", map);
        map = NULL;
        json = cJSON_Print(index);
        char *ipath = malloc(strlen(prefix) + 32);
        if (!json || !ipath) rc = sq_fail(e, SQ_EINTERNAL, "out of memory");
        else {
            sprintf(ipath, "%s.safetensors.index.json", prefix);
            rc = cli_out_open(&ix, ipath, e);
            if (!rc) rc = sq_write_all(&ix.writer, json, strlen(json), e);
        }
        free(ipath);
    }
    /* all or nothing: commit every shard and the index only when all were written */
    for (size_t s = 0; !rc && s < count; s++) rc = cli_out_commit(&outs[s], e);
    if (!rc) rc = cli_out_commit(&ix, e);
    if (rc) {
        for (size_t s = 0; s < opened; s++) cli_out_abort(&outs[s]);
        if (ix.fp) cli_out_abort(&ix);
    }
    free(json);
    cJSON_Delete(map);
    cJSON_Delete(index);
    free(outs);
    free(prefix);
    free(buf);
    free(shard_of);
    sq_st_close(&st);
    cli_file_close(&f);
    if (!rc) { remove(path); *n_shards = count; }
    return rc;
}
