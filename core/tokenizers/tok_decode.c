/* tok_decode.c - ids -> text, streaming (one id at a time) and whole sequences.
 *
 * Each token goes through the tokenizer.json decoder steps in order, as HF's decoders
 * do (ByteLevel, WordPiece, Replace, ByteFallback, Metaspace, per token; Strip after a
 * Fuse acts on the start of the whole text). The resulting bytes are assembled into
 * complete UTF-8 characters; ill-formed bytes become U+FFFD (one per maximal ill-formed
 * subpart, like Rust's from_utf8_lossy). */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

struct sq_detok {
    const sq_tokenizer *t;
    unsigned flags;
    size_t index;        /* tokens decoded so far (special tokens skipped don't count) */
    int strip_left;      /* leading strip chars still to drop from the output */
    int started;         /* some output char was produced (or stripping ended) */
    uint8_t pend[8];     /* an incomplete UTF-8 sequence */
    size_t npend;
    tok_bytes out, a, b;
};

static const tok_dec *global_strip(const sq_tokenizer *t)
{
    for (size_t k = 0; k < t->n_dec; k++)
        if (t->dec[k].type == DEC_STRIP && t->dec[k].after_fuse) return &t->dec[k];
    return NULL;
}

static void detok_reset(sq_detok *d)
{
    const tok_dec *gs = global_strip(d->t);
    d->index = 0;
    d->strip_left = gs ? gs->strip_start : 0;
    d->started = 0;
    d->npend = 0;
}

int sq_detok_new(sq_detok **out, const sq_tokenizer *t, unsigned flags, sq_err *e)
{
    sq_detok *d = calloc(1, sizeof *d);
    *out = NULL;
    if (!d) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    d->t = t;
    d->flags = flags;
    detok_reset(d);
    *out = d;
    return SQ_OK;
}

void sq_detok_free(sq_detok *d)
{
    if (!d) return;
    free(d->out.v);
    free(d->a.v);
    free(d->b.v);
    free(d);
}

/* dst = src with every a replaced by b */
static int replace_all(tok_bytes *dst, const char *src, size_t n, const char *a, size_t na, const char *b, size_t nb,
                       sq_err *e)
{
    dst->n = 0;
    if (sq_tok_bytes_reserve(dst, n, e)) return e->code;
    for (size_t i = 0; i < n;) {
        if (na && i + na <= n && memcmp(src + i, a, na) == 0) {
            if (sq_tok_bytes_put(dst, b, nb, e)) return e->code;
            i += na;
        } else {
            if (sq_tok_bytes_put(dst, src + i, 1, e)) return e->code;
            i++;
        }
    }
    if (dst->v) dst->v[dst->n] = 0;
    return SQ_OK;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Run the per-token decoder steps on the token; result in d->a. */
static int decode_piece(sq_detok *d, const char *s, size_t n, size_t index, sq_err *e)
{
    const sq_tokenizer *t = d->t;
    tok_bytes *cur = &d->a, *nx = &d->b;
    cur->n = 0;
    if (!t->has_decoder) { /* HF without a decoder joins the tokens with spaces */
        if (index > 0 && sq_tok_bytes_put(cur, " ", 1, e)) return e->code;
        return sq_tok_bytes_put(cur, s, n, e);
    }
    if (sq_tok_bytes_put(cur, s, n, e)) return e->code;
    for (size_t k = 0; k < t->n_dec; k++) {
        const tok_dec *st = &t->dec[k];
        nx->n = 0;
        switch (st->type) {
        case DEC_BYTELEVEL: {
            const uint8_t *u = (const uint8_t *)cur->v;
            size_t i = 0;
            int ok = 1;
            while (i < cur->n) {
                uint32_t cp;
                i += sq_utf8_next(u, cur->n, i, &cp);
                int b = cp < 324 ? t->cp_byte[cp] : -1;
                if (b < 0) { ok = 0; break; }
                uint8_t by = (uint8_t)b;
                if (sq_tok_bytes_put(nx, &by, 1, e)) return e->code;
            }
            if (!ok) continue; /* a char outside the byte alphabet: the token stays as it is */
            break;
        }
        case DEC_WORDPIECE: {
            const char *p = cur->v;
            size_t m = cur->n;
            if (index != 0) {
                if (m >= st->na && memcmp(p, st->a, st->na) == 0) {
                    p += st->na;
                    m -= st->na;
                } else if (sq_tok_bytes_put(nx, " ", 1, e)) {
                    return e->code;
                }
            }
            if (sq_tok_bytes_put(nx, p, m, e)) return e->code;
            if (st->cleanup) {
                static const char *const rep[][2] = {{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","},
                                                     {" ' ", "'"}, {" n't", "n't"}, {" 'm", "'m"}, {" do not", " don't"},
                                                     {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
                for (size_t r = 0; r < sizeof rep / sizeof rep[0]; r++) {
                    tok_bytes *sw = cur;
                    cur = nx;
                    nx = sw;
                    if (replace_all(nx, cur->v, cur->n, rep[r][0], strlen(rep[r][0]), rep[r][1], strlen(rep[r][1]), e))
                        return e->code;
                }
            }
            break;
        }
        case DEC_REPLACE:
            if (replace_all(nx, cur->v, cur->n, st->a, st->na, st->b, st->nb, e)) return e->code;
            break;
        case DEC_BYTE_FALLBACK:
            if (cur->n == 6 && memcmp(cur->v, "<0x", 3) == 0 && cur->v[5] == '>' && hexval(cur->v[3]) >= 0 &&
                hexval(cur->v[4]) >= 0) {
                uint8_t by = (uint8_t)(hexval(cur->v[3]) * 16 + hexval(cur->v[4]));
                if (sq_tok_bytes_put(nx, &by, 1, e)) return e->code;
                break;
            }
            continue;
        case DEC_STRIP:
            if (st->after_fuse) continue; /* applied to the start of the whole output */
            {
                char u[4];
                size_t ul = sq_utf8_put(st->strip_char, u), i = 0;
                for (int r = 0; r < st->strip_start && i + ul <= cur->n && memcmp(cur->v + i, u, ul) == 0; r++) i += ul;
                if (sq_tok_bytes_put(nx, cur->v + i, cur->n - i, e)) return e->code;
            }
            break;
        case DEC_METASPACE:
            if (replace_all(nx, cur->v, cur->n, st->a, st->na, (index == 0 && st->strip_start) ? "" : " ",
                            (index == 0 && st->strip_start) ? 0 : 1, e))
                return e->code;
            break;
        default: /* DEC_FUSE */
            continue;
        }
        tok_bytes *sw = cur;
        cur = nx;
        nx = sw;
    }
    if (cur != &d->a) { /* the result must end up in d->a */
        tok_bytes sw = d->a;
        d->a = d->b;
        d->b = sw;
    }
    return SQ_OK;
}

static int emit_char(sq_detok *d, const char *u, size_t n, sq_err *e)
{
    if (!d->started && d->strip_left > 0) {
        const tok_dec *gs = global_strip(d->t);
        char s[4];
        size_t sl = sq_utf8_put(gs->strip_char, s);
        if (sl == n && memcmp(s, u, n) == 0) {
            d->strip_left--;
            return SQ_OK;
        }
    }
    d->started = 1;
    return sq_tok_bytes_put(&d->out, u, n, e);
}

/* Append bytes to the pending UTF-8 and emit every complete character. final: the
 * stream ends here, so an incomplete trailing sequence becomes U+FFFD too. */
static int feed(sq_detok *d, const uint8_t *p, size_t n, int final, sq_err *e)
{
    static const char repl[3] = {'\xEF', '\xBF', '\xBD'};
    tok_bytes *w = &d->b;
    w->n = 0;
    if (sq_tok_bytes_put(w, d->pend, d->npend, e) || sq_tok_bytes_put(w, p, n, e)) return e->code;
    d->npend = 0;
    const uint8_t *u = (const uint8_t *)w->v;
    size_t i = 0, m = w->n;
    while (i < m) {
        if (u[i] < 0x80) {
            if (emit_char(d, (const char *)u + i, 1, e)) return e->code;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = sq_utf8_next(u, m, i, &cp);
        int real_fffd = k == 3 && u[i] == 0xEF && u[i + 1] == 0xBF && u[i + 2] == 0xBD;
        if (cp != SQ_UC_REPLACEMENT || real_fffd) {
            if (emit_char(d, (const char *)u + i, k, e)) return e->code;
            i += k;
            continue;
        }
        if (!final && i + k >= m && u[i] >= 0xC2 && u[i] <= 0xF4) { /* incomplete: keep for later */
            memcpy(d->pend, u + i, m - i);
            d->npend = m - i;
            break;
        }
        if (emit_char(d, repl, 3, e)) return e->code;
        i += k;
    }
    return SQ_OK;
}

static int sq_detok_push_impl(sq_detok *d, int32_t id, const char **text, size_t *len, sq_err *e)
{
    const sq_tokenizer *t = d->t;
    size_t n = 0;
    d->out.n = 0;
    if (sq_tok_bytes_reserve(&d->out, 0, e)) return e->code;
    d->out.v[0] = 0;
    *text = d->out.v;
    *len = 0;
    const char *s = NULL;
    if (id >= 0 && id < t->n_ids) {
        s = sq_tok_vocab_str(&t->av, id, &n);
        if (!s) s = sq_tok_vocab_str(&t->v, id, &n);
    }
    if (!s) return sq_fail(e, SQ_EINPUT, "token id %ld is not in the vocabulary", (long)id);
    if ((d->flags & SQ_TOK_SKIP_SPECIAL) && t->is_special[id]) return SQ_OK;
    if (decode_piece(d, s, n, d->index++, e)) return e->code;
    if (feed(d, (const uint8_t *)d->a.v, d->a.n, 0, e)) return e->code;
    *text = d->out.v;
    *len = d->out.n;
    return SQ_OK;
}

static int sq_detok_finish_impl(sq_detok *d, const char **text, size_t *len, sq_err *e)
{
    d->out.n = 0;
    if (sq_tok_bytes_reserve(&d->out, 0, e)) return e->code;
    d->out.v[0] = 0;
    if (feed(d, NULL, 0, 1, e)) return e->code;
    *text = d->out.v;
    *len = d->out.n;
    detok_reset(d);
    return SQ_OK;
}

static int sq_tokenizer_decode_impl(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len,
                        sq_err *e)
{
    sq_detok *d;
    tok_bytes all = {0};
    const char *piece;
    size_t plen;
    *text = NULL;
    if (len) *len = 0;
    if (sq_detok_new(&d, t, flags, e)) return e->code;
    if (sq_tok_bytes_reserve(&all, 0, e)) goto fail;
    all.v[0] = 0;
    for (size_t i = 0; i < n; i++)
        if (sq_detok_push(d, ids[i], &piece, &plen, e) || sq_tok_bytes_put(&all, piece, plen, e)) goto fail;
    if (sq_detok_finish(d, &piece, &plen, e) || sq_tok_bytes_put(&all, piece, plen, e)) goto fail;
    sq_detok_free(d);
    *text = all.v;
    if (len) *len = all.n;
    return SQ_OK;
fail:
    sq_detok_free(d);
    free(all.v);
    return e->code;
}

int sq_detok_push(sq_detok *d, int32_t id, const char **text, size_t *len, sq_err *e)
{
    sq_err local = {0};
    int rc = sq_detok_push_impl(d, id, text, len, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}

int sq_detok_finish(sq_detok *d, const char **text, size_t *len, sq_err *e)
{
    sq_err local = {0};
    int rc = sq_detok_finish_impl(d, text, len, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}

int sq_tokenizer_decode(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, char **text, size_t *len,
                        sq_err *e)
{
    sq_err local = {0};
    int rc = sq_tokenizer_decode_impl(t, ids, n, flags, text, len, &local);
    if (rc) sq_fail(e, rc, "%s", local.msg);
    return rc;
}
