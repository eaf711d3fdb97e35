/* cmd_quant.c - sq inspect, sq quantize, sq dequantize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "cli.h"
#include "options.h"
#include "quant/pipeline.h"
#include "quant/qfile.h"
#include "quant/quant.h"

static int bad_usage(const char *msg)
{
    fprintf(stderr, "sq: %s\n", msg);
    return 2;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* ---------------- inspect ---------------- */

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static const char *jstr(const cJSON *o, const char *key, const char *dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : dflt;
}

static void print_bpw(const char *label, const cJSON *v)
{
    if (cJSON_IsNumber(v)) printf("  %s %.3f", label, v->valuedouble);
    else printf("  %s -", label);
}

/* The text form of sq_inspect_json's description. */
static void print_inspect(const cJSON *root)
{
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantized");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    printf("file          %s (%.0f bytes)\n", jstr(root, "file", ""), jnum(root, "bytes"));
    printf("architecture  %s\n", jstr(root, "architecture", "(no config.json)"));
    printf("tensors       %.0f, %.0f parameters\n", jnum(root, "tensors"), jnum(root, "params"));
    if (cJSON_IsObject(q))
        printf("quantized     sq %s format, bits %s, clusters %s, group %s (source: %.0f parameters)\n", jstr(q, "format", "?"),
               jstr(q, "bits", "?"), jstr(q, "clusters", "?"), jstr(q, "group", "?"), jnum(q, "source_params"));
    printf("bits/weight ");
    print_bpw("linear layers", cJSON_GetObjectItemCaseSensitive(root, "bpw_linear"));
    const cJSON *be = cJSON_GetObjectItemCaseSensitive(root, "bpw_embeddings");
    if (cJSON_IsNumber(be)) print_bpw("embeddings", be);
    print_bpw("whole file", cJSON_GetObjectItemCaseSensitive(root, "bpw_file"));
    printf("\n");
    if (cJSON_IsObject(q))
        printf("embeddings    %s%s\n", jstr(q, "embeddings", "keep"),
               strcmp(jstr(q, "embeddings", "keep"), "keep") == 0 ? " (as they are)"
                                                                  : " (token embedding and LM head as plain codes)");
    int weights = 0, biases = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, layers) {
        const char *role = jstr(l, "role", "");
        weights += strcmp(role, "split") == 0;
        biases += strcmp(role, "split-bias") == 0;
    }
    double params = jnum(root, "params"), split = jnum(root, "split_params");
    printf("to split      %d weights + %d biases (%.0f parameters, %.1f%%)\n", weights, biases, split,
           params > 0 ? 100.0 * split / params : 0.0);
    printf("\n%-6s %-5s %-22s %s\n", "role", "dtype", "shape", "name");
    cJSON_ArrayForEach(l, layers) {
        char shape[96] = "[";
        const cJSON *d;
        int first = 1;
        cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(l, "shape")) {
            char num[24];
            snprintf(num, sizeof num, "%s%.0f", first ? "" : ", ", d->valuedouble);
            strncat(shape, num, sizeof shape - strlen(shape) - 2);
            first = 0;
        }
        strcat(shape, "]");
        const char *role = jstr(l, "role", "");
        printf("%-6s %-5s %-22s %s\n", strcmp(role, "split") == 0 ? "split" : strcmp(role, "split-bias") == 0 ? "bias" : "keep",
               jstr(l, "dtype", ""), shape, jstr(l, "name", ""));
    }
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (argv[i][0] == '-') { fprintf(stderr, "sq inspect: unknown option '%s'\n", argv[i]); return 2; }
        else if (!path) path = argv[i];
        else return bad_usage("inspect takes one MODEL");
    }
    if (!path) return bad_usage("usage: sq inspect MODEL [--json]");
    sq_err e = {0};
    cli_model m;
    if (cli_model_open(&m, path, &e)) return cli_report(&e);
    /* one description for both outputs (and for sq.wasm / the browser): the text is
       printed from the JSON */
    char *txt = sq_inspect_json(&m.st, m.weights_path, m.config, &e);
    cJSON *root = txt ? cJSON_Parse(txt) : NULL;
    if (!root) {
        free(txt);
        if (!e.code) sq_fail(&e, SQ_EINTERNAL, "out of memory");
        char pre[300];
        snprintf(pre, sizeof pre, "%.280s: ", m.weights_path);
        sq_err_prefix(&e, pre);
        cli_model_close(&m);
        return cli_report(&e);
    }
    if (json) puts(txt);
    else print_inspect(root);
    cJSON_Delete(root);
    free(txt);
    cli_model_close(&m);
    return 0;
}

/* ---------------- quantize ---------------- */

typedef struct progress_state {
    int quiet, tty;
    double t0;
} progress_state;

static int on_progress(void *ctx, const sq_progress *p)
{
    progress_state *ps = ctx;
    if (ps->quiet) return 0;
    double el = cli_now_s() - ps->t0;
    double frac = p->bytes_total ? (double)p->bytes_done / (double)p->bytes_total : 1;
    double eta = frac > 0 ? el / frac - el : 0;
    if (p->layer) {
        const sq_layer_stats *s = p->layer;
        double widest = 0;
        for (int c = 0; c < s->k; c++)
            if (s->cluster_max[c] - s->cluster_min[c] > widest) widest = s->cluster_max[c] - s->cluster_min[c];
        fprintf(stderr, "[%4zu/%zu] %3.0f%% %-52s range %.4g -> %.4g", p->index, p->total, 100 * frac, p->name, s->range, widest);
        if (s->role == SQ_ROLE_WEIGHT && s->emb) fprintf(stderr, "  mse %.3g (embeddings, plain)", s->mse);
        else if (s->role == SQ_ROLE_WEIGHT) fprintf(stderr, "  mse %.3g (plain %.3g)", s->mse, s->mse_plain);
        fprintf(stderr, "  ETA %.0fs\n", eta);
    } else if (ps->tty) {
        fprintf(stderr, "[%4zu/%zu] %3.0f%% %-52s copied  ETA %.0fs\n", p->index, p->total, 100 * frac, p->name, eta);
    }
    return 0;
}

static int write_text_file(const char *path, const char *text, sq_err *e)
{
    cli_out o;
    if (cli_out_open(&o, path, e)) return e->code;
    if (sq_write_all(&o.writer, text, strlen(text), e)) { cli_out_abort(&o); return e->code; }
    return cli_out_commit(&o, e);
}

/* "2GB", "500MB", "1GiB", "123456" -> bytes (decimal K/M/G as Hugging Face writes them,
 * binary KiB/MiB/GiB). */
static int parse_size(const char *v, uint64_t *out)
{
    char *end;
    if (!v || !*v || *v == '-') return 0;
    double x = strtod(v, &end);
    static const struct { const char *s; double m; } U[] = {
        {"", 1}, {"B", 1}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
        {"KiB", 1024.0}, {"MiB", 1048576.0}, {"GiB", 1073741824.0}};
    for (size_t i = 0; i < sizeof U / sizeof U[0]; i++)
        if (strcmp(end, U[i].s) == 0) {
            double b = x * U[i].m;
            if (!(b >= 1 && b < 1e18)) return 0;
            *out = (uint64_t)b;
            return 1;
        }
    return 0;
}

int cmd_quantize(int argc, char **argv)
{
    uint64_t shard_size = 0; /* --shard-size: 0 = one file */
    const char *in = NULL, *out = NULL, *report = NULL;
    sq_quant_opts o;
    sq_quant_opts_default(&o);
    o.threads = cli_default_threads();
    int quiet = 0, progress = 0, clusters_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) { quiet = 1; continue; }
        if (strcmp(a, "--progress") == 0) { progress = 1; continue; }
        if (a[0] == '-' && a[1]) {
            if (!v) { fprintf(stderr, "sq quantize: option %s needs a value\n", a); return 2; }
            i++;
            /* the options every front end shares (core/options.c) */
            sq_err oe = {0};
            int rc = a[1] == '-' ? sq_quant_opt_set(&o, a + 2, v, &oe) : SQ_OPT_UNKNOWN;
            if (rc == SQ_OK) {
                clusters_given |= strcmp(a, "--clusters") == 0;
                continue;
            }
            if (rc != SQ_OPT_UNKNOWN) return cli_report(&oe);
            if (strcmp(a, "--report") == 0) {
                report = v;
            } else if (strcmp(a, "--shard-size") == 0) {
                if (!parse_size(v, &shard_size)) return bad_usage("--shard-size must be a size such as 2GB, 500MB or 1GiB");
            } else if (strcmp(a, "--threads") == 0) {
                if (!cli_parse_long(v, 1, 256, &n)) return bad_usage("--threads must be an integer from 1 to 256");
                o.threads = (int)n;
            } else {
                fprintf(stderr, "sq quantize: unknown option '%s'\n", a);
                return 2;
            }
            continue;
        }
        if (!in) in = a;
        else if (!out) out = a;
        else return bad_usage("quantize takes MODEL and OUT.safetensors");
    }
    if (!in || !out) return bad_usage("usage: sq quantize MODEL OUT.safetensors [--bits B] [--clusters K] [--format F] ...");
    sq_quant_opts_finish(&o, clusters_given);
    if (shard_size) {
        size_t n = strlen(out);
        if (n < 13 || strcmp(out + n - 12, ".safetensors") != 0) return bad_usage("--shard-size needs OUT to end in .safetensors (the shards are named after it)");
    }

    sq_err e = {0};
    cli_model m;
    if (cli_model_open(&m, in, &e)) return cli_report(&e);
    cli_out dst;
    if (cli_out_open(&dst, out, &e)) { cli_model_close(&m); return cli_report(&e); }
    sq_model_texts texts = {m.config, m.tokenizer_json, m.vocab_txt, m.tokenizer_config, base_name(m.weights_path)};
    /* Progress lines only on a terminal (or with --progress): a script reading stderr
       gets exactly one line when something goes wrong. */
    progress_state ps = {quiet || !(progress || isatty(2)), isatty(2), cli_now_s()};
    sq_quant_hooks hooks = {on_progress, &ps, cli_now_s, cli_parallel(o.threads), &o.threads};
    sq_report rep;
    double t0 = cli_now_s();
    int rc = sq_quantize_model(&m.st, &o, &texts, dst.writer, &hooks, &rep, &e);
    if (rc) {
        cli_out_abort(&dst);
        sq_report_free(&rep);
        cli_model_close(&m);
        return cli_report(&e);
    }
    if ((rc = cli_out_commit(&dst, &e))) { sq_report_free(&rep); cli_model_close(&m); return cli_report(&e); }
    size_t n_shards = 1;
    if (shard_size && (rc = cli_split_shards(out, shard_size, &n_shards, &e))) {
        remove(out); /* shards were asked for: no half-done result */
        sq_report_free(&rep);
        cli_model_close(&m);
        return cli_report(&e);
    }

    double secs = cli_now_s() - t0;
    if (report) {
        char *txt = sq_report_json(&rep, &o, base_name(in), secs);
        if (!txt) rc = sq_fail(&e, SQ_EINTERNAL, "out of memory");
        else rc = write_text_file(report, txt, &e);
        free(txt);
    }
    if (!quiet) {
        int better = 0, layers = 0;
        for (size_t i = 0; i < rep.n_layers; i++)
            if (rep.layers[i].role == SQ_ROLE_WEIGHT && !rep.layers[i].emb) { layers++; better += rep.layers[i].mse < rep.layers[i].mse_plain; }
        fprintf(stderr, "wrote %s: %llu -> %llu bytes in %.2fs; %d layers split, quantized weights %llu -> %llu bytes",
                out, (unsigned long long)rep.bytes_in, (unsigned long long)rep.bytes_out, secs, layers,
                (unsigned long long)rep.quant_bytes_in, (unsigned long long)rep.quant_bytes_out);
        fprintf(stderr, "; bits/weight %.3f linear layers, ", sq_report_bpw_linear(&rep));
        int eb = sq_emb_bits(&o);
        if (eb > 0) fprintf(stderr, "%.3f embeddings (INT%d), ", sq_report_bpw_embeddings(&rep), eb);
        fprintf(stderr, "%.3f whole file", sq_report_bpw_file(&rep));
        if (o.clusters > 1 && o.bits != SQ_BITS_F32) fprintf(stderr, "; split beats plain on %d/%d", better, layers);
        fputc('\n', stderr);
        if (n_shards > 1) fprintf(stderr, "cut into %zu shards of at most %llu tensor bytes each, with their index, in place of %s\n", n_shards, (unsigned long long)shard_size, out);
    }
    sq_report_free(&rep);
    cli_model_close(&m);
    return rc ? cli_report(&e) : 0;
}

/* ---------------- dequantize ---------------- */

int cmd_dequantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    sq_dtype dt = SQ_DT_INVALID;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dtype") == 0) {
            const char *v = i + 1 < argc ? argv[++i] : "";
            if (strcmp(v, "f32") == 0) dt = SQ_DT_F32;
            else if (strcmp(v, "f16") == 0) dt = SQ_DT_F16;
            else if (strcmp(v, "bf16") == 0) dt = SQ_DT_BF16;
            else return bad_usage("--dtype must be f32, f16 or bf16");
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "sq dequantize: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!in) in = argv[i];
        else if (!out) out = argv[i];
        else return bad_usage("dequantize takes QMODEL and OUT.safetensors");
    }
    if (!in || !out) return bad_usage("usage: sq dequantize QMODEL OUT.safetensors [--dtype f32|f16|bf16]");
    sq_err e = {0};
    cli_model m;
    if (cli_model_open(&m, in, &e)) return cli_report(&e);
    cli_out dst;
    if (cli_out_open(&dst, out, &e)) { cli_model_close(&m); return cli_report(&e); }
    int rc = sq_dequantize_model(&m.st, dt, dst.writer, &e);
    if (rc) {
        char pre[300];
        snprintf(pre, sizeof pre, "%.280s: ", m.weights_path);
        sq_err_prefix(&e, pre);
        cli_out_abort(&dst);
    } else rc = cli_out_commit(&dst, &e);
    cli_model_close(&m);
    return rc ? cli_report(&e) : 0;
}
