/* cmd_arc.c - sq eval MODEL --task arc --data FILE.jsonl: multiple-choice accuracy of a
 * Llama model, scored the way lm-evaluation-harness scores ARC.
 *
 * Each question becomes the prompt "Question: {stem}\nAnswer:" and each choice the
 * continuation " {text}". A choice's score is the summed log-likelihood of its tokens
 * after the prompt: the tokens of prompt + continuation, minus the prompt's own tokens
 * (as the harness splits them), each scored by the model's log-softmax at the position
 * before it. acc: the highest score picks the answer; acc_norm: the highest score per
 * character of the choice text (Unicode code points, the harness's len()). The prompt
 * starts with BOS, as `sq generate` and `sq perplexity` do.
 *
 * The prompt is run once per question; every choice then continues from its KV cache
 * (sq_llama_rewind), so a question costs one prompt plus its choices' tokens.
 *
 * Input, one JSON object per line: ARC's own {"question": {"stem", "choices":
 * [{"text", "label"}]}, "answerKey", "id"}, or {"question": "...", "choices": ["..."],
 * "answer": index or label or text}.
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "models/llama.h"
#include "tokenizers/tokenizer.h"

#define ARC_DATA_LIMIT (256u << 20)
#define ARC_MAX_CHOICES 16
#define ARC_MAX_TEXT (64u << 10) /* bytes of one stem or choice */

typedef struct arc_item {
    char *id;
    char *stem;
    int n_choices;
    char *text[ARC_MAX_CHOICES];
    char *label[ARC_MAX_CHOICES];
    int answer;          /* index into the choices */
} arc_item;

static void item_free(arc_item *q)
{
    free(q->id);
    free(q->stem);
    for (int i = 0; i < q->n_choices; i++) { free(q->text[i]); free(q->label[i]); }
    memset(q, 0, sizeof *q);
}

static char *dup_text(const cJSON *s)
{
    return cJSON_IsString(s) && strlen(s->valuestring) <= ARC_MAX_TEXT ? strdup(s->valuestring) : NULL;
}

/* One line of the data file into q (line: 1-based, for messages). */
static int parse_item(const char *line, size_t len, size_t lineno, arc_item *q, sq_err *e)
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
    if (!cJSON_IsArray(choices) || n < 2 || n > ARC_MAX_CHOICES) {
        rc = sq_fail(e, SQ_EINPUT, "line %zu: \"choices\" must be an array of 2 to %d choices", lineno, ARC_MAX_CHOICES);
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
    if (rc) item_free(q);
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

typedef struct arc_model {
    cli_model m;
    sq_tokenizer *tok;
    sq_llama *llm;
    float *ctx_logits;   /* [vocab]: after the prompt's last token */
    float *logits;       /* [max tokens, vocab] for one continuation */
    size_t logits_rows;
} arc_model;

static int encode(const arc_model *a, const char *text, int32_t **ids, size_t *n, sq_err *e)
{
    return sq_tokenizer_encode(a->tok, text, strlen(text), SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS | SQ_TOK_LITERAL, 0, ids, n, e);
}

static int ensure_rows(arc_model *a, size_t rows, sq_err *e)
{
    if (rows <= a->logits_rows) return SQ_OK;
    size_t vocab = (size_t)a->llm->c.vocab;
    float *p = realloc(a->logits, rows * vocab * sizeof *p);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    a->logits = p;
    a->logits_rows = rows;
    return SQ_OK;
}

/* Scores of every choice of q into ll[] (and their token counts into ntok[]); ids of the
 * prompt and continuations are printed into js when it is not NULL. */
static int score_item(arc_model *a, const arc_item *q, double *ll, size_t *ntok, cJSON *js, sq_err *e)
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

static int usage(const char *msg, const char *arg)
{
    fprintf(stderr, "sq eval: ");
    fprintf(stderr, msg, arg);
    fputc('\n', stderr);
    return 2;
}

int cmd_eval_arc(int argc, char **argv)
{
    const char *path = NULL, *data = NULL;
    int json = 0, quiet = 0, progress = isatty(2), threads = cli_default_threads();
    long limit = 0;
    for (int i = 0; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--progress") == 0) progress = 1;
        else if (strcmp(argv[i], "--task") == 0 && i + 1 < argc) {
            if (strcmp(argv[++i], "arc") != 0) return usage("unknown --task '%s' (tasks: arc)", argv[i]);
        } else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            limit = strtol(argv[++i], &end, 10);
            if (*end || limit < 1) return usage("--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--activations") == 0 && i + 1 < argc) {
            if (!cli_parse_activations(argv[++i])) return usage("--activations must be f32 or int8, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 256) return usage("--threads must be an integer from 1 to 256, got '%s'", argv[i]);
            threads = (int)t;
        } else if (argv[i][0] == '-') return usage("unknown option or missing value: '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return usage("unexpected argument '%s'", argv[i]);
    }
    if (!path || !data) return usage("%s", "usage: sq eval MODEL --task arc --data FILE.jsonl [--limit N] [--json] [--threads N] [--activations int8|f32] [--quiet|--progress]");
    if (quiet) progress = 0;

    sq_err e = {0};
    arc_model a;
    memset(&a, 0, sizeof a);
    size_t len = 0, n_items = 0, cap = 0;
    arc_item *items = NULL;
    char *text = cli_read_text(data, ARC_DATA_LIMIT, &len, &e);
    int rc = text ? SQ_OK : e.code;
    /* every line first: a bad line is reported before the model loads */
    size_t lineno = 0;
    for (char *p = text; !rc && p && *p && (!limit || n_items < (size_t)limit);) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        lineno++;
        size_t s = 0;
        while (s < l && (p[s] == ' ' || p[s] == '\t' || p[s] == '\r')) s++;
        if (s < l) {
            if (n_items == cap) {
                cap = cap ? 2 * cap : 64;
                arc_item *q = realloc(items, cap * sizeof *q);
                if (!q) { rc = sq_fail(&e, SQ_EINTERNAL, "out of memory"); break; }
                items = q;
            }
            if ((rc = parse_item(p, l, lineno, &items[n_items], &e))) {
                char pre[300];
                snprintf(pre, sizeof pre, "%.280s: ", data);
                sq_err_prefix(&e, pre);
                break;
            }
            n_items++;
        }
        p = nl ? nl + 1 : p + l;
    }
    free(text);
    if (!rc && n_items == 0) rc = sq_fail(&e, SQ_EINPUT, "%s: no questions in the file", data);

    int exec_threads = threads;
    sq_exec ex = cli_exec_for(&exec_threads);
    if (!rc) rc = cli_model_open(&a.m, path, &e);
    if (!rc && !a.m.config) rc = sq_fail(&e, SQ_EINPUT, "%s: no config.json beside the model (nor in its metadata)", a.m.weights_path);
    if (!rc && !a.m.tokenizer_json) rc = sq_fail(&e, SQ_EINPUT, "%s: no tokenizer.json beside the model (nor in its metadata)", a.m.weights_path);
    if (!rc && (rc = sq_tokenizer_load_json(&a.tok, a.m.tokenizer_json, a.m.tokenizer_json_len, &e))) sq_err_prefix(&e, "tokenizer.json: ");
    if (!rc) rc = sq_llama_load(&a.llm, &a.m.st, a.m.config, 0, &e);
    if (!rc) {
        sq_llama_set_exec(a.llm, &ex);
        a.ctx_logits = malloc((size_t)a.llm->c.vocab * sizeof(float));
        if (!a.ctx_logits) rc = sq_fail(&e, SQ_EINTERNAL, "out of memory");
    }

    cJSON *root = json ? cJSON_CreateObject() : NULL;
    cJSON *jq = root ? cJSON_AddArrayToObject(root, "questions") : NULL;
    size_t correct = 0, correct_norm = 0;
    for (size_t i = 0; !rc && i < n_items; i++) {
        const arc_item *q = &items[i];
        double ll[ARC_MAX_CHOICES];
        size_t ntok[ARC_MAX_CHOICES];
        cJSON *o = jq ? cJSON_CreateObject() : NULL;
        if (o) {
            cJSON_AddStringToObject(o, "id", q->id);
            cJSON_AddNumberToObject(o, "answer", q->answer);
        }
        rc = score_item(&a, q, ll, ntok, o, &e);
        if (rc) { cJSON_Delete(o); break; }
        int best = 0, best_norm = 0;
        for (int c = 1; c < q->n_choices; c++) {
            if (ll[c] > ll[best]) best = c;
            size_t lc = utf8_chars(q->text[c]), lb = utf8_chars(q->text[best_norm]);
            if (ll[c] / (double)(lc ? lc : 1) > ll[best_norm] / (double)(lb ? lb : 1)) best_norm = c;
        }
        correct += best == q->answer;
        correct_norm += best_norm == q->answer;
        if (o) {
            cJSON_AddNumberToObject(o, "pred", best);
            cJSON_AddNumberToObject(o, "pred_norm", best_norm);
            cJSON_AddItemToArray(jq, o);
        }
        if (progress) fprintf(stderr, "\r[%zu/%zu] acc %.4f", i + 1, n_items, (double)correct / (double)(i + 1));
    }
    if (progress) fputc('\n', stderr);
    if (!rc) {
        double acc = (double)correct / (double)n_items, acc_norm = (double)correct_norm / (double)n_items;
        if (root) {
            cJSON_AddStringToObject(root, "task", "arc");
            cJSON_AddNumberToObject(root, "n", (double)n_items);
            cJSON_AddNumberToObject(root, "acc", acc);
            cJSON_AddNumberToObject(root, "acc_norm", acc_norm);
            char *s = cJSON_PrintUnformatted(root);
            if (!s) rc = sq_fail(&e, SQ_EINTERNAL, "out of memory");
            else { puts(s); free(s); }
        } else {
            printf("acc %.4f (%zu/%zu)  acc_norm %.4f (%zu/%zu)\n", acc, correct, n_items, acc_norm, correct_norm, n_items);
        }
    }
    cJSON_Delete(root);
    for (size_t i = 0; i < n_items; i++) item_free(&items[i]);
    free(items);
    free(a.ctx_logits);
    free(a.logits);
    sq_llama_free(a.llm);
    sq_tokenizer_free(a.tok);
    if (a.m.weights_path) cli_model_close(&a.m);
    return rc ? cli_report(&e) : 0;
}
