/* sq.h - shared types of the sq core: errors, the reader/writer interfaces.
 *
 * The core never touches the file system or the clock. Every byte it reads comes
 * through an sq_reader (random access: read(offset, len)) and every byte it writes
 * goes through an sq_writer (append only). Front ends (cli/, wasm/) supply them:
 * a FILE*, a Blob slice in the browser, or a memory buffer in tests.
 */
#ifndef SQ_H
#define SQ_H

#include <stddef.h>
#include <stdint.h>

#define SQ_VERSION "0.1.0"

/* Exit-code style status: 0 ok, 1 internal error, 2 bad input, 3 cancelled. */
enum {
    SQ_OK = 0,
    SQ_EINTERNAL = 1, /* our bug, out of memory, or an I/O failure of the host */
    SQ_EINPUT = 2,    /* the input is malformed, hostile or unsupported */
    SQ_ECANCEL = 3    /* the caller asked us to stop */
};

/* An error: a status and one human-readable line (no trailing newline).
 * Functions that can fail take an sq_err* and fill it; the first error wins. */
typedef struct sq_err {
    int code;
    char msg[512];
} sq_err;

/* Set e (if no error is recorded yet) and return code. printf-style. */
int sq_fail(sq_err *e, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Put prefix (e.g. "model.safetensors: ") in front of e's message, truncating the end. */
void sq_err_prefix(sq_err *e, const char *prefix);

/* Random-access input. read() must fill exactly len bytes or return non-zero. */
typedef struct sq_reader {
    void *ctx;
    uint64_t size;
    int (*read)(void *ctx, uint64_t offset, void *buf, size_t len);
} sq_reader;

/* Append-only output. write() must take all len bytes or return non-zero. */
typedef struct sq_writer {
    void *ctx;
    int (*write)(void *ctx, const void *buf, size_t len);
} sq_writer;

/* A reader over a memory buffer (the buffer must outlive the reader). */
typedef struct sq_mem_reader {
    const uint8_t *data;
    uint64_t size;
} sq_mem_reader;
sq_reader sq_reader_from_memory(sq_mem_reader *m, const void *data, uint64_t size);

/* A growable memory buffer that is also a writer. */
typedef struct sq_buf {
    uint8_t *data;
    size_t len, cap;
} sq_buf;
sq_writer sq_writer_to_buf(sq_buf *b);
void sq_buf_free(sq_buf *b);

/* Read exactly len bytes at offset, with a clear error on failure. */
int sq_read_at(const sq_reader *r, uint64_t offset, void *buf, size_t len, sq_err *e);
int sq_write_all(const sq_writer *w, const void *buf, size_t len, sq_err *e);

/* Allocation that reports failure through e instead of crashing. */
void *sq_malloc(size_t n, sq_err *e);
void *sq_calloc(size_t count, size_t size, sq_err *e);
/* A malloc'd copy of s (NULL and e set when out of memory). */
char *sq_strdup(const char *s, sq_err *e);
/* qsort / bsearch comparator of char * elements (strcmp order). */
int sq_cmp_str(const void *a, const void *b);

#endif
