/* arc.c - multiple-choice (ARC) scoring of a Llama model: arc.h says what is computed. */
#include "arc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"

static char *dup_text(const cJSON *s)
{
    return cJSON_IsString(s) && strlen(s->valuestring) <= SQ_ARC_MAX_TEXT ? strdup(s->valuestring) : NULL;
}

void sq_arc_item_free(sq_arc_item *q)
{
    free(q->id);
    free(q->stem);
    for (int i = 0; i < q->n_choices; i++) { free(q->text[i]); free(q->label[i]); }
    memset(q, 0, sizeof *q);
}

/* One line of the data file into q (line: 1-based, for messages). */
int sq_arc_parse(const char *line, size_t len, size_t lineno, sq_arc_item *q, sq_err *e)
{
    memset(q, 0, sizeof *q);
    cJSON *j = sq_json_parse(line, len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return sq_fail(e, SQ_EINPUT, "line %zu: not a JSON object", lineno);
    }
    int rc = SQ_OK;
    const cJSON *question = cJSON_GetObjectItemCaseSensitive(j, "question");
    const cJSON *choices, *answer;
    char num[16];
    snprintf(num, sizeof num, "%zu", lineno);
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    q->id = cJSON_IsString(id) ? strdup(id->valuestring) : strdup(num);
    if (cJSON_IsObject(question)) { /* ARC */
        q->stem = dup_text(cJSON_GetObjectItemCaseSensitive(question, "stem"));
        choices = cJSON_GetObjectItemCaseSensitive(question, "choices");
        answer = cJSON_GetObjectItemCaseSensitive(j, "answerKey");
    } else {
        q->stem = dup_text(question);
        choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
        answer = cJSON_GetObjectItemCaseSensitive(j, "answer");
    }
    if (!q->id || !q->stem) { rc = sq_fail(e, SQ_EINPUT, "line %zu: no question text (\"question\".\"stem\" or \"question\")", lineno); goto done; }
    int n = cJSON_GetArraySize(choices);
    if (!cJSON_IsArray(choices) || n < 2 || n > SQ_ARC_MAX_CHOICES) {
        rc = sq_fail(e, SQ_EINPUT, "line %zu: \"choices\" must be an array of 2 to %d choices", lineno, SQ_ARC_MAX_CHOICES);
        goto done;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, choices)
    {
        int i = q->n_choices;
        const cJSON *t = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "text") : c;
        const cJSON *l = cJSON_IsObject(c) ? cJSON_GetObjectItemCaseSensitive(c, "label") : NULL;
        char lab[8];
        snprintf(lab, sizeof lab, "%c", 'A' + i);
        q->text[i] = dup_text(t);
        q->label[i] = cJSON_IsString(l) ? strdup(l->valuestring) : strdup(lab);
        q->n_choices++;
        if (!q->text[i] || !q->label[i]) { rc = sq_fail(e, SQ_EINPUT, "line %zu: choice %d has no text", lineno, i + 1); goto done; }
    }
    q->answer = -1;
    if (cJSON_IsNumber(answer) && answer->valuedouble >= 0 && answer->valuedouble < n &&
        answer->valuedouble == floor(answer->valuedouble))
        q->answer = (int)answer->valuedouble;
    else if (cJSON_IsString(answer))
        for (int i = 0; i < n && q->answer < 0; i++)
            if (strcmp(answer->valuestring, q->label[i]) == 0 || strcmp(answer->valuestring, q->text[i]) == 0) q->answer = i;
    if (q->answer < 0) rc = sq_fail(e, SQ_EINPUT, "line %zu: the answer is not one of the choices (label, text or index)", lineno);
done:
    cJSON_Delete(j);
    if (rc) sq_arc_item_free(q);
    return rc;
}

/* log softmax(logits)[id], in double. */
static double log_prob(const float *logits, int vocab, int32_t id)
{
    float mx = logits[0];
    for (int i = 1; i < vocab; i++) if (logits[i] > mx) mx = logits[i];
    double s = 0;
    for (int i = 0; i < vocab; i++) s += exp((double)logits[i] - mx);
    return (double)logits[id] - mx - log(s);
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int encode(const sq_arc *a, const char *text, int32_t **ids, size_t *n, sq_err *e)
{
    return sq_tokenizer_encode(a->tok, text, strlen(text), SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS | SQ_TOK_LITERAL, 0, ids, n, e);
}

static int ensure_rows(sq_arc *a, size_t rows, sq_err *e)
{
    if (rows <= a->logits_rows) return SQ_OK;
    size_t vocab = (size_t)a->llm->c.vocab;
    float *p = realloc(a->logits, rows * vocab * sizeof *p);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    a->logits = p;
    a->logits_rows = rows;
    return SQ_OK;
}

int sq_arc_score(sq_arc *a, const sq_arc_item *q, double *ll, size_t *ntok, cJSON *js, sq_err *e)
{
    sq_llama *m = a->llm;
    int vocab = m->c.vocab;
    size_t plen = strlen(q->stem) + 16;
    char *prompt = malloc(plen);
    if (!prompt) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    snprintf(prompt, plen, "Question: %s\nAnswer:", q->stem);
    int32_t *ctx = NULL;
    size_t nctx = 0;
    int rc = encode(a, prompt, &ctx, &nctx, e);
    if (!rc && nctx + 1 > m->seq_len) rc = sq_fail(e, SQ_EINPUT, "question '%.60s': the prompt is longer than the context (%zu tokens)", q->id, m->seq_len);
    if (!rc) {
        sq_llama_reset(m);
        rc = sq_llama_prefill(m, ctx, nctx, 0, a->ctx_logits, 0, e);
    }
    cJSON *jch = js ? cJSON_AddArrayToObject(js, "choices") : NULL;
    if (js) {
        cJSON *ids = cJSON_AddArrayToObject(js, "prompt_ids");
        for (size_t i = 0; i < nctx; i++) cJSON_AddItemToArray(ids, cJSON_CreateNumber(ctx[i]));
    }
    for (int c = 0; !rc && c < q->n_choices; c++) {
        size_t wlen = plen + strlen(q->text[c]) + 2;
        char *whole = malloc(wlen);
        int32_t *ids = NULL;
        size_t n = 0;
        if (!whole) { rc = sq_fail(e, SQ_EINTERNAL, "out of memory"); break; }
        snprintf(whole, wlen, "%s %s", prompt, q->text[c]);
        rc = encode(a, whole, &ids, &n, e);
        free(whole);
        if (!rc && n > m->seq_len) rc = sq_fail(e, SQ_EINPUT, "question '%.60s': prompt and choice %s are longer than the context (%zu tokens)", q->id, q->label[c], m->seq_len);
        /* the continuation is what the whole adds after the prompt's token count; when the
           whole does not start with the prompt's tokens (a merge across the boundary),
           its own prefix is run instead of the cached prompt */
        size_t k = !rc && n > nctx ? n - nctx : 0;
        int same = !rc && n >= nctx && memcmp(ids, ctx, nctx * sizeof *ids) == 0;
        double sum = 0;
        if (!rc && k > 0) rc = ensure_rows(a, k, e);
        if (!rc && k > 0) {
            const float *first;
            if (same) {
                sq_llama_rewind(m, nctx);
                first = a->ctx_logits;
                if (k > 1) rc = sq_llama_prefill(m, ids + nctx, k - 1, nctx, a->logits, 1, e);
            } else {
                sq_llama_reset(m);
                rc = sq_llama_prefill(m, ids, nctx, 0, a->logits, 0, e);
                if (!rc) memcpy(a->logits + (k - 1) * (size_t)vocab, a->logits, (size_t)vocab * sizeof(float));
                first = a->logits + (k - 1) * (size_t)vocab;
                if (!rc && k > 1) rc = sq_llama_prefill(m, ids + nctx, k - 1, nctx, a->logits, 1, e);
            }
            if (!rc) {
                sum = log_prob(first, vocab, ids[nctx]);
                for (size_t j = 1; j < k; j++) sum += log_prob(a->logits + (j - 1) * (size_t)vocab, vocab, ids[nctx + j]);
            }
            if (!same && !rc) {
                /* the cache now holds this choice's prefix: run the prompt again for the next */
                sq_llama_reset(m);
                rc = sq_llama_prefill(m, ctx, nctx, 0, a->ctx_logits, 0, e);
            }
        }
        ll[c] = sum;
        ntok[c] = k;
        if (jch && !rc) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "label", q->label[c]);
            cJSON_AddNumberToObject(o, "loglik", sum);
            cJSON *ci = cJSON_AddArrayToObject(o, "continuation_ids");
            for (size_t j = 0; j < k; j++) cJSON_AddItemToArray(ci, cJSON_CreateNumber(ids[nctx + j]));
            cJSON_AddItemToArray(jch, o);
        }
        free(ids);
    }
    free(ctx);
    free(prompt);
    return rc;
}


int sq_arc_init(sq_arc *a, sq_llama *llm, const sq_tokenizer *tok, sq_err *e)
{
    memset(a, 0, sizeof *a);
    a->llm = llm;
    a->tok = tok;
    a->ctx_logits = malloc((size_t)llm->c.vocab * sizeof(float));
    return a->ctx_logits ? SQ_OK : sq_fail(e, SQ_EINTERNAL, "out of memory");
}

void sq_arc_free(sq_arc *a)
{
    free(a->ctx_logits);
    free(a->logits);
    memset(a, 0, sizeof *a);
}

void sq_arc_pick(const sq_arc_item *q, const double *ll, int *pred, int *pred_norm)
{
    int best = 0, best_norm = 0;
    for (int c = 1; c < q->n_choices; c++) {
        if (ll[c] > ll[best]) best = c;
        size_t lc = utf8_chars(q->text[c]), lb = utf8_chars(q->text[best_norm]);
        if (ll[c] / (double)(lc ? lc : 1) > ll[best_norm] / (double)(lb ? lb : 1)) best_norm = c;
    }
    *pred = best;
    *pred_norm = best_norm;
}
