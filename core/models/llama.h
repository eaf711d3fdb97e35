/* llama.h - LlamaForCausalLM (Hugging Face layout), inference with a KV cache.
 * The same network also runs MistralForCausalLM (sliding-window attention) and
 * Qwen2ForCausalLM (biases on q/k/v_proj, usually an untied LM head): their configs and
 * tensor names are Llama's but for those keys.
 *
 * Per layer: x += O(attention(rope(Q rms(x)), rope(K rms(x)), V rms(x)));
 *            x += Down(silu(Gate rms(x)) * Up rms(x))
 * then a final RMSNorm and the LM head (lm_head.weight, or the token embedding when the
 * embeddings are tied). RoPE is HF's rotate-half form, with optional "llama3" frequency
 * scaling (rope_scaling {"rope_type": "llama3", factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings}). Grouped-query attention when
 * num_key_value_heads < num_attention_heads. Linear layers are sq_linear values, so
 * original, packed, paper and split files all run. The token embedding is an sq_linear
 * too, in its file layout (F32/F16/BF16 as stored, or the plain codes of `sq quantize
 * --embeddings`): a token's row is looked up and dequantized on use (sq_linear_row), and
 * a tied LM head runs the same tensor through the kernels.
 */
#ifndef SQ_LLAMA_H
#define SQ_LLAMA_H

#include <stddef.h>
#include <stdint.h>
#include "../dtype.h"
#include "../kernels/linear.h"
#include "../safetensors.h"
#include "../sq.h"

#define SQ_LLAMA_MAX_EOS 8

typedef struct sq_llama_config {
    int dim;            /* hidden_size */
    int hidden_dim;     /* intermediate_size */
    int n_layers;       /* num_hidden_layers */
    int n_heads;        /* num_attention_heads */
    int n_kv_heads;     /* num_key_value_heads (default n_heads) */
    int head_dim;       /* head_dim (default dim / n_heads) */
    int vocab;          /* vocab_size */
    int max_pos;        /* max_position_embeddings */
    float norm_eps;     /* rms_norm_eps */
    double rope_theta;  /* rope_theta (default 10000) */
    int rope_llama3;    /* rope_scaling of type llama3 */
    double rope_factor, rope_low_freq, rope_high_freq;
    int rope_orig_max;  /* original_max_position_embeddings */
    int qkv_bias, o_bias;  /* q/k/v_proj and o_proj have biases (Qwen2: q/k/v only) */
    int mlp_bias;
    int sliding_window; /* attend to the last this many positions only (Mistral); 0 = all */
    int tied;           /* LM head is the token embedding */
    int bos_id;         /* -1 when unknown */
    int n_eos;
    int eos_ids[SQ_LLAMA_MAX_EOS];
} sq_llama_config;

typedef struct sq_llama_layer {
    float *attn_norm, *ffn_norm;   /* input_layernorm, post_attention_layernorm [dim] */
    sq_linear wq, wk, wv, wo;      /* self_attn.{q,k,v,o}_proj */
    sq_linear gate, up, down;      /* mlp.{gate,up,down}_proj */
} sq_llama_layer;

typedef struct sq_llama {
    sq_llama_config c;
    size_t seq_len;          /* KV cache capacity (positions) */
    sq_dtype emb_dtype;      /* F32, F16 or BF16: as stored, or the source's when quantized */
    sq_linear emb;           /* model.embed_tokens [vocab, dim], in the file's layout */
    float *final_norm;       /* model.norm [dim] */
    sq_linear lm_head;       /* lm_head.weight; when c.tied, a view of emb (borrowed: not freed) */
    sq_llama_layer *layers;
    double *inv_freq;        /* [head_dim / 2], after rope scaling */
    float *key_cache, *value_cache; /* [n_layers, seq_len, n_kv_heads * head_dim] */
    size_t n_cached;         /* positions 0..n_cached-1 hold valid keys/values */
    sq_exec exec;            /* threads for the kernels (zero: the calling thread only) */
    /* scratch for one token */
    float *x, *xb, *xb2, *q, *k, *v, *hb, *hb2, *att, *logits;
} sq_llama;

/* Load from an opened safetensors file and config.json text. max_ctx: KV cache length
 * (0 = min(max_position_embeddings, 2048); always capped at max_position_embeddings). */
int sq_llama_load(sq_llama **out, const sq_st_file *f, const char *config_json, size_t max_ctx, sq_err *e);
void sq_llama_free(sq_llama *m);
/* Let the kernels run on the host's threads (ex copied; NULL = calling thread only).
 * Results are the same bits whatever the thread count. */
void sq_llama_set_exec(sq_llama *m, const sq_exec *ex);
/* Forget the cache (next token must be at position 0). */
void sq_llama_reset(sq_llama *m);
/* Keep only the first n cached positions (a shared prompt, then another continuation). */
void sq_llama_rewind(sq_llama *m, size_t n);

/* Run one token at position pos (0 <= pos <= n_cached, pos < seq_len); returns the
 * model's logits [vocab] (valid until the next call), or NULL with e set. */
const float *sq_llama_forward(sq_llama *m, int32_t token, size_t pos, sq_err *e);

/* Run n tokens at positions pos0..pos0+n-1 as a batch (same results as n forward calls).
 * logits: NULL, or [vocab] for the last token (all == 0), or [n, vocab] (all != 0). */
int sq_llama_prefill(sq_llama *m, const int32_t *tokens, size_t n, size_t pos0, float *logits, int all, sq_err *e);

int sq_llama_is_eos(const sq_llama *m, int32_t token);
size_t sq_llama_bytes(const sq_llama *m);

#endif
