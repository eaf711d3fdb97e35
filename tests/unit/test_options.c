/* test_options.c - what the front ends share from the core: the quantize options as text
 * (core/options.c: the CLI's arguments and the module's options JSON), the config.json
 * reader of the models (core/models/config.c) and the tokenizer choice (core/bundle.c). */
#include <cjson/cJSON.h>
#include <stdlib.h>

#include "test.h"
#include "bundle.h"
#include "models/config.h"
#include "options.h"

static void test_quant_options(void)
{
    sq_quant_opts o;
    sq_quant_opts_default(&o);
    sq_err e = {0};
    CHECK(sq_quant_opt_set(&o, "bits", "3", &e) == SQ_OK && o.bits == 3);
    CHECK(sq_quant_opt_set(&o, "bits", "f32", &e) == SQ_OK && o.bits == SQ_BITS_F32);
    CHECK(sq_quant_opt_set(&o, "clusters", "8", &e) == SQ_OK && o.clusters == 8);
    CHECK(sq_quant_opt_set(&o, "group", "tensor", &e) == SQ_OK && o.group == SQ_GROUP_TENSOR);
    CHECK(sq_quant_opt_set(&o, "group", "64", &e) == SQ_OK && o.group == 64);
    CHECK(sq_quant_opt_set(&o, "format", "codebook", &e) == SQ_OK && o.format == SQ_FMT_CODEBOOK);
    CHECK(sq_quant_opt_set(&o, "seed", "2147483647", &e) == SQ_OK && o.seed == 2147483647u);
    static const char *bad[][2] = {{"bits", "9"},        {"bits", "4.0"},    {"bits", ""},      {"clusters", "9"},
                                   {"clusters", "0"},    {"group", "0"},     {"group", "-3"},   {"format", "q4_0"},
                                   {"seed", "-1"},       {"seed", "1e3"},    {"bits", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sq_err be = {0};
        CHECK_MSG(sq_quant_opt_set(&o, bad[i][0], bad[i][1], &be) == SQ_EINPUT && strstr(be.msg, bad[i][0]),
                  "%s=%s: accepted or no message naming it (%s)", bad[i][0], bad[i][1] ? bad[i][1] : "NULL", be.msg);
    }
    sq_err ue = {0};
    CHECK(sq_quant_opt_set(&o, "report", "x.json", &ue) == SQ_OPT_UNKNOWN && ue.code == 0);
    /* codebook: clusters 1 unless given (then the check says why k > 1 is refused) */
    sq_quant_opts_default(&o);
    o.format = SQ_FMT_CODEBOOK;
    sq_quant_opts_finish(&o, 0);
    CHECK(o.clusters == 1 && sq_quant_opts_check(&o, &e) == SQ_OK);
    o.clusters = 3;
    sq_quant_opts_finish(&o, 1);
    sq_err ce = {0};
    CHECK(o.clusters == 3 && sq_quant_opts_check(&o, &ce) == SQ_EINPUT);
}

static void test_config_reader(void)
{
    cJSON *c = cJSON_Parse("{\"model_type\": \"llama\", \"n\": 12, \"f\": 1.5, \"x\": 2.5, \"b\": true, \"z\": null}");
    int v = 0;
    double d = 0;
    sq_err e = {0};
    CHECK(sq_cfg_int(c, "n", -1, 1, 100, &v, &e) == SQ_OK && v == 12);
    CHECK(sq_cfg_int(c, "z", 7, 1, 100, &v, &e) == SQ_OK && v == 7);
    sq_err e1 = {0}, e2 = {0}, e3 = {0};
    CHECK(sq_cfg_int(c, "x", -1, 1, 100, &v, &e1) == SQ_EINPUT && strstr(e1.msg, "\"x\" must be an integer in 1..100"));
    CHECK(sq_cfg_int(c, "missing", -1, 1, 100, &v, &e2) == SQ_EINPUT && strstr(e2.msg, "missing \"missing\""));
    CHECK(sq_cfg_num(c, "", "f", 0, 0, 2, &d, &e) == SQ_OK && d == 1.5);
    CHECK(sq_cfg_num(c, " in rope", "f", 0, 0, 1, &d, &e3) == SQ_EINPUT && strstr(e3.msg, "\"f\" in rope must be"));
    CHECK(sq_cfg_bool(c, "b", 0) == 1 && sq_cfg_bool(c, "n", 0) == 0);
    static const sq_cfg_member fam[] = {{"llama", "LlamaForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
    sq_err a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0};
    CHECK(sq_cfg_family(c, fam, 2, "llama or qwen2", "LlamaForCausalLM or Qwen2ForCausalLM", "Llama", &e) == 0);
    CHECK(sq_cfg_family(c, fam + 1, 1, "qwen2", "Qwen2ForCausalLM", "Qwen", &a1) == -1 &&
          strstr(a1.msg, "model_type \"llama\" is not supported here (expected qwen2)"));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"architectures\": [\"GPT2\", \"Qwen2ForCausalLM\"]}");
    CHECK(sq_cfg_family(c, fam, 2, "llama or qwen2", "L or Q", "Llama", &e) == 1);
    cJSON_Delete(c);
    c = cJSON_Parse("{\"architectures\": [\"GPT2\"]}");
    CHECK(sq_cfg_family(c, fam, 2, "llama or qwen2", "L or Q", "Llama", &a2) == -1 &&
          strstr(a2.msg, "architecture \"GPT2\" is not supported (expected L or Q)"));
    cJSON_Delete(c);
    c = cJSON_Parse("{\"model_type\": \"llama\", \"architectures\": [\"Qwen2ForCausalLM\"]}");
    CHECK(sq_cfg_family(c, fam, 2, "llama or qwen2", "L or Q", "Llama", &a3) == -1 && strstr(a3.msg, "contradicts"));
    cJSON_Delete(c);
    c = cJSON_Parse("{}");
    CHECK(sq_cfg_family(c, fam, 2, "llama or qwen2", "L or Q", "Llama", &a4) == -1 && strstr(a4.msg, "this is Llama"));
    cJSON_Delete(c);
}

static void test_bundle_tokenizer(void)
{
    static const char vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nHello\n";
    sq_tokenizer *t = NULL;
    sq_err e = {0};
    int32_t *ids = NULL;
    size_t n = 0;
    /* vocab.txt, lowercased unless tokenizer_config.json says do_lower_case: false */
    CHECK(sq_bundle_tokenizer(&t, NULL, 0, vocab, sizeof vocab - 1, NULL, &e) == SQ_OK);
    CHECK(t && sq_tokenizer_encode(t, "Hello", 5, 0, 0, &ids, &n, &e) == SQ_OK && n == 1 && ids[0] == 4);
    free(ids);
    sq_tokenizer_free(t);
    t = NULL;
    CHECK(sq_bundle_tokenizer(&t, NULL, 0, vocab, sizeof vocab - 1, "{\"do_lower_case\": false}", &e) == SQ_OK);
    CHECK(t && sq_tokenizer_encode(t, "Hello", 5, 0, 0, &ids, &n, &e) == SQ_OK && n == 1 && ids[0] == 5);
    free(ids);
    sq_tokenizer_free(t);
    t = NULL;
    sq_err je = {0};
    CHECK(sq_bundle_tokenizer(&t, "{not json", 9, vocab, sizeof vocab - 1, NULL, &je) == SQ_EINPUT &&
          strncmp(je.msg, "tokenizer.json: ", 16) == 0);
    sq_tokenizer_free(t);
}

int main(void)
{
    RUN(test_quant_options);
    RUN(test_config_reader);
    RUN(test_bundle_tokenizer);
    return test_summary();
}
