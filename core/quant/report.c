/* report.c - what a quantization did, as JSON: the report of sq_quantize_model (one
 * entry per split weight and bias) and the inspection of any safetensors file, both with
 * bits per weight as stored. One place, so the CLI, sq.wasm and the browser print the
 * same fields (the report contract: DESIGN.md, docs/FORMAT.md).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../json.h"
#include "pipeline.h"
#include "qfile.h"

void sq_report_free(sq_report *r)
{
    free(r->layers);
    memset(r, 0, sizeof *r);
}

static uint64_t shape_numel(int ndim, const int64_t *shape)
{
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (uint64_t)shape[d];
    return n;
}

static double bpw(uint64_t bytes, uint64_t elems)
{
    return elems ? 8.0 * (double)bytes / (double)elems : NAN;
}

double sq_layer_bpw(const sq_layer_stats *s)
{
    return bpw(s->bytes_out, shape_numel(s->ndim, s->shape));
}

/* Over the layers that are (emb = 1) or are not (emb = 0) what --embeddings quantized. */
static double bpw_of_layers(const sq_report *r, int emb)
{
    uint64_t bytes = 0, elems = 0;
    for (size_t i = 0; i < r->n_layers; i++) {
        if ((r->layers[i].emb != SQ_EMBR_NONE) != emb) continue;
        bytes += r->layers[i].bytes_out;
        elems += shape_numel(r->layers[i].ndim, r->layers[i].shape);
    }
    return bpw(bytes, elems);
}

double sq_report_bpw_linear(const sq_report *r)
{
    return bpw_of_layers(r, 0);
}

double sq_report_bpw_embeddings(const sq_report *r)
{
    return bpw_of_layers(r, 1);
}

double sq_report_bpw_file(const sq_report *r)
{
    return bpw(r->bytes_out, r->params);
}

/* A number, or null when it is not one (no elements): JSON has no NaN. */
static void add_num_or_null(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static cJSON *num_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(isfinite(v[i]) ? v[i] : 0));
    return a;
}

char *sq_report_json(const sq_report *r, const sq_quant_opts *o, const char *model, double seconds)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    cJSON_AddStringToObject(root, "model", model ? model : "");
    if (o->bits == SQ_BITS_F32) cJSON_AddStringToObject(root, "bits", "f32");
    else cJSON_AddNumberToObject(root, "bits", o->bits);
    cJSON_AddNumberToObject(root, "clusters", o->clusters);
    cJSON_AddStringToObject(root, "format", sq_format_name(o->format));
    char gbuf[32];
    cJSON_AddStringToObject(root, "group", sq_group_name(o->group, gbuf, sizeof gbuf));
    cJSON_AddStringToObject(root, "embeddings", sq_emb_name(sq_emb_bits(o), gbuf, sizeof gbuf));
    cJSON_AddNumberToObject(root, "seconds", seconds);
    cJSON_AddNumberToObject(root, "params", (double)r->params);
    cJSON_AddNumberToObject(root, "bytes_in", (double)r->bytes_in);
    cJSON_AddNumberToObject(root, "bytes_out", (double)r->bytes_out);
    cJSON_AddNumberToObject(root, "quant_bytes_in", (double)r->quant_bytes_in);
    cJSON_AddNumberToObject(root, "quant_bytes_out", (double)r->quant_bytes_out);
    add_num_or_null(root, "bpw_linear", sq_report_bpw_linear(r));
    add_num_or_null(root, "bpw_embeddings", sq_report_bpw_embeddings(r));
    add_num_or_null(root, "bpw_file", sq_report_bpw_file(r));
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    for (size_t i = 0; layers && i < r->n_layers; i++) {
        const sq_layer_stats *s = &r->layers[i];
        cJSON *l = cJSON_CreateObject();
        if (!l) break;
        cJSON_AddItemToArray(layers, l);
        cJSON_AddStringToObject(l, "name", s->name);
        cJSON_AddStringToObject(l, "kind", s->role == SQ_ROLE_BIAS      ? "bias"
                                           : s->emb == SQ_EMBR_TOKEN ? "embedding"
                                           : s->emb == SQ_EMBR_HEAD  ? "head"
                                                                     : "weight");
        cJSON *shape = cJSON_AddArrayToObject(l, "shape");
        for (int d = 0; shape && d < s->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)s->shape[d]));
        cJSON_AddBoolToObject(l, "split", o->clusters > 1 && s->emb == SQ_EMBR_NONE);
        cJSON_AddNumberToObject(l, "range", s->range);
        double cr[SQ_KMEANS_MAX_K], counts[SQ_KMEANS_MAX_K];
        for (int c = 0; c < s->k; c++) {
            cr[c] = s->cluster_max[c] - s->cluster_min[c];
            counts[c] = (double)s->counts[c];
        }
        cJSON_AddItemToObject(l, "cluster_ranges", num_array(cr, s->k));
        cJSON_AddItemToObject(l, "cluster_min", num_array(s->cluster_min, s->k));
        cJSON_AddItemToObject(l, "cluster_max", num_array(s->cluster_max, s->k));
        cJSON_AddItemToObject(l, "centers", num_array(s->centers, s->k));
        cJSON_AddItemToObject(l, "counts", num_array(counts, s->k));
        cJSON_AddNumberToObject(l, "min", s->min);
        cJSON_AddNumberToObject(l, "max", s->max);
        cJSON_AddNumberToObject(l, "mse", s->mse);
        if (isfinite(s->mse_plain)) cJSON_AddNumberToObject(l, "mse_plain", s->mse_plain);
        else cJSON_AddNullToObject(l, "mse_plain");
        cJSON_AddNumberToObject(l, "seconds", s->seconds);
        cJSON_AddNumberToObject(l, "bytes_out", (double)s->bytes_out);
        add_num_or_null(l, "bpw", sq_layer_bpw(s));
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    return txt;
}

/* ---------------- bits per weight of a file ---------------- */

static size_t source_len(const char *name)
{
    const char *p = strstr(name, ".sq.");
    return p ? (size_t)(p - name) : strlen(name);
}

/* A quantized file keeps a packed layer's bias as it was, under its own name: it is
 * part of the split layer when its weight is described with as many rows. */
static int is_kept_bias(const sq_qfile *q, const sq_tensor_info *t, sq_err *e)
{
    size_t n = strlen(t->name);
    if (t->ndim != 1 || !sq_dtype_is_float(t->dtype) || n < 5 || strcmp(t->name + n - 5, ".bias") != 0 || n > 1000) return 0;
    char w[1100];
    memcpy(w, t->name, n - 5);
    strcpy(w + n - 5, ".weight");
    sq_qtensor d;
    int found = sq_qfile_describe(q, w, &d, e);
    if (e->code) return -1;
    return found && (uint64_t)d.rows == t->numel;
}

int sq_file_bpw_of(const sq_st_file *f, sq_file_bpw *b, sq_err *e)
{
    memset(b, 0, sizeof *b);
    b->bytes = f->reader->size;
    sq_qfile q;
    if (sq_qfile_open(&q, f, e)) return e->code;
    int rc = SQ_OK;
    if (q.format == SQ_QF_NONE) {
        sq_plan plan;
        if ((rc = sq_plan_make(f, &plan, e))) return rc;
        b->params = plan.params;
        for (size_t i = 0; i < plan.n; i++)
            if (plan.items[i].role != SQ_ROLE_COPY) {
                b->linear_elems += plan.items[i].t->numel;
                b->linear_bytes += plan.items[i].t->end - plan.items[i].t->begin;
            }
        sq_plan_free(&plan);
    } else {
        /* parts of one source are adjacent (sq writes them so); a source's elements are
           counted at its first part */
        for (size_t i = 0; i < f->n_tensors && !rc; i++) {
            const sq_tensor_info *t = &f->tensors[i];
            size_t sl = source_len(t->name);
            uint64_t bytes = t->end - t->begin;
            if (sl == strlen(t->name)) {
                if (sq_dtype_is_float(t->dtype)) b->params += t->numel;
                int kb = is_kept_bias(&q, t, e);
                if (kb < 0) rc = e->code;
                else if (kb) { b->linear_elems += t->numel; b->linear_bytes += bytes; }
                continue;
            }
            char name[1100];
            if (sl >= sizeof name) { rc = sq_fail(e, SQ_EINPUT, "tensor name too long"); break; }
            memcpy(name, t->name, sl);
            name[sl] = 0;
            sq_qtensor d;
            int found = sq_qfile_describe(&q, name, &d, e);
            if (e->code) { rc = e->code; break; }
            if (!found) { rc = sq_fail(e, SQ_EINPUT, "tensor '%s' has no description in sq.tensors", t->name); break; }
            int emb = d.role != SQ_QROLE_LINEAR; /* --embeddings: counted apart from the linear layers */
            *(emb ? &b->emb_bytes : &b->linear_bytes) += bytes;
            if (i > 0 && source_len(f->tensors[i - 1].name) == sl && strncmp(f->tensors[i - 1].name, t->name, sl) == 0) continue;
            b->params += d.numel;
            *(emb ? &b->emb_elems : &b->linear_elems) += d.numel;
        }
    }
    sq_qfile_close(&q);
    b->linear = bpw(b->linear_bytes, b->linear_elems);
    b->embeddings = bpw(b->emb_bytes, b->emb_elems);
    b->file = bpw(b->bytes, b->params);
    return rc;
}

/* ---------------- inspect ---------------- */

char *sq_inspect_json(const sq_st_file *f, const char *file, const char *config_json, sq_err *e)
{
    sq_plan plan;
    sq_file_bpw b;
    if (sq_file_bpw_of(f, &b, e)) return NULL;
    if (sq_plan_make(f, &plan, e)) return NULL;
    const char *qfmt = sq_st_meta(f, "sq.format");
    const char *arch = NULL;
    cJSON *cfg = config_json ? sq_json_parse(config_json, strlen(config_json)) : NULL;
    if (cfg) {
        cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
        if (cJSON_IsArray(a) && cJSON_IsString(cJSON_GetArrayItem(a, 0))) arch = cJSON_GetArrayItem(a, 0)->valuestring;
        else {
            cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
            if (cJSON_IsString(mt)) arch = mt->valuestring;
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", file ? file : "");
    cJSON_AddNumberToObject(root, "bytes", (double)f->reader->size);
    if (arch) cJSON_AddStringToObject(root, "architecture", arch);
    else cJSON_AddNullToObject(root, "architecture");
    cJSON_AddNumberToObject(root, "tensors", (double)f->n_tensors);
    cJSON_AddNumberToObject(root, "params", (double)plan.params);
    cJSON_AddNumberToObject(root, "split_params", (double)plan.split_params);
    add_num_or_null(root, "bpw_linear", b.linear);
    add_num_or_null(root, "bpw_embeddings", b.embeddings);
    add_num_or_null(root, "bpw_file", b.file);
    if (qfmt) {
        cJSON *q = cJSON_AddObjectToObject(root, "quantized");
        const char *keys[] = {"sq.format", "sq.bits", "sq.clusters", "sq.group", "sq.version"};
        for (int i = 0; i < 5; i++) {
            const char *v = sq_st_meta(f, keys[i]);
            cJSON_AddStringToObject(q, keys[i] + 3, v ? v : "");
        }
        const char *emb = sq_st_meta(f, "sq.embeddings");
        cJSON_AddStringToObject(q, "embeddings", emb ? emb : "keep"); /* absent: kept */
        /* the source model's parameters (params above counts the file's float tensors) */
        cJSON_AddNumberToObject(q, "source_params", (double)b.params);
    } else cJSON_AddNullToObject(root, "quantized");
    cJSON *arr = cJSON_AddArrayToObject(root, "layers");
    for (size_t i = 0; i < plan.n; i++) {
        const sq_plan_item *it = &plan.items[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, o);
        cJSON_AddStringToObject(o, "name", it->t->name);
        cJSON_AddStringToObject(o, "dtype", sq_dtype_name(it->t->dtype));
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < it->t->ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)it->t->shape[d]));
        cJSON_AddStringToObject(o, "role", it->role == SQ_ROLE_WEIGHT ? "split" : it->role == SQ_ROLE_BIAS ? "split-bias" : "keep");
    }
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    sq_plan_free(&plan);
    if (!txt) sq_fail(e, SQ_EINTERNAL, "out of memory");
    return txt;
}
