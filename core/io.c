/* io.c - errors, memory reader/writer, checked reads and allocations, strings. */
#include "sq.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sq_fail(sq_err *e, int code, const char *fmt, ...)
{
    if (e && e->code == SQ_OK) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int mem_read(void *ctx, uint64_t offset, void *buf, size_t len)
{
    sq_mem_reader *m = ctx;
    if (offset > m->size || len > m->size - offset) return -1;
    if (len) memcpy(buf, m->data + offset, len);
    return 0;
}

sq_reader sq_reader_from_memory(sq_mem_reader *m, const void *data, uint64_t size)
{
    sq_reader r;
    m->data = data;
    m->size = size;
    r.ctx = m;
    r.size = size;
    r.read = mem_read;
    return r;
}

static int buf_write(void *ctx, const void *data, size_t len)
{
    sq_buf *b = ctx;
    if (len > SIZE_MAX - b->len) return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len) {
            if (cap > SIZE_MAX / 2) { cap = b->len + len; break; }
            cap *= 2;
        }
        uint8_t *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

sq_writer sq_writer_to_buf(sq_buf *b)
{
    sq_writer w;
    w.ctx = b;
    w.write = buf_write;
    return w;
}

void sq_buf_free(sq_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int sq_read_at(const sq_reader *r, uint64_t offset, void *buf, size_t len, sq_err *e)
{
    if (offset > r->size || len > r->size - offset)
        return sq_fail(e, SQ_EINPUT, "read of %zu bytes at offset %llu is past the end of the file (%llu bytes)",
                       len, (unsigned long long)offset, (unsigned long long)r->size);
    if (len == 0) return SQ_OK;
    if (r->read(r->ctx, offset, buf, len) != 0)
        return sq_fail(e, SQ_EINTERNAL, "could not read %zu bytes at offset %llu", len,
                       (unsigned long long)offset);
    return SQ_OK;
}

int sq_write_all(const sq_writer *w, const void *buf, size_t len, sq_err *e)
{
    if (len == 0) return SQ_OK;
    if (w->write(w->ctx, buf, len) != 0) return sq_fail(e, SQ_EINTERNAL, "could not write %zu bytes", len);
    return SQ_OK;
}

void *sq_malloc(size_t n, sq_err *e)
{
    void *p = malloc(n ? n : 1);
    if (!p) sq_fail(e, SQ_EINTERNAL, "out of memory (wanted %zu bytes)", n);
    return p;
}

void *sq_calloc(size_t count, size_t size, sq_err *e)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) sq_fail(e, SQ_EINTERNAL, "out of memory (wanted %zu x %zu bytes)", count, size);
    return p;
}

char *sq_strdup(const char *s, sq_err *e)
{
    size_t n = strlen(s);
    char *p = sq_malloc(n + 1, e);
    if (p) memcpy(p, s, n + 1);
    return p;
}

int sq_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void sq_err_prefix(sq_err *e, const char *prefix)
{
    size_t p = strlen(prefix), m = strlen(e->msg), cap = sizeof e->msg - 1;
    if (p >= cap) p = cap;
    if (p + m > cap) m = cap - p;
    memmove(e->msg + p, e->msg, m);
    memcpy(e->msg, prefix, p);
    e->msg[p + m] = 0;
}
