/* synth.c - write a Llama-3.2-shaped model with realistic random weights, for scale and
 * speed measurements (real 1B weights cannot be downloaded here).
 *
 *   build/sq-synth OUTDIR [--preset 1b|small|tiny] [--seed S] [--tokenizer-dir DIR]
 *
 * Weights: BF16, normal with a per-row scale (log-normal spread) and ~0.1% outliers of
 * 10-50x the row's std, the heavy-tailed statistics SplitQuant is about. Norm weights
 * are around 1. The directory gets config.json, model.safetensors and the bundled
 * Llama 3 tokenizer: DIR, by default examples/llama3-tokenizer of the tree the binary was
 * built in (found relative to the binary, build/../examples, wherever it is run from; it
 * refuses before writing anything when the tokenizer is not there). Never committed:
 * rebuilt in seconds.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"
#include "safetensors.h"

typedef struct preset {
    const char *name;
    int hidden, layers, heads, kv_heads, ffn, vocab;
} preset;

static const preset presets[] = {
    {"1b", 2048, 16, 32, 8, 8192, 128256},   /* Llama-3.2-1B */
    {"small", 576, 30, 9, 3, 1536, 128256},  /* SmolLM-135M body with the Llama 3 vocabulary */
    {"tiny", 64, 2, 4, 2, 128, 128256},      /* for tests */
};

/* xoshiro256** */
typedef struct rng { uint64_t s[4]; } rng;
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t next(rng *r)
{
    uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t; s[3] = rotl(s[3], 45);
    return res;
}
static void seed_rng(rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        seed += 0x9e3779b97f4a7c15ull;
        uint64_t z = seed;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        r->s[i] = z ^ (z >> 31);
    }
}
static double uniform(rng *r) { return (double)(next(r) >> 11) * (1.0 / 9007199254740992.0); }
/* Approximately standard normal, cheap: sum of 4 uniforms (Irwin-Hall), rescaled. */
static float normal(rng *r)
{
    uint64_t a = next(r), b = next(r);
    double s = (double)(a & 0xffffffff) + (double)(a >> 32) + (double)(b & 0xffffffff) + (double)(b >> 32);
    return (float)((s / 4294967296.0 - 2.0) * 1.7320508075688772);
}

typedef struct file_writer { FILE *fp; } file_writer;
static int fw_write(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, ((file_writer *)ctx)->fp) == len ? 0 : -1;
}

static void die(const char *msg)
{
    fprintf(stderr, "sq-synth: %s\n", msg);
    exit(2);
}

/* Write rows x cols BF16 values, row by row. kind: 0 weight, 1 norm. */
static void emit(sq_st_writer *w, rng *r, int64_t rows, int64_t cols, int kind, double std, sq_err *e)
{
    uint16_t *row = malloc((size_t)cols * 2);
    if (!row) die("out of memory");
    for (int64_t i = 0; i < rows; i++) {
        double rs = std * exp(0.3 * normal(r)); /* per-row scale variation */
        for (int64_t j = 0; j < cols; j++) {
            float v;
            if (kind == 1) v = 1.0f + 0.1f * normal(r);
            else {
                v = (float)(rs * normal(r));
                if ((next(r) & 1023) == 0) { /* ~0.1% outliers, 10-50x std */
                    double m = 10 + 40 * uniform(r);
                    v = (float)((next(r) & 1 ? m : -m) * rs);
                }
            }
            row[j] = sq_f32_to_bf16(v);
        }
        if (sq_stw_data(w, row, (size_t)cols * 2, e)) die(e->msg);
    }
    free(row);
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb");
    if (!a) { fprintf(stderr, "sq-synth: cannot read %s\n", from); exit(2); }
    FILE *b = fopen(to, "wb");
    if (!b) { fprintf(stderr, "sq-synth: cannot write %s\n", to); exit(2); }
    char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        if (fwrite(buf, 1, n, b) != n) die("write failed (disk full?)");
    if (ferror(a)) die("read failed");
    fclose(a);
    if (fclose(b)) die("write failed");
}

static int readable(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* The bundled tokenizer's directory: examples/llama3-tokenizer beside the build directory
 * holding this binary (its path from /proc/self/exe, else argv[0]). */
static void default_tokdir(const char *argv0, char *out, size_t cap)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = 0;
    else snprintf(exe, sizeof exe, "%s", argv0);
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    else snprintf(exe, sizeof exe, ".");
    if (snprintf(out, cap, "%s/../examples/llama3-tokenizer", exe) >= (int)cap) die("path too long");
}

static const char usage[] = "usage: sq-synth OUTDIR [--preset 1b|small|tiny] [--seed S] [--tokenizer-dir DIR]";

int main(int argc, char **argv)
{
    const char *out = NULL, *pname = "1b", *tokdir = NULL;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n", usage);
            return 0;
        }
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) pname = argv[++i];
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--tokenizer-dir") == 0 && i + 1 < argc) tokdir = argv[++i];
        else if (argv[i][0] == '-') { fprintf(stderr, "sq-synth: unknown option %s\n%s\n", argv[i], usage); return 2; }
        else if (!out) out = argv[i];
        else die(usage);
    }
    if (!out) die(usage);
    const preset *p = NULL;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (strcmp(presets[i].name, pname) == 0) p = &presets[i];
    if (!p) die("unknown preset (1b, small, tiny)");
    char tokbuf[4096], tokfile[4200];
    if (!tokdir) {
        default_tokdir(argv[0], tokbuf, sizeof tokbuf);
        tokdir = tokbuf;
    }
    /* refuse before creating anything: a model without its tokenizer is no use */
    if (snprintf(tokfile, sizeof tokfile, "%s/tokenizer.json", tokdir) >= (int)sizeof tokfile) die("path too long");
    if (!readable(tokfile)) {
        fprintf(stderr, "sq-synth: %s: cannot read the Llama 3 tokenizer (pass --tokenizer-dir DIR)\n", tokfile);
        return 2;
    }
    mkdir(out, 0755);

    char path[4096];
    int hd = p->hidden / p->heads, kvd = p->kv_heads * hd;
    snprintf(path, sizeof path, "%s/config.json", out);
    FILE *cf = fopen(path, "w");
    if (!cf) die("cannot write config.json");
    fprintf(cf,
            "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
            "  \"hidden_size\": %d,\n  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
            "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n  \"head_dim\": %d,\n"
            "  \"vocab_size\": %d,\n  \"max_position_embeddings\": 131072,\n  \"rms_norm_eps\": 1e-05,\n"
            "  \"rope_theta\": 500000.0,\n  \"rope_scaling\": {\"factor\": 32.0, \"high_freq_factor\": 4.0, "
            "\"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192, \"rope_type\": \"llama3\"},\n"
            "  \"hidden_act\": \"silu\",\n  \"tie_word_embeddings\": true,\n  \"bos_token_id\": 128000,\n"
            "  \"eos_token_id\": [128001, 128008, 128009],\n  \"torch_dtype\": \"bfloat16\",\n"
            "  \"attention_bias\": false,\n  \"mlp_bias\": false,\n  \"sq_synthetic\": \"preset %s, seed %llu\"\n}\n",
            p->hidden, p->ffn, p->layers, p->heads, p->kv_heads, hd, p->vocab, p->name, (unsigned long long)seed);
    fclose(cf);
    char dst[4096];
    if (snprintf(path, sizeof path, "%s/tokenizer.json", tokdir) >= (int)sizeof path ||
        snprintf(dst, sizeof dst, "%s/tokenizer.json", out) >= (int)sizeof dst) die("path too long");
    copy_file(path, dst);
    if (snprintf(path, sizeof path, "%s/tokenizer_config.json", tokdir) >= (int)sizeof path ||
        snprintf(dst, sizeof dst, "%s/tokenizer_config.json", out) >= (int)sizeof dst) die("path too long");
    copy_file(path, dst);

    snprintf(path, sizeof path, "%s/model.safetensors", out);
    FILE *fp = fopen(path, "wb");
    if (!fp) die("cannot write model.safetensors");
    file_writer fw = {fp};
    sq_writer sw = {&fw, fw_write};
    sq_st_writer w;
    sq_err e = {0};
    sq_stw_init(&w, sw);
    sq_stw_meta(&w, "format", "pt", &e);
    /* declaration and emission follow the same table */
    struct { char name[128]; int64_t rows, cols; int kind; double std; } t[16 * 9 + 2 + 200];
    int n = 0;
#define ADD(nm, r_, c_, k_, s_) do { snprintf(t[n].name, sizeof t[n].name, "%s", nm); t[n].rows = r_; t[n].cols = c_; t[n].kind = k_; t[n].std = s_; n++; } while (0)
    ADD("model.embed_tokens.weight", p->vocab, p->hidden, 0, 0.02);
    for (int l = 0; l < p->layers && n < (int)(sizeof t / sizeof t[0]) - 10; l++) {
        char nm[128];
        double s = 1.0 / sqrt((double)p->hidden);
#define L(suffix, r_, c_, k_, s_) do { snprintf(nm, sizeof nm, "model.layers.%d.%s", l, suffix); ADD(nm, r_, c_, k_, s_); } while (0)
        L("input_layernorm.weight", 1, p->hidden, 1, 0);
        L("self_attn.q_proj.weight", p->hidden, p->hidden, 0, s);
        L("self_attn.k_proj.weight", kvd, p->hidden, 0, s);
        L("self_attn.v_proj.weight", kvd, p->hidden, 0, s);
        L("self_attn.o_proj.weight", p->hidden, p->hidden, 0, s);
        L("post_attention_layernorm.weight", 1, p->hidden, 1, 0);
        L("mlp.gate_proj.weight", p->ffn, p->hidden, 0, s);
        L("mlp.up_proj.weight", p->ffn, p->hidden, 0, s);
        L("mlp.down_proj.weight", p->hidden, p->ffn, 0, 1.0 / sqrt((double)p->ffn));
    }
    ADD("model.norm.weight", 1, p->hidden, 1, 0);
    uint64_t params = 0;
    for (int i = 0; i < n; i++) {
        int64_t shape[2] = {t[i].rows, t[i].cols};
        if (t[i].kind == 1) sq_stw_add(&w, t[i].name, SQ_DT_BF16, 1, shape + 1, &e);
        else sq_stw_add(&w, t[i].name, SQ_DT_BF16, 2, shape, &e);
        params += (uint64_t)(t[i].rows * t[i].cols);
    }
    if (sq_stw_begin(&w, &e)) die(e.msg);
    rng r;
    seed_rng(&r, seed);
    for (int i = 0; i < n; i++) emit(&w, &r, t[i].rows, t[i].cols, t[i].kind, t[i].std, &e);
    if (sq_stw_finish(&w, &e)) die(e.msg);
    sq_stw_free(&w);
    if (fclose(fp)) die("write failed (disk full?)");
    fprintf(stderr, "sq-synth: wrote %s (preset %s, %llu parameters, BF16)\n", out, p->name, (unsigned long long)params);
    return 0;
}
