/* bert.h - BertForSequenceClassification (Hugging Face layout), inference only.
 *
 * Post-LN encoder: embeddings (word + position + token type) -> LayerNorm, then per layer
 *   x = LN(x + O(attention(Q x, K x, V x)));  x = LN(x + W2 gelu_erf(W1 x))
 * pooler tanh(Wp x[CLS]) and a linear classifier. Every linear layer is an sq_linear, so
 * original, packed, paper and split files all run; embeddings and LayerNorms are read as
 * float32 (they are never quantized).
 *
 * Tensor names: "bert.embeddings.word_embeddings.weight", ..., "bert.encoder.layer.N....",
 * "bert.pooler.dense", "classifier" (the "bert." prefix may be absent).
 *
 * The family, same network with these differences:
 *   RobertaForSequenceClassification: prefix "roberta.", positions start at
 *     pad_token_id + 1 (HF's create_position_ids_from_input_ids, unpadded input), the
 *     head is classifier.dense + tanh + classifier.out_proj on <s> (no pooler).
 *   DistilBertForSequenceClassification: prefix "distilbert.", no token types, layers
 *     transformer.layer.N.{attention.{q,k,v,out}_lin, sa_layer_norm, ffn.lin1/lin2,
 *     output_layer_norm}, config keys dim / n_layers / n_heads / hidden_dim, the head is
 *     pre_classifier + ReLU + classifier on [CLS].
 */
#ifndef SQ_BERT_H
#define SQ_BERT_H

#include <stddef.h>
#include <stdint.h>
#include "../kernels/linear.h"
#include "../safetensors.h"
#include "../sq.h"

typedef struct sq_bert_config {
    int hidden;         /* hidden_size */
    int n_layers;       /* num_hidden_layers */
    int n_heads;        /* num_attention_heads */
    int intermediate;   /* intermediate_size */
    int max_pos;        /* max_position_embeddings */
    int type_vocab;     /* type_vocab_size */
    int vocab;          /* vocab_size */
    int n_labels;       /* classifier rows (== id2label entries when given) */
    float eps;          /* layer_norm_eps */
    int family;         /* SQ_BERT_FAMILY_* */
    int pos_offset;     /* position of token i is i + pos_offset (RoBERTa: pad_token_id + 1) */
} sq_bert_config;

enum { SQ_BERT_FAMILY_BERT, SQ_BERT_FAMILY_ROBERTA, SQ_BERT_FAMILY_DISTILBERT };

typedef struct sq_bert_layer {
    sq_linear q, k, v, attn_out;  /* attention.self.{query,key,value}, attention.output.dense */
    float *ln1_w, *ln1_b;         /* attention.output.LayerNorm */
    sq_linear inter, out;         /* intermediate.dense, output.dense */
    float *ln2_w, *ln2_b;         /* output.LayerNorm */
} sq_bert_layer;

typedef struct sq_bert {
    sq_bert_config c;
    sq_linear word_emb;           /* [vocab, hidden]: float32, or quantized (--embeddings) */
    float *pos_emb, *type_emb;    /* [max_pos|type_vocab, hidden]; type_emb NULL for DistilBERT */
    float *emb_ln_w, *emb_ln_b;
    sq_bert_layer *layers;
    sq_linear pooler, classifier; /* pooler: RoBERTa's classifier.dense, DistilBERT's pre_classifier */
    char **labels;                /* n_labels names (id2label, or "LABEL_i") */
    sq_exec exec;                 /* threads for the kernels (zero: the calling thread only) */
} sq_bert;

/* Load from an opened safetensors file and the config.json text. Errors are SQ_EINPUT
 * sentences naming the config field or tensor at fault. */
int sq_bert_load(sq_bert **out, const sq_st_file *f, const char *config_json, sq_err *e);
void sq_bert_free(sq_bert *m);
/* Let the kernels run on the host's threads (ex copied; NULL = calling thread only).
 * Results are the same bits whatever the thread count. */
void sq_bert_set_exec(sq_bert *m, const sq_exec *ex);

/* logits[n_labels] for one sequence of n token ids (it should hold [CLS] ... [SEP]);
 * token type 0 everywhere, every position attended. */
int sq_bert_forward(const sq_bert *m, const int32_t *ids, size_t n, float *logits, sq_err *e);
/* Same with token type ids (NULL = all 0) and an attention mask (NULL = all 1; positions
 * with mask 0 are not attended to, as HF's additive finfo.min mask does). */
int sq_bert_forward_ex(const sq_bert *m, const int32_t *ids, const int32_t *type_ids, const uint8_t *mask,
                       size_t n, float *logits, sq_err *e);

/* Probabilities from logits (softmax, in place safe). */
void sq_softmax(const float *logits, float *probs, size_t n);

/* Bytes of weights held in memory. */
size_t sq_bert_bytes(const sq_bert *m);

#endif
