/* fuzz_dequantize.c - a (possibly hostile) quantized file -> sq_dequantize_model, and every
 * described weight through the inference loader (sq_linear_load) and its kernels.
 *
 * Input: a safetensors file (seeds: sq's own quantized outputs of tiny models).
 * Properties: no crash, leak, hang or unbounded allocation; when both the dequantizer
 * and the loader accept a weight, the kernels reproduce the dequantized matrix.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_linear_check.h"
#include "quant/pipeline.h"
#include "quant/qfile.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_part whole = {data, size};
    uint8_t *copy = fuzz_copy(&whole);
    sq_mem_reader m;
    sq_reader r = sq_reader_from_memory(&m, copy, size);
    sq_st_file in;
    sq_err e = {0};
    if (sq_st_open(&in, &r, &e)) {
        free(copy);
        return 0;
    }
    /* the whole-file path (sq dequantize); the dtype comes from the last byte */
    static const sq_dtype dts[4] = {SQ_DT_F32, SQ_DT_INVALID, SQ_DT_F16, SQ_DT_BF16};
    sq_dtype dt = dts[size ? data[size - 1] & 3 : 0];
    sq_buf out = {0};
    int rc = sq_dequantize_model(&in, dt, sq_writer_to_buf(&out), &e);
    fuzz_check_err(rc, &e);
    sq_st_file d;
    int have_d = 0, d_open = 0;
    sq_mem_reader m2;
    sq_reader r2 = sq_reader_from_memory(&m2, out.data, out.len);
    if (rc == 0) {
        memset(&e, 0, sizeof e);
        if (sq_st_open(&d, &r2, &e)) {
            fprintf(stderr, "dequantizer output does not parse: %s\n", e.msg);
            abort();
        }
        d_open = 1;
        have_d = dt == SQ_DT_F32;
    }

    /* the inference path: every described source tensor through sq_linear_load */
    sq_qfile q;
    memset(&e, 0, sizeof e);
    if (sq_qfile_open(&q, &in, &e) == 0 && q.desc) {
        const cJSON *it;
        int budget = 64;
        cJSON_ArrayForEach(it, q.desc)
        {
            if (!it->string || --budget < 0) break;
            sq_qtensor t;
            memset(&e, 0, sizeof e);
            int found = sq_qfile_describe(&q, it->string, &t, &e);
            if (found != 1 || e.code) continue;
            /* the shape the description claims (a real model would ask for it) */
            size_t rows = t.rows, cols = t.cols;
            if (rows == 0 || cols == 0) continue;
            float *deq = NULL;
            if (have_d) {
                const sq_tensor_info *u = sq_st_find(&d, it->string);
                if (u && u->dtype == SQ_DT_F32 && u->numel == (uint64_t)rows * cols) {
                    deq = malloc(rows * cols * sizeof(float));
                    FUZZ_ASSERT(deq);
                    memset(&e, 0, sizeof e);
                    FUZZ_ASSERT(sq_st_read_f32(&d, u, deq, &e) == 0);
                }
            }
            if (t.ndim == 2) fuzz_linear_check(&in, it->string, rows, cols, deq, 0);
            /* and as a bias of a 1-row layer of `rows` outputs */
            if (t.ndim == 1) {
                sq_linear L;
                memset(&e, 0, sizeof e);
                /* a plain weight must exist for the bias to be reached: use the first
                   F32 2-D tensor with `rows` rows, if any */
                for (size_t i = 0; i < in.n_tensors; i++) {
                    const sq_tensor_info *w = &in.tensors[i];
                    if (w->dtype == SQ_DT_F32 && w->ndim == 2 && (size_t)w->shape[0] == rows && w->shape[1] > 0) {
                        int lrc = sq_linear_load(&L, &in, w->name, it->string, rows, (size_t)w->shape[1], &e);
                        fuzz_check_err(lrc, &e);
                        if (!lrc) sq_linear_free(&L);
                        break;
                    }
                }
            }
            free(deq);
        }
    }
    sq_qfile_close(&q);
    if (d_open) sq_st_close(&d);
    sq_buf_free(&out);
    sq_st_close(&in);
    free(copy);
    return 0;
}
