/* test_models.c - BERT and Llama forward passes against the goldens in examples/, KV
 * cache vs batched recomputation, greedy decoding, a tiny Llama-3.2-shaped model built
 * in memory, and the sampler. (Kernels and loader: test_linear.c; quantized files
 * through the models: test_models_quant.c.) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "models_util.h"

#include "kernels/linear.h"
#include "models/bert.h"
#include "models/llama.h"
#include "models/sample.h"
#include "quant/pipeline.h"
#include "quant/quant.h"
#include "tokenizers/tokenizer.h"

/* ---------------- BERT ---------------- */

/* Max |logit - golden| over the 64 golden rows; counts argmax agreement. */
static double bert_golden_diff(const sq_bert *b, int *agree, int *correct)
{
    size_t n = 0;
    cJSON **rows = read_jsonl(BERT_DIR "/golden.jsonl", &n);
    double worst = 0;
    *agree = *correct = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t ids[600];
        size_t len = json_ints(cJSON_GetObjectItem(rows[i], "input_ids"), ids, 600);
        float logits[16];
        sq_err e = {0};
        if (sq_bert_forward(b, ids, len, logits, &e)) {
            fprintf(stderr, "  forward: %s\n", e.msg);
            worst = INFINITY;
            continue;
        }
        float gold[16];
        const cJSON *v;
        int k = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(rows[i], "logits")) gold[k++] = (float)v->valuedouble;
        for (int j = 0; j < k; j++)
            if (fabs(logits[j] - gold[j]) > worst) worst = fabs(logits[j] - gold[j]);
        int pred = sq_argmax(logits, (size_t)b->c.n_labels);
        *agree += pred == (int)cJSON_GetObjectItem(rows[i], "pred")->valuedouble;
        *correct += pred == (int)cJSON_GetObjectItem(rows[i], "label")->valuedouble;
    }
    CHECK(n == 64);
    free_jsonl(rows, n);
    return worst;
}

static void test_bert_golden(void)
{
    memst m;
    if (memst_open(&m, BERT_DIR "/model.safetensors")) { CHECK(0); return; }
    char *cfg = read_file(BERT_DIR "/config.json", NULL);
    sq_bert *b = NULL;
    sq_err e = {0};
    CHECK(sq_bert_load(&b, &m.st, cfg, &e) == 0);
    if (b) {
        CHECK(b->c.n_labels == 6 && strcmp(b->labels[1], "joy") == 0);
        int agree, correct;
        double d = bert_golden_diff(b, &agree, &correct);
        printf("     bert golden: max |logit diff| %.3g, argmax %d/64, correct %d/64\n", d, agree, correct);
        CHECK(d <= 1e-4);
        CHECK(agree == 64 && correct == 57);
        /* errors: too long, id out of range */
        int32_t ids[3] = {101, 999999, 102};
        float lg[6];
        CHECK(sq_bert_forward(b, ids, 3, lg, &e) == SQ_EINPUT);
        /* a padding mask: masked positions change nothing */
        int32_t a[6] = {101, 1045, 2514, 3407, 102, 0}, t[6] = {0};
        uint8_t mk[6] = {1, 1, 1, 1, 1, 0};
        float l1[6], l2[6];
        memset(&e, 0, sizeof e);
        CHECK(sq_bert_forward(b, a, 5, l1, &e) == 0);
        CHECK(sq_bert_forward_ex(b, a, t, mk, 6, l2, &e) == 0);
        for (int i = 0; i < 6; i++) CHECK_NEAR(l1[i], l2[i], 1e-5);
        sq_bert_free(b);
    } else {
        fprintf(stderr, "  load: %s\n", e.msg);
    }
    /* config errors */
    const char *bad[] = {
        "{\"architectures\": [\"GPT2LMHeadModel\"]}",
        "{\"model_type\": \"bert\", \"hidden_size\": 128}",
        "{\"model_type\": \"bert\", \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
        "\"intermediate_size\": 512, \"max_position_embeddings\": 512, \"vocab_size\": 30522}",
    };
    const char *want[] = {"GPT2LMHeadModel", "num_hidden_layers", "word_embeddings"};
    for (int i = 0; i < 3; i++) {
        memset(&e, 0, sizeof e);
        CHECK(sq_bert_load(&b, &m.st, bad[i], &e) == SQ_EINPUT && !b);
        CHECK_MSG(strstr(e.msg, want[i]) != NULL, "%s", e.msg);
    }
    free(cfg);
    memst_close(&m);
}

/* ---------------- stories260K ---------------- */

static sq_llama *load_stories(memst *m, size_t ctx)
{
    if (memst_open(m, STORIES_DIR "/model.safetensors")) return NULL;
    char *cfg = read_file(STORIES_DIR "/config.json", NULL);
    sq_llama *l = NULL;
    sq_err e = {0};
    if (sq_llama_load(&l, &m->st, cfg, ctx, &e)) fprintf(stderr, "  load: %s\n", e.msg);
    free(cfg);
    return l;
}

static void test_stories_golden(void)
{
    memst m;
    sq_llama *l = load_stories(&m, 512);
    CHECK(l != NULL);
    if (!l) { memst_close(&m); return; }
    CHECK(l->c.tied == 1 && l->c.n_kv_heads == 4 && l->c.bos_id == 1 && l->c.n_eos == 1 && l->c.eos_ids[0] == 2);
    size_t n = 0;
    cJSON **rows = read_jsonl(STORIES_DIR "/golden.jsonl", &n);
    CHECK(n == 3);
    double worst = 0, worst_step = 0;
    float *lg = malloc(512 * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        int32_t ids[64];
        size_t len = json_ints(cJSON_GetObjectItem(rows[i], "input_ids"), ids, 64);
        float gold[512];
        const cJSON *v;
        int k = 0;
        cJSON_ArrayForEach(v, cJSON_GetObjectItem(rows[i], "last_logits")) gold[k++] = (float)v->valuedouble;
        CHECK(k == 512);
        sq_err e = {0};
        sq_llama_reset(l);
        CHECK(sq_llama_prefill(l, ids, len, 0, lg, 0, &e) == 0);
        for (int j = 0; j < 512; j++)
            if (fabs(lg[j] - gold[j]) > worst) worst = fabs(lg[j] - gold[j]);
        CHECK(sq_argmax(lg, 512) == (int)cJSON_GetObjectItem(rows[i], "argmax")->valuedouble);
        /* token by token */
        sq_llama_reset(l);
        const float *s = NULL;
        for (size_t t = 0; t < len; t++) s = sq_llama_forward(l, ids[t], t, &e);
        CHECK(s != NULL);
        for (int j = 0; s && j < 512; j++)
            if (fabs(s[j] - gold[j]) > worst_step) worst_step = fabs(s[j] - gold[j]);
    }
    printf("     stories260K golden: max |logit diff| %.3g (prefill), %.3g (token by token)\n", worst, worst_step);
    CHECK(worst <= 1e-4 && worst_step <= 1e-4);
    free(lg);
    free_jsonl(rows, n);
    sq_llama_free(l);
    memst_close(&m);
}

static void test_stories_kv_cache(void)
{
    memst m;
    sq_llama *l = load_stories(&m, 512);
    CHECK(l != NULL);
    if (!l) { memst_close(&m); return; }
    /* 100 tokens: longer than one prefill chunk */
    int32_t ids[100];
    ids[0] = 1;
    for (int i = 1; i < 100; i++) ids[i] = 259 + (i * 37) % 253;
    double d = kv_vs_recompute(l, ids, 100);
    printf("     stories260K KV cache vs recomputation: max |diff| %.3g\n", d);
    CHECK(d <= 1e-5);
    /* positions must not skip, nor run past the cache */
    sq_err e = {0};
    sq_llama_reset(l);
    CHECK(sq_llama_forward(l, 1, 3, &e) == NULL);
    memset(&e, 0, sizeof e);
    CHECK(sq_llama_forward(l, 600, 0, &e) == NULL && e.code == SQ_EINPUT);
    sq_llama_free(l);
    memst_close(&m);
}

static const char *STORY =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a "
    "big, red ball. She wanted to play with it, but it was too high.";

static void test_stories_greedy(void)
{
    memst m;
    sq_llama *l = load_stories(&m, 512);
    CHECK(l != NULL);
    if (!l) { memst_close(&m); return; }
    int32_t ids[256] = {1, 403, 407, 261, 378};
    size_t n = 5;
    sq_err e = {0};
    float *lg = malloc(512 * sizeof(float));
    CHECK(sq_llama_prefill(l, ids, n, 0, lg, 0, &e) == 0);
    while (n < 120) {
        int32_t next = sq_argmax(lg, 512);
        ids[n] = next;
        const float *s = sq_llama_forward(l, next, n, &e);
        n++;
        if (!s) break;
        memcpy(lg, s, 512 * sizeof(float));
    }
    /* the first generated ids are the story's (',' is 432 per golden.jsonl) */
    CHECK(ids[5] == 432);
    size_t tlen = 0;
    char *tj = read_file(STORIES_DIR "/tokenizer.json", &tlen);
    sq_tokenizer *tok = NULL;
    CHECK(tj && sq_tokenizer_load_json(&tok, tj, tlen, &e) == 0);
    if (tok) {
        char *text = NULL;
        size_t len = 0;
        CHECK(sq_tokenizer_decode(tok, ids, n, SQ_TOK_SKIP_SPECIAL, &text, &len, &e) == 0);
        CHECK_MSG(text && strncmp(text, STORY, strlen(STORY)) == 0, "generated: %s", text ? text : e.msg);
        /* the prompt encodes to the golden ids */
        int32_t *pid = NULL;
        size_t pn = 0;
        CHECK(sq_tokenizer_encode(tok, "Once upon a time", 16, SQ_TOK_ADD_SPECIAL, 0, &pid, &pn, &e) == 0);
        CHECK(pn == 5 && pid && memcmp(pid, ids, 5 * sizeof(int32_t)) == 0);
        free(pid);
        free(text);
        sq_tokenizer_free(tok);
    } else {
        fprintf(stderr, "  tokenizer: %s\n", e.msg);
    }
    free(tj);
    free(lg);
    sq_llama_free(l);
    memst_close(&m);
}

/* ---------------- a tiny Llama-3.2-shaped model built here ---------------- */

typedef struct tiny {
    int dim, hidden, layers, heads, kv, hd, vocab;
} tiny;

/* Write a random model: BF16 embedding, GQA, F32 elsewhere; with_head adds an F32
 * lm_head.weight equal to the embedding (else the embeddings are tied: no lm_head). */
static int build_tiny(sq_buf *buf, const tiny *t, int with_head)
{
    size_t qd = (size_t)(t->heads * t->hd), kvd = (size_t)(t->kv * t->hd);
    size_t nt = 3 + (size_t)t->layers * 9;
    wt *ts = calloc(nt, sizeof *ts);
    char (*names)[96] = calloc(nt, 96);
    void **bufs = calloc(nt, sizeof *bufs);
    size_t i = 0;
    uint16_t *emb = malloc((size_t)t->vocab * (size_t)t->dim * 2);
    for (size_t j = 0; j < (size_t)t->vocab * (size_t)t->dim; j++) emb[j] = sq_f32_to_bf16(frand(-1, 1));
    bufs[i] = emb;
    ts[i++] = (wt){"model.embed_tokens.weight", SQ_DT_BF16, 2, {t->vocab, t->dim}, emb};
    struct { const char *n; size_t r, c; } lin[] = {
        {"self_attn.q_proj", qd, (size_t)t->dim},       {"self_attn.k_proj", kvd, (size_t)t->dim},
        {"self_attn.v_proj", kvd, (size_t)t->dim},      {"self_attn.o_proj", (size_t)t->dim, qd},
        {"mlp.gate_proj", (size_t)t->hidden, (size_t)t->dim}, {"mlp.up_proj", (size_t)t->hidden, (size_t)t->dim},
        {"mlp.down_proj", (size_t)t->dim, (size_t)t->hidden},
    };
    for (int l = 0; l < t->layers; l++) {
        for (int k = 0; k < 7; k++) {
            float *w = malloc(lin[k].r * lin[k].c * sizeof(float));
            float sc = 1.0f / sqrtf((float)lin[k].c);
            for (size_t j = 0; j < lin[k].r * lin[k].c; j++) w[j] = frand(-2 * sc, 2 * sc);
            snprintf(names[i], 96, "model.layers.%d.%s.weight", l, lin[k].n);
            bufs[i] = w;
            ts[i] = (wt){names[i], SQ_DT_F32, 2, {(int64_t)lin[k].r, (int64_t)lin[k].c}, w};
            i++;
        }
        for (int k = 0; k < 2; k++) {
            float *w = malloc((size_t)t->dim * sizeof(float));
            for (int j = 0; j < t->dim; j++) w[j] = frand(0.5f, 1.5f);
            snprintf(names[i], 96, "model.layers.%d.%s.weight", l, k ? "post_attention_layernorm" : "input_layernorm");
            bufs[i] = w;
            ts[i] = (wt){names[i], SQ_DT_F32, 1, {t->dim, 0}, w};
            i++;
        }
    }
    float *nw = malloc((size_t)t->dim * sizeof(float));
    for (int j = 0; j < t->dim; j++) nw[j] = frand(0.5f, 1.5f);
    bufs[i] = nw;
    ts[i++] = (wt){"model.norm.weight", SQ_DT_F32, 1, {t->dim, 0}, nw};
    if (with_head) {
        float *h = malloc((size_t)t->vocab * (size_t)t->dim * sizeof(float));
        sq_to_f32(SQ_DT_BF16, emb, h, (size_t)t->vocab * (size_t)t->dim);
        bufs[i] = h;
        ts[i++] = (wt){"lm_head.weight", SQ_DT_F32, 2, {t->vocab, t->dim}, h};
    }
    int rc = write_st(buf, ts, i, NULL, 0);
    for (size_t j = 0; j < i; j++) free(bufs[j]);
    free(bufs);
    free(names);
    free(ts);
    return rc;
}

static void tiny_config(char *out, size_t n, const tiny *t, int llama3, int tied)
{
    snprintf(out, n,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": %d, "
             "\"intermediate_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": %d, "
             "\"num_key_value_heads\": %d, \"head_dim\": %d, \"vocab_size\": %d, \"max_position_embeddings\": 1024, "
             "\"rms_norm_eps\": 1e-05, \"rope_theta\": 500000.0, \"tie_word_embeddings\": %s, \"hidden_act\": \"silu\", "
             "\"bos_token_id\": 0, \"eos_token_id\": [1, 2, 3], \"rope_scaling\": %s}",
             t->dim, t->hidden, t->layers, t->heads, t->kv, t->hd, t->vocab, tied ? "true" : "false",
             llama3 ? "{\"factor\": 32.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, "
                      "\"original_max_position_embeddings\": 64, \"rope_type\": \"llama3\"}"
                    : "null");
}

static void test_tiny_llama3(void)
{
    tiny t = {48, 80, 2, 6, 2, 16, 97};
    sq_buf buf;
    CHECK(build_tiny(&buf, &t, 0) == 0);
    memst m;
    CHECK(memst_open_buf(&m, (char *)buf.data, buf.len) == 0);
    char cfg[1024];
    sq_llama *a = NULL, *b = NULL;
    sq_err e = {0};
    tiny_config(cfg, sizeof cfg, &t, 1, 1);
    CHECK(sq_llama_load(&a, &m.st, cfg, 200, &e) == 0);
    tiny_config(cfg, sizeof cfg, &t, 0, 1);
    CHECK(sq_llama_load(&b, &m.st, cfg, 200, &e) == 0);
    if (!a || !b) {
        fprintf(stderr, "  %s\n", e.msg);
        sq_llama_free(a);
        sq_llama_free(b);
        memst_close(&m);
        return;
    }
    CHECK(a->c.rope_llama3 && !b->c.rope_llama3 && a->c.tied && a->emb_dtype == SQ_DT_BF16 && a->c.n_eos == 3);
    CHECK(sq_llama_is_eos(a, 2) && !sq_llama_is_eos(a, 4));
    /* inv_freq per HF _compute_llama3_parameters (theta 5e5, head_dim 16, factor 32,
     * low 1, high 4, original 64), computed independently in Python */
    static const double want[8] = {1.0, 0.0671330375110499, 0.001175188466589498, 0.00022789577303803464,
                                   4.419417382415922e-05, 8.570255489881478e-06, 1.661967467795309e-06,
                                   3.2229329303788936e-07};
    for (int i = 0; i < 8; i++) CHECK_MSG(fabs(a->inv_freq[i] - want[i]) <= 1e-9 * want[i] + 1e-15, "inv_freq[%d] = %.17g", i, a->inv_freq[i]);
    int32_t ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 31 + 7) % t.vocab;
    float *la = malloc(40 * (size_t)t.vocab * sizeof(float)), *lb = malloc(40 * (size_t)t.vocab * sizeof(float));
    CHECK(sq_llama_prefill(a, ids, 40, 0, la, 1, &e) == 0);
    CHECK(sq_llama_prefill(b, ids, 40, 0, lb, 1, &e) == 0);
    int finite = 1;
    double diff = 0, diff0 = 0;
    for (size_t i = 0; i < 40 * (size_t)t.vocab; i++) {
        finite &= isfinite(la[i]) && isfinite(lb[i]);
        if (fabs(la[i] - lb[i]) > diff) diff = fabs(la[i] - lb[i]);
        if (i < (size_t)t.vocab && fabs(la[i] - lb[i]) > diff0) diff0 = fabs(la[i] - lb[i]);
    }
    CHECK(finite);
    CHECK(diff0 == 0);   /* position 0: no rotation either way */
    CHECK(diff > 1e-3);  /* llama3 scaling changes later positions */
    double kv = kv_vs_recompute(a, ids, 40);
    printf("     tiny llama3: rope scaling changes logits by up to %.3g; KV cache vs recomputation %.3g\n", diff, kv);
    CHECK(kv <= 1e-5);
    /* bad configs */
    const char *bad[] = {
        "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2, "
        "\"num_attention_heads\": 6, \"num_key_value_heads\": 4, \"vocab_size\": 97}",
        "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2, "
        "\"num_attention_heads\": 6, \"num_key_value_heads\": 2, \"head_dim\": 16, \"vocab_size\": 97, "
        "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
        "{\"model_type\": \"llama\", \"hidden_size\": 48, \"intermediate_size\": 80, \"num_hidden_layers\": 2, "
        "\"num_attention_heads\": 6, \"num_key_value_heads\": 2, \"head_dim\": 16, \"vocab_size\": 98}",
        "{\"model_type\": \"gpt_neox\"}",
    };
    const char *want_msg[] = {"num_key_value_heads", "yarn", "embed_tokens", "gpt_neox"};
    for (int i = 0; i < 4; i++) {
        sq_llama *c = NULL;
        memset(&e, 0, sizeof e);
        CHECK(sq_llama_load(&c, &m.st, bad[i], 0, &e) == SQ_EINPUT && !c);
        CHECK_MSG(strstr(e.msg, want_msg[i]) != NULL, "%s", e.msg);
    }
    /* tie_word_embeddings false without lm_head: refused */
    sq_llama *c = NULL;
    tiny_config(cfg, sizeof cfg, &t, 1, 0);
    memset(&e, 0, sizeof e);
    CHECK(sq_llama_load(&c, &m.st, cfg, 0, &e) == SQ_EINPUT && strstr(e.msg, "lm_head.weight"));
    memst_close(&m);

    /* an untied lm_head (equal to the embedding) gives the tied model's logits */
    sq_buf buf2;
    CHECK(build_tiny(&buf2, &t, 1) == 0);
    CHECK(memst_open_buf(&m, (char *)buf2.data, buf2.len) == 0);
    sq_llama *u = NULL, *w = NULL;
    memset(&e, 0, sizeof e);
    CHECK(sq_llama_load(&u, &m.st, cfg, 64, &e) == 0);
    tiny_config(cfg, sizeof cfg, &t, 1, 1);
    CHECK(sq_llama_load(&w, &m.st, cfg, 64, &e) == 0);
    if (u && w) {
        CHECK(!u->c.tied && w->c.tied);
        CHECK(sq_llama_prefill(u, ids, 20, 0, la, 1, &e) == 0);
        CHECK(sq_llama_prefill(w, ids, 20, 0, lb, 1, &e) == 0);
        double d = 0;
        for (size_t i = 0; i < 20 * (size_t)t.vocab; i++)
            if (fabs(la[i] - lb[i]) > d) d = fabs(la[i] - lb[i]);
        CHECK_MSG(d <= 1e-5, "untied vs tied: %g", d);
    }
    sq_llama_free(u);
    sq_llama_free(w);
    free(la);
    free(lb);
    sq_llama_free(a);
    sq_llama_free(b);
    memst_close(&m);
}

/* ---------------- sampling ---------------- */

static void test_sampler(void)
{
    float lg[5] = {0.1f, 3.0f, 0.2f, 2.9f, -1};
    sq_sampler s;
    sq_err e = {0};
    CHECK(sq_sampler_init(&s, 5, 0, 1, 1, &e) == 0);
    CHECK(sq_sample(&s, lg) == 1);
    sq_sampler_free(&s);
    /* top-p 0.4 keeps only the top token (p = 0.49) here; 0.6 the top two; seeds reproduce */
    int counts[5] = {0};
    CHECK(sq_sampler_init(&s, 5, 1.0f, 0.4f, 42, &e) == 0);
    for (int i = 0; i < 200; i++) {
        float l[5] = {0.1f, 3.0f, 0.2f, 2.9f, -1};
        counts[sq_sample(&s, l)]++;
    }
    CHECK(counts[1] == 200);
    sq_sampler_free(&s);
    memset(counts, 0, sizeof counts);
    CHECK(sq_sampler_init(&s, 5, 1.0f, 0.6f, 42, &e) == 0);
    for (int i = 0; i < 200; i++) {
        float l[5] = {0.1f, 3.0f, 0.2f, 2.9f, -1};
        counts[sq_sample(&s, l)]++;
    }
    CHECK(counts[1] + counts[3] == 200 && counts[1] > 50 && counts[3] > 50);
    sq_sampler_free(&s);
    int seq1[20], seq2[20];
    for (int run = 0; run < 2; run++) {
        CHECK(sq_sampler_init(&s, 5, 1.0f, 1.0f, 7, &e) == 0);
        for (int i = 0; i < 20; i++) {
            float l[5] = {0.1f, 3.0f, 0.2f, 2.9f, -1};
            (run ? seq2 : seq1)[i] = sq_sample(&s, l);
        }
        sq_sampler_free(&s);
    }
    CHECK(memcmp(seq1, seq2, sizeof seq1) == 0);
    int distinct = 0;
    for (int i = 1; i < 20; i++) distinct |= seq1[i] != seq1[0];
    CHECK(distinct);
    CHECK(sq_sampler_init(&s, 5, -1.0f, 1.0f, 7, &e) == SQ_EINPUT);
}

int main(void)
{
    RUN(test_bert_golden);
    RUN(test_stories_golden);
    RUN(test_stories_kv_cache);
    RUN(test_stories_greedy);
    RUN(test_tiny_llama3);
    RUN(test_sampler);
    return test_summary();
}
