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

void sq_quant_opts_default(sq_quant_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bits = 4;
    o->clusters = 3;
    o->group = SQ_GROUP_AUTO;
    o->format = SQ_FMT_PACKED;
    o->seed = 0;
    o->threads = 1;
    o->embeddings = SQ_EMB_AUTO;
}

/* The default of --embeddings for packed (plain or split) and codebook files. Measured
 * (docs/results.md, make eval): INT8 codes move stories260K perplexity by <= 0.02% and
 * BERT-Tiny accuracy by <= 0.05 points with any linear layers, while the files shrink to
 * 0.68-0.77x (stories) and 0.32-0.39x (BERT, whose embedding is most of it); INT4 costs
 * +2.7-2.8% perplexity on stories260K, so it is asked for, not the default. */
#define EMB_DEFAULT_BITS 8

int sq_emb_bits(const sq_quant_opts *o)
{
    if (o->embeddings == SQ_EMB_KEEP) return 0;
    if (o->embeddings > 0) return o->embeddings;
    /* the papers split only linear layers; --bits f32 is an exact split */
    if (o->format == SQ_FMT_PAPER || o->bits == SQ_BITS_F32) return 0;
    return EMB_DEFAULT_BITS;
}

const char *sq_emb_name(int bits, char *buf, size_t n)
{
    if (bits <= 0) return "keep";
    snprintf(buf, n, "int%d", bits);
    return buf;
}

int sq_quant_opts_check(const sq_quant_opts *o, sq_err *e)
{
    char wt[64];
    unsigned all = sq_widths_all();
    if (!(o->bits == SQ_BITS_F32 || (o->bits >= 1 && o->bits <= 8 && (all & SQ_BITS_MASK(o->bits)))))
        return sq_fail(e, SQ_EINPUT, "--bits must be %s (got %d)", sq_widths_text(all, "f32", wt, sizeof wt), o->bits);
    if (o->clusters < 1 || o->clusters > SQ_MAX_CLUSTERS)
        return sq_fail(e, SQ_EINPUT, "--clusters must be between 1 and %d (got %d)", SQ_MAX_CLUSTERS, o->clusters);
    if (o->format < 0 || o->format >= SQ_FMT_COUNT)
        return sq_fail(e, SQ_EINPUT, "--format must be %s", sq_formats_text(", ", " or ", wt, sizeof wt));
    const sq_format *F = &sq_formats[o->format];
    int f32_ok = F->max_k > 1; /* --bits f32 splits into float parts: for formats that split */
    if (o->bits == SQ_BITS_F32 ? !f32_ok : !(F->widths & SQ_BITS_MASK(o->bits))) {
        char got[16];
        if (o->bits == SQ_BITS_F32) snprintf(got, sizeof got, "f32"); else snprintf(got, sizeof got, "%d", o->bits);
        return sq_fail(e, SQ_EINPUT, "--format %s needs --bits %s (got %s)", F->name,
                       sq_widths_text(F->widths, f32_ok ? "f32" : NULL, wt, sizeof wt), got);
    }
    if (o->clusters > F->max_k)
        return sq_fail(e, SQ_EINPUT, "--format %s takes no --clusters: its 2^bits table levels are its clusters", F->name);
    if (!(o->embeddings == SQ_EMB_AUTO || o->embeddings == SQ_EMB_KEEP ||
          (o->embeddings >= 1 && o->embeddings <= 8 && (sq_formats[SQ_FMT_PACKED].widths & SQ_BITS_MASK(o->embeddings)))))
        return sq_fail(e, SQ_EINPUT, "--embeddings must be keep, int8, int4 or another width int2..int8 (got %d)", o->embeddings);
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

/* The token embedding of the model families sq runs (Llama, Mistral, Qwen2: model.
 * embed_tokens; BERT, RoBERTa, DistilBERT: <prefix>.embeddings.word_embeddings) and of
 * GPT-2 (wte), whose files sq quantizes and restores but does not run. */
static int is_token_embedding(const char *name)
{
    return ends_with(name, "embed_tokens.weight") || ends_with(name, "embeddings.word_embeddings.weight") ||
           strcmp(name, "wte.weight") == 0 || ends_with(name, ".wte.weight");
}

void sq_plan_embeddings(sq_plan *p, const sq_quant_opts *o)
{
    if (sq_emb_bits(o) <= 0) return;
    for (size_t i = 0; i < p->n; i++) {
        sq_plan_item *it = &p->items[i];
        const sq_tensor_info *t = it->t;
        if (!sq_dtype_is_float(t->dtype) || t->ndim != 2 || t->numel == 0) continue;
        int emb = is_token_embedding(t->name)                                    ? SQ_EMBR_TOKEN
                  : strcmp(t->name, "lm_head.weight") == 0 && it->role == SQ_ROLE_WEIGHT ? SQ_EMBR_HEAD
                                                                                 : SQ_EMBR_NONE;
        if (!emb) continue;
        if (it->role == SQ_ROLE_WEIGHT) { /* the head was a linear layer of the format */
            p->n_weights--;
            p->split_params -= t->numel;
        }
        it->role = SQ_ROLE_WEIGHT;
        it->emb = emb;
        it->rows = (size_t)t->shape[0];
        it->cols = (size_t)t->shape[1];
    }
}

const sq_quant_opts *sq_item_opts(const sq_plan_item *it, const sq_quant_opts *o, sq_quant_opts *tmp)
{
    if (!it->emb) return o;
    *tmp = *o;
    tmp->format = SQ_FMT_PACKED; /* plain per-row affine codes: the kernels of every plain INTb layer */
    tmp->bits = sq_emb_bits(o);
    tmp->clusters = 1;
    return tmp;
}

void sq_plan_free(sq_plan *p)
{
    free(p->items);
    memset(p, 0, sizeof *p);
}

/* ---------------- output layout ---------------- */

layout sq_layout_of(const sq_plan_item *it, const sq_quant_opts *o)
{
    size_t group = o->group == SQ_GROUP_TENSOR ? 0 : sq_formats[o->format].group_size(o->group, it->cols);
    return sq_qgeom_make(o->format, o->bits, o->clusters, it->rows, it->cols, group);
}

int sq_bias_has_parts(const sq_quant_opts *o)
{
    return o->clusters > 1 && (o->format == SQ_FMT_PAPER || o->bits == SQ_BITS_F32);
}

static int add_part(sq_st_writer *w, const char *name, const char *suffix, sq_dtype dt, int ndim, const int64_t *shape,
                    sq_err *e)
{
    char buf[1024];
    if (snprintf(buf, sizeof buf, "%s%s", name, suffix) >= (int)sizeof buf)
        return sq_fail(e, SQ_EINPUT, "tensor name too long: '%.64s...'", name);
    return sq_stw_add(w, buf, dt, ndim, shape, e);
}

int sq_declare_outputs(sq_st_writer *w, const sq_plan_item *it, const sq_quant_opts *o_run, sq_err *e)
{
    const sq_tensor_info *t = it->t;
    char sfx[32];
    sq_quant_opts tmp;
    const sq_quant_opts *o = sq_item_opts(it, o_run, &tmp);
    if (it->role == SQ_ROLE_COPY || (it->role == SQ_ROLE_BIAS && !sq_bias_has_parts(o)))
        return sq_stw_add(w, t->name, t->dtype, t->ndim, t->shape, e);
    if (it->role == SQ_ROLE_BIAS || o->bits == SQ_BITS_F32) { /* k float parts of T's shape */
        for (int c = 0; c < o->clusters; c++) {
            snprintf(sfx, sizeof sfx, ".sq.part%d", c);
            if (add_part(w, t->name, sfx, SQ_DT_F32, t->ndim, t->shape, e)) return e->code;
        }
        return SQ_OK;
    }
    layout L = sq_layout_of(it, o);
    sq_qpart parts[SQ_QPARTS_MAX];
    int np = sq_formats[o->format].parts(&L, parts);
    for (int i = 0; i < np; i++) {
        int64_t shape[2] = {parts[i].d0, parts[i].d1};
        if (add_part(w, t->name, parts[i].suffix, parts[i].dtype, parts[i].ndim, shape, e)) return e->code;
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
char *sq_tensors_json(const sq_plan *p, const sq_quant_opts *o_run)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    for (size_t i = 0; i < p->n; i++) {
        const sq_plan_item *it = &p->items[i];
        sq_quant_opts tmp;
        const sq_quant_opts *o = sq_item_opts(it, o_run, &tmp);
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
        /* what --embeddings made of it (readers that ignore it see a plain packed tensor) */
        if (it->emb) cJSON_AddStringToObject(d, "role", it->emb == SQ_EMBR_TOKEN ? "embedding" : "head");
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

