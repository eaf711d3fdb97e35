/* llama.c - LlamaForCausalLM forward pass with a KV cache (see llama.h).
 *
 * One code path serves both the single-token step and the batched prefill: run_tokens()
 * takes n tokens at consecutive positions, writes their keys/values into the cache, and
 * lets each token attend to every cached position up to its own (causal). The single
 * step uses buffers preallocated in the model; the prefill allocates per chunk.
 */
#include "llama.h"

#include <cjson/cJSON.h>
#include "../json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/qload.h"
#include "config.h"

#define PREFILL_CHUNK 64

/* ---------------- config ---------------- */

/* The Llama family: model_type and the architecture class name of each. */
static const sq_cfg_member FAMILY[] = {
    {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"}};
#define N_FAMILY (int)(sizeof FAMILY / sizeof FAMILY[0])

/* Which member of the family the config describes (index into FAMILY), or -1 with e set. */
static int parse_arch(const cJSON *cfg, sq_err *e)
{
    int type = sq_cfg_family(cfg, FAMILY, N_FAMILY, "llama, mistral or qwen2",
                             "LlamaForCausalLM, MistralForCausalLM or Qwen2ForCausalLM", "Llama", e);
    if (type < 0) return -1;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu") != 0)) {
        sq_fail(e, SQ_EINPUT, "config.json: hidden_act \"%.32s\" is not supported (only \"silu\")",
                cJSON_IsString(act) ? act->valuestring : "?");
        return -1;
    }
    return type;
}

static int parse_rope(const cJSON *cfg, sq_llama_config *c, sq_err *e)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return SQ_OK;
    if (!cJSON_IsObject(rs)) return sq_fail(e, SQ_EINPUT, "config.json: \"rope_scaling\" is not an object");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(t)) return sq_fail(e, SQ_EINPUT, "config.json: rope_scaling has no \"rope_type\"");
    if (strcmp(t->valuestring, "default") == 0) return SQ_OK;
    if (strcmp(t->valuestring, "llama3") != 0)
        return sq_fail(e, SQ_EINPUT, "config.json: rope_scaling type \"%.32s\" is not supported (only llama3)", t->valuestring);
    const char *w = " in rope_scaling";
    double orig = 0;
    int rc = sq_cfg_num(rs, w, "factor", NAN, 1e-6, 1e6, &c->rope_factor, e);
    if (!rc) rc = sq_cfg_num(rs, w, "low_freq_factor", NAN, 1e-6, 1e6, &c->rope_low_freq, e);
    if (!rc) rc = sq_cfg_num(rs, w, "high_freq_factor", NAN, 1e-6, 1e6, &c->rope_high_freq, e);
    if (!rc) rc = sq_cfg_num(rs, w, "original_max_position_embeddings", NAN, 1, 1 << 30, &orig, e);
    if (rc) return rc;
    if (!(c->rope_high_freq > c->rope_low_freq))
        return sq_fail(e, SQ_EINPUT, "config.json: rope_scaling high_freq_factor must exceed low_freq_factor");
    c->rope_orig_max = (int)orig;
    c->rope_llama3 = 1;
    return SQ_OK;
}

/* eos_token_id: an integer or a list of them. */
static int parse_eos(const cJSON *cfg, sq_llama_config *c, sq_err *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, "eos_token_id");
    c->n_eos = 0;
    if (!v || cJSON_IsNull(v)) return SQ_OK;
    if (cJSON_IsNumber(v)) {
        c->eos_ids[c->n_eos++] = (int)v->valuedouble;
        return SQ_OK;
    }
    if (!cJSON_IsArray(v)) return sq_fail(e, SQ_EINPUT, "config.json: \"eos_token_id\" must be an integer or a list");
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsNumber(it)) return sq_fail(e, SQ_EINPUT, "config.json: \"eos_token_id\" list holds a non-number");
        if (c->n_eos < SQ_LLAMA_MAX_EOS) c->eos_ids[c->n_eos++] = (int)it->valuedouble;
    }
    return SQ_OK;
}

static int parse_config(const cJSON *cfg, sq_llama_config *c, sq_err *e)
{
    int family = parse_arch(cfg, e);
    int rc = family < 0 ? e->code : SQ_OK;
    if (!rc) rc = sq_cfg_int(cfg, "hidden_size", -1, 1, 1 << 16, &c->dim, e);
    if (!rc) rc = sq_cfg_int(cfg, "intermediate_size", -1, 1, 1 << 20, &c->hidden_dim, e);
    if (!rc) rc = sq_cfg_int(cfg, "num_hidden_layers", -1, 1, 1024, &c->n_layers, e);
    if (!rc) rc = sq_cfg_int(cfg, "num_attention_heads", -1, 1, 1024, &c->n_heads, e);
    if (!rc) rc = sq_cfg_int(cfg, "num_key_value_heads", c->n_heads, 1, 1024, &c->n_kv_heads, e);
    if (!rc) rc = sq_cfg_int(cfg, "vocab_size", -1, 1, 1 << 24, &c->vocab, e);
    if (!rc) rc = sq_cfg_int(cfg, "max_position_embeddings", 2048, 1, 1 << 24, &c->max_pos, e);
    if (!rc && c->dim % c->n_heads && !cJSON_GetObjectItemCaseSensitive(cfg, "head_dim"))
        rc = sq_fail(e, SQ_EINPUT, "config.json: hidden_size %d is not a multiple of num_attention_heads %d", c->dim, c->n_heads);
    if (!rc) rc = sq_cfg_int(cfg, "head_dim", c->dim / c->n_heads, 2, 1 << 12, &c->head_dim, e);
    if (!rc && c->head_dim % 2) rc = sq_fail(e, SQ_EINPUT, "config.json: head_dim %d is odd (RoPE needs pairs)", c->head_dim);
    if (!rc && c->n_heads % c->n_kv_heads)
        rc = sq_fail(e, SQ_EINPUT, "config.json: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                     c->n_heads, c->n_kv_heads);
    double eps = 0;
    if (!rc) rc = sq_cfg_num(cfg, "", "rms_norm_eps", 1e-6, 1e-30, 1, &eps, e);
    c->norm_eps = (float)eps;
    if (!rc) rc = sq_cfg_num(cfg, "", "rope_theta", 10000.0, 1e-3, 1e12, &c->rope_theta, e);
    if (!rc) rc = parse_rope(cfg, c, e);
    if (!rc) rc = parse_eos(cfg, c, e);
    if (!rc) rc = sq_cfg_int(cfg, "bos_token_id", 0x7fffffff, -1, 1 << 24, &c->bos_id, e);
    if (c->bos_id == 0x7fffffff) c->bos_id = -1;
    c->qkv_bias = c->o_bias = sq_cfg_bool(cfg, "attention_bias", 0);
    c->mlp_bias = sq_cfg_bool(cfg, "mlp_bias", 0);
    c->sliding_window = 0;
    if (!rc && family == 1) /* Mistral: one window for every layer; null = none */
        rc = sq_cfg_int(cfg, "sliding_window", 0, 1, 1 << 30, &c->sliding_window, e);
    if (!rc && family == 2) {
        /* Qwen2: biases on q/k/v (not o) always; its sliding window is off in every
           released model and applies only to some layers when on */
        c->qkv_bias = 1;
        c->o_bias = 0;
        if (sq_cfg_bool(cfg, "use_sliding_window", 0))
            rc = sq_fail(e, SQ_EINPUT, "config.json: use_sliding_window true is not supported for qwen2");
    }
    c->tied = sq_cfg_bool(cfg, "tie_word_embeddings", -1);
    return rc;
}

/* ---------------- tensors ---------------- */

static float *read_vec(const sq_st_file *f, const char *name, size_t n, sq_err *e)
{
    const sq_tensor_info *t = sq_st_find(f, name);
    if (!t) {
        sq_fail(e, SQ_EINPUT, "tensor '%s' is missing", name);
        return NULL;
    }
    if (!sq_dtype_is_float(t->dtype) || t->ndim != 1 || (size_t)t->shape[0] != n) {
        sq_fail(e, SQ_EINPUT, "tensor '%s': expected a float vector of %zu (from config.json), found %s with %d dims", name, n,
                sq_dtype_name(t->dtype), t->ndim);
        return NULL;
    }
    float *p = sq_malloc(n * sizeof(float), e);
    if (p && sq_st_read_f32(f, t, p, e)) {
        free(p);
        return NULL;
    }
    return p;
}

/* Stored as it is, or described as quantized in sq.tensors. */
static int tensor_present(const sq_qfile *q, const char *name, sq_err *e)
{
    if (sq_st_find(q->f, name)) return 1;
    sq_qtensor d;
    int found = sq_qfile_describe(q, name, &d, e);
    return !e->code && found == 1;
}

static int load_lin(sq_linear *L, const sq_qfile *q, const char *pre, const char *name, int bias, size_t rows,
                    size_t cols, sq_err *e)
{
    char w[256], b[256];
    snprintf(w, sizeof w, "%s%s.weight", pre, name);
    snprintf(b, sizeof b, "%s%s.bias", pre, name);
    if (sq_linear_load_from(L, q, w, bias ? b : NULL, rows, cols, e)) return e->code;
    if (bias && !L->bias) return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing (config.json asks for biases)", b);
    return SQ_OK;
}

static void rope_freqs(sq_llama *m)
{
    const sq_llama_config *c = &m->c;
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        double inv = 1.0 / pow(c->rope_theta, (double)(2 * i) / (double)c->head_dim);
        if (c->rope_llama3) {
            double low_wl = c->rope_orig_max / c->rope_low_freq, high_wl = c->rope_orig_max / c->rope_high_freq;
            double wl = 2.0 * 3.14159265358979323846 / inv;
            if (wl > low_wl) {
                inv = inv / c->rope_factor;
            } else if (wl >= high_wl) {
                double smooth = (c->rope_orig_max / wl - c->rope_low_freq) / (c->rope_high_freq - c->rope_low_freq);
                inv = (1.0 - smooth) * inv / c->rope_factor + smooth * inv;
            }
        }
        m->inv_freq[i] = inv;
    }
}

static int alloc_all(sq_llama *m, sq_err *e)
{
    const sq_llama_config *c = &m->c;
    size_t dim = (size_t)c->dim, qd = (size_t)c->n_heads * (size_t)c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, hid = (size_t)c->hidden_dim;
    size_t cache = (size_t)c->n_layers * m->seq_len;
    if (cache > SIZE_MAX / sizeof(float) / kvd)
        return sq_fail(e, SQ_EINPUT, "a KV cache of %zu positions is too large for this build", m->seq_len);
    if (!(m->key_cache = sq_calloc(cache * kvd, sizeof(float), e))) return e->code;
    if (!(m->value_cache = sq_calloc(cache * kvd, sizeof(float), e))) return e->code;
    if (!(m->inv_freq = sq_malloc((size_t)(c->head_dim / 2) * sizeof(double), e))) return e->code;
    size_t big = dim > qd ? dim : qd;
    if (!(m->x = sq_malloc(dim * sizeof(float), e)) || !(m->xb = sq_malloc(big * sizeof(float), e)) ||
        !(m->xb2 = sq_malloc(big * sizeof(float), e)) || !(m->q = sq_malloc(qd * sizeof(float), e)) ||
        !(m->k = sq_malloc(kvd * sizeof(float), e)) || !(m->v = sq_malloc(kvd * sizeof(float), e)) ||
        !(m->hb = sq_malloc(hid * sizeof(float), e)) || !(m->hb2 = sq_malloc(hid * sizeof(float), e)) ||
        !(m->att = sq_malloc((size_t)m->c.n_heads * m->seq_len * sizeof(float), e)) ||
        !(m->logits = sq_malloc((size_t)c->vocab * sizeof(float), e)))
        return e->code;
    return SQ_OK;
}

/* The tied LM head: a view of the token embedding in its layout (float as stored, or
 * quantized by --embeddings), so the kernels (SIMD, threads) run it. */
static void tied_head(sq_llama *m)
{
    m->lm_head = m->emb;
    m->lm_head.borrowed = 1; /* sq_llama_free frees m->emb once */
}

static int load_weights(sq_llama *m, const sq_qfile *q, sq_err *e)
{
    const sq_st_file *f = q->f;
    const sq_llama_config *c = &m->c;
    size_t dim = (size_t)c->dim, qd = (size_t)c->n_heads * (size_t)c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, hid = (size_t)c->hidden_dim, V = (size_t)c->vocab;

    /* the token embedding: stored as it is, or described in sq.tensors (--embeddings) */
    const char *en = "model.embed_tokens.weight";
    const sq_tensor_info *t = sq_st_find(f, en);
    sq_qtensor d;
    int described = t ? 0 : sq_qfile_describe(q, en, &d, e);
    if (e->code) return e->code;
    if (!t && !described) return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing", en);
    if (t && (!sq_dtype_is_float(t->dtype) || t->ndim != 2 || (size_t)t->shape[0] != V || (size_t)t->shape[1] != dim))
        return sq_fail(e, SQ_EINPUT, "tensor '%s': expected a float tensor [%zu, %zu] (vocab_size, hidden_size), found %s with %d dims [%lld%s]",
                       en, V, dim, sq_dtype_name(t->dtype), t->ndim, t->ndim ? (long long)t->shape[0] : 0LL, t->ndim > 1 ? ", ..." : "");
    m->emb_dtype = t ? t->dtype : d.dtype;
    if (sq_linear_load_from(&m->emb, q, en, NULL, V, dim, e)) return e->code;
    if (!(m->final_norm = read_vec(f, "model.norm.weight", dim, e))) return e->code;

    if (!(m->layers = sq_calloc((size_t)c->n_layers, sizeof *m->layers, e))) return e->code;
    for (int l = 0; l < c->n_layers; l++) {
        sq_llama_layer *L = &m->layers[l];
        char p[96], name[160];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        snprintf(name, sizeof name, "%sinput_layernorm.weight", p);
        if (!(L->attn_norm = read_vec(f, name, dim, e))) return e->code;
        snprintf(name, sizeof name, "%spost_attention_layernorm.weight", p);
        if (!(L->ffn_norm = read_vec(f, name, dim, e))) return e->code;
        if (load_lin(&L->wq, q, p, "self_attn.q_proj", c->qkv_bias, qd, dim, e) ||
            load_lin(&L->wk, q, p, "self_attn.k_proj", c->qkv_bias, kvd, dim, e) ||
            load_lin(&L->wv, q, p, "self_attn.v_proj", c->qkv_bias, kvd, dim, e) ||
            load_lin(&L->wo, q, p, "self_attn.o_proj", c->o_bias, dim, qd, e) ||
            load_lin(&L->gate, q, p, "mlp.gate_proj", c->mlp_bias, hid, dim, e) ||
            load_lin(&L->up, q, p, "mlp.up_proj", c->mlp_bias, hid, dim, e) ||
            load_lin(&L->down, q, p, "mlp.down_proj", c->mlp_bias, dim, hid, e))
            return e->code;
    }
    /* LM head: lm_head.weight unless the embeddings are tied (or it is absent). */
    int has_head = tensor_present(q, "lm_head.weight", e);
    if (e->code) return e->code;
    if (c->tied == 0 && !has_head)
        return sq_fail(e, SQ_EINPUT, "tensor 'lm_head.weight' is missing (config.json says tie_word_embeddings is false)");
    if (c->tied == 1 || !has_head) {
        m->c.tied = 1;
        tied_head(m);
        return SQ_OK;
    }
    m->c.tied = 0;
    return sq_linear_load_from(&m->lm_head, q, "lm_head.weight", NULL, V, dim, e);
}

int sq_llama_load(sq_llama **out, const sq_st_file *f, const char *config_json, size_t max_ctx, sq_err *e)
{
    *out = NULL;
    if (!config_json) return sq_fail(e, SQ_EINPUT, "no config.json (needed to run a Llama model)");
    cJSON *cfg = sq_json_parse(config_json, strlen(config_json));
    if (!cfg || !cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return sq_fail(e, SQ_EINPUT, "config.json is not a JSON object");
    }
    sq_llama *m = sq_calloc(1, sizeof *m, e);
    if (!m) {
        cJSON_Delete(cfg);
        return e->code;
    }
    int rc = parse_config(cfg, &m->c, e);
    cJSON_Delete(cfg);
    /* weights first: they prove the config's sizes before the KV cache is sized from it */
    sq_qfile q; /* "sq.tensors" parsed once for every layer */
    if (!rc) rc = sq_qfile_open(&q, f, e);
    if (!rc) {
        rc = load_weights(m, &q, e);
        sq_qfile_close(&q);
    }
    if (!rc) {
        size_t cap = (size_t)m->c.max_pos;
        m->seq_len = max_ctx ? max_ctx : 2048;
        if (m->seq_len > cap) m->seq_len = cap;
        rc = alloc_all(m, e);
    }
    if (rc) {
        sq_llama_free(m);
        return rc;
    }
    rope_freqs(m);
    *out = m;
    return SQ_OK;
}

void sq_llama_free(sq_llama *m)
{
    if (!m) return;
    if (!m->lm_head.borrowed) sq_linear_free(&m->lm_head);
    sq_linear_free(&m->emb);
    free(m->final_norm);
    if (m->layers) {
        for (int l = 0; l < m->c.n_layers; l++) {
            sq_llama_layer *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            sq_linear_free(&L->wq);
            sq_linear_free(&L->wk);
            sq_linear_free(&L->wv);
            sq_linear_free(&L->wo);
            sq_linear_free(&L->gate);
            sq_linear_free(&L->up);
            sq_linear_free(&L->down);
        }
        free(m->layers);
    }
    free(m->inv_freq);
    free(m->key_cache);
    free(m->value_cache);
    free(m->x);
    free(m->xb);
    free(m->xb2);
    free(m->q);
    free(m->k);
    free(m->v);
    free(m->hb);
    free(m->hb2);
    free(m->att);
    free(m->logits);
    free(m);
}

void sq_llama_set_exec(sq_llama *m, const sq_exec *ex)
{
    if (ex) m->exec = *ex;
    else memset(&m->exec, 0, sizeof m->exec);
}

void sq_llama_reset(sq_llama *m)
{
    m->n_cached = 0;
}

void sq_llama_rewind(sq_llama *m, size_t n)
{
    if (n < m->n_cached) m->n_cached = n;
}

int sq_llama_is_eos(const sq_llama *m, int32_t token)
{
    for (int i = 0; i < m->c.n_eos; i++)
        if (m->c.eos_ids[i] == token) return 1;
    return 0;
}

size_t sq_llama_bytes(const sq_llama *m)
{
    const sq_llama_config *c = &m->c;
    size_t n = sq_linear_bytes(&m->emb) + (size_t)c->dim * sizeof(float);
    for (int l = 0; l < c->n_layers; l++) {
        const sq_llama_layer *L = &m->layers[l];
        n += 2 * (size_t)c->dim * sizeof(float) + sq_linear_bytes(&L->wq) + sq_linear_bytes(&L->wk) +
             sq_linear_bytes(&L->wv) + sq_linear_bytes(&L->wo) + sq_linear_bytes(&L->gate) + sq_linear_bytes(&L->up) +
             sq_linear_bytes(&L->down);
    }
    if (!c->tied) n += sq_linear_bytes(&m->lm_head);
    return n;
}

/* ---------------- forward ---------------- */

static void rmsnorm(float *out, const float *x, const float *w, size_t n, float eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (size_t i = 0; i < n; i++) out[i] = w[i] * (x[i] * inv);
}

/* HF rotate-half RoPE on n_heads vectors of head_dim at position pos. */
static void rope(const sq_llama *m, float *v, int n_heads, size_t pos)
{
    int hd = m->c.head_dim, half = hd / 2;
    for (int i = 0; i < half; i++) {
        double a = (double)pos * m->inv_freq[i];
        float cs = (float)cos(a), sn = (float)sin(a);
        for (int h = 0; h < n_heads; h++) {
            float *p = v + (size_t)h * (size_t)hd;
            float x0 = p[i], x1 = p[i + half];
            p[i] = x0 * cs - x1 * sn;
            p[i + half] = x1 * cs + x0 * sn;
        }
    }
}

/* Attention of head h of one token's queries q [n_heads*hd] over cached positions
 * 0..pos of layer l; att: scratch for pos + 1 scores. */
static void attend_head(const sq_llama *m, int l, int h, const float *q, size_t pos, float *att, float *out)
{
    const sq_llama_config *c = &m->c;
    size_t hd = (size_t)c->head_dim, kvd = (size_t)c->n_kv_heads * hd;
    int group = c->n_heads / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    const float *kc = m->key_cache + (size_t)l * m->seq_len * kvd;
    const float *vc = m->value_cache + (size_t)l * m->seq_len * kvd;
    /* a sliding window (Mistral) sees positions pos-W+1..pos */
    size_t first = c->sliding_window > 0 && pos >= (size_t)c->sliding_window ? pos + 1 - (size_t)c->sliding_window : 0;
    const float *qh = q + (size_t)h * hd;
    size_t koff = (size_t)(h / group) * hd, T = pos + 1 - first;
    /* scores, softmax, weighted values: the dots and the sum on the kernels (linear.h) */
    sq_vec_dots(qh, kc + first * kvd + koff, kvd, T, hd, att);
    float mx = -INFINITY;
    for (size_t t = 0; t < T; t++) {
        att[t] = att[t] * scale;
        if (att[t] > mx) mx = att[t];
    }
    float sum = 0;
    for (size_t t = 0; t < T; t++) {
        att[t] = expf(att[t] - mx);
        sum += att[t];
    }
    for (size_t t = 0; t < T; t++) att[t] = att[t] / sum;
    sq_vec_wsum(att, vc + first * kvd + koff, kvd, T, hd, out + (size_t)h * hd);
}

/* Attention of n tokens at positions pos0.. (their keys and values already cached), one
 * task per head on the host's threads: each (token, head) is computed by the same code
 * whatever the thread count or batch, so prefill equals token-by-token decoding. */
typedef struct attn_job {
    const sq_llama *m;
    int l;
    const float *q;
    size_t n, pos0;
    float *out;
} attn_job;

static void attn_task(void *arg, size_t h)
{
    const attn_job *j = arg;
    size_t qd = (size_t)j->m->c.n_heads * (size_t)j->m->c.head_dim;
    float *att = j->m->att + h * j->m->seq_len;
    for (size_t i = 0; i < j->n; i++) attend_head(j->m, j->l, (int)h, j->q + i * qd, j->pos0 + i, att, j->out + i * qd);
}

static void attend_all(const sq_llama *m, int l, const float *q, size_t n, size_t pos0, float *out)
{
    attn_job j = {m, l, q, n, pos0, out};
    size_t heads = (size_t)m->c.n_heads;
    /* below a few thousand multiply-adds the threads cost more than they save */
    if (m->exec.parallel && m->exec.threads > 1 && n * (pos0 + n) * (size_t)m->c.head_dim * heads >= (1u << 15))
        m->exec.parallel(m->exec.pool, heads, attn_task, &j);
    else
        for (size_t h = 0; h < heads; h++) attn_task(&j, h);
}

static inline float silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* Work buffers for n tokens. */
typedef struct work {
    float *x, *xb, *q, *k, *v, *o, *hb, *hb2;
} work;

/* LM head for n normalized states xb [n, dim] -> logits [n, vocab]. */
static void lm_head(sq_llama *m, const float *xb, size_t n, float *logits)
{
    sq_linear_matmul_ex(&m->lm_head, xb, n, logits, &m->exec);
}

/* n tokens at positions pos0.. (all in cache range). Logits of the last token (all = 0)
 * or of every token (all = 1) into logits (may be NULL). */
static void run_tokens(sq_llama *m, const int32_t *tokens, size_t n, size_t pos0, work *w, float *logits, int all)
{
    const sq_llama_config *c = &m->c;
    size_t dim = (size_t)c->dim, hd = (size_t)c->head_dim;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, hid = (size_t)c->hidden_dim;
    /* one row per token, dequantized when the embedding is quantized */
    for (size_t i = 0; i < n; i++) sq_linear_row(&m->emb, (size_t)tokens[i], w->x + i * dim);

    for (int l = 0; l < c->n_layers; l++) {
        const sq_llama_layer *L = &m->layers[l];
        for (size_t i = 0; i < n; i++) rmsnorm(w->xb + i * dim, w->x + i * dim, L->attn_norm, dim, c->norm_eps);
        {
            const sq_linear *qkv[3] = {&L->wq, &L->wk, &L->wv};
            float *out[3] = {w->q, w->k, w->v};
            sq_linear_matmul_multi(qkv, out, 3, w->xb, n, &m->exec);
        }
        float *kc = m->key_cache + (size_t)l * m->seq_len * kvd;
        float *vc = m->value_cache + (size_t)l * m->seq_len * kvd;
        for (size_t i = 0; i < n; i++) {
            rope(m, w->q + i * qd, c->n_heads, pos0 + i);
            rope(m, w->k + i * kvd, c->n_kv_heads, pos0 + i);
            memcpy(kc + (pos0 + i) * kvd, w->k + i * kvd, kvd * sizeof(float));
            memcpy(vc + (pos0 + i) * kvd, w->v + i * kvd, kvd * sizeof(float));
        }
        attend_all(m, l, w->q, n, pos0, w->o);
        sq_linear_matmul_ex(&L->wo, w->o, n, w->xb, &m->exec);
        for (size_t i = 0; i < n * dim; i++) w->x[i] += w->xb[i];

        for (size_t i = 0; i < n; i++) rmsnorm(w->xb + i * dim, w->x + i * dim, L->ffn_norm, dim, c->norm_eps);
        {
            const sq_linear *gu[2] = {&L->gate, &L->up};
            float *out[2] = {w->hb, w->hb2};
            sq_linear_matmul_multi(gu, out, 2, w->xb, n, &m->exec);
        }
        for (size_t i = 0; i < n * hid; i++) w->hb[i] = silu(w->hb[i]) * w->hb2[i];
        sq_linear_matmul_ex(&L->down, w->hb, n, w->xb, &m->exec);
        for (size_t i = 0; i < n * dim; i++) w->x[i] += w->xb[i];
    }
    if (!logits) return;
    if (all) {
        for (size_t i = 0; i < n; i++) rmsnorm(w->xb + i * dim, w->x + i * dim, m->final_norm, dim, c->norm_eps);
        lm_head(m, w->xb, n, logits);
    } else {
        rmsnorm(w->xb, w->x + (n - 1) * dim, m->final_norm, dim, c->norm_eps);
        lm_head(m, w->xb, 1, logits);
    }
}

static int check_tokens(const sq_llama *m, const int32_t *tokens, size_t n, size_t pos0, sq_err *e)
{
    if (pos0 > m->n_cached)
        return sq_fail(e, SQ_EINTERNAL, "position %zu skips positions (only %zu cached)", pos0, m->n_cached);
    if (n > m->seq_len || pos0 > m->seq_len - n)
        return sq_fail(e, SQ_EINPUT, "position %zu is beyond the context of %zu tokens", pos0 + n - 1, m->seq_len);
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->c.vocab)
            return sq_fail(e, SQ_EINPUT, "token id %ld is outside the vocabulary (%d)", (long)tokens[i], m->c.vocab);
    return SQ_OK;
}

const float *sq_llama_forward(sq_llama *m, int32_t token, size_t pos, sq_err *e)
{
    if (check_tokens(m, &token, 1, pos, e)) return NULL;
    work w = {m->x, m->xb, m->q, m->k, m->v, m->xb2, m->hb, m->hb2};
    run_tokens(m, &token, 1, pos, &w, m->logits, 0);
    m->n_cached = pos + 1;
    return m->logits;
}

int sq_llama_prefill(sq_llama *m, const int32_t *tokens, size_t n, size_t pos0, float *logits, int all, sq_err *e)
{
    if (n == 0) return SQ_OK;
    if (check_tokens(m, tokens, n, pos0, e)) return e->code;
    const sq_llama_config *c = &m->c;
    size_t ch = n < PREFILL_CHUNK ? n : PREFILL_CHUNK;
    size_t dim = (size_t)c->dim, qd = (size_t)c->n_heads * (size_t)c->head_dim;
    size_t kvd = (size_t)c->n_kv_heads * (size_t)c->head_dim, hid = (size_t)c->hidden_dim;
    size_t big = dim > qd ? dim : qd;
    float *buf = sq_malloc(ch * (dim + big + qd + 2 * kvd + qd + 2 * hid) * sizeof(float), e);
    if (!buf) return e->code;
    work w;
    w.x = buf;
    w.xb = w.x + ch * dim;
    w.q = w.xb + ch * big;
    w.k = w.q + ch * qd;
    w.v = w.k + ch * kvd;
    w.o = w.v + ch * kvd;
    w.hb = w.o + ch * qd;
    w.hb2 = w.hb + ch * hid;
    for (size_t s = 0; s < n; s += ch) {
        size_t cn = n - s < ch ? n - s : ch;
        int last = s + cn == n;
        float *lg = NULL;
        if (logits && all) lg = logits + s * (size_t)c->vocab;
        else if (logits && last) lg = logits;
        run_tokens(m, tokens + s, cn, pos0 + s, &w, lg, all);
        m->n_cached = pos0 + s + cn;
    }
    free(buf);
    return SQ_OK;
}
