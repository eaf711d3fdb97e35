/* gen_seeds.c - write the small seed corpora of the fuzz targets (fuzz/corpus/<target>/).
 *
 * Tiny models (a few 8x16 linear layers, a 1-layer BERT with hidden 8, a 1-layer Llama
 * with dim 8) in F32/F16/BF16, and their quantized versions in both formats at several
 * bits, cluster counts and group policies, made with the library's own
 * sq_quantize_model (so they are exactly what `sq quantize` writes).
 *
 *   gen_seeds OUTDIR      (OUTDIR/safetensors, quantize, dequantize, bert, llama)
 *
 * Deterministic: the same build writes the same bytes. Run by `make fuzz-seeds`.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dtype.h"
#include "quant/pipeline.h"
#include "quant/quant.h"
#include "safetensors.h"

#define SEP "\n#SQFUZZ#\n"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(float lo, float hi)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 11) * (1.0 / 9007199254740992.0));
}

static void die(const char *what, const sq_err *e)
{
    fprintf(stderr, "gen_seeds: %s: %s\n", what, e ? e->msg : strerror(errno));
    exit(1);
}

/* ---- a model under construction ---- */
typedef struct tensor {
    char name[128];
    sq_dtype dt;
    int ndim;
    int64_t shape[2];
    uint8_t *bytes;
    size_t nbytes;
} tensor;

typedef struct model {
    tensor t[64];
    int n;
} model;

/* values: random in [lo, hi], with an outlier or two for the weights (what SplitQuant is for) */
static void add(model *m, const char *name, sq_dtype dt, int ndim, int64_t d0, int64_t d1, float lo, float hi,
                int outliers)
{
    tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dt = dt;
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    size_t n = (size_t)d0 * (size_t)(ndim == 2 ? d1 : 1);
    float *x = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = frand(lo, hi);
    if (outliers && n > 4) {
        x[n / 3] = hi * 12;
        x[n - 2] = lo * 9;
    }
    t->nbytes = n * sq_dtype_size(dt);
    t->bytes = malloc(t->nbytes ? t->nbytes : 1);
    sq_from_f32(dt, x, t->bytes, n);
    free(x);
}

static void add_raw(model *m, const char *name, sq_dtype dt, int64_t d0, const void *bytes)
{
    tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->dt = dt;
    t->ndim = 1;
    t->shape[0] = d0;
    t->nbytes = (size_t)d0 * sq_dtype_size(dt);
    t->bytes = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(t->bytes, bytes, t->nbytes);
}

static void model_free(model *m)
{
    for (int i = 0; i < m->n; i++) free(m->t[i].bytes);
    m->n = 0;
}

static void write_model(const model *m, const char *meta_k, const char *meta_v, sq_buf *out)
{
    sq_st_writer w;
    sq_err e = {0};
    memset(out, 0, sizeof *out);
    sq_stw_init(&w, sq_writer_to_buf(out));
    if (meta_k && sq_stw_meta(&w, meta_k, meta_v, &e)) die("meta", &e);
    for (int i = 0; i < m->n; i++)
        if (sq_stw_add(&w, m->t[i].name, m->t[i].dt, m->t[i].ndim, m->t[i].shape, &e)) die("add", &e);
    if (sq_stw_begin(&w, &e)) die("begin", &e);
    for (int i = 0; i < m->n; i++)
        if (sq_stw_data(&w, m->t[i].bytes, m->t[i].nbytes, &e)) die("data", &e);
    if (sq_stw_finish(&w, &e)) die("finish", &e);
    sq_stw_free(&w);
}

typedef struct qopt {
    int bits, k, group, format;
    const char *tag;
} qopt;

static int quantize(const sq_buf *in, const qopt *q, const char *config, sq_buf *out)
{
    sq_mem_reader mr;
    sq_reader r = sq_reader_from_memory(&mr, in->data, in->len);
    sq_st_file f;
    sq_err e = {0};
    if (sq_st_open(&f, &r, &e)) die("open", &e);
    sq_quant_opts o;
    sq_quant_opts_default(&o);
    o.bits = q->bits;
    o.clusters = q->k;
    o.group = q->group;
    o.format = q->format;
    o.skip_plain = 1;
    sq_model_texts texts;
    memset(&texts, 0, sizeof texts);
    texts.config_json = config;
    memset(out, 0, sizeof *out);
    int rc = sq_quantize_model(&f, &o, &texts, sq_writer_to_buf(out), NULL, NULL, &e);
    if (rc) fprintf(stderr, "gen_seeds: quantize %s: %s\n", q->tag, e.msg);
    sq_st_close(&f);
    return rc;
}

/* ---- output ---- */
static char outdir[1024];

static void mkdirs(const char *sub)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", outdir, sub);
    if (mkdir(outdir, 0755) && errno != EEXIST) die(outdir, NULL);
    if (mkdir(p, 0755) && errno != EEXIST) die(p, NULL);
}

/* Write OUTDIR/sub/name from up to three parts joined by SEP (NULL parts end the list). */
static void put(const char *sub, const char *name, const void *a, size_t na, const void *b, size_t nb, const void *c,
                size_t nc)
{
    char p[1400];
    snprintf(p, sizeof p, "%s/%s/%s", outdir, sub, name);
    FILE *fp = fopen(p, "wb");
    if (!fp) die(p, NULL);
    fwrite(a, 1, na, fp);
    if (b) {
        fwrite(SEP, 1, strlen(SEP), fp);
        fwrite(b, 1, nb, fp);
    }
    if (c) {
        fwrite(SEP, 1, strlen(SEP), fp);
        fwrite(c, 1, nc, fp);
    }
    if (fclose(fp)) die(p, NULL);
}

/* ---- the models ---- */

/* A few linear layers of assorted shapes and dtypes, plus tensors that are copied. */
static void linear_model(model *m)
{
    add(m, "layer.0.dense.weight", SQ_DT_F32, 2, 8, 16, -0.5f, 0.5f, 1);
    add(m, "layer.0.dense.bias", SQ_DT_F32, 1, 8, 0, -0.1f, 0.1f, 0);
    add(m, "layer.1.dense.weight", SQ_DT_BF16, 2, 4, 8, -1.0f, 1.0f, 1);
    add(m, "layer.2.proj.weight", SQ_DT_F16, 2, 3, 40, -0.2f, 0.3f, 1);
    add(m, "layer.2.proj.bias", SQ_DT_F16, 1, 3, 0, -0.1f, 0.1f, 0);
    add(m, "layer.3.conv.weight", SQ_DT_F32, 2, 2, 5, -1.0f, 1.0f, 0);
    add(m, "norm.weight", SQ_DT_F32, 1, 8, 0, 0.9f, 1.1f, 0);
    add(m, "embed.weight", SQ_DT_F32, 2, 5, 4, -1.0f, 1.0f, 0);
    int64_t ids[2] = {1, -2};
    add_raw(m, "position_ids", SQ_DT_I64, 2, ids);
}

#define BH 8
#define BI 16
#define BV 20
#define BP 16
#define BL 3

static void bert_model(model *m, const char *pre)
{
    char n[128];
#define A(suffix, dt, nd, d0, d1, lo, hi, o) \
    (snprintf(n, sizeof n, "%s%s", pre, suffix), add(m, n, dt, nd, d0, d1, lo, hi, o))
    A("embeddings.word_embeddings.weight", SQ_DT_F32, 2, BV, BH, -1, 1, 0);
    A("embeddings.position_embeddings.weight", SQ_DT_F32, 2, BP, BH, -0.1f, 0.1f, 0);
    A("embeddings.token_type_embeddings.weight", SQ_DT_F32, 2, 2, BH, -0.1f, 0.1f, 0);
    A("embeddings.LayerNorm.weight", SQ_DT_F32, 1, BH, 0, 0.9f, 1.1f, 0);
    A("embeddings.LayerNorm.bias", SQ_DT_F32, 1, BH, 0, -0.1f, 0.1f, 0);
    static const char *lin[6] = {"attention.self.query", "attention.self.key", "attention.self.value",
                                 "attention.output.dense", "intermediate.dense", "output.dense"};
    static const int rows[6] = {BH, BH, BH, BH, BI, BH}, cols[6] = {BH, BH, BH, BH, BH, BI};
    for (int i = 0; i < 6; i++) {
        char s[128];
        snprintf(s, sizeof s, "encoder.layer.0.%s.weight", lin[i]);
        A(s, SQ_DT_F32, 2, rows[i], cols[i], -0.4f, 0.4f, 1);
        snprintf(s, sizeof s, "encoder.layer.0.%s.bias", lin[i]);
        A(s, SQ_DT_F32, 1, rows[i], 0, -0.05f, 0.05f, 0);
    }
    A("encoder.layer.0.attention.output.LayerNorm.weight", SQ_DT_F32, 1, BH, 0, 0.9f, 1.1f, 0);
    A("encoder.layer.0.attention.output.LayerNorm.bias", SQ_DT_F32, 1, BH, 0, -0.1f, 0.1f, 0);
    A("encoder.layer.0.output.LayerNorm.weight", SQ_DT_F32, 1, BH, 0, 0.9f, 1.1f, 0);
    A("encoder.layer.0.output.LayerNorm.bias", SQ_DT_F32, 1, BH, 0, -0.1f, 0.1f, 0);
    A("pooler.dense.weight", SQ_DT_F32, 2, BH, BH, -0.4f, 0.4f, 1);
    A("pooler.dense.bias", SQ_DT_F32, 1, BH, 0, -0.05f, 0.05f, 0);
#undef A
    add(m, "classifier.weight", SQ_DT_F32, 2, BL, BH, -0.4f, 0.4f, 1);
    add(m, "classifier.bias", SQ_DT_F32, 1, BL, 0, -0.05f, 0.05f, 0);
}

static const char *BERT_CONFIG =
    "{\"architectures\": [\"BertForSequenceClassification\"], \"model_type\": \"bert\", \"hidden_act\": \"gelu\", "
    "\"hidden_size\": 8, \"intermediate_size\": 16, \"num_attention_heads\": 2, \"num_hidden_layers\": 1, "
    "\"max_position_embeddings\": 16, \"type_vocab_size\": 2, \"vocab_size\": 20, \"layer_norm_eps\": 1e-12, "
    "\"position_embedding_type\": \"absolute\", \"id2label\": {\"0\": \"sad\", \"1\": \"joy\", \"2\": \"love\"}}";

#define LD 8
#define LH 16
#define LV 20

static void llama_model(model *m, int tied, int bias)
{
    add(m, "model.embed_tokens.weight", SQ_DT_BF16, 2, LV, LD, -1, 1, 0);
    static const char *lin[7] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                                 "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    /* heads 2, kv heads 1, head_dim 4: q 8, kv 4 */
    static const int rows[7] = {8, 4, 4, LD, LH, LH, LD}, cols[7] = {LD, LD, LD, 8, LD, LD, LH};
    char n[128];
    for (int i = 0; i < 7; i++) {
        snprintf(n, sizeof n, "model.layers.0.%s.weight", lin[i]);
        add(m, n, SQ_DT_F32, 2, rows[i], cols[i], -0.5f, 0.5f, 1);
        if (bias && i < 4) {
            snprintf(n, sizeof n, "model.layers.0.%s.bias", lin[i]);
            add(m, n, SQ_DT_F32, 1, rows[i], 0, -0.05f, 0.05f, 0);
        }
    }
    add(m, "model.layers.0.input_layernorm.weight", SQ_DT_F32, 1, LD, 0, 0.9f, 1.1f, 0);
    add(m, "model.layers.0.post_attention_layernorm.weight", SQ_DT_F32, 1, LD, 0, 0.9f, 1.1f, 0);
    add(m, "model.norm.weight", SQ_DT_F32, 1, LD, 0, 0.9f, 1.1f, 0);
    if (!tied) add(m, "lm_head.weight", SQ_DT_F16, 2, LV, LD, -0.5f, 0.5f, 0);
}

static void llama_config(char *out, size_t n, int tied, int bias, int llama3)
{
    snprintf(out, n,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"hidden_size\": 8, "
             "\"intermediate_size\": 16, \"num_hidden_layers\": 1, \"num_attention_heads\": 2, "
             "\"num_key_value_heads\": 1, \"head_dim\": 4, \"vocab_size\": 20, \"max_position_embeddings\": 32, "
             "\"rms_norm_eps\": 1e-05, \"rope_theta\": 10000.0, \"tie_word_embeddings\": %s, \"hidden_act\": \"silu\", "
             "\"attention_bias\": %s, \"bos_token_id\": 1, \"eos_token_id\": %s, \"rope_scaling\": %s}",
             tied ? "true" : "false", bias ? "true" : "false", llama3 ? "[2, 3]" : "2",
             llama3 ? "{\"factor\": 8.0, \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, "
                      "\"original_max_position_embeddings\": 8, \"rope_type\": \"llama3\"}"
                    : "null");
}

static const qopt QOPTS[] = {
    {4, 3, SQ_GROUP_AUTO, SQ_FMT_PACKED, "packed-b4-k3"},
    {2, 2, SQ_GROUP_ROW, SQ_FMT_PACKED, "packed-b2-k2-row"},
    {3, 5, 5, SQ_FMT_PACKED, "packed-b3-k5-g5"},
    {8, 1, SQ_GROUP_TENSOR, SQ_FMT_PACKED, "packed-b8-k1-tensor"},
    {4, 8, 7, SQ_FMT_PACKED, "packed-b4-k8-g7"},
    {4, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER, "paper-b4-k3"},
    {8, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER, "paper-b8-k3"},
    {2, 2, SQ_GROUP_TENSOR, SQ_FMT_PAPER, "paper-b2-k2-tensor"},
    {3, 1, 6, SQ_FMT_PAPER, "paper-b3-k1-g6"},
    {SQ_BITS_F32, 3, SQ_GROUP_AUTO, SQ_FMT_PACKED, "split-f32-k3"},
    {SQ_BITS_F32, 2, SQ_GROUP_AUTO, SQ_FMT_PAPER, "split-f32-k2-paper"},
};
#define NQ (sizeof QOPTS / sizeof QOPTS[0])

/* The option bytes of fuzz_quantize for q (inverse of its decode_opts). */
static void opt_bytes(const qopt *q, uint8_t b[2])
{
    int bi = q->bits == 2 ? 0 : q->bits == 3 ? 1 : q->bits == 4 ? 2 : q->bits == 8 ? 3 : 4;
    b[0] = (uint8_t)(bi | ((q->k - 1) << 3) | (q->format == SQ_FMT_PAPER ? 64 : 0) | 128);
    b[1] = q->group == SQ_GROUP_AUTO ? 0 : q->group == SQ_GROUP_ROW ? 1 : q->group == SQ_GROUP_TENSOR ? 2 : (uint8_t)(q->group + 2);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds OUTDIR\n");
        return 2;
    }
    snprintf(outdir, sizeof outdir, "%s", argv[1]);
    const char *subs[] = {"safetensors", "quantize", "dequantize", "bert", "llama"};
    for (int i = 0; i < 5; i++) mkdirs(subs[i]);
    char name[256];
    model m = {0};
    sq_buf lin, q;

    /* linear model: safetensors seeds, quantize seeds, dequantize seeds */
    linear_model(&m);
    write_model(&m, "format", "pt", &lin);
    model_free(&m);
    put("safetensors", "linear.safetensors", lin.data, lin.len, NULL, 0, NULL, 0);
    for (size_t i = 0; i < NQ; i++) {
        uint8_t ob[2];
        opt_bytes(&QOPTS[i], ob);
        snprintf(name, sizeof name, "linear-%s", QOPTS[i].tag);
        uint8_t *buf = malloc(lin.len + 2);
        memcpy(buf, ob, 2);
        memcpy(buf + 2, lin.data, lin.len);
        put("quantize", name, buf, lin.len + 2, NULL, 0, NULL, 0);
        free(buf);
        if (quantize(&lin, &QOPTS[i], "{\"model_type\": \"test\"}", &q)) return 1;
        snprintf(name, sizeof name, "linear-%s.safetensors", QOPTS[i].tag);
        put("dequantize", name, q.data, q.len, NULL, 0, NULL, 0);
        if (i == 0) put("safetensors", "linear-packed.safetensors", q.data, q.len, NULL, 0, NULL, 0);
        sq_buf_free(&q);
    }

    /* BERT: plain and quantized weights with the config, and a few token ids */
    static const uint8_t bert_ids[] = {2, 7, 11, 19, 3};
    bert_model(&m, "bert.");
    sq_buf bert;
    write_model(&m, NULL, NULL, &bert);
    model_free(&m);
    put("bert", "plain", BERT_CONFIG, strlen(BERT_CONFIG), bert.data, bert.len, bert_ids, sizeof bert_ids);
    bert_model(&m, "");
    sq_buf bert2;
    write_model(&m, NULL, NULL, &bert2);
    model_free(&m);
    put("bert", "plain-noprefix", BERT_CONFIG, strlen(BERT_CONFIG), bert2.data, bert2.len, bert_ids, 3);
    sq_buf_free(&bert2);
    for (size_t i = 0; i < NQ; i++) {
        if (i != 0 && i != 2 && i != 5 && i != 6 && i != 9) continue;
        if (quantize(&bert, &QOPTS[i], BERT_CONFIG, &q)) return 1;
        put("bert", QOPTS[i].tag, BERT_CONFIG, strlen(BERT_CONFIG), q.data, q.len, bert_ids, sizeof bert_ids);
        if (i == 0) {
            snprintf(name, sizeof name, "bert-%s.safetensors", QOPTS[i].tag);
            put("dequantize", name, q.data, q.len, NULL, 0, NULL, 0);
        }
        sq_buf_free(&q);
    }
    sq_buf_free(&bert);

    /* Llama: tied / untied with biases, llama3 rope scaling, quantized */
    static const uint8_t llama_ids[] = {1, 5, 9, 13, 17, 2};
    char cfg[2048];
    for (int v = 0; v < 2; v++) {
        sq_buf ll;
        llama_model(&m, v == 0, v == 1);
        write_model(&m, NULL, NULL, &ll);
        model_free(&m);
        llama_config(cfg, sizeof cfg, v == 0, v == 1, v == 1);
        snprintf(name, sizeof name, "plain-%s", v ? "untied-bias-llama3" : "tied");
        put("llama", name, cfg, strlen(cfg), ll.data, ll.len, llama_ids, sizeof llama_ids);
        for (size_t i = 0; i < NQ; i++) {
            if (v == 0 ? (i != 0 && i != 6 && i != 10) : (i != 1 && i != 5)) continue;
            if (quantize(&ll, &QOPTS[i], cfg, &q)) return 1;
            snprintf(name, sizeof name, "%s-%s", v ? "untied" : "tied", QOPTS[i].tag);
            put("llama", name, cfg, strlen(cfg), q.data, q.len, llama_ids, sizeof llama_ids);
            sq_buf_free(&q);
        }
        sq_buf_free(&ll);
    }
    sq_buf_free(&lin);
    return 0;
}
