/* tok_util.c - growable arrays, the vocabulary map, the merge map, the added-token trie.
 * Every hash table bounds its probe sequences (TOK_MAX_PROBE): a file crafted to collide
 * is rejected instead of making loading quadratic. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

/* ---- growable arrays ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem, sq_err *e)
{
    if (need <= *cap) return SQ_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) { c = need; break; }
        c *= 2;
    }
    if (c > SIZE_MAX / elem) return sq_fail(e, SQ_EINTERNAL, "out of memory (array of %zu)", need);
    void *q = realloc(*p, c * elem);
    if (!q) return sq_fail(e, SQ_EINTERNAL, "out of memory (%zu bytes)", c * elem);
    *p = q;
    *cap = c;
    return SQ_OK;
}

int sq_tok_u32_reserve(tok_u32vec *a, size_t extra, sq_err *e)
{
    if (extra > SIZE_MAX - a->n) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    return grow((void **)&a->v, &a->cap, a->n + extra, sizeof *a->v, e);
}

int sq_tok_u32_push(tok_u32vec *a, uint32_t x, sq_err *e)
{
    if (a->n == a->cap && grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v, e)) return e->code;
    a->v[a->n++] = x;
    return SQ_OK;
}

int sq_tok_i32_push(tok_i32vec *a, int32_t x, sq_err *e)
{
    if (a->n == a->cap && grow((void **)&a->v, &a->cap, a->n + 1, sizeof *a->v, e)) return e->code;
    a->v[a->n++] = x;
    return SQ_OK;
}

int sq_tok_bytes_reserve(tok_bytes *b, size_t extra, sq_err *e)
{
    if (extra > SIZE_MAX - b->n - 1) return sq_fail(e, SQ_EINTERNAL, "out of memory");
    return grow((void **)&b->v, &b->cap, b->n + extra + 1, 1, e);
}

int sq_tok_bytes_put(tok_bytes *b, const void *p, size_t len, sq_err *e)
{
    if (sq_tok_bytes_reserve(b, len, e)) return e->code;
    if (len) memcpy(b->v + b->n, p, len);
    b->n += len;
    b->v[b->n] = 0;
    return SQ_OK;
}

/* ---- hashing ---- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint32_t sq_tok_hash(const void *p, size_t len)
{
    const uint8_t *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return (uint32_t)mix64(h ^ len);
}

/* ---- vocabulary ---- */

static int vocab_rehash(tok_vocab *v, size_t n_slots, sq_err *e)
{
    uint32_t *slots = calloc(n_slots, sizeof *slots);
    if (!slots) return sq_fail(e, SQ_EINTERNAL, "out of memory (vocabulary of %zu)", n_slots);
    size_t mask = n_slots - 1, max_probe = 0;
    for (size_t i = 0; i < v->n_slots; i++) {
        uint32_t x = v->slots[i];
        if (!x) continue;
        const tok_entry *en = &v->ent[x - 1];
        size_t h = sq_tok_hash(v->arena.v + en->off, en->len) & mask, probe = 0;
        while (slots[h]) {
            h = (h + 1) & mask;
            if (++probe > TOK_MAX_PROBE) {
                free(slots);
                return sq_fail(e, SQ_EINPUT, "vocabulary strings collide too much (crafted file?)");
            }
        }
        if (probe > max_probe) max_probe = probe;
        slots[h] = x;
    }
    free(v->slots);
    v->slots = slots;
    v->n_slots = n_slots;
    v->max_probe = max_probe;
    return SQ_OK;
}

int sq_tok_vocab_add(tok_vocab *v, const char *s, size_t len, int32_t id, int replace_reverse, sq_err *e)
{
    if (id < 0 || id >= TOK_MAX_IDS) return sq_fail(e, SQ_EINPUT, "token id %ld is out of range", (long)id);
    if (len > TOK_MAX_TOKEN_BYTES)
        return sq_fail(e, SQ_EINPUT, "a vocabulary string is %zu bytes long (limit %d)", len, TOK_MAX_TOKEN_BYTES);
    if (v->arena.n + len + 1 > UINT32_MAX || v->n_ent + 1 >= UINT32_MAX)
        return sq_fail(e, SQ_EINPUT, "vocabulary too large");
    if ((v->n_ent + 1) * 2 > v->n_slots) {
        size_t ns = v->n_slots ? v->n_slots * 2 : 1024;
        while ((v->n_ent + 1) * 2 > ns) ns *= 2;
        if (vocab_rehash(v, ns, e)) return e->code;
    }
    if ((size_t)id >= v->id_cap) {
        size_t cap = v->id_cap, need = (size_t)id + 1;
        size_t c = cap ? cap : 1024;
        while (c < need) c *= 2;
        uint32_t *p = realloc(v->id_ent, c * sizeof *p);
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory (%zu ids)", c);
        memset(p + cap, 0, (c - cap) * sizeof *p);
        v->id_ent = p;
        v->id_cap = c;
    }
    if (id >= v->n_ids) v->n_ids = id + 1;
    if (v->n_ent == v->cap_ent) {
        size_t c = v->cap_ent ? v->cap_ent * 2 : 1024;
        tok_entry *p = realloc(v->ent, c * sizeof *p);
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory (vocabulary)");
        v->ent = p;
        v->cap_ent = c;
    }
    size_t off = v->arena.n;
    if (sq_tok_bytes_put(&v->arena, s, len, e)) return e->code;
    v->arena.n++; /* keep the NUL */
    tok_entry *en = &v->ent[v->n_ent];
    en->off = (uint32_t)off;
    en->len = (uint32_t)len;
    en->id = id;
    uint32_t x = (uint32_t)++v->n_ent;

    size_t mask = v->n_slots - 1, h = sq_tok_hash(s, len) & mask, probe = 0;
    while (v->slots[h]) {
        const tok_entry *o = &v->ent[v->slots[h] - 1];
        if (o->len == len && memcmp(v->arena.v + o->off, s, len) == 0) break; /* replace */
        h = (h + 1) & mask;
        if (++probe > TOK_MAX_PROBE) return sq_fail(e, SQ_EINPUT, "vocabulary strings collide too much (crafted file?)");
    }
    if (probe > v->max_probe) v->max_probe = probe;
    v->slots[h] = x;
    if (replace_reverse || !v->id_ent[id]) v->id_ent[id] = x;
    return SQ_OK;
}

int32_t sq_tok_vocab_find(const tok_vocab *v, const char *s, size_t len)
{
    if (!v->n_slots) return -1;
    size_t mask = v->n_slots - 1, h = sq_tok_hash(s, len) & mask;
    for (size_t probe = 0; probe <= v->max_probe; probe++) {
        uint32_t x = v->slots[h];
        if (!x) return -1;
        const tok_entry *o = &v->ent[x - 1];
        if (o->len == len && memcmp(v->arena.v + o->off, s, len) == 0) return o->id;
        h = (h + 1) & mask;
    }
    return -1;
}

const char *sq_tok_vocab_str(const tok_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->n_ids || !v->id_ent[id]) return NULL;
    const tok_entry *en = &v->ent[v->id_ent[id] - 1];
    if (len) *len = en->len;
    return v->arena.v + en->off;
}

void sq_tok_vocab_free(tok_vocab *v)
{
    free(v->arena.v);
    free(v->ent);
    free(v->slots);
    free(v->id_ent);
    memset(v, 0, sizeof *v);
}

/* ---- merges ---- */

int sq_tok_merges_init(tok_merges *m, size_t expected, sq_err *e)
{
    size_t n = 1024;
    while (n < expected + expected / 2 + 2) { /* load factor <= 2/3 */
        if (n > SIZE_MAX / 4 / sizeof(tok_merge)) return sq_fail(e, SQ_EINPUT, "too many merges");
        n *= 2;
    }
    m->slots = malloc(n * sizeof *m->slots);
    if (!m->slots) return sq_fail(e, SQ_EINTERNAL, "out of memory (%zu merges)", expected);
    for (size_t i = 0; i < n; i++) m->slots[i].key = TOK_EMPTY_KEY;
    m->n_slots = n;
    m->n = 0;
    m->max_probe = 0;
    return SQ_OK;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b; }

int sq_tok_merges_put(tok_merges *m, int32_t a, int32_t b, int32_t rank, int32_t id, sq_err *e)
{
    uint64_t key = pair_key(a, b);
    if ((m->n + 1) * 4 > m->n_slots * 3) return sq_fail(e, SQ_EINTERNAL, "merge table full");
    size_t mask = m->n_slots - 1, h = (size_t)mix64(key) & mask, probe = 0;
    while (m->slots[h].key != TOK_EMPTY_KEY && m->slots[h].key != key) {
        h = (h + 1) & mask;
        if (++probe > TOK_MAX_PROBE) return sq_fail(e, SQ_EINPUT, "merges collide too much (crafted file?)");
    }
    if (probe > m->max_probe) m->max_probe = probe;
    if (m->slots[h].key == TOK_EMPTY_KEY) m->n++;
    m->slots[h].key = key;
    m->slots[h].rank = rank;
    m->slots[h].id = id;
    return SQ_OK;
}

const tok_merge *sq_tok_merges_get(const tok_merges *m, int32_t a, int32_t b)
{
    if (!m->n) return NULL;
    uint64_t key = pair_key(a, b);
    size_t mask = m->n_slots - 1, h = (size_t)mix64(key) & mask;
    for (size_t probe = 0; probe <= m->max_probe; probe++) {
        const tok_merge *s = &m->slots[h];
        if (s->key == key) return s;
        if (s->key == TOK_EMPTY_KEY) return NULL;
        h = (h + 1) & mask;
    }
    return NULL;
}

void sq_tok_merges_free(tok_merges *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- trie ---- */

static int trie_new_node(tok_trie *t, sq_err *e)
{
    if (t->n_nodes == t->cap_nodes) {
        size_t c = t->cap_nodes ? t->cap_nodes * 2 : 64;
        int32_t *p = realloc(t->term, c * sizeof *p);
        if (!p) return sq_fail(e, SQ_EINTERNAL, "out of memory (trie)");
        t->term = p;
        t->cap_nodes = c;
    }
    t->term[t->n_nodes++] = -1;
    return SQ_OK;
}

static int trie_edges_grow(tok_trie *t, sq_err *e)
{
    size_t ns = t->n_slots ? t->n_slots * 2 : 256;
    tok_edge *ne = malloc(ns * sizeof *ne);
    if (!ne) return sq_fail(e, SQ_EINTERNAL, "out of memory (trie)");
    for (size_t i = 0; i < ns; i++) ne[i].key = TOK_EMPTY_KEY;
    size_t mask = ns - 1, max_probe = 0;
    for (size_t i = 0; i < t->n_slots; i++) {
        if (t->edges[i].key == TOK_EMPTY_KEY) continue;
        size_t h = (size_t)mix64(t->edges[i].key) & mask, probe = 0;
        while (ne[h].key != TOK_EMPTY_KEY) {
            h = (h + 1) & mask;
            probe++;
        }
        if (probe > max_probe) max_probe = probe;
        ne[h] = t->edges[i];
    }
    free(t->edges);
    t->edges = ne;
    t->n_slots = ns;
    t->max_probe = max_probe;
    return SQ_OK;
}

int32_t sq_tok_trie_step(const tok_trie *t, int32_t node, uint32_t cp)
{
    if (!t->n_edges) return -1;
    uint64_t key = ((uint64_t)(uint32_t)node << 21) | cp;
    size_t mask = t->n_slots - 1, h = (size_t)mix64(key) & mask;
    for (size_t probe = 0; probe <= t->max_probe; probe++) {
        if (t->edges[h].key == key) return t->edges[h].child;
        if (t->edges[h].key == TOK_EMPTY_KEY) return -1;
        h = (h + 1) & mask;
    }
    return -1;
}

int sq_tok_trie_add(tok_trie *t, const uint32_t *cp, size_t n, int32_t value, sq_err *e)
{
    if (n == 0) return SQ_OK;
    if (!t->n_nodes && trie_new_node(t, e)) return e->code;
    int32_t node = 0;
    for (size_t i = 0; i < n; i++) {
        if (cp[i] >= 0x110000) return sq_fail(e, SQ_EINTERNAL, "bad code point");
        int32_t c = sq_tok_trie_step(t, node, cp[i]);
        if (c < 0) {
            if (t->n_nodes >= INT32_MAX / 2) return sq_fail(e, SQ_EINPUT, "too many added tokens");
            if ((t->n_edges + 1) * 2 > t->n_slots && trie_edges_grow(t, e)) return e->code;
            if (trie_new_node(t, e)) return e->code;
            c = (int32_t)(t->n_nodes - 1);
            uint64_t key = ((uint64_t)(uint32_t)node << 21) | cp[i];
            size_t mask = t->n_slots - 1, h = (size_t)mix64(key) & mask, probe = 0;
            while (t->edges[h].key != TOK_EMPTY_KEY) {
                h = (h + 1) & mask;
                if (++probe > TOK_MAX_PROBE) return sq_fail(e, SQ_EINPUT, "added tokens collide too much");
            }
            if (probe > t->max_probe) t->max_probe = probe;
            t->edges[h].key = key;
            t->edges[h].child = c;
            t->n_edges++;
        }
        node = c;
    }
    t->term[node] = value; /* a later duplicate wins */
    return SQ_OK;
}

size_t sq_tok_trie_longest(const tok_trie *t, const uint32_t *s, size_t n, int32_t *value)
{
    size_t best = 0;
    int32_t node = 0;
    if (!t->n_nodes) return 0;
    for (size_t i = 0; i < n; i++) {
        node = sq_tok_trie_step(t, node, s[i]);
        if (node < 0) break;
        if (t->term[node] >= 0) {
            best = i + 1;
            *value = t->term[node];
        }
    }
    return best;
}

void sq_tok_trie_free(tok_trie *t)
{
    free(t->term);
    free(t->edges);
    memset(t, 0, sizeof *t);
}

/* ---- byte-level alphabet (GPT-2 bytes_to_unicode) ---- */

static int byte_is_printable(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t sq_tok_byte_to_cp(uint8_t b)
{
    if (byte_is_printable(b)) return b;
    unsigned n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!byte_is_printable(x)) n++;
    return 256 + n;
}

int sq_tok_cp_to_byte(uint32_t cp)
{
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1; /* 68 bytes are not printable */
    unsigned want = cp - 256, n = 0;
    for (unsigned x = 0; x < 256; x++) {
        if (byte_is_printable(x)) continue;
        if (n == want) return (int)x;
        n++;
    }
    return -1;
}

int sq_tok_utf8_to_cps(const char *s, size_t len, tok_u32vec *out, sq_err *e)
{
    out->n = 0;
    if (sq_tok_u32_reserve(out, len + 1, e)) return e->code; /* +1: never a NULL buffer */
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) { out->v[out->n++] = u[i++]; continue; }
        uint32_t cp;
        i += sq_utf8_next(u, len, i, &cp);
        out->v[out->n++] = cp;
    }
    return SQ_OK;
}
