/* fuzz_quantize.c - quantize an arbitrary safetensors model, then read the result back.
 *
 * Input: 2 option bytes, then a safetensors file.
 *   byte 0: bits (low 3 bits mod 5 -> 2, 3, 4, 8, f32), clusters (next 3 bits + 1),
 *           format (bit 6: paper), skip_plain (bit 7)
 *   byte 1: group (0 auto, 1 row, 2 tensor, else the fixed size byte - 2)
 * Properties when sq_quantize_model succeeds (its own output is trusted input):
 *   - the output is a valid safetensors file with sq.format and sq.tensors metadata;
 *   - sq_dequantize_model accepts it and restores every input tensor with its name,
 *     shape and dtype; unsplit tensors come back bit for bit; --bits f32 splits are exact;
 *   - the dequantized weights give the MSE the report recorded (the quantizer's own
 *     dequantization and the file reader agree), and finite weights stay finite;
 *   - every quantized weight loads with sq_linear_load and the kernels agree with the
 *     dequantized matrix.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_linear_check.h"
#include "quant/pipeline.h"
#include "quant/quant.h"
#include "safetensors.h"

static void decode_opts(uint8_t b0, uint8_t b1, sq_quant_opts *o)
{
    static const int bits[5] = {2, 3, 4, 8, SQ_BITS_F32};
    sq_quant_opts_default(o);
    o->bits = bits[(b0 & 7) % 5];
    o->clusters = 1 + ((b0 >> 3) & 7);
    o->format = (b0 >> 6) & 1 ? SQ_FMT_PAPER : SQ_FMT_PACKED;
    if ((b0 & 7) >= 5) { /* 5, 6, 7: the codebook format at 2, 3, 4 bits (no clusters) */
        o->format = SQ_FMT_CODEBOOK;
        o->clusters = 1;
    }
    o->skip_plain = (b0 >> 7) & 1;
    o->group = b1 == 0 ? SQ_GROUP_AUTO : b1 == 1 ? SQ_GROUP_ROW : b1 == 2 ? SQ_GROUP_TENSOR : (int)b1 - 2;
    o->seed = 7;
    o->threads = 1;
}

static int progress(void *ctx, const sq_progress *p)
{
    size_t *calls = ctx;
    (*calls)++;
    FUZZ_ASSERT(p->index == *calls && p->index <= p->total);
    FUZZ_ASSERT(p->bytes_done <= p->bytes_total);
    return 0;
}

static float *read_all_f32(const sq_st_file *f, const sq_tensor_info *t)
{
    float *x = malloc(t->numel ? (size_t)t->numel * sizeof(float) : 1);
    sq_err e = {0};
    FUZZ_ASSERT(x);
    int rc = sq_st_read_f32(f, t, x, &e);
    fuzz_check_err(rc, &e);
    FUZZ_ASSERT(rc == 0);
    return x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    sq_quant_opts o;
    decode_opts(data[0], data[1], &o);
    fuzz_part body = {data + 2, size - 2};
    uint8_t *copy = fuzz_copy(&body);
    sq_mem_reader m;
    sq_reader r = sq_reader_from_memory(&m, copy, body.len);
    sq_st_file in;
    sq_err e = {0};
    if (sq_st_open(&in, &r, &e)) {
        free(copy);
        return 0;
    }

    sq_buf out = {0};
    sq_report rep;
    size_t calls = 0;
    sq_quant_hooks hooks;
    memset(&hooks, 0, sizeof hooks);
    hooks.progress = progress;
    hooks.ctx = &calls;
    sq_model_texts texts = {"{\"model_type\": \"bert\"}", NULL, NULL, NULL, "fuzz"};
    int rc = sq_quantize_model(&in, &o, &texts, sq_writer_to_buf(&out), &hooks, &rep, &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        FUZZ_ASSERT(rc == SQ_EINPUT); /* no OOM at these sizes, no cancel */
        goto done;
    }
    FUZZ_ASSERT(calls == in.n_tensors);
    FUZZ_ASSERT(rep.bytes_out == out.len);
    char *rj = sq_report_json(&rep, &o, "fuzz", 0.0);
    FUZZ_ASSERT(rj);
    free(rj);

    /* the output is a valid safetensors file */
    sq_mem_reader m2;
    sq_reader r2 = sq_reader_from_memory(&m2, out.data, out.len);
    sq_st_file q;
    memset(&e, 0, sizeof e);
    rc = sq_st_open(&q, &r2, &e);
    if (rc) {
        fprintf(stderr, "quantizer output does not parse: %s\n", e.msg);
        abort();
    }
    FUZZ_ASSERT(sq_st_meta(&q, "sq.format") && sq_st_meta(&q, "sq.tensors"));
    FUZZ_ASSERT(strcmp(sq_st_meta(&q, "sq.format"), sq_format_name(o.format)) == 0);

    /* dequantize it (float tensors to F32 so values compare exactly) */
    sq_buf back = {0};
    memset(&e, 0, sizeof e);
    rc = sq_dequantize_model(&q, SQ_DT_F32, sq_writer_to_buf(&back), &e);
    fuzz_check_err(rc, &e);
    if (rc) {
        fprintf(stderr, "dequantizing sq's own output failed: %s\n", e.msg);
        abort();
    }
    sq_mem_reader m3;
    sq_reader r3 = sq_reader_from_memory(&m3, back.data, back.len);
    sq_st_file d;
    memset(&e, 0, sizeof e);
    rc = sq_st_open(&d, &r3, &e);
    if (rc) {
        fprintf(stderr, "dequantized output does not parse: %s\n", e.msg);
        abort();
    }
    FUZZ_ASSERT(d.n_tensors == in.n_tensors);
    FUZZ_ASSERT(sq_st_meta(&d, "sq.format") == NULL);
    for (size_t i = 0; i < in.n_tensors; i++) {
        const sq_tensor_info *t = &in.tensors[i];
        const sq_tensor_info *u = sq_st_find(&d, t->name);
        FUZZ_ASSERT(u);
        FUZZ_ASSERT(u->ndim == t->ndim && memcmp(u->shape, t->shape, sizeof t->shape) == 0);
        if (!sq_dtype_is_float(t->dtype)) {
            FUZZ_ASSERT(u->dtype == t->dtype);
            FUZZ_ASSERT(memcmp(back.data + d.data_start + u->begin, copy + in.data_start + t->begin, t->end - t->begin) == 0);
            continue;
        }
        FUZZ_ASSERT(u->dtype == SQ_DT_F32);
        float *x = read_all_f32(&in, t), *y = read_all_f32(&d, u);
        const sq_layer_stats *st = NULL;
        for (size_t j = 0; j < rep.n_layers; j++)
            if (strcmp(rep.layers[j].name, t->name) == 0) st = &rep.layers[j];
        size_t n = (size_t)t->numel;
        if (!st || st->role == SQ_ROLE_BIAS || o.bits == SQ_BITS_F32) {
            /* copied, float bias or exact split: bit for bit (the parts hold +0.0 elsewhere,
               so a -0.0 may come back as +0.0) */
            for (size_t j = 0; j < n; j++)
                if (!(memcmp(&x[j], &y[j], 4) == 0 || (x[j] == 0 && y[j] == 0))) {
                    fprintf(stderr, "tensor '%s' element %zu: %.9g became %.9g\n", t->name, j, x[j], y[j]);
                    abort();
                }
        } else {
            double s = 0;
            for (size_t j = 0; j < n; j++) {
                if (!isfinite(y[j])) {
                    fprintf(stderr, "tensor '%s' element %zu: finite %.9g dequantized to %g\n", t->name, j, x[j], y[j]);
                    abort();
                }
                double dd = (double)x[j] - (double)y[j];
                s += dd * dd;
            }
            double mse = n ? s / (double)n : 0;
            if (!(mse == st->mse || fabs(mse - st->mse) <= 1e-9 * fabs(st->mse))) {
                fprintf(stderr, "tensor '%s': mse of the dequantized file %.17g, report says %.17g\n", t->name, mse, st->mse);
                abort();
            }
        }
        if (st && st->role == SQ_ROLE_WEIGHT && t->ndim == 2)
            fuzz_linear_check(&q, t->name, (size_t)t->shape[0], (size_t)t->shape[1], y, 1);
        free(x);
        free(y);
    }
    sq_st_close(&d);
    sq_buf_free(&back);
    sq_st_close(&q);
done:
    sq_report_free(&rep);
    sq_buf_free(&out);
    sq_st_close(&in);
    free(copy);
    return 0;
}
