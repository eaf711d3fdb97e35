/* test_stream.c - the token embedding and the LM head of --embeddings are quantized a
 * block of rows at a time (core/formats/packed.c weight_streamed): on tensors of several
 * blocks (and a last, partial one), their codes, scales, mins and report statistics must
 * be the bytes and numbers of the same values quantized whole, as a plain k = 1 linear
 * layer of the packed format (the one-sweep path), for F32, F16 and BF16 sources, row and
 * group sizes, serial or in parallel parts, and a non-finite value must be named by its
 * index in the whole tensor. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

#include "dtype.h"
#include "quant/pipeline.h"
#include "quant/pipeline_int.h" /* STREAM_VALUES */
#include "quant/quant.h"        /* SQ_GROUP_* */
#include "safetensors.h"
#include "sq.h"

/* 2.2 blocks of STREAM_VALUES values, rows not a multiple of a chunk (65536 / COLS) */
enum { COLS = 320, ROWS = (int)(STREAM_VALUES * 22 / 10 / COLS) + 7 };

static uint64_t rng_state = 12345;
static float frand(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((double)(rng_state >> 11) * (1.0 / 9007199254740992.0));
}

/* values in the source dtype's bytes (little-endian) */
static void fill(uint8_t *p, sq_dtype dt, size_t n, float nan_at_scale)
{
    for (size_t i = 0; i < n; i++) {
        /* rows differ in range; magnitudes spread over 2^-28..2^3, so the double sums of
           the statistics round, and a different order of additions shows in the mean */
        float v = frand(-1, 1) * (i % 211 == 0 ? 6.0f : 1.0f) * (1.0f + (float)(i / COLS % 7)) * ldexpf(1.0f, -(int)(i % 3 == 0 ? i % 29 : 0));
        if (nan_at_scale != 0 && i == (size_t)((double)n * nan_at_scale)) v = NAN;
        uint32_t u;
        uint16_t h;
        switch (dt) {
        case SQ_DT_F32: memcpy(&u, &v, 4); for (int b = 0; b < 4; b++) p[4 * i + (size_t)b] = (uint8_t)(u >> (8 * b)); break;
        case SQ_DT_F16: h = sq_f32_to_f16(v); p[2 * i] = (uint8_t)h; p[2 * i + 1] = (uint8_t)(h >> 8); break;
        default: h = sq_f32_to_bf16(v); p[2 * i] = (uint8_t)h; p[2 * i + 1] = (uint8_t)(h >> 8); break;
        }
    }
}

/* A file with the embedding (dtype de) and an untied head (dh), each next to a linear
 * layer holding the same bytes. nan_at: a NaN at that fraction of the embedding (0: none). */
static int build(sq_buf *buf, sq_dtype de, sq_dtype dh, float nan_at)
{
    size_t n = (size_t)ROWS * COLS;
    size_t be = n * sq_dtype_size(de), bh = n * sq_dtype_size(dh);
    uint8_t *emb = malloc(be), *head = malloc(bh);
    if (!emb || !head) { free(emb); free(head); return -1; }
    fill(emb, de, n, nan_at);
    fill(head, dh, n, 0);
    struct { const char *name; sq_dtype dt; const void *data; size_t bytes; } ts[] = {
        {"model.embed_tokens.weight", de, emb, be},
        {"model.layers.0.mlp.up_proj.weight", de, emb, be},
        {"model.layers.0.mlp.down_proj.weight", dh, head, bh},
        {"lm_head.weight", dh, head, bh},
    };
    int64_t shape[2] = {ROWS, COLS};
    sq_err e = {0};
    sq_st_writer w;
    memset(buf, 0, sizeof *buf);
    sq_stw_init(&w, sq_writer_to_buf(buf));
    int rc = 0;
    for (size_t i = 0; i < 4 && !rc; i++) rc = sq_stw_add(&w, ts[i].name, ts[i].dt, 2, shape, &e);
    if (!rc) rc = sq_stw_begin(&w, &e);
    for (size_t i = 0; i < 4 && !rc; i++) rc = sq_stw_data(&w, ts[i].data, ts[i].bytes, &e);
    if (!rc) rc = sq_stw_finish(&w, &e);
    sq_stw_free(&w);
    free(emb);
    free(head);
    return rc;
}

/* A parallel-for that runs the parts last to first: every part must write only its own
 * rows and sums for the bytes to stay the same. */
static void backwards(void *pool, size_t n, sq_task_fn fn, void *arg)
{
    (void)pool;
    for (size_t i = n; i-- > 0;) fn(arg, i);
}

typedef struct file {
    sq_buf buf;
    sq_mem_reader mr;
    sq_reader r;
    sq_st_file st;
} file;

static int file_open(file *f)
{
    sq_err e = {0};
    f->r = sq_reader_from_memory(&f->mr, f->buf.data, f->buf.len);
    if (sq_st_open(&f->st, &f->r, &e)) {
        fprintf(stderr, "  open: %s\n", e.msg);
        return -1;
    }
    return 0;
}

static void file_close(file *f)
{
    sq_st_close(&f->st);
    sq_buf_free(&f->buf);
}

static int quantize(const sq_st_file *in, const sq_quant_opts *o, int parallel, sq_buf *out, sq_report *rep, sq_err *e)
{
    sq_quant_hooks h;
    memset(&h, 0, sizeof h);
    h.parallel = backwards;
    memset(out, 0, sizeof *out);
    return sq_quantize_model(in, o, NULL, sq_writer_to_buf(out), parallel ? &h : NULL, rep, e);
}

static const sq_layer_stats *layer(const sq_report *r, const char *name)
{
    for (size_t i = 0; i < r->n_layers; i++)
        if (strcmp(r->layers[i].name, name) == 0) return &r->layers[i];
    return NULL;
}

/* a (streamed) and b (whole) are the same quantized tensor under two names */
static void same_tensor(const file *q, const sq_report *rep, const char *a, const char *b, const char *what)
{
    const char *sfx[] = {".sq.codes", ".sq.scale", ".sq.min"};
    for (int s = 0; s < 3; s++) {
        char na[256], nb[256];
        snprintf(na, sizeof na, "%s%s", a, sfx[s]);
        snprintf(nb, sizeof nb, "%s%s", b, sfx[s]);
        const sq_tensor_info *ta = sq_st_find(&q->st, na), *tb = sq_st_find(&q->st, nb);
        CHECK_MSG(ta && tb, "%s: %s or %s missing", what, na, nb);
        if (!ta || !tb) continue;
        size_t la = (size_t)(ta->end - ta->begin), lb = (size_t)(tb->end - tb->begin);
        const uint8_t *base = q->buf.data + q->st.data_start;
        CHECK_MSG(la == lb && memcmp(base + ta->begin, base + tb->begin, la) == 0, "%s: %s differs from %s", what, na, nb);
    }
    const sq_layer_stats *sa = layer(rep, a), *sb = layer(rep, b);
    CHECK_MSG(sa && sb, "%s: report layers", what);
    if (!sa || !sb) return;
    CHECK_MSG(sa->emb != 0 && sb->emb == 0, "%s: roles", what);
    CHECK_MSG(sa->k == 1 && sb->k == 1 && sa->min == sb->min && sa->max == sb->max && sa->centers[0] == sb->centers[0] &&
                  sa->counts[0] == sb->counts[0] && sa->mse == sb->mse && sa->mse_plain == sb->mse_plain &&
                  sa->bytes_out == sb->bytes_out,
              "%s: statistics (min %g/%g, mean %.17g/%.17g, mse %.17g/%.17g)", what, sa->min, sb->min, sa->centers[0],
              sb->centers[0], sa->mse, sb->mse);
}

static void test_streamed_equals_whole(void)
{
    CHECK(ROWS * (size_t)COLS > 2 * STREAM_VALUES);
    struct { sq_dtype de, dh; int bits, group; } cases[] = {
        {SQ_DT_F32, SQ_DT_BF16, 8, SQ_GROUP_AUTO},
        {SQ_DT_F16, SQ_DT_BF16, 4, SQ_GROUP_ROW},
        {SQ_DT_BF16, SQ_DT_F32, 3, 32},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        file in;
        if (build(&in.buf, cases[c].de, cases[c].dh, 0) || file_open(&in)) { CHECK(0); continue; }
        sq_buf first = {0};
        for (int par = 0; par < 2; par++) {
            sq_quant_opts o;
            sq_quant_opts_default(&o);
            o.format = SQ_FMT_PACKED;
            o.clusters = 1; /* the linear layers: the same plain per-row codes, whole */
            o.bits = cases[c].bits;
            o.embeddings = cases[c].bits;
            o.group = cases[c].group;
            file q;
            sq_report rep;
            sq_err e = {0};
            int rc = quantize(&in.st, &o, par, &q.buf, &rep, &e);
            CHECK_MSG(rc == 0, "case %zu: %s", c, e.msg);
            if (rc || file_open(&q)) continue;
            char what[64];
            snprintf(what, sizeof what, "case %zu, %s", c, par ? "parallel" : "serial");
            same_tensor(&q, &rep, "model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", what);
            same_tensor(&q, &rep, "lm_head.weight", "model.layers.0.mlp.down_proj.weight", what);
            if (!par) first = q.buf, q.buf = (sq_buf){0};
            else CHECK_MSG(first.len == q.buf.len && memcmp(first.data, q.buf.data, first.len) == 0, "%s: serial != parallel", what);
            sq_st_close(&q.st);
            sq_buf_free(&q.buf);
            sq_report_free(&rep);
        }
        sq_buf_free(&first);
        file_close(&in);
    }
}

/* A NaN in the embedding's second block: refused, naming its index in the whole tensor
 * (as the whole-tensor scan did), and nothing is half-written silently. */
static void test_nan_in_a_later_block(void)
{
    file in;
    float at = 0.6f;
    if (build(&in.buf, SQ_DT_BF16, SQ_DT_BF16, at) || file_open(&in)) { CHECK(0); return; }
    sq_quant_opts o;
    sq_quant_opts_default(&o);
    o.embeddings = 8;
    sq_buf out;
    sq_err e = {0};
    int rc = quantize(&in.st, &o, 0, &out, NULL, &e);
    char want[96];
    snprintf(want, sizeof want, "element %zu is NaN", (size_t)((double)ROWS * COLS * at));
    CHECK_MSG(rc == SQ_EINPUT && strstr(e.msg, "model.embed_tokens.weight") && strstr(e.msg, want), "rc %d: %s (want %s)",
              rc, e.msg, want);
    sq_buf_free(&out);
    file_close(&in);
}

int main(void)
{
    RUN(test_streamed_equals_whole);
    RUN(test_nan_in_a_later_block);
    return test_summary();
}
