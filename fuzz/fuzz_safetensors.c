/* fuzz_safetensors.c - sq_st_open on arbitrary bytes, then read every tensor.
 *
 * Properties: no crash, leak or hang; every allocation is bounded by the input size
 * (run with -malloc_limit_mb); an accepted file satisfies the validation contract of
 * safetensors.h (contiguous, sorted, in bounds, sizes consistent, unique names), and a
 * float tensor reads back the same through sq_st_read_f32 and sq_st_read_f32_range.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sq_mem_reader m;
    fuzz_part whole = {data, size};
    uint8_t *copy = fuzz_copy(&whole);
    sq_reader r = sq_reader_from_memory(&m, copy, size);
    sq_st_file f;
    sq_err e = {0};
    int rc = sq_st_open(&f, &r, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        FUZZ_ASSERT(f.tensors == NULL && f.meta == NULL);
        free(copy);
        return 0;
    }
    /* the validation contract */
    FUZZ_ASSERT(f.data_start >= 10 && f.data_start <= size);
    uint64_t expect = 0;
    for (size_t i = 0; i < f.n_tensors; i++) {
        const sq_tensor_info *t = &f.tensors[i];
        FUZZ_ASSERT(t->name && t->name[0]);
        FUZZ_ASSERT(t->ndim >= 0 && t->ndim <= SQ_ST_MAX_DIMS);
        uint64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            FUZZ_ASSERT(t->shape[d] >= 0);
            numel *= (uint64_t)t->shape[d];
        }
        FUZZ_ASSERT(numel == t->numel);
        FUZZ_ASSERT(t->begin == expect && t->end >= t->begin);
        FUZZ_ASSERT(t->end - t->begin == t->numel * sq_dtype_size(t->dtype));
        expect = t->end;
        FUZZ_ASSERT(sq_st_find(&f, t->name) != NULL);
    }
    FUZZ_ASSERT(f.data_start + expect == size);
    for (size_t i = 0; i < f.n_meta; i++) {
        FUZZ_ASSERT(f.meta[i].key && f.meta[i].value);
        FUZZ_ASSERT(sq_st_meta(&f, f.meta[i].key) != NULL);
    }
    /* read everything */
    for (size_t i = 0; i < f.n_tensors; i++) {
        const sq_tensor_info *t = &f.tensors[i];
        size_t nb = (size_t)(t->end - t->begin);
        uint8_t *raw = malloc(nb ? nb : 1);
        FUZZ_ASSERT(raw);
        memset(&e, 0, sizeof e);
        rc = sq_st_read_raw(&f, t, raw, &e);
        fuzz_check_err(rc, &e);
        FUZZ_ASSERT(rc == 0);
        FUZZ_ASSERT(nb == 0 || memcmp(raw, copy + f.data_start + t->begin, nb) == 0);
        free(raw);
        if (sq_dtype_is_float(t->dtype)) {
            size_t n = (size_t)t->numel;
            float *x = malloc(n ? n * sizeof(float) : 1);
            FUZZ_ASSERT(x);
            memset(&e, 0, sizeof e);
            rc = sq_st_read_f32(&f, t, x, &e);
            fuzz_check_err(rc, &e);
            FUZZ_ASSERT(rc == 0);
            if (n > 0) {
                /* a sub-range reads the same values (bit for bit, NaNs included) */
                uint64_t first = n / 3, count = n - first - (n > 2 ? 1 : 0);
                float *y = malloc(count ? count * sizeof(float) : 1);
                FUZZ_ASSERT(y);
                memset(&e, 0, sizeof e);
                rc = sq_st_read_f32_range(&f, t, first, count, y, &e);
                fuzz_check_err(rc, &e);
                FUZZ_ASSERT(rc == 0);
                FUZZ_ASSERT(count == 0 || memcmp(y, x + first, count * sizeof(float)) == 0);
                free(y);
                /* out-of-range requests are refused, not read */
                memset(&e, 0, sizeof e);
                FUZZ_ASSERT(sq_st_read_f32_range(&f, t, n, 1, x, &e) != 0);
                memset(&e, 0, sizeof e);
                FUZZ_ASSERT(sq_st_read_f32_range(&f, t, 1, UINT64_MAX, x, &e) != 0);
            }
            free(x);
        } else {
            memset(&e, 0, sizeof e);
            FUZZ_ASSERT(sq_st_read_f32(&f, t, NULL, &e) == SQ_EINPUT);
        }
    }
    sq_st_close(&f);
    free(copy);
    return 0;
}
