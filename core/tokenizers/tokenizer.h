/* tokenizer.h - text <-> token ids for the models sq runs (portable C11, no I/O).
 *
 * Three families, loaded from bytes in memory (the caller reads the files):
 *   - BERT WordPiece: vocab.txt (uncased by default) or tokenizer.json (model.type
 *     "WordPiece" + BertNormalizer + BertPreTokenizer), exactly like HF
 *     BertTokenizer(Fast): clean text, CJK splitting, lowercase + NFD accent stripping,
 *     punctuation splitting, greedy longest-match WordPiece with "##", [UNK] for words
 *     longer than max_input_chars_per_word (100).
 *   - Byte-level BPE from tokenizer.json (Llama 3, GPT-2 style): Split with the Llama 3
 *     or GPT-2 regex (hand-written matchers), ByteLevel, merges by rank, ignore_merges.
 *   - SentencePiece-style BPE from tokenizer.json (Llama 2 / llama2.c layout):
 *     Prepend/Replace '\u2581' normalizer, byte_fallback <0xNN>, fuse_unk.
 * Added/special tokens (tokenizer.json "added_tokens", or [CLS] [SEP] [PAD] [MASK]
 * [UNK] of a vocab.txt) are recognised in the text before anything else, leftmost
 * longest first, as HF does. Unsupported tokenizer.json components give SQ_EINPUT with
 * a message naming them; malformed input never crashes and all work is bounded
 * (roughly linear in the text length, or n log n for one long BPE word).
 *
 * Text is UTF-8. Ill-formed UTF-8 in the text is read as U+FFFD (one per maximal
 * ill-formed subpart), as a browser would, so encode never fails on text content.
 * A loaded sq_tokenizer is read-only: encode/decode may run on several threads.
 *
 * Reference behaviour, where HF's implementations disagree (tests/tokenizer/run.sh
 * cross-checks against the JS one, @huggingface/tokenizers):
 *   - BERT lowercasing maps a final capital sigma to U+03C2 (Python str.lower(), JS;
 *     Rust maps per character); clean_text drops unassigned code points (Python, Rust;
 *     not JS); supplementary-plane CJK ideographs are split (Python, Rust; not JS).
 *   - Llama 3 regex (?i:'s..) also matches "'" + U+017F (Oniguruma / tiktoken case
 *     folding; JS folds ASCII only). \s is Unicode White_Space everywhere (JS's
 *     ByteLevel pre-tokenizer uses JavaScript's \s: U+FEFF yes, U+0085 no).
 *   - ByteFallback decoding keeps a U+FEFF (Rust; JS's TextDecoder drops a leading one).
 * Unicode tables: Debian unicode-data 15.0 (tools/gen_unicode_tables.py).
 */
#ifndef SQ_TOKENIZER_H
#define SQ_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "sq.h"

typedef struct sq_tokenizer sq_tokenizer;

enum {
    SQ_TOK_WORDPIECE = 1,      /* BERT */
    SQ_TOK_BPE_BYTELEVEL = 2,  /* Llama 3, GPT-2 */
    SQ_TOK_BPE_SENTENCEPIECE = 3 /* Llama 2, stories260K (any non-byte-level BPE) */
};

/* Load flags for vocab.txt. */
#define SQ_TOK_VOCAB_CASED 1u /* do not lowercase / strip accents (bert-base-cased) */

/* Auto-detect: text whose first non-blank byte is '{' is tokenizer.json, else vocab.txt
 * (uncased). */
int sq_tokenizer_load(sq_tokenizer **out, const char *data, size_t len, sq_err *e);
int sq_tokenizer_load_json(sq_tokenizer **out, const char *json, size_t len, sq_err *e);
int sq_tokenizer_load_vocab_txt(sq_tokenizer **out, const char *txt, size_t len, unsigned flags,
                                sq_err *e);
void sq_tokenizer_free(sq_tokenizer *t);

/* Encode flags. */
#define SQ_TOK_ADD_SPECIAL 1u /* apply the post-processor: BERT [CLS] .. [SEP], Llama 2 <s> .. */
#define SQ_TOK_ADD_BOS 2u     /* make sure the ids start with BOS (when the tokenizer knows one):
                                 for files whose post-processor adds none, e.g. the Llama 3
                                 tokenizer.json here (ByteLevel post-processor) */
#define SQ_TOK_LITERAL 4u     /* do not recognise added/special tokens written in the text
                                 (untrusted user text: "<|eot_id|>" stays plain text) */

/* Encode len bytes of UTF-8 text. On success *ids is malloc'd (free() it; non-NULL even
 * when *n is 0). max_len > 0 truncates like HF truncation (right side, the special
 * tokens of SQ_TOK_ADD_SPECIAL are kept): at most max_len ids. */
int sq_tokenizer_encode(const sq_tokenizer *t, const char *text, size_t len, unsigned flags,
                        size_t max_len, int32_t **ids, size_t *n, sq_err *e);

/* Decode flags. */
#define SQ_TOK_SKIP_SPECIAL 1u /* drop special added tokens (<s>, [CLS], <|begin_of_text|>) */

/* Decode a whole sequence like HF tokenizer.decode (with the tokenizer.json decoder:
 * ByteLevel, WordPiece (+cleanup), Replace/ByteFallback/Fuse/Strip, Metaspace). *text
 * is malloc'd and NUL-terminated; *len excludes the NUL. Unknown ids are an error. Byte
 * sequences that are not UTF-8 come out as U+FFFD. tokenizer_config.json's
 * clean_up_tokenization_spaces is not applied (it is not in tokenizer.json). */
int sq_tokenizer_decode(const sq_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                        char **text, size_t *len, sq_err *e);

/* Streaming decoder: feed ids one at a time, get the new text each time. Only complete
 * UTF-8 characters are returned: the bytes of a character split over several tokens
 * (byte-level BPE, <0xNN> byte fallback) are held back until it is complete. The
 * concatenation of all pieces (and the finish piece) equals sq_tokenizer_decode. */
typedef struct sq_detok sq_detok;
int sq_detok_new(sq_detok **out, const sq_tokenizer *t, unsigned flags, sq_err *e);
/* *text (NUL-terminated, *len bytes, possibly 0) stays valid until the next call. */
int sq_detok_push(sq_detok *d, int32_t id, const char **text, size_t *len, sq_err *e);
/* End of stream: an incomplete trailing character becomes U+FFFD. Resets the decoder. */
int sq_detok_finish(sq_detok *d, const char **text, size_t *len, sq_err *e);
void sq_detok_free(sq_detok *d);

/* Vocabulary. */
int sq_tokenizer_kind(const sq_tokenizer *t);
int32_t sq_tokenizer_vocab_size(const sq_tokenizer *t); /* 1 + the largest id (incl. added) */
int32_t sq_tokenizer_token_id(const sq_tokenizer *t, const char *token); /* -1 if absent */
int32_t sq_tokenizer_token_id_n(const sq_tokenizer *t, const char *token, size_t len);
/* The raw vocabulary string of an id ("Ġthe", "▁the", "##ing", "<0x0A>"), NULL if none. */
const char *sq_tokenizer_id_to_token(const sq_tokenizer *t, int32_t id);
int sq_tokenizer_is_special(const sq_tokenizer *t, int32_t id); /* special added token */

enum { SQ_TOK_BOS = 0, SQ_TOK_EOS, SQ_TOK_UNK, SQ_TOK_PAD, SQ_TOK_CLS, SQ_TOK_SEP, SQ_TOK_MASK };
/* Id of a well-known special token, -1 if the tokenizer has none. BOS: the first token
 * the post-processor puts before the text for BPE kinds, else <|begin_of_text|>, <s>,
 * <bos>, <|startoftext|>. EOS: <|end_of_text|>, </s>, <eos>, <|endoftext|>. UNK: the
 * model's unk_token. CLS/SEP/PAD/MASK: [CLS] [SEP] [PAD]|<pad> [MASK]|<mask>. */
int32_t sq_tokenizer_special_id(const sq_tokenizer *t, int which);
/* tokenizer.json truncation.max_length (0 if none); pass it to encode to apply it. */
size_t sq_tokenizer_max_length(const sq_tokenizer *t);

#endif
