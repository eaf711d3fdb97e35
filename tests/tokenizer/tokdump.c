/* tokdump.c - print the token ids of many strings, for the cross-check against
 * @huggingface/tokenizers (crosscheck.mjs).
 *
 * usage: tokdump [options] TOKENIZER INPUT
 *   TOKENIZER     tokenizer.json or vocab.txt (auto-detected)
 *   INPUT format: --jsonl   one JSON object per line, its "text" field (default)
 *                 --lines   one string per line of the file, the '\n' included
 *                 --whole   the whole file as one string
 *   --no-special  do not add the post-processor's special tokens
 *   --decode      print the decoded text (JSON string, special tokens skipped) instead
 *   --stream      decode with the streaming decoder, one id at a time
 * Output: one line per input string: the ids separated by spaces (or the JSON string).
 * Prints "strings N, ids N, encode seconds S" to stderr. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizers/tokenizer.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
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

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double enc_seconds;
static size_t n_strings, n_ids;

static int process(const sq_tokenizer *t, const char *s, size_t len, unsigned flags, int decode, int stream)
{
    sq_err e = {0};
    int32_t *ids;
    size_t n;
    double t0 = now();
    if (sq_tokenizer_encode(t, s, len, flags, 0, &ids, &n, &e)) {
        fprintf(stderr, "encode: %s\n", e.msg);
        return 1;
    }
    enc_seconds += now() - t0;
    n_strings++;
    n_ids += n;
    if (!decode) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        printf("\n");
        free(ids);
        return 0;
    }
    char *text = NULL;
    size_t tl = 0;
    if (stream) {
        sq_detok *d;
        size_t cap = 64;
        text = malloc(cap);
        if (sq_detok_new(&d, t, SQ_TOK_SKIP_SPECIAL, &e)) return 1;
        for (size_t i = 0; i <= n; i++) {
            const char *p;
            size_t pl;
            int rc = i < n ? sq_detok_push(d, ids[i], &p, &pl, &e) : sq_detok_finish(d, &p, &pl, &e);
            if (rc) { fprintf(stderr, "decode: %s\n", e.msg); return 1; }
            while (tl + pl + 1 > cap) { cap *= 2; text = realloc(text, cap); }
            memcpy(text + tl, p, pl);
            tl += pl;
        }
        text[tl] = 0;
        sq_detok_free(d);
    } else if (sq_tokenizer_decode(t, ids, n, SQ_TOK_SKIP_SPECIAL, &text, &tl, &e)) {
        fprintf(stderr, "decode: %s\n", e.msg);
        return 1;
    }
    cJSON *js = cJSON_CreateString(text);
    char *out = cJSON_PrintUnformatted(js);
    printf("%s\n", out);
    free(out);
    cJSON_Delete(js);
    free(text);
    free(ids);
    return 0;
}

int main(int argc, char **argv)
{
    const char *tok_path = NULL, *in_path = NULL;
    int mode = 0, decode = 0, stream = 0; /* 0 jsonl, 1 lines, 2 whole */
    unsigned flags = SQ_TOK_ADD_SPECIAL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jsonl")) mode = 0;
        else if (!strcmp(argv[i], "--lines")) mode = 1;
        else if (!strcmp(argv[i], "--whole")) mode = 2;
        else if (!strcmp(argv[i], "--no-special")) flags &= ~SQ_TOK_ADD_SPECIAL;
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--stream")) decode = stream = 1;
        else if (!tok_path) tok_path = argv[i];
        else if (!in_path) in_path = argv[i];
        else { fprintf(stderr, "tokdump: unexpected argument %s\n", argv[i]); return 2; }
    }
    if (!tok_path || !in_path) {
        fprintf(stderr, "usage: tokdump [--jsonl|--lines|--whole] [--no-special] [--decode|--stream] TOKENIZER INPUT\n");
        return 2;
    }
    size_t tlen, ilen;
    char *tdata = read_file(tok_path, &tlen), *input = read_file(in_path, &ilen);
    if (!tdata || !input) { fprintf(stderr, "tokdump: cannot read %s\n", tdata ? in_path : tok_path); return 2; }
    sq_err e = {0};
    sq_tokenizer *t;
    double t0 = now();
    if (sq_tokenizer_load(&t, tdata, tlen, &e)) { fprintf(stderr, "tokdump: %s: %s\n", tok_path, e.msg); return 2; }
    double load_s = now() - t0;
    int rc = 0;
    if (mode == 2) {
        rc = process(t, input, ilen, flags, decode, stream);
    } else {
        size_t i = 0, line = 0;
        while (i < ilen && !rc) {
            size_t j = i;
            while (j < ilen && input[j] != '\n') j++;
            size_t end = j < ilen ? j + 1 : j; /* include the newline */
            line++;
            if (mode == 1) {
                rc = process(t, input + i, end - i, flags, decode, stream);
            } else if (j > i) {
                cJSON *o = cJSON_ParseWithLength(input + i, j - i);
                cJSON *txt = cJSON_GetObjectItemCaseSensitive(o, "text");
                if (!cJSON_IsString(txt)) { fprintf(stderr, "tokdump: line %zu: no \"text\"\n", line); rc = 2; }
                else rc = process(t, txt->valuestring, strlen(txt->valuestring), flags, decode, stream);
                cJSON_Delete(o);
            }
            i = end;
        }
    }
    fprintf(stderr, "tokdump: load %.3f s, strings %zu, ids %zu, encode seconds %.3f\n", load_s, n_strings, n_ids, enc_seconds);
    sq_tokenizer_free(t);
    free(tdata);
    free(input);
    return rc;
}
