/* bundle.h - what comes with a model's weights, read the same way by every front end
 * (the CLI's cli/cmd_infer.c and the browser module's wasm/infer_bindings.c): which
 * tokenizer its texts make, and how many tokens a BERT input may hold. The texts are
 * side files or the copies a quantized file carries in its metadata; finding them is the
 * front end's business (files, or JS objects).
 */
#ifndef SQ_BUNDLE_H
#define SQ_BUNDLE_H

#include <stddef.h>

#include "models/bert.h"
#include "sq.h"
#include "tokenizers/tokenizer.h"

/* The tokenizer of a model: tokenizer.json when there is one, else vocab.txt (cased
 * when tokenizer_config.json says do_lower_case: false). At least one of tokenizer_json
 * and vocab_txt must be given (the front end says which files were missing otherwise).
 * An error names the file it came from. */
int sq_bundle_tokenizer(sq_tokenizer **out, const char *tokenizer_json, size_t tokenizer_json_len,
                        const char *vocab_txt, size_t vocab_txt_len, const char *tokenizer_config, sq_err *e);

/* Tokens per BERT input: tokenizer.json's truncation, else 512; never past the model's
 * positions (after RoBERTa's pos_offset). */
size_t sq_bundle_bert_max_len(const sq_bert *b, const sq_tokenizer *t);

#endif
