/* infer_bindings.c - inference in the browser module: BERT sequence classification and
 * Llama text generation over a model opened with sqw_open (bindings.c). The network
 * is read through the model's JS reader once, at load; after that it lives in wasm
 * memory. The JS side is wasm/sq-infer-api.js.
 *
 * Exported functions (strings UTF-8; returned strings malloc'd, freed with sqw_free;
 * on failure 0 / -1 and sqw_error_code()/sqw_error_message() say why):
 *
 *   sqw_bert_open(model)                   -> bert*: tokenizer + network
 *   sqw_bert_classify(bert, text, len)     -> {"labels":[..], "label": str, "label_id": i,
 *                                              "probs":[..], "logits":[..], "tokens": n}
 *   sqw_bert_close(bert)
 *
 *   sqw_llama_open(model, ctx)             -> llama*: tokenizer + network; ctx = KV cache
 *                                             positions (0: min(max_position_embeddings, 2048))
 *   sqw_llama_start(llama, prompt, len, n_new, temp, top_p, seed)
 *                                          -> number of prompt tokens, or -1. Encodes BOS +
 *                                             prompt (as `sq generate` without --chat),
 *                                             runs the prompt through the model.
 *   sqw_llama_step(llama)                  -> {"piece": str, "token": id, "done": bool, "eos": bool}:
 *                                             the next token and the text it completes
 *                                             (greedy when temp = 0, else temperature +
 *                                             top-p with the seeded sampler: same tokens
 *                                             as `sq generate`). "done" when EOS, the token
 *                                             budget or the context is used up (the piece
 *                                             then holds what the decoder still held;
 *                                             "eos": the token is an end token, not text).
 *                                             The first step after start only samples (the
 *                                             prompt's logits are there): its return is the
 *                                             time to the first token. Every later step
 *                                             first runs the previous token through the
 *                                             model, then samples: one forward per step, so
 *                                             a step's time is the decode time per token.
 *   sqw_llama_close(llama)
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "bundle.h"
#include "eval/arc.h"
#include "models/bert.h"
#include "models/llama.h"
#include "models/sample.h"
#include "tokenizers/tokenizer.h"

static void *infer_fail(sq_err *e)
{
    sqw_set_error(e);
    return NULL;
}

static size_t text_len(const sqw_model *m, int slot, const char *t)
{
    return m->text[slot] ? m->text_len[slot] : strlen(t);
}

/* As the CLI (core/bundle.c): tokenizer.json when there is one, else vocab.txt. */
static int load_tokenizer(const sqw_model *m, sq_tokenizer **t, sq_err *e)
{
    const char *tj = sqw_model_text(m, SQW_TEXT_TOKENIZER_JSON);
    const char *vt = sqw_model_text(m, SQW_TEXT_VOCAB_TXT);
    if (!tj && !vt) return sq_fail(e, SQ_EINPUT, "no tokenizer.json or vocab.txt with the model (nor in its metadata)");
    return sq_bundle_tokenizer(t, tj, tj ? text_len(m, SQW_TEXT_TOKENIZER_JSON, tj) : 0, vt,
                               vt ? text_len(m, SQW_TEXT_VOCAB_TXT, vt) : 0, sqw_model_text(m, SQW_TEXT_TOKENIZER_CONFIG), e);
}

static const char *need_config(const sqw_model *m, sq_err *e)
{
    const char *c = sqw_model_text(m, SQW_TEXT_CONFIG);
    if (!c) sq_fail(e, SQ_EINPUT, "no config.json with the model (nor in its metadata)");
    return c;
}

/* ================= BERT ================= */

typedef struct sqw_bert {
    sq_tokenizer *tok;
    sq_bert *bert;
    size_t max_len;
} sqw_bert;

SQW_EXPORT void sqw_bert_close(sqw_bert *b)
{
    if (!b) return;
    sq_bert_free(b->bert);
    sq_tokenizer_free(b->tok);
    free(b);
}

SQW_EXPORT sqw_bert *sqw_bert_open(sqw_model *m)
{
    sq_err e = {0};
    sqw_clear_error();
    const char *config = need_config(m, &e);
    if (!config) return infer_fail(&e);
    sqw_bert *b = sq_calloc(1, sizeof *b, &e);
    if (!b) return infer_fail(&e);
    if (sq_bert_load(&b->bert, &m->st, config, &e) || load_tokenizer(m, &b->tok, &e)) {
        sqw_bert_close(b);
        return infer_fail(&e);
    }
    /* tokenizer.json's truncation, else 512; never past the model (as sq classify) */
    sq_bert_set_exec(b->bert, sqw_exec()); /* the pool's threads (none in the single-thread module) */
    b->max_len = sq_bundle_bert_max_len(b->bert, b->tok);
    return b;
}

SQW_EXPORT char *sqw_bert_classify(sqw_bert *b, const char *text, size_t len)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!b) {
        sq_fail(&e, SQ_EINPUT, "no classifier");
        return infer_fail(&e);
    }
    size_t nl = (size_t)b->bert->c.n_labels;
    int32_t *ids = NULL;
    size_t n = 0;
    float *logits = sq_malloc(nl * sizeof(float), &e), *probs = sq_malloc(nl * sizeof(float), &e);
    char *out = NULL;
    if (logits && probs && !sq_tokenizer_encode(b->tok, text, len, SQ_TOK_ADD_SPECIAL, b->max_len, &ids, &n, &e) &&
        !sq_bert_forward(b->bert, ids, n, logits, &e)) {
        sq_softmax(logits, probs, nl);
        int pred = sq_argmax(logits, nl);
        cJSON *root = cJSON_CreateObject();
        cJSON *labels = cJSON_AddArrayToObject(root, "labels");
        cJSON *pa = cJSON_AddArrayToObject(root, "probs");
        cJSON *la = cJSON_AddArrayToObject(root, "logits");
        for (size_t j = 0; j < nl; j++) {
            cJSON_AddItemToArray(labels, cJSON_CreateString(b->bert->labels[j]));
            cJSON_AddItemToArray(pa, cJSON_CreateNumber(probs[j]));
            cJSON_AddItemToArray(la, cJSON_CreateNumber(logits[j]));
        }
        cJSON_AddStringToObject(root, "label", b->bert->labels[pred]);
        cJSON_AddNumberToObject(root, "label_id", pred);
        cJSON_AddNumberToObject(root, "tokens", (double)n);
        out = cJSON_PrintUnformatted(root);
        cJSON_Delete(root);
        if (!out) sq_fail(&e, SQ_EINTERNAL, "out of memory");
    }
    free(ids);
    free(logits);
    free(probs);
    return out ? out : infer_fail(&e);
}

/* ================= Llama ================= */

typedef struct sqw_llama {
    sq_tokenizer *tok;
    sq_llama *llm;
    sq_sampler smp;
    int has_sampler;
    sq_detok *dt;
    float *logits;
    size_t pos;      /* position of the next token to run */
    int32_t pending; /* a sampled token not yet run through the model (-1: none) */
    long left;       /* tokens still to generate */
    int active;      /* a generation is under way */
    int32_t eot, teos;
} sqw_llama;

SQW_EXPORT void sqw_llama_close(sqw_llama *l)
{
    if (!l) return;
    if (l->has_sampler) sq_sampler_free(&l->smp);
    sq_detok_free(l->dt);
    free(l->logits);
    sq_llama_free(l->llm);
    sq_tokenizer_free(l->tok);
    free(l);
}

SQW_EXPORT sqw_llama *sqw_llama_open(sqw_model *m, double ctx)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!(ctx >= 0 && ctx <= 16777216.0)) {
        sq_fail(&e, SQ_EINPUT, "bad context length");
        return infer_fail(&e);
    }
    const char *config = need_config(m, &e);
    if (!config) return infer_fail(&e);
    sqw_llama *l = sq_calloc(1, sizeof *l, &e);
    if (!l) return infer_fail(&e);
    if (load_tokenizer(m, &l->tok, &e) || sq_llama_load(&l->llm, &m->st, config, (size_t)ctx, &e) ||
        !(l->logits = sq_malloc((size_t)l->llm->c.vocab * sizeof(float), &e)) ||
        sq_detok_new(&l->dt, l->tok, SQ_TOK_SKIP_SPECIAL, &e)) {
        sqw_llama_close(l);
        return infer_fail(&e);
    }
    sq_llama_set_exec(l->llm, sqw_exec()); /* the pool's threads (none in the single-thread module) */
    l->eot = sq_tokenizer_token_id(l->tok, "<|eot_id|>");
    l->teos = sq_tokenizer_special_id(l->tok, SQ_TOK_EOS);
    return l;
}

SQW_EXPORT int sqw_llama_start(sqw_llama *l, const char *prompt, size_t len, double n_new, double temp, double top_p,
                               double seed)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!l) {
        sq_fail(&e, SQ_EINPUT, "no model");
        sqw_set_error(&e);
        return -1;
    }
    l->active = 0;
    if (!(n_new >= 0 && n_new <= 16777216.0) || !(temp >= 0 && temp <= 100) || !(top_p > 0 && top_p <= 1) ||
        !(seed >= 0 && seed <= 18446744073709551615.0)) {
        sq_fail(&e, SQ_EINPUT, "bad generation options (tokens >= 0, temperature 0..100, top-p in (0, 1], seed >= 0)");
        sqw_set_error(&e);
        return -1;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    const char *piece;
    size_t plen;
    if (l->has_sampler) {
        sq_sampler_free(&l->smp);
        l->has_sampler = 0;
    }
    sq_detok_finish(l->dt, &piece, &plen, &e); /* resets the decoder */
    memset(&e, 0, sizeof e);
    int rc = sq_tokenizer_encode(l->tok, prompt, len, SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS, 0, &ids, &n, &e);
    if (!rc && n == 0) rc = sq_fail(&e, SQ_EINPUT, "the prompt encodes to no tokens");
    if (!rc && n > l->llm->seq_len)
        rc = sq_fail(&e, SQ_EINPUT, "the prompt has %zu tokens; the context holds %zu", n, l->llm->seq_len);
    if (!rc) rc = sq_sampler_init(&l->smp, (size_t)l->llm->c.vocab, (float)temp, (float)top_p, (uint64_t)seed, &e);
    if (!rc) l->has_sampler = 1;
    /* prime the streaming decoder with the prompt so spacing continues naturally */
    for (size_t i = 0; !rc && i < n; i++) rc = sq_detok_push(l->dt, ids[i], &piece, &plen, &e);
    if (!rc) {
        sq_llama_reset(l->llm);
        rc = sq_llama_prefill(l->llm, ids, n, 0, l->logits, 0, &e);
    }
    free(ids);
    if (rc) {
        sqw_set_error(&e);
        return -1;
    }
    l->pos = n;
    l->pending = -1;
    l->left = (long)n_new;
    l->active = 1;
    return (int)n;
}

/* Multiple choice (core/eval/arc.h): one data line (lineno: for messages) scored with the
 * open model. Returns {"id", "answer", "pred", "pred_norm", "prompt_ids", "choices":
 * [{"label", "loglik", "continuation_ids"}]} (free with sqw_free), or NULL with the error
 * set. Uses the model's KV cache: a generation under way ends. */
SQW_EXPORT char *sqw_llama_arc(sqw_llama *l, const char *line, size_t len, double lineno)
{
    sq_err e = {0};
    sqw_clear_error();
    if (!l) {
        sq_fail(&e, SQ_EINPUT, "no model");
        return infer_fail(&e);
    }
    l->active = 0;
    sq_arc_item q;
    if (sq_arc_parse(line, len, lineno >= 1 && lineno < 1e15 ? (size_t)lineno : 1, &q, &e)) return infer_fail(&e);
    sq_arc a;
    double ll[SQ_ARC_MAX_CHOICES];
    size_t ntok[SQ_ARC_MAX_CHOICES];
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    int rc = o ? sq_arc_init(&a, l->llm, l->tok, &e) : sq_fail(&e, SQ_EINTERNAL, "out of memory");
    if (!rc) {
        cJSON_AddStringToObject(o, "id", q.id);
        cJSON_AddNumberToObject(o, "answer", q.answer);
        rc = sq_arc_score(&a, &q, ll, ntok, o, &e);
        sq_arc_free(&a);
    }
    if (!rc) {
        int pred, pred_norm;
        sq_arc_pick(&q, ll, &pred, &pred_norm);
        cJSON_AddNumberToObject(o, "pred", pred);
        cJSON_AddNumberToObject(o, "pred_norm", pred_norm);
        if (!(out = cJSON_PrintUnformatted(o))) rc = sq_fail(&e, SQ_EINTERNAL, "out of memory");
    }
    cJSON_Delete(o);
    sq_arc_item_free(&q);
    return rc ? infer_fail(&e) : out;
}

static char *step_json(const char *piece, size_t plen, int32_t token, int done, int eos, sq_err *e)
{
    cJSON *root = cJSON_CreateObject();
    char *s = malloc(plen + 1);
    if (root && s) {
        memcpy(s, piece, plen);
        s[plen] = 0;
        cJSON_AddStringToObject(root, "piece", s);
        cJSON_AddNumberToObject(root, "token", token);
        cJSON_AddBoolToObject(root, "done", done);
        cJSON_AddBoolToObject(root, "eos", eos);
    }
    free(s);
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!out) sq_fail(e, SQ_EINTERNAL, "out of memory");
    return out;
}

SQW_EXPORT char *sqw_llama_step(sqw_llama *l)
{
    sq_err e = {0};
    sqw_clear_error();
    const char *piece = "";
    size_t plen = 0;
    if (!l || !l->active) {
        char *idle = step_json("", 0, -1, 1, 0, &e);
        return idle ? idle : infer_fail(&e);
    }
    int32_t next = -1;
    int done = 0, eos = 0;
    /* the token the previous step returned: run it now, so that step returned as soon
       as it was sampled (the same tokens as `sq generate`; its forward comes one step
       later, and the last token, which nothing samples from, is never run) */
    if (l->pending >= 0) {
        const float *lg = sq_llama_forward(l->llm, l->pending, l->pos, &e);
        if (!lg) {
            l->active = 0;
            return infer_fail(&e);
        }
        memcpy(l->logits, lg, (size_t)l->llm->c.vocab * sizeof(float)); /* the sampler overwrites its input */
        l->pos++;
        l->pending = -1;
    }
    if (l->left <= 0) done = 1;
    else {
        next = sq_sample(&l->smp, l->logits);
        if (sq_llama_is_eos(l->llm, next) || next == l->eot || next == l->teos) done = eos = 1;
    }
    if (!done) {
        if (sq_detok_push(l->dt, next, &piece, &plen, &e)) return infer_fail(&e);
        l->left--;
        if (l->left <= 0 || l->pos >= l->llm->seq_len) done = 1;
        else l->pending = next;
    }
    char *out;
    if (done) {
        /* what the decoder still holds (an incomplete character) comes with "done" */
        size_t have = plen;
        char *first = NULL;
        if (have) {
            first = malloc(have);
            if (!first) {
                sq_fail(&e, SQ_EINTERNAL, "out of memory");
                return infer_fail(&e);
            }
            memcpy(first, piece, have);
        }
        const char *rest;
        size_t rlen;
        if (sq_detok_finish(l->dt, &rest, &rlen, &e)) {
            free(first);
            return infer_fail(&e);
        }
        char *all = malloc(have + rlen + 1);
        if (!all) {
            free(first);
            sq_fail(&e, SQ_EINTERNAL, "out of memory");
            return infer_fail(&e);
        }
        if (have) memcpy(all, first, have);
        memcpy(all + have, rest, rlen);
        free(first);
        out = step_json(all, have + rlen, next, 1, eos, &e);
        free(all);
        l->active = 0;
    } else {
        out = step_json(piece, plen, next, 0, 0, &e);
    }
    return out ? out : infer_fail(&e);
}
