/* test_tokenizer.c - WordPiece (BERT), byte-level BPE (Llama 3), SentencePiece BPE
 * (stories260K): golden ids, decoding, special tokens, hostile inputs. Runs from the
 * repository root. The large independent cross-check against @huggingface/tokenizers
 * is tests/tokenizer/run.sh. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizers/tokenizer.h"
#include "tokenizers/unicode.h"

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) break;
            buf = p;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0) break;
        n += k;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static sq_tokenizer *load(const char *path, int vocab_txt)
{
    size_t len;
    char *data = read_all(path, &len);
    sq_err e = {0};
    sq_tokenizer *t = NULL;
    CHECK_MSG(data != NULL, "cannot read %s", path);
    if (!data) return NULL;
    int rc = vocab_txt ? sq_tokenizer_load_vocab_txt(&t, data, len, 0, &e) : sq_tokenizer_load(&t, data, len, &e);
    CHECK_MSG(rc == SQ_OK, "%s: %s", path, e.msg);
    free(data);
    return t;
}

static sq_tokenizer *llama3, *stories, *bert_json, *bert_txt;

static int encode(const sq_tokenizer *t, const char *s, unsigned flags, int32_t **ids, size_t *n)
{
    sq_err e = {0};
    int rc = sq_tokenizer_encode(t, s, strlen(s), flags, 0, ids, n, &e);
    CHECK_MSG(rc == SQ_OK, "encode: %s", e.msg);
    return rc;
}

static int ids_equal(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static int check_ids(const sq_tokenizer *t, const char *s, unsigned flags, const int32_t *want, size_t nwant)
{
    int32_t *ids;
    size_t n;
    if (encode(t, s, flags, &ids, &n)) return 0;
    int ok = ids_equal(ids, n, want, nwant);
    if (!ok) {
        fprintf(stderr, "    text %s\n    got ", s);
        for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n    want");
        for (size_t i = 0; i < nwant; i++) fprintf(stderr, " %d", (int)want[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    return ok;
}

static char *decode_all(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags)
{
    sq_err e = {0};
    char *s = NULL;
    size_t len;
    int rc = sq_tokenizer_decode(t, ids, n, flags, &s, &len, &e);
    CHECK_MSG(rc == SQ_OK, "decode: %s", e.msg);
    if (s) CHECK(strlen(s) == len);
    return s;
}

/* Streaming decode, checking every piece is complete UTF-8; returns the concatenation. */
static char *decode_stream(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags)
{
    sq_err e = {0};
    sq_detok *d;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (sq_detok_new(&d, t, flags, &e)) { free(out); return NULL; }
    for (size_t i = 0; i <= n; i++) {
        const char *p;
        size_t pl;
        int rc = i < n ? sq_detok_push(d, ids[i], &p, &pl, &e) : sq_detok_finish(d, &p, &pl, &e);
        CHECK_MSG(rc == SQ_OK, "detok: %s", e.msg);
        if (rc) break;
        int bad;
        CHECK(sq_utf8_valid_prefix((const uint8_t *)p, pl, &bad) == pl && !bad);
        while (len + pl + 1 > cap) {
            cap *= 2;
            out = realloc(out, cap);
        }
        memcpy(out + len, p, pl);
        len += pl;
    }
    out[len] = 0;
    sq_detok_free(d);
    return out;
}

/* ---- Unicode tables ---- */

static void test_unicode_tables(void)
{
    uint32_t d[SQ_UC_MAX_DECOMP];
    CHECK(sq_uc_category('A') == SQ_GC_Lu);
    CHECK(sq_uc_category(0xE9) == SQ_GC_Ll);
    CHECK(sq_uc_category(0x4E2D) == SQ_GC_Lo);
    CHECK(sq_uc_category(0x301) == SQ_GC_Mn);
    CHECK(sq_uc_category(0x3001) == SQ_GC_Po);
    CHECK(sq_uc_category(0x200B) == SQ_GC_Cf);
    CHECK(sq_uc_category(0x0378) == SQ_GC_Cn);
    CHECK(sq_uc_category(0x1F600) == SQ_GC_So);
    CHECK(sq_uc_category(0x10FFFF) == SQ_GC_Cn);
    CHECK(sq_uc_category(0x110000) == SQ_GC_Cn);
    CHECK(sq_uc_is_number(0x0663) && sq_uc_is_number(0x2161) && sq_uc_is_number(0xBD));
    CHECK(sq_uc_is_white_space(0x3000) && sq_uc_is_white_space(0x85) && !sq_uc_is_white_space(0x200B));
    CHECK(sq_uc_simple_lower('A') == 'a' && sq_uc_simple_lower(0xC4) == 0xE4 && sq_uc_simple_lower(0x3A3) == 0x3C3);
    CHECK(sq_uc_simple_lower(0x100) == 0x101 && sq_uc_simple_lower(0x101) == 0x101 && sq_uc_simple_lower(0x410) == 0x430);
    CHECK(sq_uc_simple_lower(0x212A) == 'k' && sq_uc_simple_lower(0x1E9E) == 0xDF);
    CHECK(sq_uc_decompose(0xE9, d) == 2 && d[0] == 'e' && d[1] == 0x301);
    CHECK(sq_uc_decompose(0x1E69, d) == 3 && d[0] == 's' && d[1] == 0x323 && d[2] == 0x307);
    CHECK(sq_uc_decompose(0xD55C, d) == 3 && d[0] == 0x1112 && d[1] == 0x1161 && d[2] == 0x11AB); /* 한 */
    CHECK(sq_uc_decompose(0xAC00, d) == 2 && d[0] == 0x1100 && d[1] == 0x1161);
    CHECK(sq_uc_decompose(0x212B, d) == 2 && d[0] == 'A' && d[1] == 0x30A);
    CHECK(sq_uc_decompose('x', d) == 1 && d[0] == 'x');
    CHECK(sq_uc_ccc(0x301) == 230 && sq_uc_ccc(0x323) == 220 && sq_uc_ccc('a') == 0);
    CHECK(sq_uc_is_cased('a') && !sq_uc_is_cased('1') && sq_uc_is_case_ignorable('\'') && sq_uc_is_case_ignorable(0x301));

    /* UTF-8: well-formed, overlong, surrogate, truncated, out of range */
    uint32_t cp;
    CHECK(sq_utf8_next((const uint8_t *)"\xC3\xA9", 2, 0, &cp) == 2 && cp == 0xE9);
    CHECK(sq_utf8_next((const uint8_t *)"\xF0\x9F\x98\x80", 4, 0, &cp) == 4 && cp == 0x1F600);
    CHECK(sq_utf8_next((const uint8_t *)"\xC0\xAF", 2, 0, &cp) == 1 && cp == 0xFFFD);
    CHECK(sq_utf8_next((const uint8_t *)"\xED\xA0\x80", 3, 0, &cp) == 1 && cp == 0xFFFD);
    CHECK(sq_utf8_next((const uint8_t *)"\xE6\x97", 2, 0, &cp) == 2 && cp == 0xFFFD);
    CHECK(sq_utf8_next((const uint8_t *)"\xF4\x90\x80\x80", 4, 0, &cp) == 1 && cp == 0xFFFD);
    CHECK(sq_utf8_next((const uint8_t *)"\xE6\x97x", 3, 0, &cp) == 2 && cp == 0xFFFD);
    int bad;
    CHECK(sq_utf8_valid_prefix((const uint8_t *)"ab\xE6\x97", 4, &bad) == 2 && !bad);
    CHECK(sq_utf8_valid_prefix((const uint8_t *)"ab\xFF", 3, &bad) == 2 && bad);
    CHECK(sq_utf8_valid_prefix((const uint8_t *)"a\xC0", 2, &bad) == 1 && bad);
}

/* ---- BERT WordPiece ---- */

static int json_ids(const cJSON *arr, int32_t *out, size_t cap, size_t *n)
{
    const cJSON *x;
    *n = 0;
    cJSON_ArrayForEach(x, arr) {
        if (*n == cap || !cJSON_IsNumber(x)) return 0;
        out[(*n)++] = (int32_t)x->valuedouble;
    }
    return 1;
}

/* Every line of a jsonl golden file: encode "text" with [CLS]/[SEP] and compare input_ids
 * (and "tokens" when present). Returns the number of rows checked. */
static int golden_rows(const sq_tokenizer *t, const char *path, int want_rows)
{
    size_t len;
    char *data = read_all(path, &len);
    int rows = 0;
    CHECK_MSG(data != NULL, "cannot read %s", path);
    if (!data || !t) { free(data); return 0; }
    char *line = data;
    while (*line) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        if (*line) {
            cJSON *o = cJSON_Parse(line);
            const cJSON *text = cJSON_GetObjectItemCaseSensitive(o, "text");
            if (!text) text = cJSON_GetObjectItemCaseSensitive(o, "prompt");
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(o, "input_ids");
            const cJSON *toks = cJSON_GetObjectItemCaseSensitive(o, "tokens");
            int32_t w[600];
            size_t nw = 0;
            CHECK(cJSON_IsString(text) && json_ids(want, w, 600, &nw));
            if (cJSON_IsString(text)) {
                CHECK_MSG(check_ids(t, text->valuestring, SQ_TOK_ADD_SPECIAL, w, nw), "%s row %d", path, rows);
                if (cJSON_IsArray(toks)) {
                    int32_t *ids;
                    size_t n;
                    if (!encode(t, text->valuestring, 0, &ids, &n)) {
                        CHECK((size_t)cJSON_GetArraySize(toks) == n);
                        for (size_t i = 0; i < n && i < (size_t)cJSON_GetArraySize(toks); i++) {
                            const char *s = sq_tokenizer_id_to_token(t, ids[i]);
                            const cJSON *ws = cJSON_GetArrayItem(toks, (int)i);
                            CHECK(s && cJSON_IsString(ws) && strcmp(s, ws->valuestring) == 0);
                        }
                        free(ids);
                    }
                }
            }
            cJSON_Delete(o);
            rows++;
        }
        if (!nl) break;
        line = nl + 1;
    }
    free(data);
    CHECK_MSG(rows == want_rows, "%s: %d rows", path, rows);
    return rows;
}

static void test_bert_tricky_golden_vocab_txt(void)
{
    golden_rows(bert_txt, "examples/bert-tiny-emotion/tokenizer-golden.jsonl", 20);
}

static void test_bert_tricky_golden_tokenizer_json(void)
{
    golden_rows(bert_json, "examples/bert-tiny-emotion/tokenizer-golden.jsonl", 20);
}

static void test_bert_emotion_golden_64(void)
{
    golden_rows(bert_txt, "examples/bert-tiny-emotion/golden.jsonl", 64);
    golden_rows(bert_json, "examples/bert-tiny-emotion/golden.jsonl", 64);
}

static void test_bert_specials_truncation_decode(void)
{
    const sq_tokenizer *tk[2] = {bert_json, bert_txt};
    for (int k = 0; k < 2; k++) {
        const sq_tokenizer *t = tk[k];
        if (!t) continue;
        CHECK(sq_tokenizer_kind(t) == SQ_TOK_WORDPIECE);
        CHECK(sq_tokenizer_vocab_size(t) == 30522);
        CHECK(sq_tokenizer_special_id(t, SQ_TOK_CLS) == 101 && sq_tokenizer_special_id(t, SQ_TOK_SEP) == 102);
        CHECK(sq_tokenizer_special_id(t, SQ_TOK_UNK) == 100 && sq_tokenizer_special_id(t, SQ_TOK_PAD) == 0);
        CHECK(sq_tokenizer_special_id(t, SQ_TOK_MASK) == 103 && sq_tokenizer_special_id(t, SQ_TOK_BOS) == -1);
        CHECK(sq_tokenizer_token_id(t, "hello") == 7592 && sq_tokenizer_token_id(t, "##ing") == 2075);
        CHECK(sq_tokenizer_token_id(t, "no-such-token") == -1);
        CHECK(strcmp(sq_tokenizer_id_to_token(t, 7592), "hello") == 0);
        CHECK(sq_tokenizer_id_to_token(t, 30522) == NULL && sq_tokenizer_id_to_token(t, -1) == NULL);
        CHECK(sq_tokenizer_is_special(t, 101) && !sq_tokenizer_is_special(t, 7592));

        /* special tokens written in the text are recognised (case-sensitive) */
        int32_t w1[] = {101, 7592, 102, 2088, 103, 102};
        CHECK(check_ids(t, "Hello [SEP] world[MASK]", SQ_TOK_ADD_SPECIAL, w1, 6));
        int32_t w2[] = {101, 7592, 1031, 19802, 1033, 2088, 102};
        CHECK(check_ids(t, "Hello [SEP] world", SQ_TOK_ADD_SPECIAL | SQ_TOK_LITERAL, w2, 7));
        int32_t w3[] = {7592, 1031, 19802, 1033};
        CHECK(check_ids(t, "hello [sep]", 0, w3, 4));
        int32_t w4[] = {101, 102};
        CHECK(check_ids(t, "", SQ_TOK_ADD_SPECIAL, w4, 2));
        CHECK(check_ids(t, " \t\n\xE2\x80\x8B\x01 ", SQ_TOK_ADD_SPECIAL, w4, 2));

        /* truncation keeps [CLS] .. [SEP] */
        sq_err e = {0};
        int32_t *ids;
        size_t n;
        const char *s = "one two three four five six";
        CHECK(sq_tokenizer_encode(t, s, strlen(s), SQ_TOK_ADD_SPECIAL, 5, &ids, &n, &e) == SQ_OK);
        int32_t w5[] = {101, 2028, 2048, 2093, 102};
        CHECK(ids_equal(ids, n, w5, 5));
        free(ids);
        CHECK(sq_tokenizer_encode(t, s, strlen(s), SQ_TOK_ADD_SPECIAL, 1, &ids, &n, &e) == SQ_OK && n == 1 && ids[0] == 101);
        free(ids);

        /* decode: WordPiece "##" joins, cleanup of " ." etc. */
        int32_t *d;
        size_t nd;
        if (!encode(t, "Hello, world! Unaffable naïve", SQ_TOK_ADD_SPECIAL, &d, &nd)) {
            char *txt = decode_all(t, d, nd, SQ_TOK_SKIP_SPECIAL);
            CHECK_MSG(txt && strcmp(txt, "hello, world! unaffable naive") == 0, "%s", txt ? txt : "(null)");
            free(txt);
            txt = decode_all(t, d, nd, 0);
            CHECK_MSG(txt && strcmp(txt, "[CLS] hello, world! unaffable naive [SEP]") == 0, "%s", txt ? txt : "(null)");
            free(txt);
            txt = decode_stream(t, d, nd, SQ_TOK_SKIP_SPECIAL);
            CHECK(txt && strcmp(txt, "hello, world! unaffable naive") == 0);
            free(txt);
            free(d);
        }
    }
    if (bert_json) CHECK(sq_tokenizer_max_length(bert_json) == 128);
    if (bert_txt) CHECK(sq_tokenizer_max_length(bert_txt) == 0);
}

static void test_bert_wordpiece_rules(void)
{
    const sq_tokenizer *t = bert_txt;
    if (!t) return;
    /* 100 chars: split into pieces; 101 chars: [UNK] */
    char w100[101], w101[102];
    memset(w100, 'a', 100);
    w100[100] = 0;
    memset(w101, 'a', 101);
    w101[101] = 0;
    int32_t *ids;
    size_t n;
    if (!encode(t, w101, 0, &ids, &n)) {
        CHECK(n == 1 && ids[0] == 100);
        free(ids);
    }
    if (!encode(t, w100, 0, &ids, &n)) {
        CHECK(n > 1 && ids[0] != 100);
        free(ids);
    }
    /* CJK characters become words; accents are stripped after lowercasing; final sigma */
    int32_t w1[] = {1746, 1861};
    CHECK(check_ids(t, "\xE4\xB8\xAD\xE6\x96\x87", 0, w1, 2)); /* 中文 */
    int32_t *a, *b;
    size_t na, nb;
    if (!encode(t, "CAF\xC3\x89 e\xCC\x81", 0, &a, &na) && !encode(t, "cafe e", 0, &b, &nb)) {
        CHECK(ids_equal(a, na, b, nb));
        free(a);
        free(b);
    }
    /* ΟΔΟΣ lowercases to οδος (final sigma) like Python's str.lower() */
    if (!encode(t, "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3", 0, &a, &na) &&
        !encode(t, "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82", 0, &b, &nb)) {
        CHECK(ids_equal(a, na, b, nb));
        free(a);
        free(b);
    }
}

/* ---- stories260K (SentencePiece-style BPE) ---- */

static void test_stories_encode_decode(void)
{
    const sq_tokenizer *t = stories;
    if (!t) return;
    CHECK(sq_tokenizer_kind(t) == SQ_TOK_BPE_SENTENCEPIECE);
    CHECK(sq_tokenizer_vocab_size(t) == 512);
    CHECK(sq_tokenizer_special_id(t, SQ_TOK_BOS) == 1 && sq_tokenizer_special_id(t, SQ_TOK_EOS) == 2);
    CHECK(sq_tokenizer_special_id(t, SQ_TOK_UNK) == 0);
    int32_t w[] = {1, 403, 407, 261, 378};
    CHECK(check_ids(t, "Once upon a time", SQ_TOK_ADD_SPECIAL, w, 5));
    CHECK(check_ids(t, "Once upon a time", SQ_TOK_ADD_BOS, w, 5));
    CHECK(check_ids(t, "Once upon a time", SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS, w, 5));
    CHECK(check_ids(t, "Once upon a time", 0, w + 1, 4));
    golden_rows(t, "examples/stories260K/golden.jsonl", 3);
    CHECK(strcmp(sq_tokenizer_id_to_token(t, 403), "\xE2\x96\x81Once") == 0);
    CHECK(strcmp(sq_tokenizer_id_to_token(t, 13), "<0x0A>") == 0);

    char *s = decode_all(t, w, 5, SQ_TOK_SKIP_SPECIAL);
    CHECK(s && strcmp(s, "Once upon a time") == 0);
    free(s);
    s = decode_all(t, w, 5, 0);
    CHECK_MSG(s && strcmp(s, "<s> Once upon a time") == 0, "%s", s ? s : "(null)");
    free(s);
    s = decode_stream(t, w, 5, SQ_TOK_SKIP_SPECIAL);
    CHECK(s && strcmp(s, "Once upon a time") == 0);
    free(s);

    /* round trips through byte fallback (<0xNN>), newlines, runs of spaces */
    static const char *const texts[] = {
        "Lily saw a big, red ball.\nShe said: \"Hi!\"", "na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80",
        "two  spaces   three\ttab", "x", "\xE2\x96\x81literal meta"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int32_t *ids;
        size_t n;
        if (encode(t, texts[k], SQ_TOK_ADD_SPECIAL, &ids, &n)) continue;
        char *a = decode_all(t, ids, n, SQ_TOK_SKIP_SPECIAL), *b = decode_stream(t, ids, n, SQ_TOK_SKIP_SPECIAL);
        const char *want = texts[k];
        if (k == 4) want = " literal meta"; /* U+2581 in the text decodes to a space */
        CHECK_MSG(a && strcmp(a, want) == 0, "%s", a ? a : "(null)");
        CHECK(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
        free(ids);
    }

    /* a character split over byte tokens: nothing is emitted until it is complete */
    int32_t r[3] = {3 + 0xE6, 3 + 0x97, 3 + 0xA5};
    sq_err e = {0};
    sq_detok *d;
    const char *p;
    size_t pl;
    CHECK(sq_detok_new(&d, t, 0, &e) == SQ_OK);
    CHECK(sq_detok_push(d, r[0], &p, &pl, &e) == SQ_OK && pl == 0);
    CHECK(sq_detok_push(d, r[1], &p, &pl, &e) == SQ_OK && pl == 0);
    CHECK(sq_detok_push(d, r[2], &p, &pl, &e) == SQ_OK && pl == 3 && memcmp(p, "\xE6\x97\xA5", 3) == 0);
    CHECK(sq_detok_push(d, r[0], &p, &pl, &e) == SQ_OK && pl == 0);
    CHECK(sq_detok_finish(d, &p, &pl, &e) == SQ_OK && pl == 3 && memcmp(p, "\xEF\xBF\xBD", 3) == 0);
    CHECK(sq_detok_push(d, 99999, &p, &pl, &e) == SQ_EINPUT);
    sq_detok_free(d);
    s = decode_all(t, r, 2, 0);
    CHECK(s && strcmp(s, "\xEF\xBF\xBD") == 0);
    free(s);
}

/* ---- Llama 3 (byte-level BPE) ---- */

static void test_llama3_encode(void)
{
    const sq_tokenizer *t = llama3;
    if (!t) return;
    CHECK(sq_tokenizer_kind(t) == SQ_TOK_BPE_BYTELEVEL);
    CHECK(sq_tokenizer_vocab_size(t) == 128256);
    CHECK(sq_tokenizer_special_id(t, SQ_TOK_BOS) == 128000 && sq_tokenizer_special_id(t, SQ_TOK_EOS) == 128001);
    CHECK(sq_tokenizer_token_id(t, "<|eot_id|>") == 128009);
    CHECK(sq_tokenizer_is_special(t, 128009) && !sq_tokenizer_is_special(t, 9906));
    int32_t w1[] = {9906, 4435};
    CHECK(check_ids(t, "Hello World", 0, w1, 2));
    CHECK(check_ids(t, "Hello World", SQ_TOK_ADD_SPECIAL, w1, 2)); /* post_processor ByteLevel adds none */
    int32_t w2[] = {128000, 9906, 4435};
    CHECK(check_ids(t, "Hello World", SQ_TOK_ADD_BOS, w2, 3));
    CHECK(check_ids(t, "<|begin_of_text|>Hello World", SQ_TOK_ADD_BOS, w2, 3)); /* no double BOS */
    int32_t w3[] = {12805, 5304, 264, 892, 11, 22691, 4435, 0, 95980, 588, 220, 4513, 10961, 366, 82, 29357};
    CHECK(check_ids(t, "Once upon a time, Hello World! na\xC3\xAFve 123456 <s>x", 0, w3, 16));
    int32_t w4[] = {128006, 882, 128007, 271, 13347, 128009};
    CHECK(check_ids(t, "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", 0, w4, 6));
    int32_t *ids;
    size_t n;
    if (!encode(t, "<|eot_id|>", SQ_TOK_LITERAL, &ids, &n)) {
        CHECK(n > 1);
        for (size_t i = 0; i < n; i++) CHECK(ids[i] < 128000);
        free(ids);
    }
    int32_t none[1] = {0};
    CHECK(check_ids(t, "", 0, none, 0));
}

static void test_llama3_decode(void)
{
    const sq_tokenizer *t = llama3;
    if (!t) return;
    static const char *const texts[] = {
        "Hello World", "  leading spaces and trailing  ", "line\nbreaks\r\n\n\ttabs",
        "na\xC3\xAFve caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD",
        "I'm sure they'll say it's 1234567 o'clock", "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87"};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        int32_t *ids;
        size_t n;
        if (encode(t, texts[k], SQ_TOK_ADD_BOS, &ids, &n)) continue;
        CHECK(n > 0 && ids[0] == 128000);
        char *a = decode_all(t, ids, n, SQ_TOK_SKIP_SPECIAL), *b = decode_stream(t, ids, n, SQ_TOK_SKIP_SPECIAL);
        CHECK_MSG(a && strcmp(a, texts[k]) == 0, "%s", a ? a : "(null)");
        CHECK(a && b && strcmp(a, b) == 0);
        free(a);
        free(b);
        a = decode_all(t, ids, n, 0);
        CHECK(a && strncmp(a, "<|begin_of_text|>", 17) == 0 && strcmp(a + 17, texts[k]) == 0);
        free(a);
        free(ids);
    }
}

static void test_llama3_wikitext_speed(void)
{
    /* The whole 1.3 MB WikiText-2 test text in one call (crosscheck.mjs verifies the ids). */
    const sq_tokenizer *t = llama3;
    size_t len;
    char *data = read_all("data/wikitext2/wikitext-2-raw-test.txt", &len);
    if (!t || !data) { CHECK(data != NULL); free(data); return; }
    int32_t *ids;
    size_t n;
    sq_err e = {0};
    CHECK(sq_tokenizer_encode(t, data, len, 0, 0, &ids, &n, &e) == SQ_OK);
    CHECK_MSG(n == 291967, "%zu ids", n);
    char *back = NULL;
    size_t blen;
    CHECK(sq_tokenizer_decode(t, ids, n, 0, &back, &blen, &e) == SQ_OK);
    CHECK(back && blen == len && memcmp(back, data, len) == 0);
    free(back);
    free(ids);
    free(data);
}

/* ---- components the example files do not use (tiny synthetic tokenizer.json files) ---- */

static sq_tokenizer *load_str(const char *json)
{
    sq_tokenizer *t = NULL;
    sq_err e = {0};
    int rc = sq_tokenizer_load_json(&t, json, strlen(json), &e);
    CHECK_MSG(rc == SQ_OK, "%s", e.msg);
    return t;
}

#define TINY_MODEL \
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"vocab\":{\"<unk>\":0,\"a\":1,\"b\":2,\"ab\":3,\"c\":4," \
    "\"\\u2581\":7,\"\\u2581ab\":8,\"e\":9},\"merges\":[\"a b\",\"\\u2581 ab\"]}"

static void test_synthetic_components(void)
{
    /* added tokens with lstrip/rstrip and single_word; no decoder joins with spaces */
    sq_tokenizer *t = load_str("{" TINY_MODEL ",\"pre_tokenizer\":{\"type\":\"WhitespaceSplit\"},\"added_tokens\":["
                               "{\"id\":5,\"content\":\"<M>\",\"lstrip\":true,\"rstrip\":true,\"normalized\":false,\"special\":true},"
                               "{\"id\":6,\"content\":\"ab\",\"single_word\":true,\"normalized\":false,\"special\":false}]}");
    if (t) {
        int32_t w[] = {6, 4, 3, 5, 0, 2};
        CHECK(check_ids(t, "ab cab  <M>  zzb", 0, w, 6));
        char *s = decode_all(t, w, 6, 0);
        CHECK_MSG(s && strcmp(s, "ab c ab <M> <unk> b") == 0, "%s", s ? s : "(null)");
        free(s);
        s = decode_all(t, w, 6, SQ_TOK_SKIP_SPECIAL);
        CHECK_MSG(s && strcmp(s, "ab c ab <unk> b") == 0, "%s", s ? s : "(null)");
        free(s);
        CHECK(sq_tokenizer_token_id(t, "<M>") == 5 && sq_tokenizer_is_special(t, 5) && !sq_tokenizer_is_special(t, 6));
        sq_tokenizer_free(t);
    }
    /* normalized added token matched after Lowercase + Strip; BertProcessing */
    t = load_str("{" TINY_MODEL ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Lowercase\"},{\"type\":\"Strip\","
                 "\"strip_left\":true,\"strip_right\":true}]},\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"c\",4],"
                 "\"cls\":[\"e\",9]},\"added_tokens\":[{\"id\":5,\"content\":\"<X>\",\"normalized\":true,\"special\":false}]}");
    if (t) {
        int32_t w[] = {9, 1, 5, 2, 4};
        CHECK(check_ids(t, "  A<X>B  ", SQ_TOK_ADD_SPECIAL, w, 5));
        sq_tokenizer_free(t);
    }
    /* NFD + StripAccents; Metaspace decoder drops the first token's leading marker */
    t = load_str("{" TINY_MODEL ",\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFD\"},{\"type\":\"StripAccents\"}]},"
                 "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\",\"split\":true}}");
    if (t) {
        int32_t w[] = {9, 9};
        CHECK(check_ids(t, "\xC3\xA9\xC3\xA8", 0, w, 2));
        int32_t d[] = {8, 8, 7};
        char *s = decode_all(t, d, 3, 0);
        CHECK_MSG(s && strcmp(s, "ab ab ") == 0, "%s", s ? s : "(null)");
        free(s);
        sq_tokenizer_free(t);
    }
    /* Strip without Fuse works per token */
    t = load_str("{" TINY_MODEL ",\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":"
                 "\"\\u2581\"},\"content\":\" \"},{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}}");
    if (t) {
        int32_t d[] = {8, 8};
        char *s = decode_all(t, d, 2, 0);
        CHECK_MSG(s && strcmp(s, "abab") == 0, "%s", s ? s : "(null)");
        free(s);
        int32_t w[] = {8, 3};
        CHECK(check_ids(t, "\xE2\x96\x81" "abab", 0, w, 2));
        sq_tokenizer_free(t);
    }
}

/* ---- hostile input ---- */

static int load_json_str(const char *s, sq_err *e)
{
    sq_tokenizer *t = NULL;
    int rc = sq_tokenizer_load_json(&t, s, strlen(s), e);
    if (rc == SQ_OK) sq_tokenizer_free(t);
    return rc;
}

static void test_malformed_tokenizer_json(void)
{
    static const char *const bad[] = {
        "", "{", "[]", "{}", "null", "{\"model\":1}", "{\"model\":{}}", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}",                       /* no [UNK] */
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":-1}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":1.5}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":1e30}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":\"0\"}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":16000000}}}",            /* sparse */
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0},\"max_input_chars_per_word\":-5}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",  /* ab missing */
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a  b\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"ab\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[[\"a\"]]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[7]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"unk_token\":\"<unk>\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"dropout\":0.1}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"end_of_word_suffix\":\"</w>\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":-3,\"content\":\"x\"}]}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":1}]}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":{}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"added_tokens\":[{\"id\":1,\"content\":\"x\",\"special\":\"yes\"}]}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"NFKC\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"Regex\":\" +\"},\"content\":\" \"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Replace\",\"pattern\":{\"String\":\"\"},\"content\":\" \"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"type\":\"Sequence\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":{\"notype\":1}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\w+\"},\"behavior\":\"Isolated\",\"invert\":false}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Metaspace\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},{\"type\":\"BertPreTokenizer\"}]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"Sequence\":{\"id\":\"A\"}},{\"Sequence\":{\"id\":\"A\"}}]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"x\"}},{\"Sequence\":{\"id\":\"A\"}}],\"special_tokens\":{\"x\":{\"ids\":[99]}}}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"post_processor\":{\"type\":\"BertProcessing\",\"cls\":[\"x\"]}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"CTC\"}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Strip\",\"content\":\"ab\",\"start\":1,\"stop\":0}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"decoder\":{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":2}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"truncation\":{\"max_length\":-1}}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u00ff\\ud800\":0},\"merges\":[]}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sq_err e = {0};
        int rc = load_json_str(bad[i], &e);
        CHECK_MSG(rc == SQ_EINPUT, "case %zu: rc %d (%s)", i, rc, e.msg);
        CHECK(e.code == rc && e.msg[0] != 0);
    }
    /* deeply nested sequences are refused, not recursed into without bound */
    char deep[4096];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]},\"normalizer\":");
    for (int d = 0; d < 40; d++) k += (size_t)snprintf(deep + k, sizeof deep - k, "{\"type\":\"Sequence\",\"normalizers\":[");
    for (int d = 0; d < 40; d++) k += (size_t)snprintf(deep + k, sizeof deep - k, "]}");
    snprintf(deep + k, sizeof deep - k, "}");
    sq_err e = {0};
    CHECK(load_json_str(deep, &e) == SQ_EINPUT);

    /* a minimal valid file still loads, and an error already in e is kept (first wins) */
    const char *ok = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}}";
    sq_err e2 = {0};
    CHECK(load_json_str(ok, &e2) == SQ_OK && e2.code == 0);
    sq_err e3 = {SQ_EINPUT, "earlier"};
    CHECK(load_json_str(ok, &e3) == SQ_OK && strcmp(e3.msg, "earlier") == 0);

    /* vocab.txt */
    sq_tokenizer *t = NULL;
    sq_err e4 = {0};
    CHECK(sq_tokenizer_load_vocab_txt(&t, "a\nb\n", 4, 0, &e4) == SQ_EINPUT && t == NULL);
    sq_err e5 = {0};
    CHECK(sq_tokenizer_load_vocab_txt(&t, "[UNK]\n\xFF\n", 8, 0, &e5) == SQ_EINPUT);
    sq_err e6 = {0};
    CHECK(sq_tokenizer_load_vocab_txt(&t, "", 0, 0, &e6) == SQ_EINPUT);
    sq_err e7 = {0};
    const char *v7 = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nhello\r\n##s";
    CHECK(sq_tokenizer_load_vocab_txt(&t, v7, strlen(v7), 0, &e7) == SQ_OK);
    if (t) {
        int32_t w[] = {2, 4, 5, 3};
        CHECK(check_ids(t, "HELLOs", SQ_TOK_ADD_SPECIAL, w, 4));
        int32_t w2[] = {2, 1, 3};
        CHECK(check_ids(t, "bye", SQ_TOK_ADD_SPECIAL, w2, 3));
        sq_tokenizer_free(t);
    }
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static void test_fuzz_tokenizer_json(void)
{
    /* Mutate the small stories260K tokenizer.json (bit flips, truncations, deleted and
     * duplicated spans): every load must return OK or an error, and a loaded tokenizer
     * must encode and decode. Run under `make asan` for memory errors. */
    size_t len;
    char *orig = read_all("examples/stories260K/tokenizer.json", &len);
    CHECK(orig != NULL);
    if (!orig) return;
    char *buf = malloc(2 * len + 16);
    int loaded = 0, refused = 0;
    for (int it = 0; it < 600; it++) {
        size_t n = len;
        memcpy(buf, orig, len);
        int kind = (int)(rnd() % 4);
        if (kind == 0) {
            for (int f = 0; f < 1 + (int)(rnd() % 4); f++) buf[rnd() % n] ^= (char)(1u << (rnd() % 8));
        } else if (kind == 1) {
            n = rnd() % len;
        } else if (kind == 2) {
            size_t a = rnd() % n, b = a + rnd() % 64;
            if (b > n) b = n;
            memmove(buf + a, buf + b, n - b);
            n -= b - a;
        } else {
            size_t a = rnd() % n, l = rnd() % 64;
            if (a + l > n) l = n - a;
            memmove(buf + a + l, buf + a, n - a);
            n += l;
        }
        sq_tokenizer *t = NULL;
        sq_err e = {0};
        int rc = sq_tokenizer_load(&t, buf, n, &e);
        CHECK(rc == SQ_OK || rc == SQ_EINPUT);
        if (rc != SQ_OK) { refused++; continue; }
        loaded++;
        int32_t *ids;
        size_t m;
        const char *s = "Once upon a time, <s> there was \xE6\x97\xA5 \xFF!";
        if (sq_tokenizer_encode(t, s, strlen(s), SQ_TOK_ADD_SPECIAL | SQ_TOK_ADD_BOS, 0, &ids, &m, &e) == SQ_OK) {
            char *out = NULL;
            size_t ol;
            sq_err e2 = {0};
            if (sq_tokenizer_decode(t, ids, m, 0, &out, &ol, &e2) == SQ_OK) free(out);
            free(ids);
        }
        sq_tokenizer_free(t);
    }
    CHECK(loaded > 0 && refused > 0);
    free(buf);
    free(orig);
}

static void test_hostile_text(void)
{
    const sq_tokenizer *tk[4] = {llama3, stories, bert_json, bert_txt};
    size_t big = 200000;
    char *s = malloc(big + 1);
    for (int k = 0; k < 4; k++) {
        const sq_tokenizer *t = tk[k];
        if (!t) continue;
        int32_t *ids;
        size_t n;
        sq_err e = {0};
        /* random bytes (ill-formed UTF-8 included) */
        for (int r = 0; r < 20; r++) {
            size_t len = rnd() % 2000;
            for (size_t i = 0; i < len; i++) s[i] = (char)rnd();
            CHECK(sq_tokenizer_encode(t, s, len, SQ_TOK_ADD_SPECIAL, 0, &ids, &n, &e) == SQ_OK);
            char *out = NULL;
            size_t ol;
            CHECK(sq_tokenizer_decode(t, ids, n, 0, &out, &ol, &e) == SQ_OK);
            int bad;
            CHECK(out && sq_utf8_valid_prefix((const uint8_t *)out, ol, &bad) == ol && !bad);
            free(out);
            free(ids);
        }
        /* one huge word, a huge run of spaces, of digits, of combining marks */
        static const char *const unit[] = {"a", " ", "7", "\xCC\x81", "\xE4\xB8\xAD", "!", "\n"};
        for (size_t u = 0; u < sizeof unit / sizeof unit[0]; u++) {
            size_t ul = strlen(unit[u]), len = 0;
            while (len + ul <= big) { memcpy(s + len, unit[u], ul); len += ul; }
            CHECK(sq_tokenizer_encode(t, s, len, 0, 0, &ids, &n, &e) == SQ_OK);
            CHECK(n > 0 || u == 1 || u == 3 || u == 6);
            free(ids);
        }
        /* decode of ids that do not exist */
        int32_t badids[2] = {5, 1 << 30};
        char *out = NULL;
        size_t ol;
        CHECK(sq_tokenizer_decode(t, badids, 2, 0, &out, &ol, &e) == SQ_EINPUT && out == NULL);
        int32_t neg = -1;
        sq_err e2 = {0};
        CHECK(sq_tokenizer_decode(t, &neg, 1, 0, &out, &ol, &e2) == SQ_EINPUT);
    }
    free(s);
}

int main(void)
{
    llama3 = load("examples/llama3-tokenizer/tokenizer.json", 0);
    stories = load("examples/stories260K/tokenizer.json", 0);
    bert_json = load("examples/bert-tiny-emotion/tokenizer.json", 0);
    bert_txt = load("examples/bert-tiny-emotion/vocab.txt", 1);
    RUN(test_unicode_tables);
    RUN(test_bert_tricky_golden_vocab_txt);
    RUN(test_bert_tricky_golden_tokenizer_json);
    RUN(test_bert_emotion_golden_64);
    RUN(test_bert_specials_truncation_decode);
    RUN(test_bert_wordpiece_rules);
    RUN(test_stories_encode_decode);
    RUN(test_llama3_encode);
    RUN(test_llama3_decode);
    RUN(test_llama3_wikitext_speed);
    RUN(test_synthetic_components);
    RUN(test_malformed_tokenizer_json);
    RUN(test_fuzz_tokenizer_json);
    RUN(test_hostile_text);
    sq_tokenizer_free(llama3);
    sq_tokenizer_free(stories);
    sq_tokenizer_free(bert_json);
    sq_tokenizer_free(bert_txt);
    return test_summary();
}
