/* fuzz_llama.c - config.json interpretation and weight loading of the Llama causal LM,
 * then a prefill and a few decode steps through the KV cache.
 *
 * Input: config.json text, FUZZ_SEP, a safetensors file (plain or sq-quantized),
 * FUZZ_SEP, token ids (one signed byte each). max_ctx is 64 positions.
 * Properties: no crash, leak, hang or allocation beyond the input's reach; out-of-range
 * ids and positions past the context are refused; batched prefill and one-token
 * forward agree on the last logits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "models/llama.h"
#include "models/sample.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part parts[3];
    fuzz_split(data, size, parts, 3);
    char *cfg = fuzz_strdup(&parts[0]);
    uint8_t *w = fuzz_copy(&parts[1]);
    sq_mem_reader m;
    sq_reader r = sq_reader_from_memory(&m, w, parts[1].len);
    sq_st_file f;
    sq_err e = {0};
    if (sq_st_open(&f, &r, &e)) goto out;
    sq_llama *L = NULL;
    /* a bounded KV cache (64 positions): the CLI default (2048) scales with the
       weights, but is larger than the fuzzer's per-allocation limit allows */
    int rc = sq_llama_load(&L, &f, cfg, 64, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        FUZZ_ASSERT(L == NULL);
        sq_st_close(&f);
        goto out;
    }
    const sq_llama_config *c = &L->c;
    FUZZ_ASSERT(L->seq_len >= 1 && L->seq_len <= (size_t)c->max_pos);
    (void)sq_llama_bytes(L);
    size_t n = parts[2].len < 12 ? parts[2].len : 12;
    int32_t ids[12];
    int in_range = n <= L->seq_len;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int8_t)parts[2].data[i];
        if (ids[i] < 0 || ids[i] >= c->vocab) in_range = 0;
        (void)sq_llama_is_eos(L, ids[i]);
    }
    size_t V = (size_t)c->vocab;
    float *last = malloc(V * sizeof(float));
    FUZZ_ASSERT(last);
    memset(&e, 0, sizeof e);
    rc = n ? sq_llama_prefill(L, ids, n, 0, last, 0, &e) : SQ_OK;
    fuzz_check_err(rc, &e);
    if (in_range && rc) {
        fprintf(stderr, "prefill refused valid ids: %s\n", e.msg);
        abort();
    }
    if (!in_range) FUZZ_ASSERT(rc == SQ_EINPUT);
    if (rc == 0 && n > 0) {
        /* the same tokens one at a time through the cache */
        sq_llama_reset(L);
        const float *lg = NULL;
        for (size_t i = 0; i < n; i++) {
            memset(&e, 0, sizeof e);
            lg = sq_llama_forward(L, ids[i], i, &e);
            FUZZ_ASSERT(lg != NULL);
        }
        for (size_t v = 0; v < V; v++) {
            float a = last[v], b = lg[v];
            if (!(a == b || (isnan(a) && isnan(b)) || fabs((double)a - (double)b) <= 1e-3 * (fabs((double)a) + fabs((double)b)) + 1e-4)) {
                fprintf(stderr, "prefill vs forward: logit %zu %.9g vs %.9g\n", v, a, b);
                abort();
            }
        }
        /* sample a next token; positions past the context are refused */
        sq_sampler s;
        memset(&e, 0, sizeof e);
        if (sq_sampler_init(&s, V, 0.8f, 0.9f, 1, &e) == 0) {
            memcpy(last, lg, V * sizeof(float));
            int32_t next = sq_sample(&s, last);
            FUZZ_ASSERT(next >= 0 && (size_t)next < V);
            sq_sampler_free(&s);
        }
        memset(&e, 0, sizeof e);
        FUZZ_ASSERT(sq_llama_forward(L, 0, L->seq_len, &e) == NULL && e.code != 0);
        memset(&e, 0, sizeof e);
        FUZZ_ASSERT(sq_llama_forward(L, c->vocab, n < L->seq_len ? n : 0, &e) == NULL && e.code == SQ_EINPUT);
    }
    free(last);
    sq_llama_free(L);
    sq_st_close(&f);
out:
    free(cfg);
    free(w);
    return 0;
}
