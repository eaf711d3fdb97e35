/* shards.h - a sharded safetensors model (model-00001-of-00002.safetensors + ...) seen as
 * one sq_st_file.
 *
 * Hugging Face writes models over a few GB as several safetensors files ("shards") and a
 * model.safetensors.index.json whose "weight_map" names, for every tensor, the shard
 * that holds it. sq opens every shard with the usual strict validation and then presents
 * them as one logical file: the shards, whole and in order, are laid end to end in one
 * virtual byte space, every tensor's offsets are rebased into it (data_start is 0), and
 * a reader over that space forwards each read to the shard it falls in. Everything that
 * reads an sq_st_file (quantize, inspect, the models) works unchanged, one tensor at a
 * time, with the memory it needed for one file.
 *
 * Checked, beyond each shard's own validation: the index is a JSON object (<= 64 MB,
 * nesting <= 64) with a "weight_map" object of tensor -> file name; file names are plain
 * names ending in .safetensors (no directories: a hostile index must not reach outside
 * the model folder); at most SQ_SHARDS_MAX shards; no tensor in two shards; every tensor
 * the index names is in the shard it names and every tensor of a shard is in the index
 * under that shard. Without an index the union of the shards is the model, with the same
 * "no tensor twice" rule. __metadata__ is the union of the shards'; a key whose values
 * differ between shards is refused.
 */
#ifndef SQ_SHARDS_H
#define SQ_SHARDS_H

#include <stddef.h>
#include "safetensors.h"
#include "sq.h"

#define SQ_SHARDS_MAX 4096
#define SQ_SHARD_INDEX_MAX (64u << 20)

/* The distinct shard file names of an index's weight_map, sorted by name (the order the
 * shards are laid out in). *names is an array of *n malloc'd strings; free it with
 * sq_shard_names_free. */
int sq_shard_index_files(const char *index_json, size_t len, char ***names, size_t *n, sq_err *e);
void sq_shard_names_free(char **names, size_t n);

/* 1 if name is a plain file name sq accepts as a shard: non-empty, <= 255 bytes, no '/',
 * '\\' or control characters, not starting with '.', ending in ".safetensors". */
int sq_shard_name_ok(const char *name);

/* Open n shards (readers[i] holds the file called names[i]) as one logical file f.
 * The readers must stay valid until sq_st_close(f). index_json may be NULL: then every
 * tensor of every shard belongs to the model. Errors name the shard (and the tensor). */
int sq_st_open_shards(sq_st_file *f, const sq_reader *readers, const char *const *names, size_t n,
                      const char *index_json, size_t index_len, sq_err *e);

/* Which shard (index into the names given to sq_st_open_shards) holds tensor t of a
 * sharded file; 0 for a file opened with sq_st_open. */
size_t sq_st_shard_of(const sq_st_file *f, const sq_tensor_info *t);
size_t sq_st_n_shards(const sq_st_file *f);

/* Used by sq_st_close. */
void sq_st_shards_free(struct sq_st_shards *s);

#endif
