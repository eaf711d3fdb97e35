/* fuzz_common.h - helpers shared by the libFuzzer targets in fuzz/.
 *
 * Every target defines LLVMFuzzerTestOneInput(data, size). Inputs with several parts
 * (tokenizer data + text, config.json + weights + token ids) separate them with
 * FUZZ_SEP, a line that never occurs in real files, so the mutator can grow or shrink
 * each part independently.
 */
#ifndef SQ_FUZZ_COMMON_H
#define SQ_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sq.h"

#define FUZZ_SEP "\n#SQFUZZ#\n"
#define FUZZ_SEP_LEN (sizeof FUZZ_SEP - 1)

typedef struct fuzz_part {
    const uint8_t *data;
    size_t len;
} fuzz_part;

/* Split data at the first n-1 separators into n parts (missing parts are empty). */
static inline void fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, int n)
{
    for (int i = 0; i < n; i++) {
        parts[i].data = data;
        parts[i].len = 0;
        if (i == n - 1) {
            parts[i].len = size;
            break;
        }
        const uint8_t *p = NULL;
        if (size >= FUZZ_SEP_LEN)
            for (size_t j = 0; j + FUZZ_SEP_LEN <= size; j++)
                if (data[j] == FUZZ_SEP[0] && memcmp(data + j, FUZZ_SEP, FUZZ_SEP_LEN) == 0) {
                    p = data + j;
                    break;
                }
        if (!p) {
            parts[i].len = size;
            data += size;
            size = 0;
            continue;
        }
        parts[i].len = (size_t)(p - data);
        size -= parts[i].len + FUZZ_SEP_LEN;
        data = p + FUZZ_SEP_LEN;
    }
}

/* A malloc'd NUL-terminated copy (the core takes C strings for JSON text). */
static inline char *fuzz_strdup(const fuzz_part *p)
{
    char *s = malloc(p->len + 1);
    if (!s) abort();
    if (p->len) memcpy(s, p->data, p->len);
    s[p->len] = 0;
    return s;
}

/* An exact copy in its own allocation, so ASan sees reads past the end. */
static inline uint8_t *fuzz_copy(const fuzz_part *p)
{
    uint8_t *s = malloc(p->len ? p->len : 1);
    if (!s) abort();
    if (p->len) memcpy(s, p->data, p->len);
    return s;
}

/* Contract checks: an error must carry a code in range and a non-empty message. */
#define FUZZ_ASSERT(c)                                                                  \
    do {                                                                                \
        if (!(c)) {                                                                     \
            fprintf(stderr, "FUZZ_ASSERT failed: %s (%s:%d)\n", #c, __FILE__, __LINE__); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

static inline void fuzz_check_err(int rc, const sq_err *e)
{
    FUZZ_ASSERT(rc == e->code);
    if (rc) {
        FUZZ_ASSERT(rc == SQ_EINTERNAL || rc == SQ_EINPUT || rc == SQ_ECANCEL);
        FUZZ_ASSERT(e->msg[0] != 0);
        FUZZ_ASSERT(memchr(e->msg, 0, sizeof e->msg) != NULL);
    }
}

#endif
