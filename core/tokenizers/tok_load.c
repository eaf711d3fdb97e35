/* tok_load.c - build an sq_tokenizer from tokenizer.json or vocab.txt bytes: the
 * vocabulary, added tokens, the model (WordPiece / BPE) and the finishing touches, and
 * the JSON helpers (tok_json.h); the pipeline steps (normalizer, pre-tokenizer,
 * post-processor, decoder) are read by tok_steps.c. */
#include <cjson/cJSON.h>
#include "../json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "tok_json.h"
#include "unicode.h"

static sq_tokenizer *tok_new(sq_err *e)
{
    sq_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        sq_fail(e, SQ_EINTERNAL, "out of memory");
        return NULL;
    }
    t->unk_id = -1;
    for (int i = 0; i < 256; i++) t->byte_id[i] = t->fallback_id[i] = -1;
    for (int i = 0; i < 7; i++) t->special_ids[i] = -1;
    t->wp_max_chars = 100;
    return t;
}

void sq_tokenizer_free(sq_tokenizer *t)
{
    if (!t) return;
    sq_tok_vocab_free(&t->v);
    sq_tok_vocab_free(&t->av);
    for (size_t i = 0; i < t->n_added; i++) {
        free(t->added[i].cp);
        free(t->added[i].s);
    }
    free(t->added);
    sq_tok_trie_free(&t->trie_raw);
    sq_tok_trie_free(&t->trie_norm);
    free(t->is_special);
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].a);
        free(t->norm[i].b);
    }
    for (size_t i = 0; i < t->n_dec; i++) {
        free(t->dec[i].a);
        free(t->dec[i].b);
    }
    free(t->wp_prefix);
    sq_tok_trie_free(&t->wp_trie);
    sq_tok_merges_free(&t->merges);
    free(t);
}

/* ---- small helpers ---- */

int sq_tok_utf8_well_formed(const char *s, size_t len)
{
    int bad;
    return sq_utf8_valid_prefix((const uint8_t *)s, len, &bad) == len && !bad;
}

int sq_tok_dup_bytes(char **out, const char *s, size_t len, sq_err *e)
{
    char *p = malloc(len + 1);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    if (len) memcpy(p, s, len);
    p[len] = 0;
    *out = p;
    return SQ_OK;
}

int sq_tok_str_to_cps(const char *s, uint32_t **out, size_t *n, sq_err *e)
{
    tok_u32vec v = {0};
    if (sq_tok_utf8_to_cps(s, strlen(s), &v, e)) { free(v.v); return e->code; }
    if (!v.v && sq_tok_u32_reserve(&v, 1, e)) return e->code;
    *out = v.v;
    *n = v.n;
    return SQ_OK;
}

const cJSON *sq_tok_member(const cJSON *o, const char *name)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
}

const char *sq_tok_type_of(const cJSON *o)
{
    const cJSON *ty = sq_tok_member(o, "type");
    return cJSON_IsString(ty) ? ty->valuestring : NULL;
}

/* Optional boolean member: absent/null gives def; anything else but a bool is an error. */
int sq_tok_get_bool(const cJSON *o, const char *name, int def, int *out, const char *where, sq_err *e)
{
    const cJSON *x = sq_tok_member(o, name);
    if (!x || cJSON_IsNull(x)) { *out = def; return SQ_OK; }
    if (!cJSON_IsBool(x)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: %s.%s must be true or false", where, name);
    *out = cJSON_IsTrue(x) ? 1 : 0;
    return SQ_OK;
}

/* Optional string member (NULL if absent/null). */
int sq_tok_get_str(const cJSON *o, const char *name, const char **out, const char *where, sq_err *e)
{
    const cJSON *x = sq_tok_member(o, name);
    *out = NULL;
    if (!x || cJSON_IsNull(x)) return SQ_OK;
    if (!cJSON_IsString(x) || !x->valuestring)
        return sq_fail(e, SQ_EINPUT, "tokenizer.json: %s.%s must be a string", where, name);
    if (!sq_tok_utf8_well_formed(x->valuestring, strlen(x->valuestring)))
        return sq_fail(e, SQ_EINPUT, "tokenizer.json: %s.%s is not valid UTF-8", where, name);
    *out = x->valuestring;
    return SQ_OK;
}

int sq_tok_is_int_in(const cJSON *x, double lo, double hi)
{
    if (!cJSON_IsNumber(x)) return 0;
    double d = x->valuedouble;
    return d >= lo && d <= hi && d == (double)(int64_t)d;
}

/* ---- vocab.txt ---- */

static int add_special_literal(sq_tokenizer *t, const char *s, sq_err *e);
static int finish(sq_tokenizer *t, sq_err *e);

static int sq_tokenizer_load_vocab_txt_impl(sq_tokenizer **out, const char *txt, size_t len, unsigned flags, sq_err *e)
{
    *out = NULL;
    if (!txt && len) return sq_fail(e, SQ_EINPUT, "vocab.txt: no data");
    sq_tokenizer *t = tok_new(e);
    if (!t) return e->code;
    t->kind = SQ_TOK_WORDPIECE;
    size_t i = 0, line = 0;
    if (len >= 3 && (uint8_t)txt[0] == 0xEF && (uint8_t)txt[1] == 0xBB && (uint8_t)txt[2] == 0xBF) i = 3;
    while (i < len) {
        size_t j = i;
        while (j < len && txt[j] != '\n' && txt[j] != '\r') j++;
        if (line >= TOK_MAX_IDS) { sq_fail(e, SQ_EINPUT, "vocab.txt: more than %d lines", TOK_MAX_IDS); goto fail; }
        if (!sq_tok_utf8_well_formed(txt + i, j - i)) {
            sq_fail(e, SQ_EINPUT, "vocab.txt: line %zu is not valid UTF-8", line + 1);
            goto fail;
        }
        if (memchr(txt + i, 0, j - i)) { sq_fail(e, SQ_EINPUT, "vocab.txt: line %zu holds a NUL byte", line + 1); goto fail; }
        /* Python reads vocab.txt in universal-newline mode: \n, \r\n and \r end a line. */
        if (sq_tok_vocab_add(&t->v, txt + i, j - i, (int32_t)line, 0, e)) goto fail;
        line++;
        if (j < len && txt[j] == '\r' && j + 1 < len && txt[j + 1] == '\n') j++;
        i = j + 1;
    }
    if (line == 0) { sq_fail(e, SQ_EINPUT, "vocab.txt is empty"); goto fail; }
    t->unk_id = sq_tok_vocab_find(&t->v, "[UNK]", 5);
    if (t->unk_id < 0) { sq_fail(e, SQ_EINPUT, "vocab.txt has no [UNK] token (is it a BERT WordPiece vocabulary?)"); goto fail; }

    int lower = !(flags & SQ_TOK_VOCAB_CASED);
    tok_norm *nm = &t->norm[t->n_norm++];
    nm->type = NORM_BERT;
    nm->clean_text = 1;
    nm->chinese = 1;
    nm->lowercase = lower;
    nm->strip_accents = lower;
    t->pre[t->n_pre++].type = PRE_BERT;
    if (sq_tok_dup_bytes(&t->wp_prefix, "##", 2, e)) goto fail;
    t->wp_prefix_len = 2;
    tok_dec *d = &t->dec[t->n_dec++];
    d->type = DEC_WORDPIECE;
    if (sq_tok_dup_bytes(&d->a, "##", 2, e)) goto fail;
    d->na = 2;
    d->cleanup = 1;
    t->has_decoder = 1;
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t k = 0; k < 5; k++)
        if (add_special_literal(t, specials[k], e)) goto fail;
    int32_t cls = sq_tok_vocab_find(&t->v, "[CLS]", 5), sep = sq_tok_vocab_find(&t->v, "[SEP]", 5);
    if (cls >= 0 && sep >= 0) {
        t->tmpl_pre[t->n_tmpl_pre++] = cls;
        t->tmpl_post[t->n_tmpl_post++] = sep;
        t->has_template = 1;
    }
    if (finish(t, e)) goto fail;
    *out = t;
    return SQ_OK;
fail:
    sq_tokenizer_free(t);
    return e->code ? e->code : SQ_EINTERNAL;
}

/* ---- added tokens ---- */

static int add_added(sq_tokenizer *t, int32_t id, const char *content, int special, int lstrip, int rstrip,
                     int single_word, int normalized, sq_err *e)
{
    size_t len = strlen(content);
    if (len == 0) return SQ_OK; /* an empty added token would match everywhere: ignore it */
    if (len > TOK_MAX_TOKEN_BYTES) return sq_fail(e, SQ_EINPUT, "tokenizer.json: an added token is %zu bytes long", len);
    tok_added *p = realloc(t->added, (t->n_added + 1) * sizeof *p);
    if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    t->added = p;
    tok_added *a = &t->added[t->n_added];
    memset(a, 0, sizeof *a);
    a->id = id;
    a->special = (uint8_t)special;
    a->lstrip = (uint8_t)lstrip;
    a->rstrip = (uint8_t)rstrip;
    a->single_word = (uint8_t)single_word;
    a->normalized = (uint8_t)normalized;
    if (sq_tok_dup_bytes(&a->s, content, len, e)) return e->code;
    a->len = len;
    if (sq_tok_str_to_cps(content, &a->cp, &a->n, e)) { free(a->s); return e->code; }
    t->n_added++;
    return sq_tok_vocab_add(&t->av, content, len, id, 1, e);
}

static int add_special_literal(sq_tokenizer *t, const char *s, sq_err *e)
{
    int32_t id = sq_tok_vocab_find(&t->v, s, strlen(s));
    if (id < 0) return SQ_OK;
    return add_added(t, id, s, 1, 0, 0, 0, 0, e);
}

static int load_added_tokens(sq_tokenizer *t, const cJSON *arr, sq_err *e)
{
    if (!arr || cJSON_IsNull(arr)) return SQ_OK;
    if (!cJSON_IsArray(arr)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: added_tokens must be an array");
    const cJSON *it;
    size_t k = 0;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *id = sq_tok_member(it, "id");
        const char *content;
        int special, lstrip, rstrip, single, normalized;
        if (!cJSON_IsObject(it) || !sq_tok_is_int_in(id, 0, TOK_MAX_IDS - 1))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: added_tokens[%zu] needs an integer id in [0, %d)", k, TOK_MAX_IDS);
        if (sq_tok_get_str(it, "content", &content, "added_tokens[]", e)) return e->code;
        if (!content) return sq_fail(e, SQ_EINPUT, "tokenizer.json: added_tokens[%zu] has no content", k);
        if (sq_tok_get_bool(it, "special", 0, &special, "added_tokens[]", e) ||
            sq_tok_get_bool(it, "lstrip", 0, &lstrip, "added_tokens[]", e) ||
            sq_tok_get_bool(it, "rstrip", 0, &rstrip, "added_tokens[]", e) ||
            sq_tok_get_bool(it, "single_word", 0, &single, "added_tokens[]", e) ||
            sq_tok_get_bool(it, "normalized", !special, &normalized, "added_tokens[]", e))
            return e->code;
        if (add_added(t, (int32_t)id->valuedouble, content, special, lstrip, rstrip, single, normalized, e))
            return e->code;
        k++;
    }
    return SQ_OK;
}

/* ---- model ---- */

static int load_vocab_object(sq_tokenizer *t, const cJSON *vocab, sq_err *e)
{
    const cJSON *it;
    if (!cJSON_IsObject(vocab)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: model.vocab must be an object");
    cJSON_ArrayForEach(it, vocab) {
        if (!it->string) return sq_fail(e, SQ_EINPUT, "tokenizer.json: model.vocab entry without a name");
        if (!sq_tok_is_int_in(it, 0, TOK_MAX_IDS - 1))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: model.vocab[\"%.40s\"] must be an integer id in [0, %d)", it->string,
                           TOK_MAX_IDS);
        size_t len = strlen(it->string);
        if (!sq_tok_utf8_well_formed(it->string, len)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: a vocabulary string is not valid UTF-8");
        if (sq_tok_vocab_add(&t->v, it->string, len, (int32_t)it->valuedouble, 0, e)) return e->code;
    }
    if (t->v.n_ent == 0) return sq_fail(e, SQ_EINPUT, "tokenizer.json: model.vocab is empty");
    return SQ_OK;
}

static int load_merges(sq_tokenizer *t, const cJSON *merges, sq_err *e)
{
    const cJSON *it;
    if (!cJSON_IsArray(merges)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: model.merges must be an array");
    size_t n = (size_t)cJSON_GetArraySize(merges), rank = 0;
    if (n > TOK_MAX_IDS) return sq_fail(e, SQ_EINPUT, "tokenizer.json: too many merges (%zu)", n);
    if (sq_tok_merges_init(&t->merges, n, e)) return e->code;
    char *buf = malloc(2 * TOK_MAX_TOKEN_BYTES + 2);
    if (!buf) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it) && it->valuestring) {
            const char *s = it->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                free(buf);
                return sq_fail(e, SQ_EINPUT, "tokenizer.json: merge %zu is not \"left right\"", rank);
            }
            a = s;
            la = (size_t)(sp - s);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else {
            free(buf);
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: merge %zu must be a string or a pair of strings", rank);
        }
        int32_t ia = sq_tok_vocab_find(&t->v, a, la), ib = sq_tok_vocab_find(&t->v, b, lb), im = -1;
        if (ia >= 0 && ib >= 0 && la + lb <= 2 * TOK_MAX_TOKEN_BYTES) {
            memcpy(buf, a, la);
            memcpy(buf + la, b, lb);
            im = sq_tok_vocab_find(&t->v, buf, la + lb);
        }
        if (im < 0) {
            free(buf);
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: merge %zu (\"%.*s\" \"%.*s\") uses a token missing from the vocabulary",
                           rank, (int)(la < 40 ? la : 40), a, (int)(lb < 40 ? lb : 40), b);
        }
        if (sq_tok_merges_put(&t->merges, ia, ib, (int32_t)rank, im, e)) { free(buf); return e->code; }
        rank++;
    }
    free(buf);
    return SQ_OK;
}

static int load_model(sq_tokenizer *t, const cJSON *m, sq_err *e)
{
    if (!cJSON_IsObject(m)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: no model object");
    const char *ty = sq_tok_type_of(m);
    if (!ty) { /* HF accepts an untagged model and guesses from the fields */
        if (sq_tok_member(m, "merges")) ty = "BPE";
        else if (sq_tok_member(m, "max_input_chars_per_word") || sq_tok_member(m, "continuing_subword_prefix")) ty = "WordPiece";
        else return sq_fail(e, SQ_EINPUT, "tokenizer.json: model has no type");
    }
    const char *unk;
    if (sq_tok_get_str(m, "unk_token", &unk, "model", e)) return e->code;
    if (!strcmp(ty, "WordPiece")) {
        const char *prefix;
        const cJSON *mx = sq_tok_member(m, "max_input_chars_per_word");
        t->kind = SQ_TOK_WORDPIECE;
        if (load_vocab_object(t, sq_tok_member(m, "vocab"), e)) return e->code;
        if (sq_tok_get_str(m, "continuing_subword_prefix", &prefix, "model", e)) return e->code;
        if (!prefix) prefix = "##";
        t->wp_prefix_len = strlen(prefix);
        if (t->wp_prefix_len > TOK_MAX_PATTERN) return sq_fail(e, SQ_EINPUT, "tokenizer.json: continuing_subword_prefix too long");
        if (sq_tok_dup_bytes(&t->wp_prefix, prefix, t->wp_prefix_len, e)) return e->code;
        if (mx && !cJSON_IsNull(mx)) {
            if (!sq_tok_is_int_in(mx, 1, TOK_MAX_WORD_CHARS))
                return sq_fail(e, SQ_EINPUT, "tokenizer.json: max_input_chars_per_word must be in [1, %d]", TOK_MAX_WORD_CHARS);
            t->wp_max_chars = (size_t)mx->valuedouble;
        }
        if (!unk) unk = "[UNK]";
        t->unk_id = sq_tok_vocab_find(&t->v, unk, strlen(unk));
        if (t->unk_id < 0) return sq_fail(e, SQ_EINPUT, "tokenizer.json: WordPiece unk_token '%.40s' is not in the vocabulary", unk);
        return SQ_OK;
    }
    if (!strcmp(ty, "BPE")) {
        const char *cs, *eow;
        const cJSON *drop = sq_tok_member(m, "dropout");
        t->kind = SQ_TOK_BPE_SENTENCEPIECE; /* refined after the pre_tokenizer is known */
        if (load_vocab_object(t, sq_tok_member(m, "vocab"), e)) return e->code;
        if (sq_tok_get_bool(m, "fuse_unk", 0, &t->fuse_unk, "model", e) || sq_tok_get_bool(m, "byte_fallback", 0, &t->byte_fallback, "model", e) ||
            sq_tok_get_bool(m, "ignore_merges", 0, &t->ignore_merges, "model", e) ||
            sq_tok_get_str(m, "continuing_subword_prefix", &cs, "model", e) || sq_tok_get_str(m, "end_of_word_suffix", &eow, "model", e))
            return e->code;
        if ((cs && *cs) || (eow && *eow))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: BPE continuing_subword_prefix / end_of_word_suffix are not supported");
        if (drop && !cJSON_IsNull(drop) && !(cJSON_IsNumber(drop) && drop->valuedouble == 0.0))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: BPE dropout is not supported");
        if (unk) {
            t->unk_id = sq_tok_vocab_find(&t->v, unk, strlen(unk));
            if (t->unk_id < 0) return sq_fail(e, SQ_EINPUT, "tokenizer.json: BPE unk_token '%.40s' is not in the vocabulary", unk);
        }
        return load_merges(t, sq_tok_member(m, "merges"), e);
    }
    return sq_fail(e, SQ_EINPUT, "tokenizer.json: model type '%.64s' is not supported (WordPiece and BPE are)", ty);
}

/* ---- finishing touches shared by both loaders ---- */

static int32_t find_any(const sq_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = sq_tokenizer_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

/* Every token string must name exactly one id: an added token that reuses a vocabulary
 * string under another id (or two added tokens sharing an id) makes ids and strings
 * disagree, and no real tokenizer.json does that. */
static int check_one_id_per_string(const sq_tokenizer *t, sq_err *e)
{
    for (int32_t i = 0; i < sq_tokenizer_vocab_size(t); i++) {
        const char *s = sq_tokenizer_id_to_token(t, i);
        if (!s) continue;
        int32_t j = sq_tokenizer_token_id(t, s);
        const char *s2 = j >= 0 ? sq_tokenizer_id_to_token(t, j) : NULL;
        if (j != i && (!s2 || strcmp(s, s2) != 0))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: token \"%.40s\" (id %ld) resolves to id %ld, which is \"%.40s\": conflicting vocab/added_tokens",
                           s, (long)i, (long)j, s2 ? s2 : "");
    }
    return SQ_OK;
}

static int finish(sq_tokenizer *t, sq_err *e)
{
    t->n_ids = t->v.n_ids > t->av.n_ids ? t->v.n_ids : t->av.n_ids;
    size_t n_strings = t->v.n_ent + t->av.n_ent;
    if ((size_t)t->n_ids > 2 * n_strings + 65536)
        return sq_fail(e, SQ_EINPUT, "token ids are too sparse (largest %ld for %zu strings)", (long)t->n_ids - 1, n_strings);
    for (size_t k = 0; k < t->n_tmpl_pre; k++)
        if (t->tmpl_pre[k] >= t->n_ids) return sq_fail(e, SQ_EINPUT, "post_processor uses unknown id %ld", (long)t->tmpl_pre[k]);
    for (size_t k = 0; k < t->n_tmpl_post; k++)
        if (t->tmpl_post[k] >= t->n_ids) return sq_fail(e, SQ_EINPUT, "post_processor uses unknown id %ld", (long)t->tmpl_post[k]);
    t->is_special = calloc((size_t)t->n_ids, 1);
    if (!t->is_special) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    for (size_t k = 0; k < t->n_added; k++) {
        tok_added *a = &t->added[k];
        if (a->special) t->is_special[a->id] = 1;
    }
    /* Tries: non-normalized tokens are matched in the raw text; normalized ones in the
     * normalized text, against their normalized content (as HF does). */
    tok_u32vec nv = {0};
    for (size_t k = 0; k < t->n_added; k++) {
        tok_added *a = &t->added[k];
        if (a->normalized && t->n_norm) {
            if (sq_tok_normalize(t, a->cp, a->n, &nv, e) || sq_tok_trie_add(&t->trie_norm, nv.v, nv.n, (int32_t)k, e)) {
                free(nv.v);
                return e->code;
            }
        } else if (sq_tok_trie_add(&t->trie_raw, a->cp, a->n, (int32_t)k, e)) {
            free(nv.v);
            return e->code;
        }
    }
    if (t->kind == SQ_TOK_WORDPIECE) {
        /* the trie of the model vocabulary (the strings the map resolves to) */
        for (size_t i = 0; i < t->v.n_slots; i++) {
            uint32_t x = t->v.slots[i];
            if (!x) continue;
            const tok_entry *en = &t->v.ent[x - 1];
            nv.n = 0;
            if (sq_tok_utf8_to_cps(t->v.arena.v + en->off, en->len, &nv, e) ||
                sq_tok_trie_add(&t->wp_trie, nv.v, nv.n, en->id, e)) {
                free(nv.v);
                return e->code;
            }
        }
        int32_t node = t->wp_trie.n_nodes ? 0 : -1;
        if (node >= 0 && t->wp_prefix_len) {
            if (sq_tok_utf8_to_cps(t->wp_prefix, t->wp_prefix_len, &nv, e)) { free(nv.v); return e->code; }
            for (size_t i = 0; i < nv.n && node >= 0; i++) node = sq_tok_trie_step(&t->wp_trie, node, nv.v[i]);
        }
        t->wp_prefix_node = node;
    }
    free(nv.v);
    for (int c = 0; c < 324; c++) t->cp_byte[c] = (int16_t)sq_tok_cp_to_byte((uint32_t)c);
    for (int b = 0; b < 256; b++) {
        char u[4];
        size_t k = sq_utf8_put(sq_tok_byte_to_cp((uint8_t)b), u);
        memcpy(t->byte_utf8[b], u, 2);
        t->byte_utf8_len[b] = (uint8_t)k;
    }
    if (t->kind != SQ_TOK_WORDPIECE) {
        char name[8];
        for (int b = 0; b < 256; b++) {
            t->byte_id[b] = sq_tok_vocab_find(&t->v, t->byte_utf8[b], t->byte_utf8_len[b]);
            snprintf(name, sizeof name, "<0x%02X>", (unsigned)b);
            t->fallback_id[b] = sq_tok_vocab_find(&t->v, name, 6);
        }
    }
    static const char *const bos[] = {"<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>", NULL};
    static const char *const eos[] = {"<|end_of_text|>", "</s>", "<eos>", "<|endoftext|>", NULL};
    static const char *const pad[] = {"[PAD]", "<pad>", NULL};
    static const char *const cls[] = {"[CLS]", NULL};
    static const char *const sep[] = {"[SEP]", NULL};
    static const char *const mask[] = {"[MASK]", "<mask>", NULL};
    if (t->kind != SQ_TOK_WORDPIECE && t->has_template && t->n_tmpl_pre > 0) t->special_ids[SQ_TOK_BOS] = t->tmpl_pre[0];
    else if (t->kind != SQ_TOK_WORDPIECE) t->special_ids[SQ_TOK_BOS] = find_any(t, bos);
    t->special_ids[SQ_TOK_EOS] = find_any(t, eos);
    t->special_ids[SQ_TOK_UNK] = t->unk_id;
    t->special_ids[SQ_TOK_PAD] = find_any(t, pad);
    t->special_ids[SQ_TOK_CLS] = find_any(t, cls);
    t->special_ids[SQ_TOK_SEP] = find_any(t, sep);
    t->special_ids[SQ_TOK_MASK] = find_any(t, mask);
    return SQ_OK;
}

static int sq_tokenizer_load_json_impl(sq_tokenizer **out, const char *json, size_t len, sq_err *e)
{
    *out = NULL;
    if (!json || len == 0) return sq_fail(e, SQ_EINPUT, "tokenizer.json: no data");
    cJSON *root = sq_json_parse(json, len);
    if (!root) return sq_fail(e, SQ_EINPUT, "tokenizer.json is not valid JSON");
    sq_tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) { sq_fail(e, SQ_EINPUT, "tokenizer.json: the top level must be an object"); goto fail; }
    if (!(t = tok_new(e))) goto fail;
    if (load_model(t, sq_tok_member(root, "model"), e) || sq_tok_load_normalizer(t, sq_tok_member(root, "normalizer"), 0, e) ||
        sq_tok_load_pre(t, sq_tok_member(root, "pre_tokenizer"), 0, e) || sq_tok_load_post(t, sq_tok_member(root, "post_processor"), 0, e))
        goto fail;
    int fused = 0;
    if (sq_tok_load_decoder(t, sq_tok_member(root, "decoder"), 0, &fused, e)) goto fail;
    if (load_added_tokens(t, sq_tok_member(root, "added_tokens"), e)) goto fail;
    if (t->kind != SQ_TOK_WORDPIECE) {
        int bytelevel = 0;
        for (size_t k = 0; k < t->n_pre; k++)
            if (t->pre[k].type == PRE_BYTELEVEL) bytelevel = 1;
        for (size_t k = 0; k < t->n_dec; k++)
            if (t->dec[k].type == DEC_BYTELEVEL) bytelevel = 1;
        t->kind = bytelevel ? SQ_TOK_BPE_BYTELEVEL : SQ_TOK_BPE_SENTENCEPIECE;
    }
    {
        const cJSON *tr = sq_tok_member(root, "truncation"), *ml = sq_tok_member(tr, "max_length");
        if (tr && !cJSON_IsNull(tr)) {
            if (!sq_tok_is_int_in(ml, 0, 1e9)) { sq_fail(e, SQ_EINPUT, "tokenizer.json: truncation.max_length must be an integer"); goto fail; }
            t->max_length = (size_t)ml->valuedouble;
        }
    }
    if (finish(t, e)) goto fail;
    if (check_one_id_per_string(t, e)) goto fail;
    cJSON_Delete(root);
    *out = t;
    return SQ_OK;
fail:
    cJSON_Delete(root);
    sq_tokenizer_free(t);
    return e->code ? e->code : SQ_EINTERNAL;
}

int sq_tokenizer_load(sq_tokenizer **out, const char *data, size_t len, sq_err *e)
{
    size_t i = 0;
    if (len >= 3 && (uint8_t)data[0] == 0xEF && (uint8_t)data[1] == 0xBB && (uint8_t)data[2] == 0xBF) i = 3;
    while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n')) i++;
    if (i < len && data[i] == '{') return sq_tokenizer_load_json(out, data, len, e);
    return sq_tokenizer_load_vocab_txt(out, data, len, 0, e);
}

/* ---- queries ---- */

int sq_tokenizer_kind(const sq_tokenizer *t) { return t->kind; }
int32_t sq_tokenizer_vocab_size(const sq_tokenizer *t) { return t->n_ids; }
size_t sq_tokenizer_max_length(const sq_tokenizer *t) { return t->max_length; }

int32_t sq_tokenizer_token_id_n(const sq_tokenizer *t, const char *token, size_t len)
{
    int32_t id = sq_tok_vocab_find(&t->av, token, len);
    return id >= 0 ? id : sq_tok_vocab_find(&t->v, token, len);
}

int32_t sq_tokenizer_token_id(const sq_tokenizer *t, const char *token)
{
    return token ? sq_tokenizer_token_id_n(t, token, strlen(token)) : -1;
}

const char *sq_tokenizer_id_to_token(const sq_tokenizer *t, int32_t id)
{
    const char *s = sq_tok_vocab_str(&t->av, id, NULL);
    return s ? s : sq_tok_vocab_str(&t->v, id, NULL);
}

int sq_tokenizer_is_special(const sq_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && t->is_special && t->is_special[id];
}

int32_t sq_tokenizer_special_id(const sq_tokenizer *t, int which)
{
    return which >= 0 && which < 7 ? t->special_ids[which] : -1;
}

int sq_tokenizer_load_json(sq_tokenizer **out, const char *json, size_t len, sq_err *e)
{
    sq_err local = {0};
    int rc = sq_tokenizer_load_json_impl(out, json, len, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}

int sq_tokenizer_load_vocab_txt(sq_tokenizer **out, const char *txt, size_t len, unsigned flags, sq_err *e)
{
    sq_err local = {0};
    int rc = sq_tokenizer_load_vocab_txt_impl(out, txt, len, flags, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}

