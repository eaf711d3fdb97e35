/* models_util.h - what the model tests share (test_linear.c, test_models.c,
 * test_models_quant.c): files read whole, safetensors opened from memory, a seeded
 * random source, jsonl goldens, a safetensors writer for hand-made files, and the KV
 * cache check. static inline: each test program uses its own part. */
#ifndef SQ_MODELS_UTIL_H
#define SQ_MODELS_UTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "dtype.h"
#include "models/llama.h"
#include "safetensors.h"
#include "sq.h"

#define BERT_DIR TEST_ROOT "/examples/bert-tiny-emotion"
#define STORIES_DIR TEST_ROOT "/examples/stories260K"


static inline char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

/* A safetensors file opened from memory. */
typedef struct memst {
    char *data;
    size_t len;
    sq_mem_reader mr;
    sq_reader r;
    sq_st_file st;
    int open;
} memst;

static inline int memst_open_buf(memst *m, char *data, size_t len)
{
    sq_err e = {0};
    memset(m, 0, sizeof *m);
    m->data = data;
    m->len = len;
    m->r = sq_reader_from_memory(&m->mr, data, len);
    if (sq_st_open(&m->st, &m->r, &e)) {
        fprintf(stderr, "  open: %s\n", e.msg);
        return -1;
    }
    m->open = 1;
    return 0;
}

static inline int memst_open(memst *m, const char *path)
{
    size_t len = 0;
    char *d = read_file(path, &len);
    if (!d) {
        fprintf(stderr, "  cannot read %s\n", path);
        return -1;
    }
    return memst_open_buf(m, d, len);
}

static inline void memst_close(memst *m)
{
    if (m->open) sq_st_close(&m->st);
    free(m->data);
    memset(m, 0, sizeof *m);
}

static uint64_t rng_state = 12345; /* each program starts the same sequence */
static inline double urand(void) /* [0, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static inline float frand(float lo, float hi) { return lo + (hi - lo) * (float)urand(); }

/* Lines of a jsonl file as cJSON objects (NULL-terminated array). */
static inline cJSON **read_jsonl(const char *path, size_t *n)
{
    char *text = read_file(path, NULL);
    *n = 0;
    if (!text) return NULL;
    size_t cap = 16;
    cJSON **rows = malloc(cap * sizeof *rows);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        if (!j) continue;
        if (*n + 1 >= cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
        rows[(*n)++] = j;
    }
    rows[*n] = NULL;
    free(text);
    return rows;
}

static inline void free_jsonl(cJSON **rows, size_t n)
{
    for (size_t i = 0; i < n; i++) cJSON_Delete(rows[i]);
    free(rows);
}

static inline size_t json_ints(const cJSON *arr, int32_t *out, size_t cap)
{
    size_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) if (n < cap) out[n++] = (int32_t)v->valuedouble;
    return n;
}

/* Write tensors (name, dtype, shape, bytes) and metadata into buf. */
typedef struct wt {
    const char *name;
    sq_dtype dt;
    int nd;
    int64_t shape[2];
    const void *data;
} wt;

static inline int write_st(sq_buf *buf, const wt *ts, size_t n, const char *const *meta, size_t nmeta)
{
    sq_err e = {0};
    sq_st_writer w;
    memset(buf, 0, sizeof *buf);
    sq_stw_init(&w, sq_writer_to_buf(buf));
    int rc = 0;
    for (size_t i = 0; i < nmeta && !rc; i++) rc = sq_stw_meta(&w, meta[2 * i], meta[2 * i + 1], &e);
    for (size_t i = 0; i < n && !rc; i++) rc = sq_stw_add(&w, ts[i].name, ts[i].dt, ts[i].nd, ts[i].shape, &e);
    if (!rc) rc = sq_stw_begin(&w, &e);
    for (size_t i = 0; i < n && !rc; i++) {
        uint64_t numel = 1;
        for (int d = 0; d < ts[i].nd; d++) numel *= (uint64_t)ts[i].shape[d];
        rc = sq_stw_data(&w, ts[i].data, (size_t)numel * sq_dtype_size(ts[i].dt), &e);
    }
    if (!rc) rc = sq_stw_finish(&w, &e);
    if (rc) fprintf(stderr, "  write: %s\n", e.msg);
    sq_stw_free(&w);
    return rc;
}

/* The KV cache: logits of each position from token-by-token decoding equal those of a
 * fresh batched recomputation of the whole prefix. */
static inline double kv_vs_recompute(sq_llama *l, const int32_t *ids, size_t n)
{
    size_t V = (size_t)l->c.vocab;
    float *steps = malloc(n * V * sizeof(float)), *all = malloc(n * V * sizeof(float)), *last = malloc(V * sizeof(float));
    sq_err e = {0};
    sq_llama_reset(l);
    for (size_t t = 0; t < n; t++) {
        const float *s = sq_llama_forward(l, ids[t], t, &e);
        if (!s) { fprintf(stderr, "  %s\n", e.msg); return INFINITY; }
        memcpy(steps + t * V, s, V * sizeof(float));
    }
    double worst = 0;
    sq_llama_reset(l);
    if (sq_llama_prefill(l, ids, n, 0, all, 1, &e)) return INFINITY;
    for (size_t i = 0; i < n * V; i++)
        if (fabs(all[i] - steps[i]) > worst) worst = fabs(all[i] - steps[i]);
    for (size_t t = 1; t <= n; t += 3) { /* separate fresh runs of each prefix */
        sq_llama_reset(l);
        if (sq_llama_prefill(l, ids, t, 0, last, 0, &e)) return INFINITY;
        for (size_t j = 0; j < V; j++)
            if (fabs(last[j] - steps[(t - 1) * V + j]) > worst) worst = fabs(last[j] - steps[(t - 1) * V + j]);
    }
    /* continuing from a cache built by a prefill */
    sq_llama_reset(l);
    size_t half = n / 2;
    if (sq_llama_prefill(l, ids, half, 0, NULL, 0, &e)) return INFINITY;
    for (size_t t = half; t < n; t++) {
        const float *s = sq_llama_forward(l, ids[t], t, &e);
        for (size_t j = 0; j < V; j++)
            if (fabs(s[j] - steps[t * V + j]) > worst) worst = fabs(s[j] - steps[t * V + j]);
    }
    free(steps);
    free(all);
    free(last);
    return worst;
}

#endif
