/* cmd_llama.c - sq generate, sq perplexity (Llama causal LM).
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

#include "cli.h"
#include "models/llama.h"
#include "models/sample.h"
#include "tokenizers/tokenizer.h"

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
    if (cli_load_tokenizer(&l->m, &l->tok, e)) {
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
            if (!cli_parse_long(argv[++i], 0, 1L << 24, &n_new)) return cli_usage_err("generate", "-n needs a token count, got '%s'", argv[i]);
        } else if (strcmp(a, "--temp") == 0 && has) {
            if (!cli_parse_double(argv[++i], 0, 100, &temp)) return cli_usage_err("generate", "--temp needs a number >= 0, got '%s'", argv[i]);
        } else if (strcmp(a, "--top-p") == 0 && has) {
            if (!cli_parse_double(argv[++i], 1e-9, 1, &top_p)) return cli_usage_err("generate", "--top-p needs a number in (0, 1], got '%s'", argv[i]);
        } else if (strcmp(a, "--seed") == 0 && has) {
            if (!cli_parse_u64(argv[++i], &seed)) return cli_usage_err("generate", "--seed needs a non-negative integer, got '%s'", argv[i]);
        } else if (strcmp(a, "--ctx") == 0 && has) {
            if (!cli_parse_long(argv[++i], 2, 1L << 24, &ctx)) return cli_usage_err("generate", "--ctx needs a token count, got '%s'", argv[i]);
        } else if (strcmp(a, "--activations") == 0 && has) {
            if (!cli_parse_activations(argv[++i])) return cli_usage_err("generate", "--activations must be f32 or int8, got '%s'", argv[i]);
        } else if (strcmp(a, "--threads") == 0 && has) {
            if (!cli_parse_threads(argv[++i], &threads)) return cli_usage_err("generate", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        } else if (strcmp(a, "--chat") == 0) chat = 1;
        else if (strcmp(a, "--stats") == 0) stats = 1;
        else if (a[0] == '-') return cli_usage_err("generate", "unknown option or missing value: '%s'", a);
        else if (!path) path = a;
        else return cli_usage_err("generate", "unexpected argument '%s' (the prompt goes after --prompt)", a);
    }
    if (!path || !prompt)
        return cli_usage_err("generate", "%s", "usage: sq generate MODEL --prompt \"...\" [-n N] [--temp T] [--top-p P] [--seed S] [--chat] [--threads N] [--activations int8|f32] [--stats]");
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
    sq_exec ex = cli_exec_for(&threads);
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
    double t0 = cli_now_s(), c0 = cli_cpu_s();
    if (sq_llama_prefill(l.llm, ids, n, 0, logits, 0, &e)) goto fail;
    double t1 = cli_now_s(), c1 = cli_cpu_s();
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
    double t2 = cli_now_s(), c2 = cli_cpu_s();
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
        else if (strcmp(a, "--activations") == 0 && has) {
            if (!cli_parse_activations(argv[++i])) return cli_usage_err("perplexity", "--activations must be f32 or int8, got '%s'", argv[i]);
        } else if (strcmp(a, "--threads") == 0 && has) {
            if (!cli_parse_threads(argv[++i], &threads)) return cli_usage_err("perplexity", "--threads must be an integer from 1 to 256, got '%s'", argv[i]);
        }
        else if (strcmp(a, "--ctx") == 0 && has) {
            if (!cli_parse_long(argv[++i], 2, 1L << 24, &ctx)) return cli_usage_err("perplexity", "--ctx needs a token count >= 2, got '%s'", argv[i]);
        } else if (strcmp(a, "--limit") == 0 && has) {
            if (!cli_parse_long(argv[++i], 1, LONG_MAX, &limit)) return cli_usage_err("perplexity", "--limit needs a positive integer, got '%s'", argv[i]);
        } else if (strcmp(a, "--json") == 0) json = 1;
        else if (a[0] == '-') return cli_usage_err("perplexity", "unknown option or missing value: '%s'", a);
        else if (!path) path = a;
        else return cli_usage_err("perplexity", "unexpected argument '%s'", a);
    }
    if (!path || !file)
        return cli_usage_err("perplexity", "%s", "usage: sq perplexity MODEL --text FILE [--ctx N] [--json] [--limit N] [--threads N] [--activations int8|f32]");
    sq_err e = {0};
    size_t len = 0;
    char *text = cli_read_text(file, CLI_DATA_LIMIT, &len, &e);
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
    sq_exec ex = cli_exec_for(&threads);
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
        while ((line = cli_next_line(&cur)) && (!limit || (long)texts < limit)) {
            lineno++;
            if (cli_blank(line)) continue;
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

