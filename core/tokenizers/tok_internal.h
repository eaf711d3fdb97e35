/* tok_internal.h - the sq_tokenizer structure shared by the tokenizer sources. */
#ifndef SQ_TOK_INTERNAL_H
#define SQ_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sq.h"
#include "tokenizer.h"

/* Limits that bound what a (hostile) tokenizer file can make us allocate or do. */
#define TOK_MAX_IDS (1 << 24)          /* ids must be < 16M */
#define TOK_MAX_TOKEN_BYTES 2048       /* one vocabulary string (Llama 3's longest: 256) */
#define TOK_MAX_WORD_CHARS 1000        /* WordPiece max_input_chars_per_word (HF: 100) */
#define TOK_MAX_PATTERN 64             /* Replace/Prepend strings (code points or bytes) */
#define TOK_MAX_STEPS 64               /* normalizer / pre-tokenizer / decoder steps */
#define TOK_MAX_TEMPLATE 64            /* special ids a post-processor may add */
#define TOK_MAX_PROBE 4096             /* hash probe bound: more means crafted collisions */

/* ---- growable arrays (tok_util.c) ---- */
typedef struct { uint32_t *v; size_t n, cap; } tok_u32vec;
typedef struct { int32_t *v; size_t n, cap; } tok_i32vec;
typedef struct { char *v; size_t n, cap; } tok_bytes;
int sq_tok_u32_push(tok_u32vec *a, uint32_t x, sq_err *e);
int sq_tok_u32_reserve(tok_u32vec *a, size_t extra, sq_err *e);
int sq_tok_i32_push(tok_i32vec *a, int32_t x, sq_err *e);
int sq_tok_bytes_put(tok_bytes *b, const void *p, size_t len, sq_err *e);
int sq_tok_bytes_reserve(tok_bytes *b, size_t extra, sq_err *e);

/* ---- vocabulary: strings <-> ids ---- */
typedef struct {
    uint32_t off, len; /* into the arena */
    int32_t id;
} tok_entry;

typedef struct {
    tok_bytes arena;      /* NUL-terminated strings */
    tok_entry *ent;       /* every (string, id) pair ever added */
    size_t n_ent, cap_ent;
    uint32_t *slots;      /* open addressing: entry index + 1, 0 = empty */
    size_t n_slots;       /* power of two */
    size_t max_probe;     /* longest probe sequence of any insert */
    uint32_t *id_ent;     /* per id: entry index + 1 (0 = no string) */
    int32_t n_ids;        /* 1 + largest id */
    size_t id_cap;        /* allocated length of id_ent */
} tok_vocab;

uint32_t sq_tok_hash(const void *p, size_t len);
/* Add (string -> id); a later string wins the string->id direction, the id keeps the
 * newest string too (reverse) when replace_reverse, else its first one. */
int sq_tok_vocab_add(tok_vocab *v, const char *s, size_t len, int32_t id, int replace_reverse, sq_err *e);
int32_t sq_tok_vocab_find(const tok_vocab *v, const char *s, size_t len);
const char *sq_tok_vocab_str(const tok_vocab *v, int32_t id, size_t *len);
void sq_tok_vocab_free(tok_vocab *v);

/* ---- BPE merges: (left id, right id) -> (rank, merged id) ---- */
typedef struct { uint64_t key; int32_t rank, id; } tok_merge;
typedef struct { tok_merge *slots; size_t n_slots, n, max_probe; } tok_merges;
#define TOK_EMPTY_KEY UINT64_MAX
int sq_tok_merges_init(tok_merges *m, size_t expected, sq_err *e);
int sq_tok_merges_put(tok_merges *m, int32_t a, int32_t b, int32_t rank, int32_t id, sq_err *e); /* later wins */
const tok_merge *sq_tok_merges_get(const tok_merges *m, int32_t a, int32_t b);
void sq_tok_merges_free(tok_merges *m);

/* ---- a trie over code points for added-token matching ---- */
typedef struct { uint64_t key; int32_t child; } tok_edge; /* key = (node << 21) | cp */
typedef struct {
    int32_t *term;         /* per node: added-token index or -1 */
    size_t n_nodes, cap_nodes;
    tok_edge *edges;       /* open addressing, key TOK_EMPTY_KEY = empty */
    size_t n_edges, n_slots, max_probe;
} tok_trie;
int sq_tok_trie_add(tok_trie *t, const uint32_t *cp, size_t n, int32_t value, sq_err *e);
/* Longest match starting at s[0]; returns its length (0 if none) and the value. */
size_t sq_tok_trie_longest(const tok_trie *t, const uint32_t *s, size_t n, int32_t *value);
/* One step down from node (0 = root); -1 if there is no such child. */
int32_t sq_tok_trie_step(const tok_trie *t, int32_t node, uint32_t cp);
void sq_tok_trie_free(tok_trie *t);

/* ---- pipeline components ---- */
enum { NORM_BERT = 1, NORM_PREPEND, NORM_REPLACE, NORM_LOWERCASE, NORM_NFD, NORM_STRIP_ACCENTS,
       NORM_STRIP };
typedef struct {
    int type;
    int clean_text, chinese, lowercase, strip_accents; /* BERT */
    int strip_left, strip_right;                       /* Strip */
    uint32_t *a, *b; size_t na, nb;                    /* Prepend: a; Replace: a -> b */
} tok_norm;

enum { PRE_BERT = 1, PRE_LLAMA3, PRE_GPT2, PRE_BYTELEVEL, PRE_WHITESPACE_SPLIT };
typedef struct { int type; int add_prefix_space, use_regex; } tok_pre;

enum { DEC_BYTELEVEL = 1, DEC_WORDPIECE, DEC_REPLACE, DEC_BYTE_FALLBACK, DEC_FUSE, DEC_STRIP,
       DEC_METASPACE };
typedef struct {
    int type;
    char *a, *b; size_t na, nb;   /* Replace: a -> b; WordPiece: prefix a; Metaspace: a */
    int cleanup;                  /* WordPiece */
    uint32_t strip_char; int strip_start, after_fuse; /* Strip / Metaspace */
} tok_dec;

typedef struct {
    int32_t id;
    uint32_t *cp; size_t n;   /* content as code points */
    char *s; size_t len;      /* content as UTF-8 */
    uint8_t special, lstrip, rstrip, single_word, normalized;
} tok_added;

struct sq_tokenizer {
    int kind;
    tok_vocab v;                /* the model's vocabulary */
    tok_vocab av;               /* added tokens (looked up first, as HF does) */
    int32_t n_ids;              /* 1 + largest id of either */
    int32_t unk_id;             /* -1 if none */

    tok_added *added; size_t n_added;
    tok_trie trie_raw, trie_norm; /* added tokens matched before / after normalization */
    uint8_t *is_special;        /* per id (n_ids) */

    tok_norm norm[TOK_MAX_STEPS]; size_t n_norm;
    tok_pre pre[TOK_MAX_STEPS]; size_t n_pre;
    tok_dec dec[TOK_MAX_STEPS]; size_t n_dec; int has_decoder;

    /* WordPiece */
    char *wp_prefix; size_t wp_prefix_len;
    tok_trie wp_trie;            /* the model vocabulary, for longest-match-first */
    int32_t wp_prefix_node;      /* trie node after the continuing-subword prefix, -1 if none */
    size_t wp_max_chars;
    /* BPE */
    tok_merges merges;
    int ignore_merges, byte_fallback, fuse_unk;
    int32_t byte_id[256];        /* byte-level: id of the char standing for each byte */
    int32_t fallback_id[256];    /* SentencePiece: id of <0xNN>, -1 if absent */
    char byte_utf8[256][2];      /* byte-level: UTF-8 of the char standing for each byte */
    uint8_t byte_utf8_len[256];
    int16_t cp_byte[324];        /* byte-level: inverse (code point < 324 -> byte, -1) */

    /* post-processor (single sequence) */
    int32_t tmpl_pre[TOK_MAX_TEMPLATE]; size_t n_tmpl_pre;
    int32_t tmpl_post[TOK_MAX_TEMPLATE]; size_t n_tmpl_post;
    int has_template;

    int32_t special_ids[7];
    size_t max_length;
};

/* Byte-level alphabet (GPT-2 bytes_to_unicode). */
uint32_t sq_tok_byte_to_cp(uint8_t b);
int sq_tok_cp_to_byte(uint32_t cp); /* -1 if cp is not in the alphabet */

/* Decode text to code points (lossy). */
int sq_tok_utf8_to_cps(const char *s, size_t len, tok_u32vec *out, sq_err *e);
/* Apply the normalizer steps to in[0..n), result in out (cleared first). */
int sq_tok_normalize(const sq_tokenizer *t, const uint32_t *in, size_t n, tok_u32vec *out, sq_err *e);

#endif
