/* fuzz_tokenizer.c - load a tokenizer (tokenizer.json or vocab.txt) and run text through it.
 *
 * Input: a mode byte, the tokenizer file, FUZZ_SEP, the text.
 *   mode bits 0-1: 0 sq_tokenizer_load (auto-detect), 1 sq_tokenizer_load_json,
 *                  2 vocab.txt uncased, 3 vocab.txt cased
 *   bits 2-4: encode flags ADD_SPECIAL, ADD_BOS, LITERAL; bits 5-7: max_len (0 or 2^n)
 * Properties: no crash, leak or hang (work bounded by the input); encode succeeds on any
 * text and gives ids in [0, vocab_size), at most max_len of them; decode accepts them;
 * the streaming decoder's pieces concatenate to exactly what decode returns; ids out of
 * range are refused, not read; every id's token string maps back to an id with that
 * string.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tokenizers/tokenizer.h"

/* Streaming decode of ids must equal the one-shot decode. */
static void check_stream(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, const char *want,
                         size_t want_len)
{
    sq_detok *d = NULL;
    sq_err e = {0};
    int rc = sq_detok_new(&d, t, flags, &e);
    fuzz_check_err(rc, &e);
    if (rc) return;
    size_t cap = want_len + 64, len = 0;
    char *acc = malloc(cap);
    FUZZ_ASSERT(acc);
    for (size_t i = 0; i <= n; i++) {
        const char *piece = NULL;
        size_t pl = 0;
        memset(&e, 0, sizeof e);
        rc = i < n ? sq_detok_push(d, ids[i], &piece, &pl, &e) : sq_detok_finish(d, &piece, &pl, &e);
        fuzz_check_err(rc, &e);
        FUZZ_ASSERT(rc == 0);
        FUZZ_ASSERT(piece != NULL && piece[pl] == 0);
        if (len + pl + 1 > cap) {
            cap = 2 * (len + pl + 1);
            acc = realloc(acc, cap);
            FUZZ_ASSERT(acc);
        }
        memcpy(acc + len, piece, pl);
        len += pl;
    }
    if (len != want_len || memcmp(acc, want, len) != 0) {
        fprintf(stderr, "streaming decode (%zu bytes) differs from decode (%zu bytes)\n  stream: %.*s\n  decode: %.*s\n",
                len, want_len, (int)(len < 300 ? len : 300), acc, (int)(want_len < 300 ? want_len : 300), want);
        abort();
    }
    free(acc);
    sq_detok_free(d);
}

static void decode_both(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags)
{
    char *text = NULL;
    size_t len = 0;
    sq_err e = {0};
    int rc = sq_tokenizer_decode(t, ids, n, flags, &text, &len, &e);
    fuzz_check_err(rc, &e);
    FUZZ_ASSERT(rc == 0);
    FUZZ_ASSERT(text && text[len] == 0 && strlen(text) <= len);
    check_stream(t, ids, n, flags, text, len);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    fuzz_part parts[2];
    fuzz_split(data + 1, size - 1, parts, 2);
    char *tok = (char *)fuzz_copy(&parts[0]);
    char *text = (char *)fuzz_copy(&parts[1]);
    sq_tokenizer *t = NULL;
    sq_err e = {0};
    int rc;
    switch (mode & 3) {
    case 0: rc = sq_tokenizer_load(&t, tok, parts[0].len, &e); break;
    case 1: rc = sq_tokenizer_load_json(&t, tok, parts[0].len, &e); break;
    case 2: rc = sq_tokenizer_load_vocab_txt(&t, tok, parts[0].len, 0, &e); break;
    default: rc = sq_tokenizer_load_vocab_txt(&t, tok, parts[0].len, SQ_TOK_VOCAB_CASED, &e); break;
    }
    fuzz_check_err(rc, &e);
    if (rc) {
        FUZZ_ASSERT(t == NULL);
        goto out;
    }
    FUZZ_ASSERT(t != NULL);
    int kind = sq_tokenizer_kind(t);
    FUZZ_ASSERT(kind == SQ_TOK_WORDPIECE || kind == SQ_TOK_BPE_BYTELEVEL || kind == SQ_TOK_BPE_SENTENCEPIECE);
    int32_t V = sq_tokenizer_vocab_size(t);
    FUZZ_ASSERT(V >= 0);
    for (int w = SQ_TOK_BOS; w <= SQ_TOK_MASK; w++) {
        int32_t id = sq_tokenizer_special_id(t, w);
        FUZZ_ASSERT(id >= -1 && id < V);
    }
    (void)sq_tokenizer_max_length(t);
    /* vocabulary round trip (a bounded sample of ids) */
    for (int32_t i = 0, step = V > 4096 ? V / 4096 : 1; i < V; i += step) {
        const char *s = sq_tokenizer_id_to_token(t, i);
        (void)sq_tokenizer_is_special(t, i);
        if (!s) continue;
        int32_t j = sq_tokenizer_token_id(t, s);
        FUZZ_ASSERT(j >= 0 && j < V);
        const char *s2 = sq_tokenizer_id_to_token(t, j);
        FUZZ_ASSERT(s2 && strcmp(s, s2) == 0);
        FUZZ_ASSERT(sq_tokenizer_token_id_n(t, s, strlen(s)) == j);
    }
    FUZZ_ASSERT(sq_tokenizer_id_to_token(t, -1) == NULL && sq_tokenizer_id_to_token(t, V) == NULL);
    (void)sq_tokenizer_token_id_n(t, text, parts[1].len); /* not NUL-terminated inside */

    /* encode the text */
    unsigned flags = (mode >> 2) & 7;
    size_t max_len = (mode >> 5) ? (size_t)1 << (mode >> 5) : 0;
    int32_t *ids = NULL;
    size_t n = 0;
    memset(&e, 0, sizeof e);
    rc = sq_tokenizer_encode(t, text, parts[1].len, flags, max_len, &ids, &n, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        fprintf(stderr, "encode failed on text content: %s\n", e.msg);
        abort(); /* "encode never fails on text content" */
    }
    FUZZ_ASSERT(ids != NULL);
    FUZZ_ASSERT(max_len == 0 || n <= max_len);
    for (size_t i = 0; i < n; i++) FUZZ_ASSERT(ids[i] >= 0 && ids[i] < V);
    decode_both(t, ids, n, 0);
    decode_both(t, ids, n, SQ_TOK_SKIP_SPECIAL);
    free(ids);

    /* decode arbitrary ids taken from the text bytes: known ones must decode, unknown
       ones must be refused */
    size_t m = parts[1].len / 2 < 64 ? parts[1].len / 2 : 64;
    int32_t raw[64];
    int all_known = 1;
    for (size_t i = 0; i < m; i++) {
        const uint8_t *p = parts[1].data + 2 * i;
        raw[i] = (int32_t)(int16_t)(p[0] | p[1] << 8);
        if (V > 0 && raw[i] >= 0 && (p[1] & 0x80) == 0) raw[i] %= V;
        if (raw[i] < 0 || raw[i] >= V || !sq_tokenizer_id_to_token(t, raw[i])) all_known = 0;
    }
    char *dtext = NULL;
    size_t dlen = 0;
    memset(&e, 0, sizeof e);
    rc = sq_tokenizer_decode(t, raw, m, 0, &dtext, &dlen, &e);
    fuzz_check_err(rc, &e);
    if (all_known) FUZZ_ASSERT(rc == 0);
    if (rc == 0) {
        check_stream(t, raw, m, 0, dtext, dlen);
        free(dtext);
    }
    sq_tokenizer_free(t);
out:
    free(tok);
    free(text);
    return 0;
}
