/* cli.h - what the sq command's parts share: opening files and models, atomic output,
 * error reporting. Only cli/ touches the file system; core/ sees readers and writers. */
#ifndef SQ_CLI_H
#define SQ_CLI_H

#include <stdio.h>
#include "safetensors.h"
#include "sq.h"

/* A random-access reader over a FILE*. */
typedef struct cli_file {
    FILE *fp;
    sq_reader reader;
} cli_file;
int cli_file_open(cli_file *f, const char *path, sq_err *e);
void cli_file_close(cli_file *f);

/* Read a whole (small) file into a NUL-terminated buffer; *len excludes the NUL.
 * limit: refuse larger files (bytes). Returns NULL with e set on failure. */
char *cli_read_text(const char *path, size_t limit, size_t *len, sq_err *e);
int cli_exists(const char *path);
int cli_is_dir(const char *path);

/* Output written to "<path>.tmp-<pid>" and renamed over path only on commit:
 * a failure leaves no file behind. */
typedef struct cli_out {
    FILE *fp;
    char *path, *tmp;
    sq_writer writer;
} cli_out;
int cli_out_open(cli_out *o, const char *path, sq_err *e);
int cli_out_commit(cli_out *o, sq_err *e); /* flush, close, rename */
void cli_out_abort(cli_out *o);            /* close and delete the temporary */

/* A model as the commands see it: the weights file, opened, plus config and tokenizer
 * texts. MODEL is a directory (config.json, *.safetensors, vocab.txt/tokenizer.json) or
 * a .safetensors file with those beside it; a quantized file carries them in its
 * metadata (sq.config, sq.tokenizer.json, sq.vocab.txt), used when no file is beside it.
 * A sharded model is a folder with model.safetensors.index.json (or several *.safetensors
 * and no index), or the index file itself: its shards are opened as one sq_st_file. */
typedef struct cli_model {
    char *weights_path;    /* the file, or for a sharded model its index (or folder) */
    cli_file file;         /* a single weights file */
    cli_file *shards;      /* or the shards of a sharded model (core/shards.h) */
    size_t n_shards;
    sq_reader *shard_readers; /* their readers, which st's virtual reader forwards to */
    int st_open;           /* st needs sq_st_close */
    sq_st_file st;
    char *config;          /* config.json text or NULL */
    size_t config_len;
    char *tokenizer_json;  /* tokenizer.json text or NULL */
    size_t tokenizer_json_len;
    char *vocab_txt;       /* vocab.txt text or NULL */
    size_t vocab_txt_len;
    char *tokenizer_config; /* tokenizer_config.json text or NULL (chat template, bos) */
    size_t tokenizer_config_len;
} cli_model;
int cli_model_open(cli_model *m, const char *path, sq_err *e);
void cli_model_close(cli_model *m);

/* Threads for the core's heavy loops (NULL when this build has none). The pool
 * argument passed with it is a pointer to the thread count (int). */
#include "quant/pipeline.h"
sq_parallel_fn cli_parallel(int threads);
int cli_default_threads(void);

/* --shard-size: cut the finished output at path into shards of at most max_bytes
 * (NAME-0000i-of-0000N.safetensors + NAME.safetensors.index.json) and remove it; a file
 * that fits is left alone (*n_shards = 1). shard_out.c. */
int cli_split_shards(const char *path, uint64_t max_bytes, size_t *n_shards, sq_err *e);

/* Print "sq: <msg>" to stderr and return the exit code for e. */
int cli_report(const sq_err *e);

/* ---- args.c: what the commands share ---- */
#include "kernels/linear.h" /* sq_exec */
#define CLI_DATA_LIMIT (1024u << 20) /* --data / --text files */
/* Print "sq CMD: " + fmt (one %s: arg) to stderr; returns 2 (bad usage). */
int cli_usage_err(const char *cmd, const char *fmt, const char *arg);
/* A whole decimal integer / float / unsigned 64-bit option value within bounds: 1, or 0. */
int cli_parse_long(const char *s, long lo, long hi, long *out);
int cli_parse_double(const char *s, double lo, double hi, double *out);
int cli_parse_u64(const char *s, uint64_t *out);
int cli_parse_threads(const char *s, int *out); /* --threads N (1..256) */
/* The kernels' exec for t threads (the pool argument points at t, which must outlive it). */
sq_exec cli_exec_for(int *t); /* threads *t, and the --activations choice */
/* --activations f32|int8 (how quantized layers meet their inputs, linear.h); 0 if neither */
int cli_parse_activations(const char *s);
double cli_now_s(void); /* monotonic seconds */
double cli_cpu_s(void); /* this process's CPU seconds */
/* The model's tokenizer: tokenizer.json (preferred) or vocab.txt (core/bundle.c). */
#include "tokenizers/tokenizer.h"
int cli_load_tokenizer(const cli_model *m, sq_tokenizer **t, sq_err *e);
/* Next line of a text (modified in place: the newline becomes NUL); NULL at the end. */
char *cli_next_line(char **cur);
int cli_blank(const char *s); /* only spaces and tabs */

/* Command entry points (cmd_quant.c, cmd_bert.c, cmd_llama.c, cmd_arc.c; their table and
 * usage: main.c): argc/argv start at the command's first argument. */
int cmd_inspect(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_dequantize(int argc, char **argv);
int cmd_classify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_eval_arc(int argc, char **argv); /* sq eval --task arc (cmd_arc.c) */
int cmd_generate(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);

#endif
