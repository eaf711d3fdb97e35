/* fuzz_shards.c - sq_st_open_shards on an arbitrary index and two arbitrary shards.
 *
 * Input: index JSON, shard "a.safetensors", shard "b.safetensors", split at FUZZ_SEP (an
 * empty index part means no index). Properties: no crash, leak or hang; an accepted pair
 * satisfies shards.h's contract: every tensor lies inside one shard's data region, in
 * file order, names unique across the shards, and its bytes read through the virtual
 * reader equal those of its shard; sq_shard_index_files never returns an unsafe name.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "shards.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part p[3];
    fuzz_split(data, size, p, 3);
    char *index = fuzz_strdup(&p[0]);
    uint8_t *a = fuzz_copy(&p[1]), *b = fuzz_copy(&p[2]);
    sq_mem_reader ma, mb;
    sq_reader readers[2] = {sq_reader_from_memory(&ma, a, p[1].len), sq_reader_from_memory(&mb, b, p[2].len)};
    const char *names[2] = {"a.safetensors", "b.safetensors"};
    sq_err e = {0};

    char **files = NULL;
    size_t n_files = 0;
    if (p[0].len) {
        int rc = sq_shard_index_files(index, p[0].len, &files, &n_files, &e);
        fuzz_check_err(rc, &e);
        for (size_t i = 0; !rc && i < n_files; i++) {
            FUZZ_ASSERT(sq_shard_name_ok(files[i]));
            if (i) FUZZ_ASSERT(strcmp(files[i - 1], files[i]) < 0);
        }
        sq_shard_names_free(files, n_files);
        memset(&e, 0, sizeof e);
    }

    sq_st_file f;
    int rc = sq_st_open_shards(&f, readers, names, 2, p[0].len ? index : NULL, p[0].len, &e);
    fuzz_check_err(rc, &e);
    if (!rc) {
        FUZZ_ASSERT(sq_st_n_shards(&f) == 2 && f.data_start == 0);
        FUZZ_ASSERT(f.reader->size == (uint64_t)p[1].len + p[2].len);
        uint64_t prev = 0;
        for (size_t i = 0; i < f.n_tensors; i++) {
            const sq_tensor_info *t = &f.tensors[i];
            size_t s = sq_st_shard_of(&f, t);
            FUZZ_ASSERT(s < 2);
            uint64_t base = s ? p[1].len : 0, len = s ? p[2].len : p[1].len;
            FUZZ_ASSERT(t->begin >= prev && t->begin >= base && t->end <= base + len);
            prev = t->begin;
            FUZZ_ASSERT(sq_st_find(&f, t->name) == t);
            uint64_t n = t->end - t->begin;
            if (n <= (1u << 20)) {
                uint8_t *buf = malloc(n ? n : 1);
                if (!buf) abort();
                sq_err re = {0};
                FUZZ_ASSERT(sq_st_read_raw(&f, t, buf, &re) == SQ_OK);
                const uint8_t *src = (s ? b : a) + (t->begin - base);
                FUZZ_ASSERT(n == 0 || memcmp(buf, src, n) == 0);
                free(buf);
            }
        }
        sq_st_close(&f);
    }
    free(index);
    free(a);
    free(b);
    return 0;
}
