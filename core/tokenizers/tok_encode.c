/* tok_encode.c - text -> ids: added tokens, normalizers, pre-tokenizers, WordPiece, BPE,
 * post-processing. Everything works on code points (uint32) of the text.
 *
 * Where HF implementations disagree, this follows HF tokenizers (Rust) and the Python
 * BertTokenizer, documented at each place. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

/* ---- character classes ---- */

enum { C_L = 1, C_N = 2, C_WS = 4 };

static int cclass(uint32_t c)
{
    if (c < 128) {
        if ((c | 32) >= 'a' && (c | 32) <= 'z') return C_L;
        if (c >= '0' && c <= '9') return C_N;
        if (c == ' ' || (c >= 9 && c <= 13)) return C_WS;
        return 0;
    }
    int g = sq_uc_category(c);
    if (g >= SQ_GC_Lu && g <= SQ_GC_Lo) return C_L;
    if (g >= SQ_GC_Nd && g <= SQ_GC_No) return C_N;
    return sq_uc_is_white_space(c) ? C_WS : 0;
}

static int is_chinese(uint32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Python BertTokenizer _is_control: category C* except \t \n \r (Cn included). */
static int bert_is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    if (c < 128) return c < 32 || c == 127;
    int g = sq_uc_category(c);
    return g == SQ_GC_Cn || g >= SQ_GC_Cc;
}

/* Python _is_punctuation / Rust is_bert_punc: ASCII punctuation or category P*. */
static int bert_is_punct(uint32_t c)
{
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return 1;
    if (c < 128) return 0;
    int g = sq_uc_category(c);
    return g >= SQ_GC_Pc && g <= SQ_GC_Po;
}

/* ---- normalizers ---- */

static int push(tok_u32vec *v, uint32_t c, sq_err *e) { return sq_tok_u32_push(v, c, e); }

/* Lowercase. final_sigma: Python str.lower() / JS toLowerCase context rule for U+03A3
 * (used by BERT, whose reference tokenizers are those); HF's Rust Lowercase maps per
 * character (no final sigma). U+0130 has the one unconditional multi-character mapping. */
static int lower_into(const uint32_t *in, size_t n, tok_u32vec *out, int final_sigma, sq_err *e)
{
    out->n = 0;
    if (sq_tok_u32_reserve(out, n + n / 4 + 1, e)) return e->code;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = in[i];
        if (c == 0x130) {
            if (push(out, 'i', e) || push(out, 0x307, e)) return e->code;
            continue;
        }
        if (c == 0x3A3 && final_sigma) {
            /* \p{cased} \p{case-ignorable}* SIGMA !(\p{case-ignorable}* \p{cased}) */
            size_t j = i;
            int fin = 0;
            while (j > 0 && sq_uc_is_case_ignorable(in[j - 1])) j--;
            if (j > 0 && sq_uc_is_cased(in[j - 1])) {
                size_t k = i + 1;
                while (k < n && sq_uc_is_case_ignorable(in[k])) k++;
                fin = !(k < n && sq_uc_is_cased(in[k]));
            }
            if (push(out, fin ? 0x3C2 : 0x3C3, e)) return e->code;
            continue;
        }
        if (push(out, sq_uc_simple_lower(c), e)) return e->code;
    }
    return SQ_OK;
}

/* Canonical ordering of a run of non-starters: stable sort by combining class. */
static void sort_run(uint32_t *s, uint8_t *cc, size_t n)
{
    for (size_t i = 1; i < n; i++) { /* runs are short in real text; hostile runs are capped below */
        uint32_t x = s[i];
        uint8_t k = cc[i];
        size_t j = i;
        while (j > 0 && cc[j - 1] > k) {
            s[j] = s[j - 1];
            cc[j] = cc[j - 1];
            j--;
        }
        s[j] = x;
        cc[j] = k;
    }
}

#define NFD_SORT_MAX 64 /* longer runs of combining marks are sorted in chunks (bounded work) */

/* NFD, then optionally drop marks: drop = 0 none, 1 Mn (BERT), 2 any M* (StripAccents). */
static int nfd_into(const uint32_t *in, size_t n, tok_u32vec *out, int drop, sq_err *e)
{
    uint32_t d[SQ_UC_MAX_DECOMP];
    uint32_t run[NFD_SORT_MAX];
    uint8_t cc[NFD_SORT_MAX];
    size_t nrun = 0;
    out->n = 0;
    if (sq_tok_u32_reserve(out, n + 8, e)) return e->code;
    for (size_t i = 0; i < n; i++) {
        size_t k = sq_uc_decompose(in[i], d);
        for (size_t j = 0; j < k; j++) {
            int c = sq_uc_ccc(d[j]);
            if (c != 0 && nrun < NFD_SORT_MAX) {
                run[nrun] = d[j];
                cc[nrun++] = (uint8_t)c;
                continue;
            }
            if (nrun) {
                sort_run(run, cc, nrun);
                for (size_t r = 0; r < nrun; r++) {
                    int g = sq_uc_category(run[r]);
                    if (drop == 1 && g == SQ_GC_Mn) continue;
                    if (drop == 2 && g >= SQ_GC_Mn && g <= SQ_GC_Me) continue;
                    if (push(out, run[r], e)) return e->code;
                }
                nrun = 0;
            }
            if (c != 0) { /* the chunk was full: start a new one */
                run[nrun] = d[j];
                cc[nrun++] = (uint8_t)c;
                continue;
            }
            int g = sq_uc_category(d[j]);
            if (drop == 1 && g == SQ_GC_Mn) continue;
            if (drop == 2 && g >= SQ_GC_Mn && g <= SQ_GC_Me) continue;
            if (push(out, d[j], e)) return e->code;
        }
    }
    sort_run(run, cc, nrun);
    for (size_t r = 0; r < nrun; r++) {
        int g = sq_uc_category(run[r]);
        if (drop == 1 && g == SQ_GC_Mn) continue;
        if (drop == 2 && g >= SQ_GC_Mn && g <= SQ_GC_Me) continue;
        if (push(out, run[r], e)) return e->code;
    }
    return SQ_OK;
}

static int norm_step(const tok_norm *nm, const uint32_t *in, size_t n, tok_u32vec *out, tok_u32vec *tmp, sq_err *e)
{
    out->n = 0;
    switch (nm->type) {
    case NORM_BERT: {
        /* clean_text + CJK spacing into tmp, then lowercase into out, then NFD into tmp */
        tmp->n = 0;
        if (sq_tok_u32_reserve(tmp, n + 16, e)) return e->code;
        for (size_t i = 0; i < n; i++) {
            uint32_t c = in[i];
            if (nm->clean_text) {
                if (c == 0 || c == 0xFFFD || bert_is_control(c)) continue;
                if (sq_uc_is_white_space(c)) c = ' ';
            }
            if (nm->chinese && c >= 0x3400 && is_chinese(c)) {
                if (push(tmp, ' ', e) || push(tmp, c, e) || push(tmp, ' ', e)) return e->code;
            } else if (push(tmp, c, e)) {
                return e->code;
            }
        }
        if (nm->lowercase) {
            if (lower_into(tmp->v, tmp->n, out, 1, e)) return e->code;
        } else {
            if (sq_tok_u32_reserve(out, tmp->n, e)) return e->code;
            if (tmp->n) memcpy(out->v, tmp->v, tmp->n * sizeof *tmp->v);
            out->n = tmp->n;
        }
        if (nm->strip_accents) {
            if (nfd_into(out->v, out->n, tmp, 1, e)) return e->code;
            tok_u32vec sw = *out;
            *out = *tmp;
            *tmp = sw;
        }
        return SQ_OK;
    }
    case NORM_LOWERCASE: return lower_into(in, n, out, 0, e);
    case NORM_NFD: return nfd_into(in, n, out, 0, e);
    case NORM_STRIP_ACCENTS:
        for (size_t i = 0; i < n; i++) {
            int g = sq_uc_category(in[i]);
            if (g >= SQ_GC_Mn && g <= SQ_GC_Me) continue;
            if (push(out, in[i], e)) return e->code;
        }
        return SQ_OK;
    case NORM_PREPEND:
        if (n == 0) return SQ_OK;
        if (sq_tok_u32_reserve(out, n + nm->na, e)) return e->code;
        memcpy(out->v, nm->a, nm->na * sizeof *nm->a);
        memcpy(out->v + nm->na, in, n * sizeof *in);
        out->n = n + nm->na;
        return SQ_OK;
    case NORM_REPLACE:
        for (size_t i = 0; i < n;) {
            if (i + nm->na <= n && memcmp(in + i, nm->a, nm->na * sizeof *in) == 0) {
                for (size_t k = 0; k < nm->nb; k++)
                    if (push(out, nm->b[k], e)) return e->code;
                i += nm->na;
            } else {
                if (push(out, in[i], e)) return e->code;
                i++;
            }
        }
        return SQ_OK;
    case NORM_STRIP: {
        size_t a = 0, b = n;
        if (nm->strip_left) while (a < b && sq_uc_is_white_space(in[a])) a++;
        if (nm->strip_right) while (b > a && sq_uc_is_white_space(in[b - 1])) b--;
        if (sq_tok_u32_reserve(out, b - a, e)) return e->code;
        if (b > a) memcpy(out->v, in + a, (b - a) * sizeof *in);
        out->n = b - a;
        return SQ_OK;
    }
    default: return sq_fail(e, SQ_EINTERNAL, "unknown normalizer step");
    }
}

int sq_tok_normalize(const sq_tokenizer *t, const uint32_t *in, size_t n, tok_u32vec *out, sq_err *e)
{
    tok_u32vec a = {0}, tmp = {0};
    out->n = 0;
    if (sq_tok_u32_reserve(out, n + 1, e)) return e->code;
    memcpy(out->v, in, n * sizeof *in);
    out->n = n;
    /* Every step grows the text by a bounded factor (CJK spacing 3x, NFD 4x, Replace
     * TOK_MAX_PATTERN x), but a chain of steps could multiply that: cap the total. */
    size_t cap = n > SIZE_MAX / 64 - 4096 ? SIZE_MAX : 64 * n + 4096;
    for (size_t k = 0; k < t->n_norm; k++) {
        if (norm_step(&t->norm[k], out->v, out->n, &a, &tmp, e)) break;
        tok_u32vec sw = *out;
        *out = a;
        a = sw;
        if (out->n > cap) {
            sq_fail(e, SQ_EINPUT, "the normalizer expands the text more than 64 times");
            break;
        }
    }
    free(a.v);
    free(tmp.v);
    return e->code;
}

/* ---- pre-tokenizers: spans (start, len) over a code point buffer ---- */

typedef struct {
    tok_u32vec buf;   /* code points */
    tok_u32vec span;  /* pairs: start, length */
} pool;

static int pool_add(pool *p, const uint32_t *s, size_t n, sq_err *e)
{
    if (n == 0) return SQ_OK;
    if (n > UINT32_MAX || p->buf.n > UINT32_MAX - n) return sq_fail(e, SQ_EINPUT, "text too long");
    uint32_t start = (uint32_t)p->buf.n;
    if (sq_tok_u32_reserve(&p->buf, n, e)) return e->code;
    memcpy(p->buf.v + p->buf.n, s, n * sizeof *s);
    p->buf.n += n;
    if (sq_tok_u32_push(&p->span, start, e) || sq_tok_u32_push(&p->span, (uint32_t)n, e)) return e->code;
    return SQ_OK;
}

/* Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *          ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Returns the end of the match at i (every position matches one alternative). (?i)
 * folds like Oniguruma / the regex crate: 's also matches 'S and U+017F LONG S. */
static size_t match_llama3(const uint32_t *s, size_t n, size_t i)
{
    uint32_t c = s[i];
    if (c == '\'' && i + 1 < n) {
        uint32_t d = s[i + 1], f = d | 32;
        if (d < 128 && (f == 's' || f == 't' || f == 'm' || f == 'd')) return i + 2;
        if (d == 0x17F) return i + 2;
        if (i + 2 < n && d < 128 && s[i + 2] < 128) {
            uint32_t g = s[i + 2] | 32;
            if ((f == 'r' && g == 'e') || (f == 'v' && g == 'e') || (f == 'l' && g == 'l')) return i + 3;
        }
    }
    int k = cclass(c);
    if (k == C_L || (k != C_N && c != '\r' && c != '\n' && i + 1 < n && cclass(s[i + 1]) == C_L)) {
        size_t j = k == C_L ? i + 1 : i + 2;
        while (j < n && cclass(s[j]) == C_L) j++;
        return j;
    }
    if (k == C_N) {
        size_t j = i + 1;
        while (j < n && j < i + 3 && cclass(s[j]) == C_N) j++;
        return j;
    }
    if ((c == ' ' && i + 1 < n && cclass(s[i + 1]) == 0) || k == 0) {
        size_t j = c == ' ' ? i + 2 : i + 1;
        while (j < n && cclass(s[j]) == 0) j++;
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    /* c is white space */
    size_t j = i, last_nl = SIZE_MAX;
    while (j < n && cclass(s[j]) == C_WS) {
        if (s[j] == '\r' || s[j] == '\n') last_nl = j;
        j++;
    }
    if (last_nl != SIZE_MAX) return last_nl + 1;  /* \s*[\r\n]+ */
    if (j == n || j - i < 2) return j;            /* \s+(?!\S) at the end, or \s+ */
    return j - 1;                                  /* \s+(?!\S) backs off one */
}

/* GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t match_gpt2(const uint32_t *s, size_t n, size_t i)
{
    uint32_t c = s[i];
    if (c == '\'' && i + 1 < n) {
        uint32_t d = s[i + 1];
        if (d == 's' || d == 't' || d == 'm' || d == 'd') return i + 2;
        if (i + 2 < n && ((d == 'r' && s[i + 2] == 'e') || (d == 'v' && s[i + 2] == 'e') || (d == 'l' && s[i + 2] == 'l')))
            return i + 3;
    }
    int k = cclass(c);
    int next = (c == ' ' && i + 1 < n) ? cclass(s[i + 1]) : -1;
    int want = -1;
    size_t j = i;
    if (next == C_L || k == C_L) want = C_L;
    else if (next == C_N || k == C_N) want = C_N;
    else if (next == 0 || k == 0) want = 0;
    if (want >= 0) {
        j = (k == want) ? i + 1 : i + 2;
        while (j < n && cclass(s[j]) == want) j++;
        return j;
    }
    while (j < n && cclass(s[j]) == C_WS) j++;
    if (j == n || j - i < 2) return j;
    return j - 1;
}

static int pre_step(const tok_pre *p, const uint32_t *s, size_t n, pool *out, tok_u32vec *tmp, sq_err *e)
{
    size_t i = 0, start = 0;
    switch (p->type) {
    case PRE_BERT:
    case PRE_WHITESPACE_SPLIT:
        for (i = 0; i < n; i++) {
            uint32_t c = s[i];
            if (sq_uc_is_white_space(c)) {
                if (pool_add(out, s + start, i - start, e)) return e->code;
                start = i + 1;
            } else if (p->type == PRE_BERT && bert_is_punct(c)) {
                if (pool_add(out, s + start, i - start, e) || pool_add(out, s + i, 1, e)) return e->code;
                start = i + 1;
            }
        }
        return pool_add(out, s + start, n - start, e);
    case PRE_LLAMA3:
    case PRE_GPT2:
        while (i < n) {
            size_t j = p->type == PRE_LLAMA3 ? match_llama3(s, n, i) : match_gpt2(s, n, i);
            if (j <= i) j = i + 1; /* cannot happen; keeps the loop finite */
            if (pool_add(out, s + i, j - i, e)) return e->code;
            i = j;
        }
        return SQ_OK;
    case PRE_BYTELEVEL:
        if (p->add_prefix_space && (n == 0 || s[0] != ' ')) {
            tmp->n = 0;
            if (n == 0) return SQ_OK;
            if (sq_tok_u32_reserve(tmp, n + 1, e)) return e->code;
            tmp->v[0] = ' ';
            memcpy(tmp->v + 1, s, n * sizeof *s);
            tmp->n = n + 1;
            s = tmp->v;
            n = tmp->n;
        }
        if (!p->use_regex) return pool_add(out, s, n, e);
        while (i < n) {
            size_t j = match_gpt2(s, n, i);
            if (j <= i) j = i + 1;
            if (pool_add(out, s + i, j - i, e)) return e->code;
            i = j;
        }
        return SQ_OK;
    default: return sq_fail(e, SQ_EINTERNAL, "unknown pre_tokenizer step");
    }
}

/* ---- encoding context ---- */

typedef struct {
    int32_t rank;
    uint32_t pos;
    int32_t id;
} heap_item;

typedef struct {
    const sq_tokenizer *t;
    unsigned flags;
    tok_u32vec cps, norm, tmp;
    pool pa, pb;
    tok_bytes bytes, key;
    tok_u32vec offs;
    tok_i32vec sym, prev, next, word;
    heap_item *heap;
    size_t heap_n, heap_cap;
    tok_i32vec out;
} enc_ctx;

static void ctx_free(enc_ctx *c)
{
    free(c->cps.v); free(c->norm.v); free(c->tmp.v);
    free(c->pa.buf.v); free(c->pa.span.v); free(c->pb.buf.v); free(c->pb.span.v);
    free(c->bytes.v); free(c->key.v); free(c->offs.v);
    free(c->sym.v); free(c->prev.v); free(c->next.v); free(c->word.v);
    free(c->heap);
    free(c->out.v);
}

/* ---- WordPiece ---- */

/* Greedy longest-match-first (HF WordPiece): the longest vocabulary string at each
 * position, with the continuing-subword prefix after the first; [UNK] for the whole
 * word if some position has none, or if the word is longer than max_input_chars. A trie
 * walk finds the longest match in one pass (no string is hashed twice). */
static int wordpiece(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    const sq_tokenizer *t = c->t;
    if (n > t->wp_max_chars) return sq_tok_i32_push(&c->out, t->unk_id, e);
    size_t mark = c->out.n, start = 0;
    while (start < n) {
        int32_t node = start == 0 ? 0 : t->wp_prefix_node, found = -1;
        size_t end = start;
        for (size_t j = start; j < n && node >= 0; j++) {
            node = sq_tok_trie_step(&t->wp_trie, node, s[j]);
            if (node >= 0 && t->wp_trie.term[node] >= 0) {
                found = t->wp_trie.term[node];
                end = j + 1;
            }
        }
        if (found < 0) {
            c->out.n = mark;
            return sq_tok_i32_push(&c->out, t->unk_id, e);
        }
        if (sq_tok_i32_push(&c->out, found, e)) return e->code;
        start = end;
    }
    return SQ_OK;
}

/* ---- BPE ---- */

static int heap_less(const heap_item *a, const heap_item *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(enc_ctx *c, int32_t rank, uint32_t pos, int32_t id, sq_err *e)
{
    if (c->heap_n == c->heap_cap) {
        size_t cap = c->heap_cap ? c->heap_cap * 2 : 64;
        heap_item *h = realloc(c->heap, cap * sizeof *h);
        if (!h) return sq_fail(e, SQ_EINTERNAL, "out of memory");
        c->heap = h;
        c->heap_cap = cap;
    }
    size_t i = c->heap_n++;
    heap_item x = {rank, pos, id};
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&x, &c->heap[p])) break;
        c->heap[i] = c->heap[p];
        i = p;
    }
    c->heap[i] = x;
    return SQ_OK;
}

static heap_item heap_pop(enc_ctx *c)
{
    heap_item top = c->heap[0], x = c->heap[--c->heap_n];
    size_t i = 0, n = c->heap_n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const heap_item *best = &x;
        if (l < n && heap_less(&c->heap[l], best)) { m = l; best = &c->heap[l]; }
        if (r < n && heap_less(&c->heap[r], best)) { m = r; }
        if (m == i) break;
        c->heap[i] = c->heap[m];
        i = m;
    }
    if (n) c->heap[i] = x;
    return top;
}

/* Merge c->sym[0..n) in place by rank, as HF's Word::merge_all: the lowest (rank,
 * position) pair first; append the result to c->out. */
static int bpe_merge(enc_ctx *c, sq_err *e)
{
    const tok_merges *m = &c->t->merges;
    size_t n = c->sym.n;
    int32_t *id = c->sym.v;
    if (n > 1 && m->n) {
        c->prev.n = c->next.n = 0;
        for (size_t i = 0; i < n; i++)
            if (sq_tok_i32_push(&c->prev, (int32_t)i - 1, e) || sq_tok_i32_push(&c->next, i + 1 < n ? (int32_t)i + 1 : -1, e)) return e->code;
        int32_t *prev = c->prev.v, *next = c->next.v;
        c->heap_n = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            const tok_merge *mg = sq_tok_merges_get(m, id[i], id[i + 1]);
            if (mg && heap_push(c, mg->rank, (uint32_t)i, mg->id, e)) return e->code;
        }
        while (c->heap_n) {
            heap_item top = heap_pop(c);
            uint32_t p = top.pos;
            if (id[p] < 0 || next[p] < 0) continue;
            int32_t q = next[p];
            const tok_merge *mg = sq_tok_merges_get(m, id[p], id[q]);
            if (!mg || mg->id != top.id) continue; /* stale */
            id[p] = top.id;
            id[q] = -1;
            next[p] = next[q];
            if (next[q] >= 0) prev[next[q]] = (int32_t)p;
            if (prev[p] >= 0) {
                const tok_merge *l = sq_tok_merges_get(m, id[prev[p]], id[p]);
                if (l && heap_push(c, l->rank, (uint32_t)prev[p], l->id, e)) return e->code;
            }
            if (next[p] >= 0) {
                const tok_merge *r = sq_tok_merges_get(m, id[p], id[next[p]]);
                if (r && heap_push(c, r->rank, p, r->id, e)) return e->code;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        if (id[i] >= 0 && sq_tok_i32_push(&c->out, id[i], e)) return e->code;
    return SQ_OK;
}

static int bpe_bytelevel(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    const sq_tokenizer *t = c->t;
    c->bytes.n = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        if (sq_tok_bytes_put(&c->bytes, u, sq_utf8_put(s[i], u), e)) return e->code;
    }
    const uint8_t *b = (const uint8_t *)c->bytes.v;
    size_t nb = c->bytes.n;
    if (t->ignore_merges) {
        c->key.n = 0;
        if (sq_tok_bytes_reserve(&c->key, 2 * nb, e)) return e->code;
        for (size_t i = 0; i < nb; i++) {
            memcpy(c->key.v + c->key.n, t->byte_utf8[b[i]], t->byte_utf8_len[b[i]]);
            c->key.n += t->byte_utf8_len[b[i]];
        }
        int32_t id = sq_tok_vocab_find(&t->v, c->key.v, c->key.n);
        if (id >= 0) return sq_tok_i32_push(&c->out, id, e);
    }
    c->sym.n = 0;
    int pending_unk = 0;
    for (size_t i = 0; i < nb; i++) {
        int32_t id = t->byte_id[b[i]];
        if (id >= 0) {
            if (pending_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
            pending_unk = 0;
            if (sq_tok_i32_push(&c->sym, id, e)) return e->code;
        } else if (t->unk_id >= 0) {
            if (pending_unk && !t->fuse_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
            pending_unk = 1;
        }
    }
    if (pending_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
    return bpe_merge(c, e);
}

static int bpe_sentencepiece(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    const sq_tokenizer *t = c->t;
    if (t->ignore_merges) {
        c->key.n = 0;
        for (size_t i = 0; i < n; i++) {
            char u[4];
            if (sq_tok_bytes_put(&c->key, u, sq_utf8_put(s[i], u), e)) return e->code;
        }
        int32_t id = sq_tok_vocab_find(&t->v, c->key.v, c->key.n);
        if (id >= 0) return sq_tok_i32_push(&c->out, id, e);
    }
    c->sym.n = 0;
    int pending_unk = 0;
    for (size_t i = 0; i < n; i++) {
        char u[4];
        size_t k = sq_utf8_put(s[i], u);
        int32_t id = sq_tok_vocab_find(&t->v, u, k);
        if (id >= 0) {
            if (pending_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
            pending_unk = 0;
            if (sq_tok_i32_push(&c->sym, id, e)) return e->code;
            continue;
        }
        if (t->byte_fallback) {
            int all = 1;
            for (size_t j = 0; j < k; j++)
                if (t->fallback_id[(uint8_t)u[j]] < 0) all = 0;
            if (all) {
                if (pending_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
                pending_unk = 0;
                for (size_t j = 0; j < k; j++)
                    if (sq_tok_i32_push(&c->sym, t->fallback_id[(uint8_t)u[j]], e)) return e->code;
                continue;
            }
        }
        if (t->unk_id >= 0) {
            if (pending_unk && !t->fuse_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
            pending_unk = 1;
        }
    }
    if (pending_unk && sq_tok_i32_push(&c->sym, t->unk_id, e)) return e->code;
    return bpe_merge(c, e);
}

/* ---- one stretch of text between added tokens ---- */

static int model_piece(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    if (n == 0) return SQ_OK;
    switch (c->t->kind) {
    case SQ_TOK_WORDPIECE: return wordpiece(c, s, n, e);
    case SQ_TOK_BPE_BYTELEVEL: return bpe_bytelevel(c, s, n, e);
    default: return bpe_sentencepiece(c, s, n, e);
    }
}

static int pretok_and_model(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    const sq_tokenizer *t = c->t;
    if (n == 0) return SQ_OK;
    if (t->n_pre == 0) return model_piece(c, s, n, e);
    pool *in = &c->pa, *out = &c->pb;
    in->buf.n = in->span.n = 0;
    if (pool_add(in, s, n, e)) return e->code;
    for (size_t k = 0; k < t->n_pre; k++) {
        out->buf.n = out->span.n = 0;
        for (size_t q = 0; q < in->span.n; q += 2)
            if (pre_step(&t->pre[k], in->buf.v + in->span.v[q], in->span.v[q + 1], out, &c->tmp, e)) return e->code;
        pool *sw = in;
        in = out;
        out = sw;
    }
    for (size_t q = 0; q < in->span.n; q += 2)
        if (model_piece(c, in->buf.v + in->span.v[q], in->span.v[q + 1], e)) return e->code;
    return SQ_OK;
}

static int is_word_char(uint32_t c) { return c == '_' || (cclass(c) & (C_L | C_N)); }

/* Split s[0..n) on the added tokens of trie; call fn on the text between them and push
 * the ids of the tokens. lstrip/rstrip eat neighbouring white space; single_word
 * tokens only match between non-word characters. */
static int split_added(enc_ctx *c, const tok_trie *trie, const uint32_t *s, size_t n,
                       int (*fn)(enc_ctx *, const uint32_t *, size_t, sq_err *), sq_err *e)
{
    const sq_tokenizer *t = c->t;
    size_t start = 0, i = 0;
    if (n == 0) return fn(c, s, 0, e);
    int literal = (c->flags & SQ_TOK_LITERAL) || !trie->n_nodes;
    while (!literal && i < n) {
        int32_t k = -1;
        size_t m = sq_tok_trie_longest(trie, s + i, n - i, &k);
        if (m == 0) { i++; continue; }
        const tok_added *a = &t->added[k];
        if (a->single_word && ((i > 0 && is_word_char(s[i - 1])) || (i + m < n && is_word_char(s[i + m])))) {
            i++;
            continue;
        }
        size_t end_text = i;
        if (a->lstrip) while (end_text > start && sq_uc_is_white_space(s[end_text - 1])) end_text--;
        if (fn(c, s + start, end_text - start, e)) return e->code;
        if (sq_tok_i32_push(&c->out, a->id, e)) return e->code;
        i += m;
        if (a->rstrip) while (i < n && sq_uc_is_white_space(s[i])) i++;
        start = i;
    }
    return fn(c, s + start, n - start, e);
}

static int normalized_segment(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    return pretok_and_model(c, s, n, e);
}

static int raw_segment(enc_ctx *c, const uint32_t *s, size_t n, sq_err *e)
{
    const sq_tokenizer *t = c->t;
    if (n == 0) return SQ_OK;
    if (t->n_norm == 0) return pretok_and_model(c, s, n, e);
    if (sq_tok_normalize(t, s, n, &c->norm, e)) return e->code;
    return split_added(c, &t->trie_norm, c->norm.v, c->norm.n, normalized_segment, e);
}

static int sq_tokenizer_encode_impl(const sq_tokenizer *t, const char *text, size_t len, unsigned flags, size_t max_len,
                        int32_t **ids, size_t *n, sq_err *e)
{
    enc_ctx c;
    memset(&c, 0, sizeof c);
    c.t = t;
    c.flags = flags;
    *ids = NULL;
    *n = 0;
    if (!text && len) return sq_fail(e, SQ_EINPUT, "no text");
    if (len > (SIZE_MAX / 8) || len > UINT32_MAX / 2) return sq_fail(e, SQ_EINPUT, "text too long (%zu bytes)", len);
    if (sq_tok_utf8_to_cps(text ? text : "", len, &c.cps, e)) goto done;
    if (split_added(&c, &t->trie_raw, c.cps.v, c.cps.n, raw_segment, e)) goto done;

    /* post-processing */
    const int32_t *pre = NULL, *post = NULL;
    size_t npre = 0, npost = 0;
    int32_t bos_pre[TOK_MAX_TEMPLATE + 1];
    if ((flags & SQ_TOK_ADD_SPECIAL) && t->has_template) {
        pre = t->tmpl_pre;
        npre = t->n_tmpl_pre;
        post = t->tmpl_post;
        npost = t->n_tmpl_post;
    }
    int32_t bos = t->special_ids[SQ_TOK_BOS];
    if ((flags & SQ_TOK_ADD_BOS) && bos >= 0 && !(npre && pre[0] == bos) && !(npre == 0 && c.out.n && c.out.v[0] == bos)) {
        bos_pre[0] = bos;
        if (npre) memcpy(bos_pre + 1, pre, npre * sizeof *pre);
        pre = bos_pre;
        npre++;
    }
    size_t content = c.out.n;
    if (max_len) {
        size_t avail = max_len > npre + npost ? max_len - npre - npost : 0;
        if (content > avail) content = avail;
    }
    size_t total = npre + content + npost;
    if (max_len && total > max_len) total = max_len;
    int32_t *res = malloc((total ? total : 1) * sizeof *res);
    if (!res) { sq_fail(e, SQ_EINTERNAL, "out of memory"); goto done; }
    size_t k = 0;
    for (size_t i = 0; i < npre && k < total; i++) res[k++] = pre[i];
    for (size_t i = 0; i < content && k < total; i++) res[k++] = c.out.v[i];
    for (size_t i = 0; i < npost && k < total; i++) res[k++] = post[i];
    *ids = res;
    *n = k;
done:
    ctx_free(&c);
    return e->code;
}

int sq_tokenizer_encode(const sq_tokenizer *t, const char *text, size_t len, unsigned flags, size_t max_len,
                        int32_t **ids, size_t *n, sq_err *e)
{
    sq_err local = {0};
    int rc = sq_tokenizer_encode_impl(t, text, len, flags, max_len, ids, n, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}
