/* tok_json.h - internal to core/tokenizers: reading tokenizer.json, shared by the loader
 * (tok_load.c: vocabulary, added tokens, model, finishing; the helpers below) and the
 * loaders of its pipeline steps (tok_steps.c: normalizer, pre-tokenizer, post-processor,
 * decoder). Errors are one line naming the JSON path ("tokenizer.json: ..."). */
#ifndef SQ_TOK_JSON_H
#define SQ_TOK_JSON_H

#include <cjson/cJSON.h>

#include "tok_internal.h"

/* ---- helpers (tok_load.c) ---- */
int sq_tok_utf8_well_formed(const char *s, size_t len);
/* *out = a NUL-terminated copy of s[0..len) */
int sq_tok_dup_bytes(char **out, const char *s, size_t len, sq_err *e);
/* the code points of a UTF-8 string (an array of at least 1 entry) */
int sq_tok_str_to_cps(const char *s, uint32_t **out, size_t *n, sq_err *e);
/* member name of object o (NULL when o is not an object or has none) */
const cJSON *sq_tok_member(const cJSON *o, const char *name);
/* o's "type" string, or NULL */
const char *sq_tok_type_of(const cJSON *o);
/* Optional boolean member: absent/null gives def; anything else but a bool is an error.
 * where: the JSON path for messages. */
int sq_tok_get_bool(const cJSON *o, const char *name, int def, int *out, const char *where, sq_err *e);
/* Optional string member (NULL if absent/null); must be valid UTF-8. */
int sq_tok_get_str(const cJSON *o, const char *name, const char **out, const char *where, sq_err *e);
/* x is a number holding an integer in [lo, hi] */
int sq_tok_is_int_in(const cJSON *x, double lo, double hi);

/* ---- the pipeline steps (tok_steps.c); depth: nesting of Sequence steps (0: top) ---- */
int sq_tok_load_normalizer(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e);
int sq_tok_load_pre(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e);
int sq_tok_load_post(sq_tokenizer *t, const cJSON *o, int depth, sq_err *e);
/* *fused = 1 when the decoders include a Fuse step */
int sq_tok_load_decoder(sq_tokenizer *t, const cJSON *o, int depth, int *fused, sq_err *e);

#endif
