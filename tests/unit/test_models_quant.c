/* test_models_quant.c - quantized files from the pipeline run through BERT and Llama:
 * the kernels on the quantized file agree with its dequantized weights in f32 and stay
 * close to the float model, and the KV cache holds on quantized layers. (Split from
 * test_models.c.) */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "models_util.h"

#include "models/bert.h"
#include "models/llama.h"
#include "quant/pipeline.h"
#include "quant/quant.h"

/* ---------------- quantized files from the pipeline ---------------- */

/* Quantize `in` into a buffer. */
static int quantize(const sq_st_file *in, int bits, int k, int group, int format, const char *cfg, sq_buf *out)
{
    sq_quant_opts o;
    sq_quant_opts_default(&o);
    o.bits = bits;
    o.clusters = k;
    o.group = group;
    o.format = format;
    o.skip_plain = 1;
    sq_model_texts texts;
    memset(&texts, 0, sizeof texts);
    texts.config_json = cfg;
    sq_err e = {0};
    memset(out, 0, sizeof *out);
    int rc = sq_quantize_model(in, &o, &texts, sq_writer_to_buf(out), NULL, NULL, &e);
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

/* BERT logits of model file a vs model file b on the golden inputs. */
static double bert_compare(const sq_st_file *a, const sq_st_file *b, const char *cfg)
{
    sq_bert *ma = NULL, *mb = NULL;
    sq_err e = {0};
    if (sq_bert_load(&ma, a, cfg, &e) || sq_bert_load(&mb, b, cfg, &e)) {
        fprintf(stderr, "  load: %s\n", e.msg);
        sq_bert_free(ma);
        return INFINITY;
    }
    size_t n = 0;
    cJSON **rows = read_jsonl(BERT_DIR "/golden.jsonl", &n);
    double worst = 0;
    for (size_t i = 0; i < n; i += 4) {
        int32_t ids[600];
        size_t len = json_ints(cJSON_GetObjectItem(rows[i], "input_ids"), ids, 600);
        float la[16], lb[16];
        if (sq_bert_forward(ma, ids, len, la, &e) || sq_bert_forward(mb, ids, len, lb, &e)) worst = INFINITY;
        for (int j = 0; j < ma->c.n_labels; j++)
            if (fabs(la[j] - lb[j]) > worst) worst = fabs(la[j] - lb[j]);
    }
    free_jsonl(rows, n);
    sq_bert_free(ma);
    sq_bert_free(mb);
    return worst;
}

static void test_bert_quantized(void)
{
    memst orig;
    if (memst_open(&orig, BERT_DIR "/model.safetensors")) { CHECK(0); return; }
    char *cfg = read_file(BERT_DIR "/config.json", NULL);
    struct { int bits, k, group, format; double tol_orig; } cases[] = {
        {SQ_BITS_F32, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER, 1e-5},
        {8, 3, SQ_GROUP_AUTO, SQ_FMT_PACKED, 0.5},
        {8, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER, 0.5},
        {4, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER, 10},
        {3, 3, 32, SQ_FMT_PACKED, 10},
        {4, 1, SQ_GROUP_TENSOR, SQ_FMT_PACKED, 100},
        {2, 2, SQ_GROUP_ROW, SQ_FMT_PAPER, 100},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sq_buf q, d;
        if (quantize(&orig.st, cases[c].bits, cases[c].k, cases[c].group, cases[c].format, cfg, &q)) { CHECK(0); continue; }
        memst mq, md;
        CHECK(memst_open_buf(&mq, (char *)q.data, q.len) == 0);
        CHECK(dequantize(&mq.st, &d) == 0);
        CHECK(memst_open_buf(&md, (char *)d.data, d.len) == 0);
        /* the kernels on the quantized file == the dequantized weights in f32 */
        double dq = bert_compare(&mq.st, &md.st, cfg);
        double dor = bert_compare(&mq.st, &orig.st, cfg);
        printf("     bert bits %d k %d group %d %s: vs dequantized %.3g, vs original %.3g\n", cases[c].bits, cases[c].k,
               cases[c].group, cases[c].format == SQ_FMT_PAPER ? "paper" : "packed", dq, dor);
        /* one-pass kernels sum code*x and x separately: with a whole-tensor group the
         * offsets dominate and float rounding grows a little */
        CHECK(dq <= 2e-4);
        CHECK(dor <= cases[c].tol_orig);
        memst_close(&mq);
        memst_close(&md);
    }
    free(cfg);
    memst_close(&orig);
}

static void test_stories_quantized(void)
{
    memst orig;
    if (memst_open(&orig, STORIES_DIR "/model.safetensors")) { CHECK(0); return; }
    char *cfg = read_file(STORIES_DIR "/config.json", NULL);
    int32_t ids[] = {1, 317, 269, 368, 302, 263, 377, 267, 265, 282, 295, 433, 426, 342, 394, 261};
    size_t n = sizeof ids / sizeof ids[0];
    struct { int bits, k, group, format; } cases[] = {
        {4, 3, SQ_GROUP_AUTO, SQ_FMT_PACKED}, {8, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER}, {3, 3, SQ_GROUP_AUTO, SQ_FMT_PAPER},
        {SQ_BITS_F32, 2, SQ_GROUP_AUTO, SQ_FMT_PACKED},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        sq_buf q, d;
        if (quantize(&orig.st, cases[c].bits, cases[c].k, cases[c].group, cases[c].format, cfg, &q)) { CHECK(0); continue; }
        memst mq, md;
        CHECK(memst_open_buf(&mq, (char *)q.data, q.len) == 0);
        CHECK(dequantize(&mq.st, &d) == 0);
        CHECK(memst_open_buf(&md, (char *)d.data, d.len) == 0);
        sq_llama *a = NULL, *b = NULL;
        sq_err e = {0};
        CHECK(sq_llama_load(&a, &mq.st, cfg, 64, &e) == 0);
        CHECK(sq_llama_load(&b, &md.st, cfg, 64, &e) == 0);
        if (a && b) {
            float la[512 * 16], lb[512 * 16];
            CHECK(sq_llama_prefill(a, ids, n, 0, la, 1, &e) == 0);
            CHECK(sq_llama_prefill(b, ids, n, 0, lb, 1, &e) == 0);
            double worst = 0;
            for (size_t i = 0; i < 512 * n; i++)
                if (fabs(la[i] - lb[i]) > worst) worst = fabs(la[i] - lb[i]);
            double kv = kv_vs_recompute(a, ids, n);
            printf("     stories260K bits %d k %d %s: vs dequantized %.3g, KV cache vs recomputation %.3g\n", cases[c].bits,
                   cases[c].k, cases[c].format == SQ_FMT_PAPER ? "paper" : "packed", worst, kv);
            CHECK(worst <= 1e-4);
            CHECK(kv <= 1e-5);
        } else {
            fprintf(stderr, "  %s\n", e.msg);
        }
        sq_llama_free(a);
        sq_llama_free(b);
        memst_close(&mq);
        memst_close(&md);
    }
    free(cfg);
    memst_close(&orig);
}

int main(void)
{
    RUN(test_bert_quantized);
    RUN(test_stories_quantized);
    return test_summary();
}
