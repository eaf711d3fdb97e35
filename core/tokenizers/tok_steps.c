/* tok_steps.c - the pipeline steps of a tokenizer.json (normalizer, pre-tokenizer,
 * post-processor, decoder) read into an sq_tokenizer: each step's "type" becomes one of
 * the fixed step kinds encode/decode run (tok_encode.c, tok_decode.c); anything else is
 * refused with its JSON path. The rest of tokenizer.json (vocabulary, model, added
 * tokens) is read by tok_load.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_json.h"
#include "unicode.h"

/* The two Split regexes we have hand-written matchers for (tok_encode.c). */
static const char LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

#define MAX_DEPTH 8 /* nesting of Sequence components */

/* ---- normalizer ---- */

static tok_norm *new_norm(sq_tokenizer *t, int type, sq_err *e)
{
    if (t->n_norm >= TOK_MAX_STEPS) {
        sq_fail(e, SQ_EINPUT, "tokenizer.json: too many normalizer steps");
        return NULL;
    }
    tok_norm *n = &t->norm[t->n_norm++];
    memset(n, 0, sizeof *n);
    n->type = type;
    return n;
}

int sq_tok_load_normalizer(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e)
{
    if (!o || cJSON_IsNull(o)) return SQ_OK;
    const char *ty = sq_tok_type_of(o);
    if (!ty) return sq_fail(e, SQ_EINPUT, "tokenizer.json: normalizer without a type");
    if (depth > MAX_DEPTH) return sq_fail(e, SQ_EINPUT, "tokenizer.json: normalizers nested too deeply");
    tok_norm *n;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = sq_tok_member(o, "normalizers"), *it;
        if (!cJSON_IsArray(arr)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: normalizer Sequence needs normalizers[]");
        cJSON_ArrayForEach(it, arr) if (sq_tok_load_normalizer(t, it, depth + 1, e)) return e->code;
        return SQ_OK;
    }
    if (!strcmp(ty, "BertNormalizer")) {
        int sa_set;
        if (!(n = new_norm(t, NORM_BERT, e))) return e->code;
        if (sq_tok_get_bool(o, "clean_text", 1, &n->clean_text, "BertNormalizer", e) ||
            sq_tok_get_bool(o, "handle_chinese_chars", 1, &n->chinese, "BertNormalizer", e) ||
            sq_tok_get_bool(o, "lowercase", 1, &n->lowercase, "BertNormalizer", e) ||
            sq_tok_get_bool(o, "strip_accents", -1, &sa_set, "BertNormalizer", e))
            return e->code;
        n->strip_accents = sa_set < 0 ? n->lowercase : sa_set;
        return SQ_OK;
    }
    if (!strcmp(ty, "Prepend")) {
        const char *s;
        if (sq_tok_get_str(o, "prepend", &s, "Prepend", e)) return e->code;
        if (!s) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Prepend normalizer needs a prepend string");
        if (!(n = new_norm(t, NORM_PREPEND, e))) return e->code;
        if (sq_tok_str_to_cps(s, &n->a, &n->na, e)) return e->code;
        if (n->na > TOK_MAX_PATTERN) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Prepend string too long");
        return SQ_OK;
    }
    if (!strcmp(ty, "Replace")) {
        const cJSON *pat = sq_tok_member(o, "pattern");
        const char *from, *to;
        if (sq_tok_member(pat, "Regex")) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace normalizer with a Regex pattern is not supported");
        if (sq_tok_get_str(pat, "String", &from, "Replace.pattern", e) || sq_tok_get_str(o, "content", &to, "Replace", e)) return e->code;
        if (!from || !*from || !to) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace normalizer needs pattern.String and content");
        if (!(n = new_norm(t, NORM_REPLACE, e))) return e->code;
        if (sq_tok_str_to_cps(from, &n->a, &n->na, e) || sq_tok_str_to_cps(to, &n->b, &n->nb, e)) return e->code;
        if (n->na > TOK_MAX_PATTERN || n->nb > TOK_MAX_PATTERN)
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace normalizer strings longer than %d", TOK_MAX_PATTERN);
        return SQ_OK;
    }
    if (!strcmp(ty, "Lowercase")) return new_norm(t, NORM_LOWERCASE, e) ? SQ_OK : e->code;
    if (!strcmp(ty, "NFD")) return new_norm(t, NORM_NFD, e) ? SQ_OK : e->code;
    if (!strcmp(ty, "StripAccents")) return new_norm(t, NORM_STRIP_ACCENTS, e) ? SQ_OK : e->code;
    if (!strcmp(ty, "Strip")) {
        if (!(n = new_norm(t, NORM_STRIP, e))) return e->code;
        if (sq_tok_get_bool(o, "strip_left", 1, &n->strip_left, "Strip", e) ||
            sq_tok_get_bool(o, "strip_right", 1, &n->strip_right, "Strip", e))
            return e->code;
        return SQ_OK;
    }
    return sq_fail(e, SQ_EINPUT, "tokenizer.json: normalizer type '%.64s' is not supported", ty);
}

/* ---- pre-tokenizer ---- */

int sq_tok_load_pre(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e)
{
    if (!o || cJSON_IsNull(o)) return SQ_OK;
    const char *ty = sq_tok_type_of(o);
    if (!ty) return sq_fail(e, SQ_EINPUT, "tokenizer.json: pre_tokenizer without a type");
    if (depth > MAX_DEPTH) return sq_fail(e, SQ_EINPUT, "tokenizer.json: pre_tokenizers nested too deeply");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = sq_tok_member(o, "pretokenizers"), *it;
        if (!cJSON_IsArray(arr)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: pre_tokenizer Sequence needs pretokenizers[]");
        cJSON_ArrayForEach(it, arr) if (sq_tok_load_pre(t, it, depth + 1, e)) return e->code;
        return SQ_OK;
    }
    if (t->n_pre + 2 > TOK_MAX_STEPS) return sq_fail(e, SQ_EINPUT, "tokenizer.json: too many pre_tokenizer steps");
    if (t->n_pre && t->pre[t->n_pre - 1].type == PRE_BYTELEVEL)
        return sq_fail(e, SQ_EINPUT, "tokenizer.json: a pre_tokenizer after ByteLevel is not supported");
    tok_pre *p = &t->pre[t->n_pre];
    memset(p, 0, sizeof *p);
    if (!strcmp(ty, "BertPreTokenizer")) { p->type = PRE_BERT; t->n_pre++; return SQ_OK; }
    if (!strcmp(ty, "WhitespaceSplit")) { p->type = PRE_WHITESPACE_SPLIT; t->n_pre++; return SQ_OK; }
    if (!strcmp(ty, "ByteLevel")) {
        int use_regex;
        if (sq_tok_get_bool(o, "add_prefix_space", 1, &p->add_prefix_space, "ByteLevel", e) ||
            sq_tok_get_bool(o, "use_regex", 1, &use_regex, "ByteLevel", e))
            return e->code;
        p->type = PRE_BYTELEVEL;
        p->use_regex = use_regex;
        t->n_pre++;
        return SQ_OK;
    }
    if (!strcmp(ty, "Split")) {
        const cJSON *pat = sq_tok_member(o, "pattern");
        const char *rx, *behavior;
        int invert;
        if (sq_tok_get_str(pat, "Regex", &rx, "Split.pattern", e) || sq_tok_get_str(o, "behavior", &behavior, "Split", e) ||
            sq_tok_get_bool(o, "invert", 0, &invert, "Split", e))
            return e->code;
        if (!rx) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Split pre_tokenizer needs a Regex pattern");
        if (!behavior || strcmp(behavior, "Isolated") != 0 || invert)
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: only Split with behavior Isolated (not inverted) is supported");
        if (!strcmp(rx, LLAMA3_REGEX)) p->type = PRE_LLAMA3;
        else if (!strcmp(rx, GPT2_REGEX)) p->type = PRE_GPT2;
        else return sq_fail(e, SQ_EINPUT, "tokenizer.json: Split regex is not one we know (Llama 3 or GPT-2): %.80s", rx);
        t->n_pre++;
        return SQ_OK;
    }
    return sq_fail(e, SQ_EINPUT, "tokenizer.json: pre_tokenizer type '%.64s' is not supported", ty);
}

/* ---- post-processor ---- */

static int tmpl_add(sq_tokenizer *t, int after, int32_t id, sq_err *e)
{
    if (id < 0 || id >= TOK_MAX_IDS) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor id out of range");
    if (after) {
        if (t->n_tmpl_post >= TOK_MAX_TEMPLATE) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor template too long");
        t->tmpl_post[t->n_tmpl_post++] = id;
    } else {
        if (t->n_tmpl_pre >= TOK_MAX_TEMPLATE) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor template too long");
        t->tmpl_pre[t->n_tmpl_pre++] = id;
    }
    return SQ_OK;
}

int sq_tok_load_post(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e)
{
    if (!o || cJSON_IsNull(o)) return SQ_OK;
    const char *ty = sq_tok_type_of(o);
    if (!ty) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor without a type");
    if (depth > MAX_DEPTH) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processors nested too deeply");
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = sq_tok_member(o, "processors"), *it;
        if (!cJSON_IsArray(arr)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor Sequence needs processors[]");
        cJSON_ArrayForEach(it, arr) if (sq_tok_load_post(t, it, depth + 1, e)) return e->code;
        return SQ_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return SQ_OK; /* offsets only */
    if (!strcmp(ty, "BertProcessing") || !strcmp(ty, "RobertaProcessing")) {
        const cJSON *cls = sq_tok_member(o, "cls"), *sep = sq_tok_member(o, "sep");
        const cJSON *ci = cJSON_GetArrayItem(cls, 1), *si = cJSON_GetArrayItem(sep, 1);
        if (!cJSON_IsArray(cls) || !cJSON_IsArray(sep) || !sq_tok_is_int_in(ci, 0, TOK_MAX_IDS - 1) ||
            !sq_tok_is_int_in(si, 0, TOK_MAX_IDS - 1))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: %s needs cls and sep as [token, id]", ty);
        if (t->has_template) return sq_fail(e, SQ_EINPUT, "tokenizer.json: more than one template post_processor");
        t->has_template = 1;
        if (tmpl_add(t, 0, (int32_t)ci->valuedouble, e)) return e->code;
        return tmpl_add(t, 1, (int32_t)si->valuedouble, e);
    }
    if (!strcmp(ty, "TemplateProcessing")) {
        const cJSON *single = sq_tok_member(o, "single"), *sp = sq_tok_member(o, "special_tokens"), *it;
        int seen_a = 0;
        if (!cJSON_IsArray(single)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing.single must be an array");
        if (t->has_template) return sq_fail(e, SQ_EINPUT, "tokenizer.json: more than one template post_processor");
        t->has_template = 1;
        cJSON_ArrayForEach(it, single) {
            const cJSON *st = sq_tok_member(it, "SpecialToken"), *sq = sq_tok_member(it, "Sequence");
            if (sq) {
                const char *id;
                if (sq_tok_get_str(sq, "id", &id, "TemplateProcessing.single[].Sequence", e)) return e->code;
                if (!id || strcmp(id, "A") != 0 || seen_a)
                    return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing.single must hold sequence A once");
                seen_a = 1;
            } else if (st) {
                const char *name;
                if (sq_tok_get_str(st, "id", &name, "TemplateProcessing.single[].SpecialToken", e)) return e->code;
                const cJSON *def = name ? sq_tok_member(sp, name) : NULL, *ids = sq_tok_member(def, "ids"), *x;
                if (!cJSON_IsArray(ids))
                    return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing special token '%.64s' is not defined",
                                   name ? name : "?");
                cJSON_ArrayForEach(x, ids) {
                    if (!sq_tok_is_int_in(x, 0, TOK_MAX_IDS - 1))
                        return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing special token ids must be integers");
                    if (tmpl_add(t, seen_a, (int32_t)x->valuedouble, e)) return e->code;
                }
            } else {
                return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing.single items must be SpecialToken or Sequence");
            }
        }
        if (!seen_a) return sq_fail(e, SQ_EINPUT, "tokenizer.json: TemplateProcessing.single has no sequence A");
        return SQ_OK;
    }
    return sq_fail(e, SQ_EINPUT, "tokenizer.json: post_processor type '%.64s' is not supported", ty);
}

/* ---- decoder ---- */

static tok_dec *new_dec(sq_tokenizer *t, int type, sq_err *e)
{
    if (t->n_dec >= TOK_MAX_STEPS) {
        sq_fail(e, SQ_EINPUT, "tokenizer.json: too many decoder steps");
        return NULL;
    }
    tok_dec *d = &t->dec[t->n_dec++];
    memset(d, 0, sizeof *d);
    d->type = type;
    return d;
}

static int single_char(const char *s, uint32_t *cp)
{
    size_t n = strlen(s);
    if (n == 0) return 0;
    size_t k = sq_utf8_next((const uint8_t *)s, n, 0, cp);
    return k == n;
}

int sq_tok_load_decoder(sq_tokenizer *t, const cJSON *o, int depth, int *fused, sq_err *e)
{
    if (!o || cJSON_IsNull(o)) return SQ_OK;
    const char *ty = sq_tok_type_of(o);
    tok_dec *d;
    if (!ty) return sq_fail(e, SQ_EINPUT, "tokenizer.json: decoder without a type");
    if (depth > MAX_DEPTH) return sq_fail(e, SQ_EINPUT, "tokenizer.json: decoders nested too deeply");
    t->has_decoder = 1;
    if (!strcmp(ty, "Sequence")) {
        const cJSON *arr = sq_tok_member(o, "decoders"), *it;
        if (!cJSON_IsArray(arr)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: decoder Sequence needs decoders[]");
        cJSON_ArrayForEach(it, arr) if (sq_tok_load_decoder(t, it, depth + 1, fused, e)) return e->code;
        return SQ_OK;
    }
    if (!strcmp(ty, "ByteLevel")) return new_dec(t, DEC_BYTELEVEL, e) ? SQ_OK : e->code;
    if (!strcmp(ty, "ByteFallback")) return new_dec(t, DEC_BYTE_FALLBACK, e) ? SQ_OK : e->code;
    if (!strcmp(ty, "Fuse")) {
        *fused = 1;
        return new_dec(t, DEC_FUSE, e) ? SQ_OK : e->code;
    }
    if (!strcmp(ty, "WordPiece")) {
        const char *prefix;
        if (sq_tok_get_str(o, "prefix", &prefix, "decoder WordPiece", e)) return e->code;
        if (!(d = new_dec(t, DEC_WORDPIECE, e))) return e->code;
        if (!prefix) prefix = "##";
        d->na = strlen(prefix);
        if (d->na > TOK_MAX_PATTERN) return sq_fail(e, SQ_EINPUT, "tokenizer.json: WordPiece decoder prefix too long");
        if (sq_tok_dup_bytes(&d->a, prefix, d->na, e)) return e->code;
        return sq_tok_get_bool(o, "cleanup", 1, &d->cleanup, "decoder WordPiece", e);
    }
    if (!strcmp(ty, "Replace")) {
        const cJSON *pat = sq_tok_member(o, "pattern");
        const char *from, *to;
        if (sq_tok_member(pat, "Regex")) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace decoder with a Regex pattern is not supported");
        if (sq_tok_get_str(pat, "String", &from, "decoder Replace.pattern", e) || sq_tok_get_str(o, "content", &to, "decoder Replace", e))
            return e->code;
        if (!from || !*from || !to) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace decoder needs pattern.String and content");
        if (strlen(from) > TOK_MAX_PATTERN || strlen(to) > TOK_MAX_PATTERN)
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: Replace decoder strings longer than %d bytes", TOK_MAX_PATTERN);
        if (!(d = new_dec(t, DEC_REPLACE, e))) return e->code;
        d->na = strlen(from);
        d->nb = strlen(to);
        if (sq_tok_dup_bytes(&d->a, from, d->na, e)) return e->code;
        return sq_tok_dup_bytes(&d->b, to, d->nb, e);
    }
    if (!strcmp(ty, "Strip")) {
        const char *content;
        const cJSON *start = sq_tok_member(o, "start"), *stop = sq_tok_member(o, "stop");
        if (sq_tok_get_str(o, "content", &content, "decoder Strip", e)) return e->code;
        if (!(d = new_dec(t, DEC_STRIP, e))) return e->code;
        if (!content || !single_char(content, &d->strip_char))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: Strip decoder content must be one character");
        if (!sq_tok_is_int_in(start, 0, 1024) || (stop && !cJSON_IsNull(stop) && !sq_tok_is_int_in(stop, 0, 0)))
            return sq_fail(e, SQ_EINPUT, "tokenizer.json: Strip decoder supports start in [0, 1024] and stop 0 only");
        d->strip_start = (int)start->valuedouble;
        d->after_fuse = *fused;
        return SQ_OK;
    }
    if (!strcmp(ty, "Metaspace")) {
        const char *rep, *scheme;
        int add_prefix;
        if (sq_tok_get_str(o, "replacement", &rep, "decoder Metaspace", e) || sq_tok_get_str(o, "prepend_scheme", &scheme, "decoder Metaspace", e) ||
            sq_tok_get_bool(o, "add_prefix_space", 1, &add_prefix, "decoder Metaspace", e))
            return e->code;
        if (!(d = new_dec(t, DEC_METASPACE, e))) return e->code;
        if (!rep) rep = "\xe2\x96\x81";
        if (!single_char(rep, &d->strip_char)) return sq_fail(e, SQ_EINPUT, "tokenizer.json: Metaspace replacement must be one character");
        d->na = strlen(rep);
        if (sq_tok_dup_bytes(&d->a, rep, d->na, e)) return e->code;
        d->strip_start = scheme ? strcmp(scheme, "never") != 0 : add_prefix;
        return SQ_OK;
    }
    return sq_fail(e, SQ_EINPUT, "tokenizer.json: decoder type '%.64s' is not supported", ty);
}

