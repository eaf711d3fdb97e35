"""make_arch.py SRC_TOKENIZER_DIR OUT_DIR: tiny random models of the Llama family with each
architecture's exact config keys and tensor names, as Hugging Face writes them:
  llama-tiny    LlamaForCausalLM, GQA, llama3 rope_scaling, tied embeddings
  mistral-tiny  MistralForCausalLM, sliding_window 6 (shorter than the prompts), untied head
  qwen2-tiny    Qwen2ForCausalLM, q/k/v biases (no o bias), untied head, rope_theta 1e6
Weights are seeded normal draws (F32, BF16 for mistral); the tokenizer (vocab 512) is copied
from SRC_TOKENIZER_DIR. Used by tests/cli/run.sh with tests/ref/llama_ref.py."""
import json, os, shutil, struct, sys
import numpy as np

def write(path, tensors, dtype):
    header, off, blobs = {}, 0, []
    for name, a in tensors:
        if dtype == "BF16":
            raw = (np.asarray(a, np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = np.asarray(a, "<f4").tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw); blobs.append(raw)
    h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)

def model(out, cfg, seed, qkv_bias, o_bias, tied, dtype):
    r = np.random.default_rng(seed)
    D, F, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = D // H
    def m(rows, cols): return r.normal(0, 0.5 / np.sqrt(cols), (rows, cols))
    t = [("model.embed_tokens.weight", r.normal(0, 1, (V, D)))]
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        t += [(p + "input_layernorm.weight", 1 + 0.1 * r.normal(size=D)),
              (p + "post_attention_layernorm.weight", 1 + 0.1 * r.normal(size=D))]
        for n, rows, cols, b in (("q_proj", H * hd, D, qkv_bias), ("k_proj", KV * hd, D, qkv_bias),
                                 ("v_proj", KV * hd, D, qkv_bias), ("o_proj", D, H * hd, o_bias)):
            t.append((p + "self_attn." + n + ".weight", m(rows, cols)))
            if b: t.append((p + "self_attn." + n + ".bias", 0.2 * r.normal(size=rows)))
        t += [(p + "mlp.gate_proj.weight", m(F, D)), (p + "mlp.up_proj.weight", m(F, D)), (p + "mlp.down_proj.weight", m(D, F))]
    t.append(("model.norm.weight", 1 + 0.1 * r.normal(size=D)))
    if not tied: t.append(("lm_head.weight", m(V, D)))
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "model.safetensors"), t, dtype)
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(sys.argv[1], f), out)

base = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-5,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
out = sys.argv[2]
model(os.path.join(out, "llama-tiny"), dict(base, architectures=["LlamaForCausalLM"], model_type="llama",
      rope_theta=500000.0, tie_word_embeddings=True, attention_bias=False, mlp_bias=False,
      rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 64}), 1, False, False, True, "F32")
model(os.path.join(out, "mistral-tiny"), dict(base, architectures=["MistralForCausalLM"], model_type="mistral",
      rope_theta=10000.0, tie_word_embeddings=False, sliding_window=6), 2, False, False, False, "BF16")
model(os.path.join(out, "qwen2-tiny"), dict(base, architectures=["Qwen2ForCausalLM"], model_type="qwen2",
      rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False, sliding_window=4096,
      max_window_layers=2), 3, True, False, False, "F32")
