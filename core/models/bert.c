/* bert.c - BertForSequenceClassification forward pass (see bert.h). */
#include "bert.h"

#include <cjson/cJSON.h>
#include "../json.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../quant/qload.h"
#include "config.h"

/* ---------------- config ---------------- */

static const sq_cfg_member FAMILY[] = {{"bert", "BertForSequenceClassification"},
                                       {"roberta", "RobertaForSequenceClassification"},
                                       {"distilbert", "DistilBertForSequenceClassification"}};
#define N_FAMILY (int)(sizeof FAMILY / sizeof FAMILY[0])

/* Which sequence classifier of the BERT family the config describes, or -1 with e set. */
static int check_arch(const cJSON *cfg, sq_err *e)
{
    return sq_cfg_family(cfg, FAMILY, N_FAMILY, "a BERT, RoBERTa or DistilBERT sequence classifier",
                         "BertForSequenceClassification, RobertaForSequenceClassification or DistilBertForSequenceClassification",
                         "BERT", e);
}

static int check_more(const cJSON *cfg, int family, sq_err *e)
{
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(cfg, family == SQ_BERT_FAMILY_DISTILBERT ? "activation" : "hidden_act");
    if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "gelu") != 0))
        return sq_fail(e, SQ_EINPUT, "config.json: hidden_act \"%.32s\" is not supported (only \"gelu\")",
                       cJSON_IsString(act) ? act->valuestring : "?");
    const cJSON *pe = cJSON_GetObjectItemCaseSensitive(cfg, "position_embedding_type");
    if (pe && cJSON_IsString(pe) && strcmp(pe->valuestring, "absolute") != 0)
        return sq_fail(e, SQ_EINPUT, "config.json: position_embedding_type \"%.32s\" is not supported (only \"absolute\")",
                       pe->valuestring);
    return SQ_OK;
}

/* ---------------- tensors ---------------- */

/* A float tensor of exactly `n` elements with the given 1-D or 2-D shape, as float32. */
static float *read_float(const sq_st_file *f, const char *name, int ndim, size_t d0, size_t d1, sq_err *e)
{
    const sq_tensor_info *t = sq_st_find(f, name);
    if (!t) {
        sq_fail(e, SQ_EINPUT, "tensor '%s' is missing", name);
        return NULL;
    }
    int ok = sq_dtype_is_float(t->dtype) && t->ndim == ndim && (size_t)t->shape[0] == d0 &&
             (ndim < 2 || (size_t)t->shape[1] == d1);
    if (!ok) {
        if (ndim == 2)
            sq_fail(e, SQ_EINPUT, "tensor '%s': expected a float tensor of shape [%zu, %zu] (from config.json), found %s with %d dims [%lld%s]",
                    name, d0, d1, sq_dtype_name(t->dtype), t->ndim, t->ndim ? (long long)t->shape[0] : 0LL, t->ndim > 1 ? ", ..." : "");
        else
            sq_fail(e, SQ_EINPUT, "tensor '%s': expected a float tensor of shape [%zu] (from config.json), found %s with %d dims",
                    name, d0, sq_dtype_name(t->dtype), t->ndim);
        return NULL;
    }
    float *p = sq_malloc(d0 * (ndim == 2 ? d1 : 1) * sizeof(float), e);
    if (p && sq_st_read_f32(f, t, p, e)) {
        free(p);
        return NULL;
    }
    return p;
}

/* Rows of a (possibly quantized) 2-D weight: the stored tensor or its sq.tensors entry. */
static int weight_rows(const sq_qfile *q, const char *name, size_t *rows, sq_err *e)
{
    const sq_tensor_info *t = sq_st_find(q->f, name);
    if (t) {
        if (t->ndim != 2) return sq_fail(e, SQ_EINPUT, "tensor '%s': expected 2 dims, found %d", name, t->ndim);
        *rows = (size_t)t->shape[0];
        return SQ_OK;
    }
    sq_qtensor d;
    int found = sq_qfile_describe(q, name, &d, e);
    if (e->code) return e->code;
    if (!found) return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing", name);
    *rows = d.rows;
    return SQ_OK;
}

static int load_lin(sq_linear *L, const sq_qfile *q, const char *pre, const char *name, size_t rows, size_t cols,
                    sq_err *e)
{
    char w[256], b[256];
    snprintf(w, sizeof w, "%s%s.weight", pre, name);
    snprintf(b, sizeof b, "%s%s.bias", pre, name);
    if (sq_linear_load_from(L, q, w, b, rows, cols, e)) return e->code;
    if (!L->bias) return sq_fail(e, SQ_EINPUT, "tensor '%s' is missing (BERT linear layers have biases)", b);
    return SQ_OK;
}

/* Stored as it is, or described (quantized) in sq.tensors. */
static int present(const sq_qfile *q, const char *name)
{
    if (sq_st_find(q->f, name)) return 1;
    sq_qtensor d;
    sq_err e2 = {0};
    return sq_qfile_describe(q, name, &d, &e2) == 1 && !e2.code;
}

/* The token embedding [vocab, H]: a float tensor read as float32 (read_float's checks), or
 * the plain codes of `sq quantize --embeddings`, looked up a row at a time. */
static int load_word_emb(sq_linear *L, const sq_qfile *q, const char *name, size_t V, size_t H, sq_err *e)
{
    memset(L, 0, sizeof *L);
    sq_qtensor d;
    int described = sq_qfile_describe(q, name, &d, e);
    if (e->code) return e->code;
    /* the loader refuses a tensor both stored and described; so does the float path */
    if (described || !sq_st_find(q->f, name)) return sq_linear_load_from(L, q, name, NULL, V, H, e);
    if (!(L->w = read_float(q->f, name, 2, V, H, e))) return e->code;
    L->kind = SQ_LIN_F32;
    L->rows = V;
    L->cols = H;
    L->groups = 1;
    return SQ_OK;
}

static float *load_vec(const sq_st_file *f, const char *pre, const char *name, size_t n, sq_err *e)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s%s", pre, name);
    return read_float(f, buf, 1, n, 0, e);
}

static int load_labels(sq_bert *m, const cJSON *cfg, sq_err *e)
{
    const cJSON *id2 = cJSON_GetObjectItemCaseSensitive(cfg, "id2label");
    int n = m->c.n_labels;
    m->labels = sq_calloc((size_t)n, sizeof(char *), e);
    if (!m->labels) return e->code;
    if (id2 && !cJSON_IsObject(id2)) return sq_fail(e, SQ_EINPUT, "config.json: \"id2label\" is not an object");
    if (id2 && cJSON_GetArraySize(id2) != n)
        return sq_fail(e, SQ_EINPUT, "config.json: id2label has %d labels but the classifier has %d outputs",
                       cJSON_GetArraySize(id2), n);
    for (int i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%d", i);
        const cJSON *v = id2 ? cJSON_GetObjectItemCaseSensitive(id2, key) : NULL;
        if (id2 && !cJSON_IsString(v))
            return sq_fail(e, SQ_EINPUT, "config.json: id2label has no string entry \"%d\"", i);
        char def[32];
        snprintf(def, sizeof def, "LABEL_%d", i);
        const char *s = v ? v->valuestring : def;
        size_t len = strlen(s);
        if (!(m->labels[i] = sq_malloc(len + 1, e))) return e->code;
        memcpy(m->labels[i], s, len + 1);
    }
    return SQ_OK;
}

int sq_bert_load(sq_bert **out, const sq_st_file *f, const char *config_json, sq_err *e)
{
    *out = NULL;
    if (!config_json) return sq_fail(e, SQ_EINPUT, "no config.json (needed to run a BERT model)");
    cJSON *cfg = sq_json_parse(config_json, strlen(config_json));
    if (!cfg || !cJSON_IsObject(cfg)) {
        cJSON_Delete(cfg);
        return sq_fail(e, SQ_EINPUT, "config.json is not a JSON object");
    }
    sq_bert *m = sq_calloc(1, sizeof *m, e);
    if (!m) {
        cJSON_Delete(cfg);
        return e->code;
    }
    sq_bert_config *c = &m->c;
    int family = check_arch(cfg, e);
    int rc = family < 0 ? e->code : SQ_OK;
    int distil = family == SQ_BERT_FAMILY_DISTILBERT;
    c->family = family;
    if (!rc) rc = check_more(cfg, family, e);
    /* DistilBERT names its sizes differently */
    if (!rc) rc = sq_cfg_int(cfg, distil ? "dim" : "hidden_size", -1, 1, 1 << 16, &c->hidden, e);
    if (!rc) rc = sq_cfg_int(cfg, distil ? "n_layers" : "num_hidden_layers", -1, 1, 1024, &c->n_layers, e);
    if (!rc) rc = sq_cfg_int(cfg, distil ? "n_heads" : "num_attention_heads", -1, 1, 1024, &c->n_heads, e);
    if (!rc) rc = sq_cfg_int(cfg, distil ? "hidden_dim" : "intermediate_size", -1, 1, 1 << 20, &c->intermediate, e);
    if (!rc) rc = sq_cfg_int(cfg, "max_position_embeddings", -1, 1, 1 << 20, &c->max_pos, e);
    if (!rc) rc = sq_cfg_int(cfg, "type_vocab_size", distil ? 0 : 2, distil ? 0 : 1, 1 << 16, &c->type_vocab, e);
    if (!rc) rc = sq_cfg_int(cfg, "vocab_size", -1, 1, 1 << 24, &c->vocab, e);
    c->pos_offset = 0;
    if (!rc && family == SQ_BERT_FAMILY_ROBERTA) {
        int pad = 1;
        rc = sq_cfg_int(cfg, "pad_token_id", 1, 0, 1 << 24, &pad, e);
        c->pos_offset = pad + 1;
        if (!rc && c->pos_offset >= c->max_pos)
            rc = sq_fail(e, SQ_EINPUT, "config.json: pad_token_id %d leaves no positions (max_position_embeddings %d)", pad, c->max_pos);
    }
    if (!rc) {
        const cJSON *eps = distil ? NULL : cJSON_GetObjectItemCaseSensitive(cfg, "layer_norm_eps");
        if (!eps) c->eps = 1e-12f;
        else if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
            rc = sq_fail(e, SQ_EINPUT, "config.json: \"layer_norm_eps\" must be a number in (0, 1)");
        else c->eps = (float)eps->valuedouble;
    }
    if (!rc && c->hidden % c->n_heads != 0)
        rc = sq_fail(e, SQ_EINPUT, "config.json: hidden_size %d is not a multiple of num_attention_heads %d", c->hidden,
                     c->n_heads);
    sq_qfile q; /* "sq.tensors" parsed once for every layer */
    memset(&q, 0, sizeof q);
    if (!rc) rc = sq_qfile_open(&q, f, e);
    const char *pre = family == SQ_BERT_FAMILY_ROBERTA ? "roberta." : distil ? "distilbert." : "bert.";
    char probe[64];
    snprintf(probe, sizeof probe, "%sembeddings.word_embeddings.weight", pre);
    if (!rc && !present(&q, probe) && present(&q, "embeddings.word_embeddings.weight"))
        pre = "";
    size_t H = (size_t)c->hidden, I = (size_t)c->intermediate;
    char name[256];
    if (!rc) {
        snprintf(name, sizeof name, "%sembeddings.word_embeddings.weight", pre);
        rc = load_word_emb(&m->word_emb, &q, name, (size_t)c->vocab, H, e);
    }
    if (!rc) {
        snprintf(name, sizeof name, "%sembeddings.position_embeddings.weight", pre);
        if (!(m->pos_emb = read_float(f, name, 2, (size_t)c->max_pos, H, e))) rc = e->code;
    }
    if (!rc && !distil) {
        snprintf(name, sizeof name, "%sembeddings.token_type_embeddings.weight", pre);
        if (!(m->type_emb = read_float(f, name, 2, (size_t)c->type_vocab, H, e))) rc = e->code;
    }
    if (!rc && !(m->emb_ln_w = load_vec(f, pre, "embeddings.LayerNorm.weight", H, e))) rc = e->code;
    if (!rc && !(m->emb_ln_b = load_vec(f, pre, "embeddings.LayerNorm.bias", H, e))) rc = e->code;
    if (!rc && !(m->layers = sq_calloc((size_t)c->n_layers, sizeof *m->layers, e))) rc = e->code;
    /* per-layer tensor names: BERT/RoBERTa, DistilBERT */
    static const char *const LN[2][10] = {
        {"encoder.layer.%d.", "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
         "intermediate.dense", "output.dense", "attention.output.LayerNorm", "output.LayerNorm", ""},
        {"transformer.layer.%d.", "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1",
         "ffn.lin2", "sa_layer_norm", "output_layer_norm", ""}};
    const char *const *nm = LN[distil];
    for (int l = 0; !rc && l < c->n_layers; l++) {
        sq_bert_layer *L = &m->layers[l];
        char p[128], fmt[64], w1[96], b1[96], w2[96], b2[96];
        snprintf(fmt, sizeof fmt, "%s%s", pre, nm[0]);
        snprintf(p, sizeof p, fmt, l);
        if ((rc = load_lin(&L->q, &q, p, nm[1], H, H, e))) break;
        if ((rc = load_lin(&L->k, &q, p, nm[2], H, H, e))) break;
        if ((rc = load_lin(&L->v, &q, p, nm[3], H, H, e))) break;
        if ((rc = load_lin(&L->attn_out, &q, p, nm[4], H, H, e))) break;
        if ((rc = load_lin(&L->inter, &q, p, nm[5], I, H, e))) break;
        if ((rc = load_lin(&L->out, &q, p, nm[6], H, I, e))) break;
        snprintf(w1, sizeof w1, "%s.weight", nm[7]);
        snprintf(b1, sizeof b1, "%s.bias", nm[7]);
        snprintf(w2, sizeof w2, "%s.weight", nm[8]);
        snprintf(b2, sizeof b2, "%s.bias", nm[8]);
        if (!(L->ln1_w = load_vec(f, p, w1, H, e)) || !(L->ln1_b = load_vec(f, p, b1, H, e)) ||
            !(L->ln2_w = load_vec(f, p, w2, H, e)) || !(L->ln2_b = load_vec(f, p, b2, H, e))) {
            rc = e->code;
            break;
        }
    }
    /* the head: BERT's pooler + classifier; RoBERTa's classifier.dense + out_proj;
       DistilBERT's pre_classifier + classifier */
    const char *head_out = family == SQ_BERT_FAMILY_ROBERTA ? "classifier.out_proj" : "classifier";
    if (!rc) {
        if (family == SQ_BERT_FAMILY_ROBERTA) rc = load_lin(&m->pooler, &q, "", "classifier.dense", H, H, e);
        else if (distil) rc = load_lin(&m->pooler, &q, "", "pre_classifier", H, H, e);
        else {
            snprintf(name, sizeof name, "%spooler.", pre);
            rc = load_lin(&m->pooler, &q, name, "dense", H, H, e);
        }
    }
    char head_w[64];
    snprintf(head_w, sizeof head_w, "%s.weight", head_out);
    size_t nl = 0;
    if (!rc) rc = weight_rows(&q, head_w, &nl, e);
    if (!rc && (nl < 1 || nl > 100000)) rc = sq_fail(e, SQ_EINPUT, "tensor '%s': %zu outputs", head_w, nl);
    if (!rc) {
        c->n_labels = (int)nl;
        rc = load_lin(&m->classifier, &q, "", head_out, nl, H, e);
    }
    sq_qfile_close(&q);
    if (!rc) rc = load_labels(m, cfg, e);
    cJSON_Delete(cfg);
    if (rc) {
        sq_bert_free(m);
        return rc;
    }
    *out = m;
    return SQ_OK;
}

void sq_bert_free(sq_bert *m)
{
    if (!m) return;
    sq_linear_free(&m->word_emb);
    free(m->pos_emb);
    free(m->type_emb);
    free(m->emb_ln_w);
    free(m->emb_ln_b);
    if (m->layers) {
        for (int l = 0; l < m->c.n_layers; l++) {
            sq_bert_layer *L = &m->layers[l];
            sq_linear_free(&L->q);
            sq_linear_free(&L->k);
            sq_linear_free(&L->v);
            sq_linear_free(&L->attn_out);
            sq_linear_free(&L->inter);
            sq_linear_free(&L->out);
            free(L->ln1_w);
            free(L->ln1_b);
            free(L->ln2_w);
            free(L->ln2_b);
        }
        free(m->layers);
    }
    sq_linear_free(&m->pooler);
    sq_linear_free(&m->classifier);
    if (m->labels)
        for (int i = 0; i < m->c.n_labels; i++) free(m->labels[i]);
    free(m->labels);
    free(m);
}

size_t sq_bert_bytes(const sq_bert *m)
{
    const sq_bert_config *c = &m->c;
    size_t H = (size_t)c->hidden;
    size_t n = ((size_t)c->vocab + (size_t)c->max_pos + (size_t)c->type_vocab + 2) * H * sizeof(float); /* type_vocab 0: DistilBERT */
    for (int l = 0; l < c->n_layers; l++) {
        const sq_bert_layer *L = &m->layers[l];
        n += sq_linear_bytes(&L->q) + sq_linear_bytes(&L->k) + sq_linear_bytes(&L->v) + sq_linear_bytes(&L->attn_out) +
             sq_linear_bytes(&L->inter) + sq_linear_bytes(&L->out) + 4 * H * sizeof(float);
    }
    return n + sq_linear_bytes(&m->pooler) + sq_linear_bytes(&m->classifier);
}

/* ---------------- forward ---------------- */

static void layernorm(float *x, const float *w, const float *b, size_t n, float eps)
{
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double d = x[i] - mean;
        var += d * d;
    }
    var /= (double)n;
    float inv = (float)(1.0 / sqrt(var + (double)eps));
    for (size_t i = 0; i < n; i++) x[i] = (float)((x[i] - mean) * inv) * w[i] + b[i];
}

static float gelu_erf(float x)
{
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

void sq_softmax(const float *logits, float *probs, size_t n)
{
    if (n == 0) return;
    float mx = logits[0];
    for (size_t i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        probs[i] = expf(logits[i] - mx);
        sum += probs[i];
    }
    for (size_t i = 0; i < n; i++) probs[i] = (float)(probs[i] / sum);
}

/* Multi-head self-attention over n positions: ctx[n, H] from q, k, v [n, H]. */
static void attention(const sq_bert_config *c, const float *q, const float *k, const float *v, const uint8_t *mask,
                      size_t n, float *scores, float *ctx)
{
    size_t H = (size_t)c->hidden, hd = H / (size_t)c->n_heads;
    float scale = 1.0f / sqrtf((float)hd);
    int any = 0;
    for (size_t j = 0; j < n && !any; j++) any = !mask || mask[j];
    for (int h = 0; h < c->n_heads; h++) {
        size_t off = (size_t)h * hd;
        for (size_t i = 0; i < n; i++) {
            const float *qi = q + i * H + off;
            float mx = -INFINITY;
            for (size_t j = 0; j < n; j++) {
                if (any && mask && !mask[j]) continue;
                const float *kj = k + j * H + off;
                float s = 0;
                for (size_t d = 0; d < hd; d++) s += qi[d] * kj[d];
                s *= scale;
                scores[j] = s;
                if (s > mx) mx = s;
            }
            float sum = 0;
            for (size_t j = 0; j < n; j++) {
                if (any && mask && !mask[j]) { scores[j] = 0; continue; }
                scores[j] = expf(scores[j] - mx);
                sum += scores[j];
            }
            float *o = ctx + i * H + off;
            for (size_t d = 0; d < hd; d++) o[d] = 0;
            for (size_t j = 0; j < n; j++) {
                float p = scores[j] / sum;
                if (p == 0) continue;
                const float *vj = v + j * H + off;
                for (size_t d = 0; d < hd; d++) o[d] += p * vj[d];
            }
        }
    }
}

int sq_bert_forward_ex(const sq_bert *m, const int32_t *ids, const int32_t *type_ids, const uint8_t *mask,
                       size_t n, float *logits, sq_err *e)
{
    const sq_bert_config *c = &m->c;
    if (n == 0) return sq_fail(e, SQ_EINPUT, "empty input (no tokens)");
    if (n + (size_t)c->pos_offset > (size_t)c->max_pos)
        return sq_fail(e, SQ_EINPUT, "%zu tokens, more than the model's %d positions", n, c->max_pos - c->pos_offset);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab)
            return sq_fail(e, SQ_EINPUT, "token id %ld at position %zu is outside the vocabulary (%d)", (long)ids[i], i,
                           c->vocab);
        if (type_ids && (type_ids[i] < 0 || type_ids[i] >= (c->type_vocab ? c->type_vocab : 1)))
            return sq_fail(e, SQ_EINPUT, "token type %ld at position %zu is outside 0..%d", (long)type_ids[i], i,
                           c->type_vocab - 1);
    }
    size_t H = (size_t)c->hidden, I = (size_t)c->intermediate;
    size_t need = (5 * n * H + n * I + n + 3 * H) * sizeof(float);
    float *buf = sq_malloc(need, e);
    if (!buf) return e->code;
    float *x = buf, *q = x + n * H, *k = q + n * H, *v = k + n * H, *t = v + n * H, *hb = t + n * H;
    float *scores = hb + n * I, *pooled = scores + n, *we = pooled + 2 * H;

    for (size_t i = 0; i < n; i++) {
        sq_linear_row(&m->word_emb, (size_t)ids[i], we); /* dequantized when quantized */
        const float *pe = m->pos_emb + (i + (size_t)c->pos_offset) * H;
        float *xi = x + i * H;
        if (m->type_emb) {
            const float *te = m->type_emb + (size_t)(type_ids ? type_ids[i] : 0) * H;
            for (size_t d = 0; d < H; d++) xi[d] = (we[d] + te[d]) + pe[d];
        } else {
            for (size_t d = 0; d < H; d++) xi[d] = we[d] + pe[d];
        }
        layernorm(xi, m->emb_ln_w, m->emb_ln_b, H, c->eps);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const sq_bert_layer *L = &m->layers[l];
        const sq_linear *qkv[3] = {&L->q, &L->k, &L->v};
        float *out[3] = {q, k, v};
        sq_linear_matmul_multi(qkv, out, 3, x, n, &m->exec);
        attention(c, q, k, v, mask, n, scores, t);
        sq_linear_matmul_ex(&L->attn_out, t, n, q, &m->exec);
        for (size_t i = 0; i < n; i++) {
            float *xi = x + i * H, *ai = q + i * H;
            for (size_t d = 0; d < H; d++) xi[d] = ai[d] + xi[d];
            layernorm(xi, L->ln1_w, L->ln1_b, H, c->eps);
        }
        sq_linear_matmul_ex(&L->inter, x, n, hb, &m->exec);
        for (size_t i = 0; i < n * I; i++) hb[i] = gelu_erf(hb[i]);
        sq_linear_matmul_ex(&L->out, hb, n, q, &m->exec);
        for (size_t i = 0; i < n; i++) {
            float *xi = x + i * H, *oi = q + i * H;
            for (size_t d = 0; d < H; d++) xi[d] = oi[d] + xi[d];
            layernorm(xi, L->ln2_w, L->ln2_b, H, c->eps);
        }
    }
    sq_linear_matvec(&m->pooler, x, pooled); /* [CLS] = position 0 */
    if (c->family == SQ_BERT_FAMILY_DISTILBERT)
        for (size_t d = 0; d < H; d++) pooled[d] = pooled[d] > 0 ? pooled[d] : 0; /* ReLU */
    else
        for (size_t d = 0; d < H; d++) pooled[d] = tanhf(pooled[d]);
    sq_linear_matvec(&m->classifier, pooled, logits);
    free(buf);
    return SQ_OK;
}

void sq_bert_set_exec(sq_bert *m, const sq_exec *ex)
{
    if (ex) m->exec = *ex;
    else memset(&m->exec, 0, sizeof m->exec);
}

int sq_bert_forward(const sq_bert *m, const int32_t *ids, size_t n, float *logits, sq_err *e)
{
    return sq_bert_forward_ex(m, ids, NULL, NULL, n, logits, e);
}
