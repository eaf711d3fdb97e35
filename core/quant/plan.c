/* plan.c - what quantizing a model will do, before any data is read: the options, which
 * tensors are split (linear and conv weights, their biases) and which are copied, and
 * what each split one becomes in the output (names, dtypes and shapes of docs/FORMAT.md,
 * declared here in the order weight.c writes them, and the "sq.tensors" metadata).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_int.h"
#include "quant.h"
#include "../formats/codebook.h"

void sq_quant_opts_default(sq_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->clusters = 3;
    o->group = SQ_GROUP_AUTO;
    o->format = SQ_FMT_PACKED;
    o->seed = 0;
    o->threads = 1;
}

const char *sq_format_name(int format)
{
    return format == SQ_FMT_PAPER ? "paper" : format == SQ_FMT_CODEBOOK ? "codebook" : "packed";
}

int sq_quant_opts_check(const sq_quant_opts *o, sq_err *e)
{
    if (!(o->bits == 2 || o->bits == 3 || o->bits == 4 || o->bits == 8 || o->bits == SQ_BITS_F32))
        return sq_fail(e, SQ_EINPUT, "--bits must be 2, 3, 4, 8 or f32 (got %d)", o->bits);
    if (o->clusters < 1 || o->clusters > 8)
        return sq_fail(e, SQ_EINPUT, "--clusters must be between 1 and 8 (got %d)", o->clusters);
    if (o->format != SQ_FMT_PACKED && o->format != SQ_FMT_PAPER && o->format != SQ_FMT_CODEBOOK)
        return sq_fail(e, SQ_EINPUT, "--format must be packed, paper or codebook");
    if (o->format == SQ_FMT_CODEBOOK && !(o->bits >= 2 && o->bits <= 4))
        return sq_fail(e, SQ_EINPUT, "--format codebook needs --bits 2, 3 or 4 (got %s)", o->bits == SQ_BITS_F32 ? "f32" : o->bits == 8 ? "8" : "?");
    if (o->format == SQ_FMT_CODEBOOK && o->clusters != 1)
        return sq_fail(e, SQ_EINPUT, "--format codebook takes no --clusters: its 2^bits table levels are its clusters");
    if (o->group == 0 || o->group < SQ_GROUP_TENSOR)
        return sq_fail(e, SQ_EINPUT, "--group must be auto, row, tensor or a positive size");
    return SQ_OK;
}


/* ---------------- the plan ---------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int contains_ci(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && (s[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return 1;
    }
    return 0;
}

/* Norm weights and embeddings are never split (the papers' rule). Names follow the
 * Hugging Face conventions of BERT, Llama, GPT-2 and friends. */
static int is_norm_or_embedding(const char *name)
{
    static const char *const words[] = {"norm", "embed", "wte.", "wpe.", "ln_", "ln1", "ln2", "shared.weight"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (contains_ci(name, words[i])) return 1;
    return 0;
}

int sq_plan_make(const sq_st_file *f, sq_plan *p, sq_err *e)
{
    memset(p, 0, sizeof *p);
    p->items = sq_calloc(f->n_tensors, sizeof *p->items, e);
    if (!p->items) return e->code;
    p->n = f->n_tensors;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const sq_tensor_info *t = &f->tensors[i];
        sq_plan_item *it = &p->items[i];
        it->t = t;
        if (sq_dtype_is_float(t->dtype)) p->params += t->numel;
        if (sq_dtype_is_float(t->dtype) && t->ndim >= 2 && t->numel > 0 && ends_with(t->name, ".weight") &&
            !is_norm_or_embedding(t->name)) {
            it->role = SQ_ROLE_WEIGHT;
            it->rows = (size_t)t->shape[0];
            it->cols = (size_t)(t->numel / (uint64_t)t->shape[0]);
            p->n_weights++;
            p->split_params += t->numel;
        }
    }
    /* A bias belongs to a split weight of the same layer with as many rows. */
    for (size_t i = 0; i < p->n; i++) {
        sq_plan_item *it = &p->items[i];
        const sq_tensor_info *t = it->t;
        if (!sq_dtype_is_float(t->dtype) || t->ndim != 1 || t->numel == 0 || !ends_with(t->name, ".bias")) continue;
        size_t base = strlen(t->name) - strlen(".bias");
        for (size_t j = 0; j < p->n; j++) {
            const sq_plan_item *w = &p->items[j];
            if (w->role != SQ_ROLE_WEIGHT || strncmp(w->t->name, t->name, base) != 0 ||
                strcmp(w->t->name + base, ".weight") != 0)
                continue;
            if ((uint64_t)w->rows == t->numel) {
                it->role = SQ_ROLE_BIAS;
                it->rows = (size_t)t->numel;
                it->cols = 1;
                p->n_biases++;
                p->split_params += t->numel;
            }
            break;
        }
    }
    return SQ_OK;
}

void sq_plan_free(sq_plan *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}

/* ---------------- output layout ---------------- */

layout sq_layout_of(const sq_plan_item *it, const sq_quant_opts *o)
{
    layout L;
    memset(&L, 0, sizeof L);
    L.rows = it->rows;
    L.cols = it->cols;
    L.n = it->rows * it->cols;
    L.sym8 = o->format == SQ_FMT_PAPER && o->bits == 8;
    if (L.sym8) {
        L.group = L.cols;
        L.groups = 1;
        L.params = L.rows;
    } else if (o->group == SQ_GROUP_TENSOR) {
        L.group = 0;
        L.groups = 1;
        L.params = 1;
    } else {
        L.group = o->format == SQ_FMT_CODEBOOK ? sq_cb_group_size(o->group, L.cols) : sq_group_size(o->group, L.cols);
        L.groups = (L.cols + L.group - 1) / L.group;
        L.params = L.rows * L.groups;
    }
    if (o->bits != SQ_BITS_F32) L.row_bytes = sq_packed_row_bytes(L.cols, o->bits);
    if (o->clusters > 1) L.id_bytes = sq_packed_row_bytes(L.cols, sq_id_bits(o->clusters));
    return L;
}

int sq_bias_has_parts(const sq_quant_opts *o)
{
    return o->clusters > 1 && (o->format == SQ_FMT_PAPER || o->bits == SQ_BITS_F32);
}

static int add2(sq_st_writer *w, const char *name, const char *suffix, sq_dtype dt, int64_t a, int64_t b, int nd,
                sq_err *e)
{
    char buf[1024];
    int64_t shape[2] = {a, b};
    if (snprintf(buf, sizeof buf, "%s%s", name, suffix) >= (int)sizeof buf)
        return sq_fail(e, SQ_EINPUT, "tensor name too long: '%.64s...'", name);
    return sq_stw_add(w, buf, dt, nd, shape, e);
}

int sq_declare_outputs(sq_st_writer *w, const sq_plan_item *it, const sq_quant_opts *o, sq_err *e)
{
    const sq_tensor_info *t = it->t;
    int k = o->clusters;
    char sfx[64];
    if (it->role == SQ_ROLE_COPY || (it->role == SQ_ROLE_BIAS && !sq_bias_has_parts(o)))
        return sq_stw_add(w, t->name, t->dtype, t->ndim, t->shape, e);
    if (it->role == SQ_ROLE_BIAS || o->bits == SQ_BITS_F32) {
        for (int c = 0; c < k; c++) {
            char buf[1024];
            if (snprintf(buf, sizeof buf, "%s.sq.part%d", t->name, c) >= (int)sizeof buf)
                return sq_fail(e, SQ_EINPUT, "tensor name too long: '%.64s...'", t->name);
            if (sq_stw_add(w, buf, SQ_DT_F32, t->ndim, t->shape, e)) return e->code;
        }
        return SQ_OK;
    }
    layout L = sq_layout_of(it, o);
    if (o->format == SQ_FMT_CODEBOOK) {
        if (add2(w, t->name, ".sq.codes", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.table", SQ_DT_I8, (int64_t)1 << o->bits, 0, 1, e)) return e->code;
        return add2(w, t->name, ".sq.scale", SQ_DT_BF16, (int64_t)L.params, 0, 1, e);
    }
    if (o->format == SQ_FMT_PACKED) {
        if (add2(w, t->name, ".sq.codes", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
        if (k > 1 && add2(w, t->name, ".sq.ids", SQ_DT_U8, (int64_t)L.rows, (int64_t)L.id_bytes, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.scale", SQ_DT_BF16, (int64_t)L.params, k, 2, e)) return e->code;
        if (add2(w, t->name, ".sq.min", SQ_DT_BF16, (int64_t)L.params, k, 2, e)) return e->code;
        return SQ_OK;
    }
    for (int c = 0; c < k; c++) {
        if (L.sym8) {
            snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
            if (add2(w, t->name, sfx, SQ_DT_I8, (int64_t)L.rows, (int64_t)L.cols, 2, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.rows, 0, 1, e)) return e->code;
        } else {
            snprintf(sfx, sizeof sfx, ".sq.part%d.codes", c);
            if (add2(w, t->name, sfx, SQ_DT_U8, (int64_t)L.rows, (int64_t)L.row_bytes, 2, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.scale", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.params, 0, 1, e)) return e->code;
            snprintf(sfx, sizeof sfx, ".sq.part%d.min", c);
            if (add2(w, t->name, sfx, SQ_DT_F32, (int64_t)L.params, 0, 1, e)) return e->code;
        }
    }
    return SQ_OK;
}

const char *sq_group_name(int g, char *buf, size_t n)
{
    if (g == SQ_GROUP_AUTO) return "auto";
    if (g == SQ_GROUP_ROW) return "row";
    if (g == SQ_GROUP_TENSOR) return "tensor";
    snprintf(buf, n, "%d", g);
    return buf;
}

/* The "sq.tensors" metadata: what each transformed source tensor was and became. */
char *sq_tensors_json(const sq_plan *p, const sq_quant_opts *o)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    for (size_t i = 0; i < p->n; i++) {
        const sq_plan_item *it = &p->items[i];
        if (it->role == SQ_ROLE_COPY || (it->role == SQ_ROLE_BIAS && !sq_bias_has_parts(o))) continue;
        cJSON *d = cJSON_AddObjectToObject(root, it->t->name);
        if (!d) break;
        cJSON *shape = cJSON_AddArrayToObject(d, "shape");
        for (int j = 0; shape && j < it->t->ndim; j++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)it->t->shape[j]));
        cJSON_AddStringToObject(d, "dtype", sq_dtype_name(it->t->dtype));
        const char *kind = it->role == SQ_ROLE_BIAS ? "bias"
                           : o->bits == SQ_BITS_F32 ? "split"
                           : sq_format_name(o->format);
        cJSON_AddStringToObject(d, "kind", kind);
        cJSON_AddNumberToObject(d, "bits", o->bits);
        cJSON_AddNumberToObject(d, "k", o->clusters);
        if (it->role == SQ_ROLE_WEIGHT && o->bits != SQ_BITS_F32) {
            layout L = sq_layout_of(it, o);
            cJSON_AddNumberToObject(d, "group", (double)L.group);
        }
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

