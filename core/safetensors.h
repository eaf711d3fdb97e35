/* safetensors.h - read and write the safetensors format, one tensor at a time.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then the data
 * region. The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets relative to the data region) plus an optional "__metadata__" object of
 * string -> string.
 *
 * Validation on open (everything is checked before anything is sized from the file):
 *   N <= 100 MB and within the file; the header is a JSON object (nesting <= 64);
 *   at most SQ_ST_MAX_TENSORS tensors; every entry has a known dtype, a shape of
 *   <= 8 non-negative dims whose product does not overflow, offsets with
 *   end - begin == numel * dtype size; sorted by offset the tensors are contiguous
 *   from 0 and the last ends exactly at the end of the file; names are unique and
 *   non-empty; metadata values are strings.
 */
#ifndef SQ_SAFETENSORS_H
#define SQ_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include "dtype.h"
#include "sq.h"

#define SQ_ST_MAX_HEADER (100u * 1000u * 1000u)
#define SQ_ST_MAX_TENSORS 1000000
#define SQ_ST_MAX_DIMS 8

typedef struct sq_tensor_info {
    char *name;
    sq_dtype dtype;
    int ndim;
    int64_t shape[SQ_ST_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; /* byte offsets relative to the data region */
} sq_tensor_info;

typedef struct sq_meta_kv {
    char *key, *value;
} sq_meta_kv;

typedef struct sq_st_file {
    const sq_reader *reader;
    uint64_t data_start;   /* 8 + N */
    size_t n_tensors;
    sq_tensor_info *tensors; /* sorted by begin offset (file order) */
    size_t n_meta;
    sq_meta_kv *meta;        /* __metadata__, in header order */
    struct sq_st_shards *shards; /* set when several shards make one file (shards.h) */
} sq_st_file;

/* Parse and validate the header. On error nothing needs closing. */
int sq_st_open(sq_st_file *f, const sq_reader *r, sq_err *e);
void sq_st_close(sq_st_file *f);

const sq_tensor_info *sq_st_find(const sq_st_file *f, const char *name);
/* __metadata__ value for key, or NULL. */
const char *sq_st_meta(const sq_st_file *f, const char *key);

/* Read the raw bytes of one tensor (buf: end-begin bytes). */
int sq_st_read_raw(const sq_st_file *f, const sq_tensor_info *t, void *buf, sq_err *e);
/* Read a float tensor (F32/F16/BF16) converted to float32 (out: numel floats).
 * Other dtypes are refused with an error naming the tensor. */
int sq_st_read_f32(const sq_st_file *f, const sq_tensor_info *t, float *out, sq_err *e);
/* Read a range of elements [first, first+count) of a float tensor as float32. */
int sq_st_read_f32_range(const sq_st_file *f, const sq_tensor_info *t, uint64_t first,
                         uint64_t count, float *out, sq_err *e);

/* Refuse NaN or +-Inf among the bytes [byte_off, byte_off+len) of a float tensor t
 * (F64/F32/F16/BF16/F8; other dtypes pass). byte_off and len are multiples of the element
 * size. Used on tensors that are only copied (embeddings, norms): a model with a
 * non-finite value anywhere is broken, and quantizing it would hide that. */
int sq_st_check_finite(const sq_tensor_info *t, const void *bytes, size_t len, uint64_t byte_off, sq_err *e);

/* ---- writer ----
 * Declare every tensor (name, dtype, shape) and the metadata first; sq_stw_begin writes
 * the header. Then write each tensor's bytes in declaration order with sq_stw_data
 * (any number of calls per tensor); sq_stw_finish checks that every byte came. */
typedef struct sq_stw_tensor {
    char *name;
    sq_dtype dtype;
    int ndim;
    int64_t shape[SQ_ST_MAX_DIMS];
    uint64_t nbytes;
} sq_stw_tensor;

typedef struct sq_st_writer {
    sq_writer out;
    size_t n, cap;
    sq_stw_tensor *tensors;
    size_t n_meta, cap_meta;
    sq_meta_kv *meta;
    size_t current;       /* tensor being written */
    uint64_t written;     /* bytes of the current tensor written so far */
    int begun;
} sq_st_writer;

void sq_stw_init(sq_st_writer *w, sq_writer out);
int sq_stw_add(sq_st_writer *w, const char *name, sq_dtype dtype, int ndim, const int64_t *shape,
               sq_err *e);
int sq_stw_meta(sq_st_writer *w, const char *key, const char *value, sq_err *e);
int sq_stw_begin(sq_st_writer *w, sq_err *e);
int sq_stw_data(sq_st_writer *w, const void *bytes, size_t len, sq_err *e);
int sq_stw_finish(sq_st_writer *w, sq_err *e);
void sq_stw_free(sq_st_writer *w);

#endif
