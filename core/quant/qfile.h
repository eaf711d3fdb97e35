/* qfile.h - reading sq's quantized files: the per-tensor descriptions in "sq.tensors"
 * metadata and checked lookups of their parts (qfile.c). Restoring a tensor to float
 * is dequant.c's. */
#ifndef SQ_QFILE_H
#define SQ_QFILE_H

#include <stddef.h>
#include <stdint.h>
#include "../safetensors.h"
#include "../sq.h"

enum { SQ_QF_NONE = 0, SQ_QF_PACKED = 1, SQ_QF_PAPER = 2, SQ_QF_CODEBOOK = 3 };
enum { SQ_QT_PACKED = 1, SQ_QT_PAPER = 2, SQ_QT_SPLIT = 3, SQ_QT_BIAS = 4, SQ_QT_CODEBOOK = 5 };

typedef struct sq_qfile {
    const sq_st_file *f;
    int format;        /* SQ_QF_*; NONE for an ordinary (unquantized) file */
    struct cJSON *desc; /* parsed "sq.tensors" */
} sq_qfile;

/* One source tensor's description, with its derived geometry. */
typedef struct sq_qtensor {
    int kind;          /* SQ_QT_* */
    int format;        /* SQ_FMT_* of a quantized kind (formats.h); -1 for float parts */
    sq_dtype dtype;    /* source dtype */
    int ndim;
    int64_t shape[SQ_ST_MAX_DIMS];
    size_t numel, rows, cols;
    int bits, k;
    size_t group;      /* 0 = whole tensor */
    size_t groups, params, row_bytes, id_bytes;
    int sym8;          /* paper INT8: symmetric per row, no min */
    int role;          /* "role" (--embeddings): SQ_QROLE_*; sq's readers need it only to count bits */
} sq_qtensor;
enum { SQ_QROLE_LINEAR = 0, SQ_QROLE_EMBEDDING = 1, SQ_QROLE_HEAD = 2 };

int sq_qfile_open(sq_qfile *q, const sq_st_file *f, sq_err *e);
void sq_qfile_close(sq_qfile *q);
/* 1 and t filled if `name` is described; 0 if not; on a bad description sets e and
 * returns its code (> 1 is never returned for success: check e->code). */
int sq_qfile_describe(const sq_qfile *q, const char *name, sq_qtensor *t, sq_err *e);
/* The tensor name+suffix, checked to have exactly this dtype and shape ([d0] or [d0, d1]). */
const sq_tensor_info *sq_qfile_part(const sq_qfile *q, const char *name, const char *suffix, sq_dtype dtype,
                                    int ndim, int64_t d0, int64_t d1, sq_err *e);
/* Check that every part of `name` exists with exactly the dtype and shape d implies
 * (before anything is allocated from the description). */
int sq_qfile_check(const sq_qfile *q, const char *name, const sq_qtensor *d, sq_err *e);
/* Read n little-endian u16 values (a BF16 part) of tensor t. */
int sq_qfile_read_u16(const sq_st_file *f, const sq_tensor_info *t, uint16_t *out, size_t n, sq_err *e);

#endif
