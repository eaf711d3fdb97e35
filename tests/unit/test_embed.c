/* test_embed.c - `sq quantize --embeddings`: the option's values, what the plan and the
 * file say about a quantized token embedding and LM head, the row lookup (sq_linear_row)
 * against sq_dequantize_model for every layout it can meet, and the bundled models run
 * with quantized embeddings (tied head = the quantized embedding, through the kernels). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "dtype.h"
#include "models/bert.h"
#include "models/llama.h"
#include "options.h"
#include "quant/pipeline.h"
#include "quant/qfile.h"
#include "quant/qload.h"
#include "safetensors.h"
#include "sq.h"

#define BERT_DIR TEST_ROOT "/examples/bert-tiny-emotion"
#define STORIES_DIR TEST_ROOT "/examples/stories260K"

/* ---------------- helpers ---------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

typedef struct memst {
    char *data;
    sq_mem_reader mr;
    sq_reader r;
    sq_st_file st;
    int open;
} memst;

/* Takes ownership of data. */
static int memst_open_buf(memst *m, char *data, size_t len)
{
    sq_err e = {0};
    memset(m, 0, sizeof *m);
    m->data = data;
    m->r = sq_reader_from_memory(&m->mr, data, len);
    if (sq_st_open(&m->st, &m->r, &e)) {
        fprintf(stderr, "  open: %s\n", e.msg);
        return -1;
    }
    m->open = 1;
    return 0;
}

static int memst_open(memst *m, const char *path)
{
    size_t len = 0;
    char *d = read_file(path, &len);
    if (!d) {
        fprintf(stderr, "  cannot read %s\n", path);
        return -1;
    }
    return memst_open_buf(m, d, len);
}

static void memst_close(memst *m)
{
    if (m->open) sq_st_close(&m->st);
    free(m->data);
    memset(m, 0, sizeof *m);
}

static uint64_t rng_state = 99;
static float frand(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((double)(rng_state >> 11) * (1.0 / 9007199254740992.0));
}

static int quantize(const sq_st_file *in, const sq_quant_opts *o, const char *cfg, sq_buf *out, sq_report *rep)
{
    sq_model_texts texts;
    memset(&texts, 0, sizeof texts);
    texts.config_json = cfg;
    sq_err e = {0};
    memset(out, 0, sizeof *out);
    int rc = sq_quantize_model(in, o, &texts, sq_writer_to_buf(out), NULL, rep, &e);
    if (rc) fprintf(stderr, "  quantize: %s\n", e.msg);
    return rc;
}

static int dequantize(const sq_st_file *in, sq_buf *out)
{
    sq_err e = {0};
    memset(out, 0, sizeof *out);
    int rc = sq_dequantize_model(in, SQ_DT_F32, sq_writer_to_buf(out), &e);
    if (rc) fprintf(stderr, "  dequantize: %s\n", e.msg);
    return rc;
}

static void opts(sq_quant_opts *o, int format, int bits, int k, int group, int emb)
{
    sq_quant_opts_default(o);
    o->format = format;
    o->bits = bits;
    o->clusters = k;
    o->group = group;
    o->embeddings = emb;
    o->skip_plain = 1;
}

/* ---------------- the option ---------------- */

static void test_option_values(void)
{
    sq_quant_opts o;
    sq_err e = {0};
    sq_quant_opts_default(&o);
    CHECK(o.embeddings == SQ_EMB_AUTO);
    CHECK(sq_quant_opt_set(&o, "embeddings", "int8", &e) == SQ_OK && o.embeddings == 8 && sq_emb_bits(&o) == 8);
    CHECK(sq_quant_opt_set(&o, "embeddings", "int4", &e) == SQ_OK && o.embeddings == 4 && sq_emb_bits(&o) == 4);
    CHECK(sq_quant_opt_set(&o, "embeddings", "int6", &e) == SQ_OK && o.embeddings == 6);
    CHECK(sq_quant_opt_set(&o, "embeddings", "keep", &e) == SQ_OK && o.embeddings == SQ_EMB_KEEP && sq_emb_bits(&o) == 0);
    const char *bad[] = {"", "int", "int9", "int0", "int1", "int44", "8", "INT8", "int8 ", "int+8", "keep1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&e, 0, sizeof e);
        CHECK_MSG(sq_quant_opt_set(&o, "embeddings", bad[i], &e) == SQ_EINPUT && strstr(e.msg, "--embeddings must be keep"),
                  "'%s': %s", bad[i], e.msg);
        CHECK(o.embeddings == SQ_EMB_KEEP); /* a refused value changes nothing */
    }
    /* the defaults: INT8 for packed (plain or split) and codebook; the paper recipe and
       exact f32 splits keep them */
    sq_quant_opts_default(&o);
    CHECK(sq_emb_bits(&o) == 8);
    o.clusters = 1;
    CHECK(sq_emb_bits(&o) == 8);
    o.format = SQ_FMT_CODEBOOK;
    o.bits = 3;
    CHECK(sq_emb_bits(&o) == 8);
    o.format = SQ_FMT_PAPER;
    CHECK(sq_emb_bits(&o) == 0);
    o.format = SQ_FMT_PACKED;
    o.bits = SQ_BITS_F32;
    CHECK(sq_emb_bits(&o) == 0);
    o.format = SQ_FMT_PAPER;
    o.bits = 4;
    o.embeddings = 4;
    CHECK(sq_emb_bits(&o) == 4); /* asked for: the paper format quantizes them too */
    /* the API's own check refuses what the parser cannot produce */
    int vals[] = {1, 9, -2, 32};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        sq_quant_opts_default(&o);
        o.embeddings = vals[i];
        memset(&e, 0, sizeof e);
        CHECK(sq_quant_opts_check(&o, &e) == SQ_EINPUT && strstr(e.msg, "--embeddings"));
    }
    char buf[16];
    CHECK(strcmp(sq_emb_name(0, buf, sizeof buf), "keep") == 0 && strcmp(sq_emb_name(4, buf, sizeof buf), "int4") == 0);
}

/* ---------------- a small model: embedding, one linear layer, an untied head ---------------- */

enum { V = 37, D = 72, R = 13 };

static int build_model(sq_buf *buf)
{
    static float emb[V * D], lin[R * D];
    static uint16_t head[V * D];
    for (int i = 0; i < V * D; i++) emb[i] = frand(-1, 1) * (i % 97 == 0 ? 8.0f : 1.0f); /* a few wide values */
    for (int i = 0; i < R * D; i++) lin[i] = frand(-0.3f, 0.3f);
    for (int i = 0; i < V * D; i++) head[i] = sq_f32_to_bf16(frand(-0.5f, 0.5f));
    struct { const char *name; sq_dtype dt; int64_t shape[2]; const void *data; size_t bytes; } ts[] = {
        {"model.embed_tokens.weight", SQ_DT_F32, {V, D}, emb, sizeof emb},
        {"model.layers.0.mlp.up_proj.weight", SQ_DT_F32, {R, D}, lin, sizeof lin},
        {"lm_head.weight", SQ_DT_BF16, {V, D}, head, sizeof head},
    };
    sq_err e = {0};
    sq_st_writer w;
    memset(buf, 0, sizeof *buf);
    sq_stw_init(&w, sq_writer_to_buf(buf));
    int rc = 0;
    for (size_t i = 0; i < 3 && !rc; i++) rc = sq_stw_add(&w, ts[i].name, ts[i].dt, 2, ts[i].shape, &e);
    if (!rc) rc = sq_stw_begin(&w, &e);
    for (size_t i = 0; i < 3 && !rc; i++) rc = sq_stw_data(&w, ts[i].data, ts[i].bytes, &e);
    if (!rc) rc = sq_stw_finish(&w, &e);
    sq_stw_free(&w);
    return rc;
}

/* Every row of `name` looked up in the quantized file q equals the dequantized file's
 * values bit for bit. Returns the rows that differ (or -1 on a load failure). */
static int rows_vs_dequantized(const sq_st_file *q, const sq_st_file *dq, const char *name, size_t rows, size_t cols,
                               int *kind)
{
    sq_linear L;
    sq_err e = {0};
    if (sq_linear_load(&L, q, name, NULL, rows, cols, &e)) {
        fprintf(stderr, "  load %s: %s\n", name, e.msg);
        return -1;
    }
    *kind = L.kind;
    const sq_tensor_info *t = sq_st_find(dq, name);
    float *want = malloc(rows * cols * sizeof(float)), *got = malloc(cols * sizeof(float));
    int bad = 0;
    if (!t || sq_st_read_f32(dq, t, want, &e)) bad = -1;
    for (size_t r = 0; r < rows && bad >= 0; r++) {
        sq_linear_row(&L, r, got);
        bad += memcmp(got, want + r * cols, cols * sizeof(float)) != 0;
    }
    free(want);
    free(got);
    sq_linear_free(&L);
    return bad;
}

static void test_plan_and_rows(void)
{
    sq_buf src;
    CHECK(build_model(&src) == 0);
    memst m;
    if (memst_open_buf(&m, (char *)src.data, src.len)) { CHECK(0); return; }
    struct { int format, bits, k, group, emb; } cases[] = {
        {SQ_FMT_PACKED, 4, 3, SQ_GROUP_AUTO, 8},  {SQ_FMT_PACKED, 4, 1, SQ_GROUP_AUTO, 4},
        {SQ_FMT_PAPER, 4, 3, 32, 4},              {SQ_FMT_PAPER, 8, 2, SQ_GROUP_AUTO, 8},
        {SQ_FMT_CODEBOOK, 3, 1, SQ_GROUP_AUTO, 6}, {SQ_FMT_PACKED, 5, 2, SQ_GROUP_TENSOR, 2},
        {SQ_FMT_PACKED, 3, 3, SQ_GROUP_ROW, 7},   {SQ_FMT_PACKED, 4, 3, SQ_GROUP_AUTO, SQ_EMB_KEEP},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sq_quant_opts o;
        opts(&o, cases[c].format, cases[c].bits, cases[c].k, cases[c].group, cases[c].emb);
        sq_buf qb, db;
        sq_report rep;
        if (quantize(&m.st, &o, NULL, &qb, &rep)) { CHECK(0); continue; }
        memst mq, md;
        CHECK(memst_open_buf(&mq, (char *)qb.data, qb.len) == 0);
        CHECK(dequantize(&mq.st, &db) == 0);
        CHECK(memst_open_buf(&md, (char *)db.data, db.len) == 0);
        int kept = cases[c].emb == SQ_EMB_KEEP;
        /* the file: sq.embeddings and the role of each description */
        const char *meta = sq_st_meta(&mq.st, "sq.embeddings");
        char want[16];
        snprintf(want, sizeof want, "int%d", cases[c].emb);
        CHECK_MSG(kept ? meta == NULL : meta && strcmp(meta, want) == 0, "case %zu: sq.embeddings %s", c, meta ? meta : "(none)");
        sq_qfile q;
        sq_err e = {0};
        CHECK(sq_qfile_open(&q, &mq.st, &e) == 0);
        sq_qtensor d;
        int de = sq_qfile_describe(&q, "model.embed_tokens.weight", &d, &e);
        if (kept) {
            CHECK(de == 0 && sq_st_find(&mq.st, "model.embed_tokens.weight"));
            CHECK(sq_qfile_describe(&q, "lm_head.weight", &d, &e) == 1 && d.role == SQ_QROLE_LINEAR);
        } else {
            CHECK(de == 1 && d.role == SQ_QROLE_EMBEDDING && d.kind == SQ_QT_PACKED && d.k == 1 && d.bits == cases[c].emb &&
                  d.dtype == SQ_DT_F32 && !sq_st_find(&mq.st, "model.embed_tokens.weight"));
            CHECK(sq_qfile_describe(&q, "lm_head.weight", &d, &e) == 1 && d.role == SQ_QROLE_HEAD && d.k == 1 &&
                  d.bits == cases[c].emb && d.dtype == SQ_DT_BF16);
            /* the embedding groups as the packed format reads --group */
            size_t g = cases[c].group > 0 ? (size_t)cases[c].group : cases[c].group == SQ_GROUP_TENSOR ? 0 : D; /* auto: 128, a row here */
            CHECK_MSG(d.group == g, "case %zu: group %zu, want %zu", c, d.group, g);
        }
        CHECK(sq_qfile_describe(&q, "model.layers.0.mlp.up_proj.weight", &d, &e) == 1 && d.role == SQ_QROLE_LINEAR &&
              d.k == cases[c].k && d.bits == cases[c].bits);
        sq_qfile_close(&q);
        /* the report: the embedding and the head apart from the linear layers */
        int n_emb = 0, n_head = 0;
        for (size_t i = 0; i < rep.n_layers; i++) {
            n_emb += rep.layers[i].emb == SQ_EMBR_TOKEN;
            n_head += rep.layers[i].emb == SQ_EMBR_HEAD;
        }
        CHECK(n_emb == !kept && n_head == !kept && rep.n_layers == (kept ? 2u : 3u));
        CHECK(kept ? isnan(sq_report_bpw_embeddings(&rep)) : sq_report_bpw_embeddings(&rep) > cases[c].emb);
        sq_file_bpw fb;
        CHECK(sq_file_bpw_of(&mq.st, &fb, &e) == 0);
        CHECK_MSG(fabs(fb.linear - sq_report_bpw_linear(&rep)) < 1e-12, "case %zu: inspect %g, report %g", c, fb.linear,
                  sq_report_bpw_linear(&rep));
        CHECK(kept ? isnan(fb.embeddings) : fabs(fb.embeddings - sq_report_bpw_embeddings(&rep)) < 1e-12);
        sq_report_free(&rep);
        /* the row lookup == sq_dequantize_model, bit for bit, in every layout */
        int kind = -1;
        CHECK_MSG(rows_vs_dequantized(&mq.st, &md.st, "model.embed_tokens.weight", V, D, &kind) == 0, "case %zu", c);
        CHECK(kind == (kept ? SQ_LIN_F32 : SQ_LIN_PACKED));
        CHECK_MSG(rows_vs_dequantized(&mq.st, &md.st, "lm_head.weight", V, D, &kind) == 0, "case %zu head", c);
        CHECK_MSG(rows_vs_dequantized(&mq.st, &md.st, "model.layers.0.mlp.up_proj.weight", R, D, &kind) == 0,
                  "case %zu linear (kind %d)", c, kind);
        memst_close(&mq);
        memst_close(&md);
    }
    /* BF16 rows as stored convert exactly */
    int kind;
    CHECK(rows_vs_dequantized(&m.st, &m.st, "lm_head.weight", V, D, &kind) == 0 && kind == SQ_LIN_BF16);
    memst_close(&m);
}

/* ---------------- the bundled models with quantized embeddings ---------------- */

static void test_stories_tied_head(void)
{
    memst orig;
    if (memst_open(&orig, STORIES_DIR "/model.safetensors")) { CHECK(0); return; }
    char *cfg = read_file(STORIES_DIR "/config.json", NULL);
    int32_t ids[] = {1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433, 426, 342, 394, 261};
    size_t n = sizeof ids / sizeof ids[0];
    int embs[] = {8, 4};
    for (int c = 0; c < 2; c++) {
        sq_quant_opts o;
        opts(&o, SQ_FMT_PACKED, 4, 3, SQ_GROUP_AUTO, embs[c]);
        sq_buf qb, db;
        if (quantize(&orig.st, &o, cfg, &qb, NULL)) { CHECK(0); continue; }
        memst mq, md;
        CHECK(memst_open_buf(&mq, (char *)qb.data, qb.len) == 0);
        CHECK(dequantize(&mq.st, &db) == 0);
        CHECK(memst_open_buf(&md, (char *)db.data, db.len) == 0);
        sq_llama *a = NULL, *b = NULL;
        sq_err e = {0};
        CHECK(sq_llama_load(&a, &mq.st, cfg, 64, &e) == 0);
        CHECK(sq_llama_load(&b, &md.st, cfg, 64, &e) == 0);
        if (a && b) {
            /* the tied head is the quantized embedding itself, run by the kernels */
            CHECK(a->c.tied && a->emb.kind == SQ_LIN_PACKED && a->lm_head.kind == SQ_LIN_PACKED &&
                  a->lm_head.codes == a->emb.codes && a->emb.bits == embs[c] && a->emb_dtype == SQ_DT_F32);
            CHECK(b->emb.kind == SQ_LIN_F32);
            CHECK(sq_llama_bytes(a) < sq_llama_bytes(b));
            static float la[512 * 16], lb[512 * 16];
            CHECK(sq_llama_prefill(a, ids, n, 0, la, 1, &e) == 0);
            CHECK(sq_llama_prefill(b, ids, n, 0, lb, 1, &e) == 0);
            double d = 0;
            for (size_t i = 0; i < 512 * n; i++)
                if (fabs(la[i] - lb[i]) > d) d = fabs(la[i] - lb[i]);
            /* the same weights: only the kernels' order of float operations differs */
            printf("     stories int%d embeddings: logits vs dequantized %.3g\n", embs[c], d);
            CHECK(d <= 1e-3);
            /* token by token == prefill, bit for bit */
            sq_llama_reset(a);
            const float *lt = NULL;
            for (size_t i = 0; i < n; i++) lt = sq_llama_forward(a, ids[i], i, &e);
            CHECK(lt && memcmp(lt, la + (n - 1) * 512, 512 * sizeof(float)) == 0);
        }
        sq_llama_free(a);
        sq_llama_free(b);
        memst_close(&mq);
        memst_close(&md);
    }
    free(cfg);
    memst_close(&orig);
}

static void test_bert_word_embeddings(void)
{
    memst orig;
    if (memst_open(&orig, BERT_DIR "/model.safetensors")) { CHECK(0); return; }
    char *cfg = read_file(BERT_DIR "/config.json", NULL);
    sq_quant_opts o;
    opts(&o, SQ_FMT_PACKED, 8, 1, SQ_GROUP_AUTO, 4);
    sq_buf qb, db;
    if (quantize(&orig.st, &o, cfg, &qb, NULL)) { CHECK(0); free(cfg); memst_close(&orig); return; }
    memst mq, md;
    CHECK(memst_open_buf(&mq, (char *)qb.data, qb.len) == 0);
    CHECK(sq_st_meta(&mq.st, "sq.embeddings") && !sq_st_find(&mq.st, "bert.embeddings.word_embeddings.weight"));
    CHECK(sq_st_find(&mq.st, "bert.embeddings.position_embeddings.weight") != NULL); /* only the token embedding */
    CHECK(dequantize(&mq.st, &db) == 0);
    CHECK(memst_open_buf(&md, (char *)db.data, db.len) == 0);
    sq_bert *a = NULL, *b = NULL;
    sq_err e = {0};
    CHECK(sq_bert_load(&a, &mq.st, cfg, &e) == 0);
    CHECK(sq_bert_load(&b, &md.st, cfg, &e) == 0);
    if (a && b) {
        CHECK(a->word_emb.kind == SQ_LIN_PACKED && a->word_emb.bits == 4 && b->word_emb.kind == SQ_LIN_F32);
        int32_t ids[] = {101, 1045, 2514, 2061, 3407, 2651, 102};
        float la[16], lb[16];
        CHECK(sq_bert_forward(a, ids, 7, la, &e) == 0 && sq_bert_forward(b, ids, 7, lb, &e) == 0);
        double d = 0;
        for (int j = 0; j < a->c.n_labels; j++) d = fmax(d, fabs(la[j] - lb[j]));
        CHECK_MSG(d <= 2e-4, "bert: %g", d);
    }
    sq_bert_free(a);
    sq_bert_free(b);
    memst_close(&mq);
    memst_close(&md);
    free(cfg);
    memst_close(&orig);
}

int main(void)
{
    RUN(test_option_values);
    RUN(test_plan_and_rows);
    RUN(test_stories_tied_head);
    RUN(test_bert_word_embeddings);
    return test_summary();
}
