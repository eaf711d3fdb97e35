"""llama_ref.py - an independent float64 LlamaForCausalLM forward in numpy, written from
the architecture's published equations (Hugging Face's modeling_llama: RMSNorm, rotate-half
RoPE with optional "llama3" frequency scaling, grouped-query attention, SwiGLU MLP, tied or
untied LM head; modeling_mistral's sliding window; modeling_qwen2's q/k/v biases, taken
from the tensors present). No code is shared with sq's C implementation.

    python3 tests/ref/llama_ref.py arc MODEL_DIR_OR_FILE SQ_EVAL.json [--tol T] [--config config.json]

reads the prompt and continuation token ids that `sq eval --task arc --json` scored,
recomputes every choice's log-likelihood here and checks that each agrees with sq's within
T (absolute, default 2e-3) and that the predictions (acc, acc_norm) are the same wherever
the top two scores are not within T of each other. Weights: F32/F16/BF16 safetensors (a
dequantized sq file works: `sq dequantize` first).
"""
import json, math, os, struct, sys
import numpy as np

def load(path, config=None):
    if config:
        cfg = json.load(open(config))
        if os.path.isdir(path): path = os.path.join(path, "model.safetensors")
    elif os.path.isdir(path):
        cfg = json.load(open(os.path.join(path, "config.json")))
        path = os.path.join(path, "model.safetensors")
    else:
        cfg = None
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    if cfg is None:
        cfg = json.loads(meta["sq.config"])
    w = {}
    for name, d in header.items():
        b, e = d["data_offsets"]
        raw = data[8 + n + b:8 + n + e]
        if d["dtype"] == "F32":
            a = np.frombuffer(raw, dtype="<f4")
        elif d["dtype"] == "F16":
            a = np.frombuffer(raw, dtype="<f2")
        elif d["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            continue
        w[name] = a.astype(np.float64).reshape(d["shape"])
    return cfg, w

def inv_freq(cfg, head_dim):
    theta = cfg.get("rope_theta", 10000.0)
    f = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_wl, hi_wl = old / lo, old / hi
        out = []
        for x in f:
            wl = 2 * math.pi / x
            if wl < hi_wl:
                out.append(x)
            elif wl > lo_wl:
                out.append(x / factor)
            else:
                s = (old / wl - lo) / (hi - lo)
                out.append((1 - s) * x / factor + s * x)
        f = np.array(out)
    return f

def forward(cfg, w, ids):
    """Logits [len(ids), vocab] of a causal forward over the whole sequence."""
    dim, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim", dim // nh)
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(ids)
    def rms(x, g):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * g
    def lin(x, name):
        y = x @ w[name + ".weight"].T
        if name + ".bias" in w: y = y + w[name + ".bias"]
        return y
    f = inv_freq(cfg, hd)
    ang = np.arange(T, dtype=np.float64)[:, None] * f[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))
    def rope(x):  # [T, heads, hd], rotate-half
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        rot = np.concatenate([-x2, x1], -1)
        return x * cos[:, None, :] + rot * sin[:, None, :]
    x = w["model.embed_tokens.weight"][np.array(ids)]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    W = cfg.get("sliding_window") if cfg.get("model_type") == "mistral" else None
    if W:  # Mistral: token i sees j only when i - j < W
        mask = mask + np.tril(np.full((T, T), -np.inf), -W)
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope(lin(h, p + "self_attn.q_proj").reshape(T, nh, hd))
        k = rope(lin(h, p + "self_attn.k_proj").reshape(T, nkv, hd))
        v = lin(h, p + "self_attn.v_proj").reshape(T, nkv, hd)
        rep = nh // nkv
        k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
        att = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd) + mask
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", att, v).reshape(T, nh * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = lin(h, p + "mlp.gate_proj")
        x = x + lin(g / (1 + np.exp(-g)) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, w["model.norm.weight"])
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return x @ head.T

def loglik(cfg, w, prompt, cont):
    ids = prompt + cont
    logits = forward(cfg, w, ids[:-1])
    lp = logits - logits.max(-1, keepdims=True)
    lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
    return float(sum(lp[len(prompt) - 1 + j, t] for j, t in enumerate(cont)))

def check_arc(model, sq_json, tol, config=None):
    cfg, w = load(model, config)
    got = json.load(open(sq_json))
    bad = 0
    worst = 0.0
    for q in got["questions"]:
        ref = [loglik(cfg, w, q["prompt_ids"], c["continuation_ids"]) for c in q["choices"]]
        for c, r in zip(q["choices"], ref):
            d = abs(c["loglik"] - r)
            worst = max(worst, d)
            if d > tol:
                bad += 1
                print("question %s choice %s: sq %.6f, numpy %.6f" % (q["id"], c["label"], c["loglik"], r))
        top = sorted(ref, reverse=True)
        if (len(top) < 2 or top[0] - top[1] > tol) and int(np.argmax(ref)) != q["pred"]:
            bad += 1
            print("question %s: sq predicts %d, numpy %d" % (q["id"], q["pred"], int(np.argmax(ref))))
    print("%d questions, largest |sq - numpy| log-likelihood difference %.2e, %d disagreements" % (len(got["questions"]), worst, bad))
    return 1 if bad else 0

if __name__ == "__main__":
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 2e-3
    if len(sys.argv) >= 4 and sys.argv[1] == "arc":
        config = sys.argv[sys.argv.index("--config") + 1] if "--config" in sys.argv else None
        sys.exit(check_arc(sys.argv[2], sys.argv[3], tol, config))
    sys.exit(__doc__)
