/* bindings.h - what the Emscripten bindings (the C files of wasm/) share.
 *
 * The browser module (build/web/sq-core.js) is the core plus the C files of wasm/.
 * Every function meant for JavaScript is marked SQW_EXPORT (EMSCRIPTEN_KEEPALIVE) and
 * named sqw_*; the JS wrapper wasm/sq-core-api.js is the documented way to call them.
 *
 * Host callbacks: JS registers an object in Module.sqCalls[id] (see sq-core-api.js) and
 * passes the id to C; the EM_JS functions of bindings.c call into that object. A
 * model keeps the id of its reader for its whole life; a quantize call gets the id of
 * its writer/progress object.
 */
#ifndef SQ_WASM_BINDINGS_H
#define SQ_WASM_BINDINGS_H

#include <emscripten.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/linear.h"
#include "quant/pipeline.h"
#include "safetensors.h"
#include "sq.h"

#define SQW_EXPORT EMSCRIPTEN_KEEPALIVE

/* Texts that travel with a model (native reads them from beside the weights file). */
enum { SQW_TEXT_CONFIG, SQW_TEXT_TOKENIZER_JSON, SQW_TEXT_VOCAB_TXT, SQW_TEXT_TOKENIZER_CONFIG, SQW_TEXT_SOURCE_NAME,
       SQW_TEXT_COUNT };

/* An open model: a JS-backed reader, the parsed safetensors header, the side texts. */
typedef struct sqw_shard { const struct sqw_model *m; uint64_t base; } sqw_shard;
typedef struct sqw_model {
    int read_id;
    sq_reader reader;             /* the whole file; for shards, all of them end to end */
    sq_st_file st;
    size_t n_shards;              /* a sharded model (sqw_open_shards): one reader per shard, */
    sqw_shard *shard;             /* each a window of reader */
    sq_reader *shard_readers;
    char *text[SQW_TEXT_COUNT];   /* malloc'd, NUL-terminated, or NULL */
    size_t text_len[SQW_TEXT_COUNT];
} sqw_model;

/* The text for slot i: the one set by JS, else (as the native CLI does for a
 * quantized model without side files) the copy in the file's metadata, else NULL. */
const char *sqw_model_text(const sqw_model *m, int i);

/* Record an error for sqw_error_code()/sqw_error_message() (the last call's status). */
void sqw_set_error(const sq_err *e);
void sqw_clear_error(void);

/* Seconds from an arbitrary origin (performance.now()). */
double sqw_now(void);

/* Threads (pool.c): the parallel-for of the threaded module (NULL in the single-thread
 * one; its pool argument: NULL for all threads, or an int * limiting them), the most
 * threads it can use (sqw_threads(), exported; 1 without threads), and an sq_exec for
 * the inference kernels using all of them. */
sq_parallel_fn sqw_parallel(void);
int sqw_threads(void);
const sq_exec *sqw_exec(void);

#endif
