/* cmd_infer.c - sq classify, sq eval (BERT), sq generate, sq perplexity (Llama).
 *
 * Every command opens MODEL with cli_model_open (plain or quantized: the models load
 * any layout through sq_linear), loads the tokenizer from tokenizer.json (preferred) or
 * vocab.txt, and reports errors as one line on stderr (exit 2 for bad input).
 */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bundle.h"
#include "cli.h"
#include "models/bert.h"
#include "models/llama.h"
#include "models/sample.h"
#include "tokenizers/tokenizer.h"

#define DATA_LIMIT (1024u << 20) /* --data / --text files */

static int usage_err(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "sq %s: ", cmd);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

/* Parse a whole decimal integer / float option value. */
static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s) return 0;
    long v = strtol(s, &end, 10);
    if (*end || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || !*s) return 0;
    double v = strtod(s, &end);
    if (*end || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-') return 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return 0;
    *out = (uint64_t)v;
    return 1;
}

/* --threads N (1..256). */
static int parse_threads(const char *s, int *out)
{
    long v;
    if (!parse_long(s, 1, 256, &v)) return 0;
    *out = (int)v;
    return 1;
}

/* The kernels' exec for t threads (the pool argument points at t, which must outlive it). */
static sq_exec exec_for(int *t)
{
    sq_exec ex;
    ex.parallel = cli_parallel(*t);
    ex.pool = t;
    ex.threads = ex.parallel ? *t : 1;
    return ex;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0) return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }

/* tokenizer.json (preferred) or vocab.txt, beside the model or in its metadata. */
static int load_tokenizer(const cli_model *m, sq_tokenizer **t, sq_err *e)
{
    if (!m->tokenizer_json && !m->vocab_txt)
        return sq_fail(e, SQ_EINPUT, "%s: no tokenizer.json or vocab.txt beside the model (nor in its metadata)", m->weights_path);
    return sq_bundle_tokenizer(t, m->tokenizer_json, m->tokenizer_json_len, m->vocab_txt, m->vocab_txt_len,
                               m->tokenizer_config, e);
}

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
    if (sq_bert_load(&b->bert, &b->m.st, b->m.config, e) || load_tokenizer(&b->m, &b->tok, e)) {
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
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!parse_threads(argv[++i], &threads)) {
                free(texts);
                return usage_err("classify", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
            }
        } else if (strcmp(argv[i], "--") == 0) {
            while (++i < argc) texts[ntexts++] = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            free(texts);
            return usage_err("classify", "unknown option '%s'", argv[i]);
        } else if (!path) path = argv[i];
        else texts[ntexts++] = argv[i];
    }
    if (!path || ntexts == 0) {
        free(texts);
        return usage_err("classify", "%s", "usage: sq classify MODEL \"text\" ... [--json] [--threads N]");
    }
    sq_err e = {0};
    bert_ctx b;
    if (bert_open(&b, path, &e)) {
        free(texts);
        return cli_report(&e);
    }
    sq_exec ex = exec_for(&threads);
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

/* Next line of buf (modified in place: the newline becomes NUL); NULL at the end. */
static char *next_line(char **cur)
{
    char *s = *cur;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = 0;
        *cur = nl + 1;
    } else {
        *cur = s + strlen(s);
    }
    size_t n = strlen(s);
    if (n && s[n - 1] == '\r') s[n - 1] = 0;
    return s;
}

static int blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
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
            if (!parse_long(argv[++i], 1, LONG_MAX, &limit)) return usage_err("eval", "--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if (!parse_threads(argv[++i], &threads)) return usage_err("eval", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        } else if (argv[i][0] == '-') return usage_err("eval", "unknown option or missing value: '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return usage_err("eval", "unexpected argument '%s'", argv[i]);
    }
    if (!path || !data) return usage_err("eval", "%s", "usage: sq eval MODEL --data FILE.jsonl [--json] [--limit N] [--threads N]");
    sq_err e = {0};
    size_t len = 0;
    char *text = cli_read_text(data, DATA_LIMIT, &len, &e);
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
        while (n < EVAL_BATCH && (!limit || queued < limit) && (line = next_line(&cur))) {
            lineno++;
            if (blank(line)) continue;
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

/* ================= Llama: generate, perplexity ================= */

typedef struct llama_ctx {
    cli_model m;
    sq_tokenizer *tok;
    sq_llama *llm;
} llama_ctx;

static void llama_close(llama_ctx *l)
{
    sq_llama_free(l->llm);
    sq_tokenizer_free(l->tok);
    if (l->m.weights_path) cli_model_close(&l->m);
    memset(l, 0, sizeof *l);
}

/* Open the model files and tokenizer (the network is loaded by llama_load once the
 * context length is known). */
static int llama_open(llama_ctx *l, const char *path, sq_err *e)
{
    memset(l, 0, sizeof *l);
    if (cli_model_open(&l->m, path, e)) return e->code;
    if (!l->m.config) {
        sq_fail(e, SQ_EINPUT, "%s: no config.json beside the model (nor in its metadata)", l->m.weights_path);
        llama_close(l);
        return e->code;
    }
    if (load_tokenizer(&l->m, &l->tok, e)) {
        llama_close(l);
        return e->code;
    }
    return SQ_OK;
}

static int llama_load(llama_ctx *l, size_t ctx, sq_err *e)
{
    return sq_llama_load(&l->llm, &l->m.st, l->m.config, ctx, e);
}

/* max_position_embeddings from the config text (0 if absent). */
static size_t config_max_pos(const char *cfg)
{
    cJSON *j = cJSON_Parse(cfg);
    const cJSON *v = j ? cJSON_GetObjectItemCaseSensitive(j, "max_position_embeddings") : NULL;
    size_t n = cJSON_IsNumber(v) && v->valuedouble >= 1 ? (size_t)v->valuedouble : 0;
    cJSON_Delete(j);
    return n;
}

/* Append src[0..n) to the id list. */
static int push_ids(int32_t **ids, size_t *n, size_t *cap, const int32_t *src, size_t k, sq_err *e)
{
    if (*n + k > *cap) {
        size_t c = (*cap ? *cap * 2 : 64);
        while (c < *n + k) c *= 2;
        int32_t *p = realloc(*ids, c * sizeof(int32_t));
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
        *ids = p;
        *cap = c;
    }
    memcpy(*ids + *n, src, k * sizeof(int32_t));
    *n += k;
    return SQ_OK;
}

static int push_text(const sq_tokenizer *t, const char *s, size_t len, unsigned flags, int32_t **ids, size_t *n,
                     size_t *cap, sq_err *e)
{
    int32_t *p = NULL;
    size_t k = 0;
    if (sq_tokenizer_encode(t, s, len, flags, 0, &p, &k, e)) return e->code;
    int rc = push_ids(ids, n, cap, p, k, e);
    free(p);
    return rc;
}

/* The prompt's ids: BOS + text, or the Llama 3 Instruct chat template around it:
 * <|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>
 * <|start_header_id|>assistant<|end_header_id|>\n\n
 * (the user's text is encoded literally: special-token strings in it stay text). */
static int prompt_ids(const sq_tokenizer *t, const char *prompt, int chat, int32_t **ids, size_t *n, sq_err *e)
{
    size_t cap = 0;
    *ids = NULL;
    *n = 0;
    if (!chat) return push_text(t, prompt, strlen(prompt), SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS, ids, n, &cap, e);
    static const char *const need[] = {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"};
    for (int i = 0; i < 4; i++)
        if (sq_tokenizer_token_id(t, need[i]) < 0)
            return sq_fail(e, SQ_EINPUT, "--chat needs a Llama 3 Instruct tokenizer (no %s token in this one)", need[i]);
    int32_t bos = sq_tokenizer_token_id(t, "<|begin_of_text|>");
    size_t plen = strlen(prompt);
    char *user = malloc(plen + 3);
    if (!user) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    memcpy(user, "\n\n", 2);
    memcpy(user + 2, prompt, plen + 1);
    static const char head[] = "<|start_header_id|>user<|end_header_id|>";
    static const char tail[] = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
    int rc = push_ids(ids, n, &cap, &bos, 1, e);
    if (!rc) rc = push_text(t, head, sizeof head - 1, 0, ids, n, &cap, e);
    if (!rc) rc = push_text(t, user, plen + 2, SQ_TOK_LITERAL, ids, n, &cap, e);
    if (!rc) rc = push_text(t, tail, sizeof tail - 1, 0, ids, n, &cap, e);
    free(user);
    if (rc) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

static int write_out(const char *s, size_t n)
{
    if (n && fwrite(s, 1, n, stdout) != n) return -1;
    return fflush(stdout) ? -1 : 0;
}

int cmd_generate(int argc, char **argv)
{
    const char *path = NULL, *prompt = NULL;
    long n_new = 256, ctx = 0;
    double temp = 0.0, top_p = 0.9;
    uint64_t seed = 0;
    int chat = 0, stats = 0, threads = cli_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--prompt") == 0 && has) prompt = argv[++i];
        else if ((strcmp(a, "-n") == 0 || strcmp(a, "--tokens") == 0) && has) {
            if (!parse_long(argv[++i], 0, 1L << 24, &n_new)) return usage_err("generate", "-n needs a token count, got '%s'", argv[i]);
        } else if (strcmp(a, "--temp") == 0 && has) {
            if (!parse_double(argv[++i], 0, 100, &temp)) return usage_err("generate", "--temp needs a number >= 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--top-p") == 0 && has) {
            if (!parse_double(argv[++i], 1e-9, 1, &top_p)) return usage_err("generate", "--top-p needs a number in (0, 1], got '%s'", argv[i]);
        } else if (strcmp(a, "--seed") == 0 && has) {
            if (!parse_u64(argv[++i], &seed)) return usage_err("generate", "--seed needs a non-negative integer, got '%s'", argv[i]);
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!parse_long(argv[++i], 2, 1L << 24, &ctx)) return usage_err("generate", "--ctx needs a token count, got '%s'", argv[i]);
        } else if (strcmp(a, "--threads") == 0 && has) {
            if (!parse_threads(argv[++i], &threads)) return usage_err("generate", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        } else if (strcmp(a, "--chat") == 0) chat = 1;
        else if (strcmp(a, "--stats") == 0) stats = 1;
        else if (a[0] == '-') return usage_err("generate", "unknown option or missing value: '%s'", a);
        else if (!path) path = a;
        else return usage_err("generate", "unexpected argument '%s' (the prompt goes after --prompt)", a);
    }
    if (!path || !prompt)
        return usage_err("generate", "%s", "usage: sq generate MODEL --prompt \"...\" [-n N] [--temp T] [--top-p P] [--seed S] [--chat] [--threads N] [--stats]");
    sq_err e = {0};
    llama_ctx l;
    if (llama_open(&l, path, &e)) return cli_report(&e);
    int32_t *ids = NULL;
    size_t n = 0;
    sq_sampler smp;
    sq_detok *dt = NULL;
    float *logits = NULL;
    int rc = 0, sampler = 0;
    memset(&smp, 0, sizeof smp);
    if (prompt_ids(l.tok, prompt, chat, &ids, &n, &e)) goto fail;
    if (n == 0) {
        sq_fail(&e, SQ_EINPUT, "the prompt encodes to no tokens");
        goto fail;
    }
    /* KV cache: prompt + new tokens (or --ctx), never past the model's positions */
    size_t maxpos = config_max_pos(l.m.config), want = ctx ? (size_t)ctx : n + (size_t)n_new;
    if (maxpos && want > maxpos) want = maxpos;
    if (n > want) {
        sq_fail(&e, SQ_EINPUT, "the prompt has %zu tokens; the context holds %zu", n, want);
        goto fail;
    }
    if (llama_load(&l, want < 2 ? 2 : want, &e)) goto fail;
    sq_exec ex = exec_for(&threads);
    sq_llama_set_exec(l.llm, &ex);
    size_t V = (size_t)l.llm->c.vocab;
    if (!(logits = sq_malloc(V * sizeof(float), &e))) goto fail;
    if (sq_sampler_init(&smp, V, (float)temp, (float)top_p, seed, &e)) goto fail;
    sampler = 1;
    if (sq_detok_new(&dt, l.tok, SQ_TOK_SKIP_SPECIAL, &e)) goto fail;
    /* stop on the model's EOS ids, the tokenizer's EOS, and <|eot_id|> */
    int32_t eot = sq_tokenizer_token_id(l.tok, "<|eot_id|>"), teos = sq_tokenizer_special_id(l.tok, SQ_TOK_EOS);
    const char *piece;
    size_t plen;
    /* prime the streaming decoder with the prompt so spacing continues naturally */
    for (size_t i = 0; i < n; i++)
        if (sq_detok_push(dt, ids[i], &piece, &plen, &e)) goto fail;
    if (!chat && write_out(prompt, strlen(prompt))) goto io;
    double t0 = now_s(), c0 = cpu_s();
    if (sq_llama_prefill(l.llm, ids, n, 0, logits, 0, &e)) goto fail;
    double t1 = now_s(), c1 = cpu_s();
    size_t pos = n;
    long steps = 0;
    for (long k = 0; k < n_new; k++) {
        int32_t next = sq_sample(&smp, logits);
        if (sq_llama_is_eos(l.llm, next) || next == eot || next == teos) break;
        if (sq_detok_push(dt, next, &piece, &plen, &e)) goto fail;
        if (write_out(piece, plen)) goto io;
        if (pos >= l.llm->seq_len) break;
        const float *lg = sq_llama_forward(l.llm, next, pos, &e);
        if (!lg) goto fail;
        memcpy(logits, lg, V * sizeof(float));
        pos++;
        steps++;
    }
    double t2 = now_s(), c2 = cpu_s();
    if (sq_detok_finish(dt, &piece, &plen, &e)) goto fail;
    if (write_out(piece, plen) || write_out("\n", 1)) goto io;
    if (stats)
        fprintf(stderr, "sq generate: prompt %zu tokens in %.3fs (%.2f tok/s, %.3fs of CPU), %ld tokens generated in %.3fs (%.2f tok/s, "
                        "%.3fs of CPU); %d thread%s, %s kernels, %.1f MB of weights\n",
                n, t1 - t0, (double)n / (t1 - t0), c1 - c0, steps, t2 - t1, steps ? (double)steps / (t2 - t1) : 0.0, c2 - c1,
                ex.threads, ex.threads == 1 ? "" : "s", sq_linear_kernels(), (double)sq_llama_bytes(l.llm) / 1e6);
    goto done;
io:
    sq_fail(&e, SQ_EINTERNAL, "cannot write to stdout");
fail:
    fflush(stdout);
    rc = cli_report(&e);
done:
    if (sampler) sq_sampler_free(&smp);
    sq_detok_free(dt);
    free(logits);
    free(ids);
    llama_close(&l);
    return rc;
}

/* Sum of -log p(ids[i+1] | ids[0..i]) for i = first..n-2, running the model over ids
 * (fresh cache) in chunks so at most PPL_CHUNK x vocab logits are held. */
#define PPL_CHUNK 32
static int score(sq_llama *llm, const int32_t *ids, size_t n, size_t first, float *logits, double *nll, size_t *count,
                 sq_err *e)
{
    size_t V = (size_t)llm->c.vocab;
    sq_llama_reset(llm);
    for (size_t s = 0; s + 1 < n; s += PPL_CHUNK) {
        size_t cn = n - 1 - s < PPL_CHUNK ? n - 1 - s : PPL_CHUNK; /* the last token predicts nothing */
        if (sq_llama_prefill(llm, ids + s, cn, s, logits, 1, e)) return e->code;
        for (size_t i = 0; i < cn; i++) {
            size_t at = s + i;
            if (at < first) continue;
            const float *lg = logits + i * V;
            float mx = lg[0];
            for (size_t j = 1; j < V; j++)
                if (lg[j] > mx) mx = lg[j];
            double sum = 0;
            for (size_t j = 0; j < V; j++) sum += exp((double)lg[j] - mx);
            *nll += log(sum) + mx - lg[ids[at + 1]];
            (*count)++;
        }
    }
    return SQ_OK;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_perplexity(int argc, char **argv)
{
    const char *path = NULL, *file = NULL;
    long ctx = 0, limit = 0;
    int json = 0, threads = cli_default_threads();
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "--text") == 0 && has) file = argv[++i];
        else if (strcmp(a, "--threads") == 0 && has) {
            if (!parse_threads(argv[++i], &threads)) return usage_err("perplexity", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        }
        else if (strcmp(a, "--ctx") == 0 && has) {
            if (!parse_long(argv[++i], 2, 1L << 24, &ctx)) return usage_err("perplexity", "--ctx needs a token count >= 2, got '%s'", argv[i]);
        } else if (strcmp(a, "--limit") == 0 && has) {
            if (!parse_long(argv[++i], 1, LONG_MAX, &limit)) return usage_err("perplexity", "--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(a, "--json") == 0) json = 1;
        else if (a[0] == '-') return usage_err("perplexity", "unknown option or missing value: '%s'", a);
        else if (!path) path = a;
        else return usage_err("perplexity", "unexpected argument '%s'", a);
    }
    if (!path || !file)
        return usage_err("perplexity", "%s", "usage: sq perplexity MODEL --text FILE [--ctx N] [--json] [--limit N] [--threads N]");
    sq_err e = {0};
    size_t len = 0;
    char *text = cli_read_text(file, DATA_LIMIT, &len, &e);
    if (!text) return cli_report(&e);
    llama_ctx l;
    if (llama_open(&l, path, &e)) {
        free(text);
        return cli_report(&e);
    }
    int rc = 0;
    int32_t *ids = NULL, *win = NULL;
    float *logits = NULL;
    double nll = 0;
    size_t count = 0, texts = 0;
    size_t maxpos = config_max_pos(l.m.config);
    size_t C = ctx ? (size_t)ctx : 512;
    if (maxpos && C > maxpos) C = maxpos;
    if (llama_load(&l, C, &e)) goto fail;
    sq_exec ex = exec_for(&threads);
    sq_llama_set_exec(l.llm, &ex);
    C = l.llm->seq_len;
    if (C < 2) {
        sq_fail(&e, SQ_EINPUT, "a context of %zu tokens scores nothing", C);
        goto fail;
    }
    size_t V = (size_t)l.llm->c.vocab;
    if (!(logits = sq_malloc(PPL_CHUNK * V * sizeof(float), &e))) goto fail;
    unsigned flags = SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS;
    if (ends_with(file, ".jsonl")) {
        /* one text per row, each scored on its own with BOS, truncated to the context */
        char *cur = text, *line;
        long lineno = 0;
        while ((line = next_line(&cur)) && (!limit || (long)texts < limit)) {
            lineno++;
            if (blank(line)) continue;
            cJSON *row = cJSON_Parse(line);
            const cJSON *t = row ? cJSON_GetObjectItemCaseSensitive(row, "text") : NULL;
            if (!cJSON_IsString(t)) {
                cJSON_Delete(row);
                sq_fail(&e, SQ_EINPUT, "%s:%ld: expected a JSON object with a \"text\" string", file, lineno);
                goto fail;
            }
            size_t n = 0;
            int bad = sq_tokenizer_encode(l.tok, t->valuestring, strlen(t->valuestring), flags, C, &ids, &n, &e);
            cJSON_Delete(row);
            if (bad || score(l.llm, ids, n, 0, logits, &nll, &count, &e)) goto fail;
            free(ids);
            ids = NULL;
            texts++;
        }
    } else {
        /* the whole text, in windows of BOS + (ctx - 1) tokens, every text token scored once */
        size_t n = 0;
        if (sq_tokenizer_encode(l.tok, text, len, flags, 0, &ids, &n, &e)) goto fail;
        int32_t bos = n && ids[0] == sq_tokenizer_special_id(l.tok, SQ_TOK_BOS) ? ids[0] : -1;
        size_t start = bos >= 0 ? 1 : 0, step = bos >= 0 ? C - 1 : C;
        if (!(win = sq_malloc(C * sizeof(int32_t), &e))) goto fail;
        for (size_t s = start; s < n && (!limit || (long)texts < limit); s += step) {
            size_t k = n - s < step ? n - s : step, w = 0;
            if (bos >= 0) win[w++] = bos;
            memcpy(win + w, ids + s, k * sizeof(int32_t));
            w += k;
            /* with BOS every window token is scored; without, a window's first token is context */
            if (score(l.llm, win, w, 0, logits, &nll, &count, &e)) goto fail;
            texts++;
        }
    }
    if (count == 0) {
        sq_fail(&e, SQ_EINPUT, "%s: nothing to score (every text is shorter than two tokens)", file);
        goto fail;
    }
    double mean = nll / (double)count, ppl = exp(mean);
    if (json)
        printf("{\"perplexity\": %.6f, \"tokens\": %zu, \"nll\": %.6f, \"texts\": %zu, \"ctx\": %zu}\n", ppl, count, mean,
               texts, C);
    else
        printf("perplexity %.4f (mean nll %.4f over %zu tokens, %zu %s, ctx %zu)\n", ppl, mean, count, texts,
               ends_with(file, ".jsonl") ? "texts" : "windows", C);
    goto done;
fail:
    rc = cli_report(&e);
done:
    free(ids);
    free(win);
    free(logits);
    free(text);
    llama_close(&l);
    return rc;
}
