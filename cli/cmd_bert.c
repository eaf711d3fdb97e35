/* cmd_bert.c - sq classify, sq eval (BERT sequence classification).
 *
 * Both open MODEL with cli_model_open (plain or quantized: the model loads any layout
 * through sq_linear), load the tokenizer from tokenizer.json (preferred) or vocab.txt
 * (cli_load_tokenizer), and report errors as one line on stderr (exit 2 for bad input).
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "cli.h"
#include "models/bert.h"
#include "models/sample.h"
#include "tokenizers/tokenizer.h"

/* ================= BERT: classify, eval ================= */

typedef struct bert_ctx {
    cli_model m;
    sq_tokenizer *tok;
    sq_bert *bert;
    size_t max_len;
} bert_ctx;

static void bert_close(bert_ctx *b)
{
    sq_bert_free(b->bert);
    sq_tokenizer_free(b->tok);
    if (b->m.weights_path) cli_model_close(&b->m);
    memset(b, 0, sizeof *b);
}

static int bert_open(bert_ctx *b, const char *path, sq_err *e)
{
    memset(b, 0, sizeof *b);
    if (cli_model_open(&b->m, path, e)) return e->code;
    if (!b->m.config) {
        sq_fail(e, SQ_EINPUT, "%s: no config.json beside the model (nor in its metadata)", b->m.weights_path);
        bert_close(b);
        return e->code;
    }
    if (sq_bert_load(&b->bert, &b->m.st, b->m.config, e) || cli_load_tokenizer(&b->m, &b->tok, e)) {
        bert_close(b);
        return e->code;
    }
    b->max_len = sq_bundle_bert_max_len(b->bert, b->tok); /* 128 for the example */
    return SQ_OK;
}

/* probs[n_labels] for one text; returns the predicted label or -1 with e set. */
static int bert_classify(const bert_ctx *b, const char *text, size_t len, float *logits, float *probs, sq_err *e)
{
    int32_t *ids = NULL;
    size_t n = 0;
    if (sq_tokenizer_encode(b->tok, text, len, SQ_TOK_ADD_SPECIAL, b->max_len, &ids, &n, e)) return -1;
    int rc = sq_bert_forward(b->bert, ids, n, logits, e);
    free(ids);
    if (rc) return -1;
    size_t nl = (size_t)b->bert->c.n_labels;
    sq_softmax(logits, probs, nl);
    return sq_argmax(logits, nl);
}

int cmd_classify(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0, ntexts = 0, threads = cli_default_threads();
    char **texts = calloc((size_t)argc + 1, sizeof *texts);
    if (!texts) return 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--activations") == 0 && i + 1 < argc) {
            if (!cli_parse_activations(argv[++i])) {
                free(texts);
                return cli_usage_err("classify", "--activations must be f32 or int8, got '%s'", argv[i]);
            }
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!cli_parse_threads(argv[++i], &threads)) {
                free(texts);
                return cli_usage_err("classify", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
            }
        } else if (strcmp(argv[i], "--") == 0) {
            while (++i < argc) texts[ntexts++] = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            free(texts);
            return cli_usage_err("classify", "unknown option '%s'", argv[i]);
        } else if (!path) path = argv[i];
        else texts[ntexts++] = argv[i];
    }
    if (!path || ntexts == 0) {
        free(texts);
        return cli_usage_err("classify", "%s", "usage: sq classify MODEL \"text\" ... [--json] [--threads N] [--activations int8|f32]");
    }
    sq_err e = {0};
    bert_ctx b;
    if (bert_open(&b, path, &e)) {
        free(texts);
        return cli_report(&e);
    }
    sq_exec ex = cli_exec_for(&threads);
    sq_bert_set_exec(b.bert, &ex);
    size_t nl = (size_t)b.bert->c.n_labels;
    float *logits = malloc(nl * sizeof(float)), *probs = malloc(nl * sizeof(float));
    cJSON *root = json ? cJSON_CreateObject() : NULL, *results = NULL;
    if (root) {
        cJSON *labels = cJSON_AddArrayToObject(root, "labels");
        for (size_t j = 0; j < nl; j++) cJSON_AddItemToArray(labels, cJSON_CreateString(b.bert->labels[j]));
        results = cJSON_AddArrayToObject(root, "results");
    }
    int rc = 0;
    for (int t = 0; t < ntexts && logits && probs; t++) {
        int pred = bert_classify(&b, texts[t], strlen(texts[t]), logits, probs, &e);
        if (pred < 0) {
            rc = cli_report(&e);
            break;
        }
        if (json) {
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "text", texts[t]);
            cJSON_AddStringToObject(r, "label", b.bert->labels[pred]);
            cJSON_AddNumberToObject(r, "label_id", pred);
            int32_t *ids = NULL; /* the token ids the model saw (for independent checks) */
            size_t n_ids = 0;
            if (sq_tokenizer_encode(b.tok, texts[t], strlen(texts[t]), SQ_TOK_ADD_SPECIAL, b.max_len, &ids, &n_ids, &e) == SQ_OK) {
                cJSON *ia = cJSON_AddArrayToObject(r, "ids");
                for (size_t j = 0; j < n_ids; j++) cJSON_AddItemToArray(ia, cJSON_CreateNumber(ids[j]));
            }
            free(ids);
            cJSON *pa = cJSON_AddArrayToObject(r, "probs");
            cJSON *la = cJSON_AddArrayToObject(r, "logits");
            for (size_t j = 0; j < nl; j++) {
                cJSON_AddItemToArray(pa, cJSON_CreateNumber(probs[j]));
                cJSON_AddItemToArray(la, cJSON_CreateNumber(logits[j]));
            }
            cJSON_AddItemToArray(results, r);
        } else {
            printf("%s\t%.4f\t%s\n", b.bert->labels[pred], probs[pred], texts[t]);
            for (size_t j = 0; j < nl; j++) printf("%s%s %.4f", j ? "  " : "  ", b.bert->labels[j], probs[j]);
            printf("\n");
        }
    }
    if (!logits || !probs) rc = 1;
    if (json && !rc) {
        char *s = cJSON_PrintUnformatted(root);
        if (s) printf("%s\n", s);
        free(s);
    }
    cJSON_Delete(root);
    free(logits);
    free(probs);
    free(texts);
    bert_close(&b);
    return rc;
}

/* The label of a row: an integer id or a label name from id2label. */
static int row_label(const sq_bert *m, const cJSON *v)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == floor(d) && d >= 0 && d < m->c.n_labels) return (int)d;
        return -1;
    }
    if (cJSON_IsString(v))
        for (int j = 0; j < m->c.n_labels; j++)
            if (strcmp(m->labels[j], v->valuestring) == 0) return j;
    return -1;
}

/* eval classifies rows in batches, the rows of a batch on the host's threads (each row on
 * one thread, the model's kernels single-threaded): the accuracy and the first error
 * reported (in line order) are those of a sequential run. */
#define EVAL_BATCH 256

typedef struct eval_row {
    cJSON *json;
    const char *text;
    long lineno;
    int want, pred;
    sq_err e;
} eval_row;

typedef struct eval_job {
    const bert_ctx *b;
    eval_row *rows;
} eval_job;

static void eval_task(void *arg, size_t i)
{
    eval_job *j = arg;
    eval_row *r = &j->rows[i];
    size_t nl = (size_t)j->b->bert->c.n_labels;
    float *buf = malloc(2 * nl * sizeof(float));
    if (!buf) {
        r->pred = -1;
        sq_fail(&r->e, SQ_EINTERNAL, "out of memory");
        return;
    }
    r->pred = bert_classify(j->b, r->text, strlen(r->text), buf, buf + nl, &r->e);
    free(buf);
}

/* Classify rows[0..n) and count them; returns 0, or the exit code of the first failure. */
static int eval_batch(const bert_ctx *b, eval_row *rows, size_t n, int threads, const char *data, long *total,
                      long *correct)
{
    eval_job j = {b, rows};
    sq_parallel_fn par = cli_parallel(threads);
    if (par && n > 1) par(&threads, n, eval_task, &j);
    else
        for (size_t i = 0; i < n; i++) eval_task(&j, i);
    for (size_t i = 0; i < n; i++) {
        if (rows[i].pred < 0) {
            char pre[300];
            snprintf(pre, sizeof pre, "%.250s:%ld: ", data, rows[i].lineno);
            sq_err_prefix(&rows[i].e, pre);
            return cli_report(&rows[i].e);
        }
        (*total)++;
        *correct += rows[i].pred == rows[i].want;
    }
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--task") == 0) return cmd_eval_arc(argc, argv); /* multiple choice */
    const char *path = NULL, *data = NULL;
    int json = 0, threads = cli_default_threads();
    long limit = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            if (!cli_parse_long(argv[++i], 1, LONG_MAX, &limit)) return cli_usage_err("eval", "--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--activations") == 0 && i + 1 < argc) {
            if (!cli_parse_activations(argv[++i])) return cli_usage_err("eval", "--activations must be f32 or int8, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!cli_parse_threads(argv[++i], &threads)) return cli_usage_err("eval", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        } else if (argv[i][0] == '-') return cli_usage_err("eval", "unknown option or missing value: '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return cli_usage_err("eval", "unexpected argument '%s'", argv[i]);
    }
    if (!path || !data) return cli_usage_err("eval", "%s", "usage: sq eval MODEL --data FILE.jsonl [--json] [--limit N] [--threads N] [--activations int8|f32]");
    sq_err e = {0};
    size_t len = 0;
    char *text = cli_read_text(data, CLI_DATA_LIMIT, &len, &e);
    if (!text) return cli_report(&e);
    bert_ctx b;
    if (bert_open(&b, path, &e)) {
        free(text);
        return cli_report(&e);
    }
    size_t nl = (size_t)b.bert->c.n_labels;
    eval_row *rows = calloc(EVAL_BATCH, sizeof *rows);
    long total = 0, correct = 0, lineno = 0, queued = 0;
    int rc = rows ? 0 : 1, done = 0;
    char *cur = text, *line;
    size_t n = 0;
    while (!rc && !done) {
        /* a batch of valid rows, up to the limit; a bad row ends the run after them */
        int bad = 0;
        while (n < EVAL_BATCH && (!limit || queued < limit) && (line = cli_next_line(&cur))) {
            lineno++;
            if (cli_blank(line)) continue;
            cJSON *row = cJSON_Parse(line);
            const cJSON *t = row ? cJSON_GetObjectItemCaseSensitive(row, "text") : NULL;
            const cJSON *l = row ? cJSON_GetObjectItemCaseSensitive(row, "label") : NULL;
            if (!cJSON_IsString(t) || !l) {
                sq_fail(&e, SQ_EINPUT, "%s:%ld: expected a JSON object with \"text\" (string) and \"label\"", data, lineno);
                cJSON_Delete(row);
                bad = 1;
                break;
            }
            int want = row_label(b.bert, l);
            if (want < 0) {
                sq_fail(&e, SQ_EINPUT, "%s:%ld: label is not one of the model's %zu labels (an id or an id2label name)", data,
                        lineno, nl);
                cJSON_Delete(row);
                bad = 1;
                break;
            }
            memset(&rows[n], 0, sizeof rows[n]);
            rows[n].json = row;
            rows[n].text = t->valuestring;
            rows[n].lineno = lineno;
            rows[n].want = want;
            n++;
            queued++;
        }
        if (n < EVAL_BATCH || bad) done = 1;
        rc = eval_batch(&b, rows, n, threads, data, &total, &correct);
        for (size_t i = 0; i < n; i++) cJSON_Delete(rows[i].json);
        n = 0;
        if (!rc && bad) rc = cli_report(&e);
    }
    if (!rc && total == 0) {
        sq_fail(&e, SQ_EINPUT, "%s: no rows", data);
        rc = cli_report(&e);
    }
    if (!rc) {
        double acc = (double)correct / (double)total;
        if (json) printf("{\"accuracy\": %.6f, \"correct\": %ld, \"total\": %ld}\n", acc, correct, total);
        else printf("accuracy %.4f (%ld/%ld)\n", acc, correct, total);
    }
    free(rows);
    free(text);
    bert_close(&b);
    return rc;
}
