"""bert_ref.py - an independent float64 forward of the BERT family's sequence classifiers
in numpy, from the published equations (Hugging Face's modeling_bert, modeling_roberta,
modeling_distilbert): post-LN encoder, erf GELU, BERT's tanh pooler, RoBERTa's position
offset (pad_token_id + 1) and dense + tanh + out_proj head, DistilBERT's tensor names and
pre_classifier + ReLU head. No code is shared with sq's C implementation.

    python3 tests/ref/bert_ref.py MODEL_DIR SQ_CLASSIFY.json [--weights FILE] [--tol T]

SQ_CLASSIFY.json: the output of `sq classify MODEL TEXT... --json` (each result holds its
token ids and logits); every logit must agree within T (absolute, default 1e-4).
"""
import json, math, os, struct, sys
import numpy as np

def load(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n]); header.pop("__metadata__", None)
    w = {}
    for name, d in header.items():
        b, e = d["data_offsets"]; raw = data[8 + n + b:8 + n + e]
        if d["dtype"] == "F32": a = np.frombuffer(raw, "<f4")
        elif d["dtype"] == "F16": a = np.frombuffer(raw, "<f2")
        elif d["dtype"] == "BF16": a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else: continue
        w[name] = a.astype(np.float64).reshape(d["shape"])
    return w

def gelu(x):
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))

def ln(x, g, b, eps):
    m = x.mean(-1, keepdims=True); v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b

def forward(cfg, w, ids):
    mt = cfg.get("model_type", "bert")
    distil = mt == "distilbert"
    pre = {"bert": "bert.", "roberta": "roberta.", "distilbert": "distilbert."}[mt]
    if pre + "embeddings.word_embeddings.weight" not in w: pre = ""
    H = cfg["dim"] if distil else cfg["hidden_size"]
    nh = cfg["n_heads"] if distil else cfg["num_attention_heads"]
    L = cfg["n_layers"] if distil else cfg["num_hidden_layers"]
    eps = 1e-12 if distil else cfg.get("layer_norm_eps", 1e-12)
    T = len(ids)
    off = cfg.get("pad_token_id", 1) + 1 if mt == "roberta" else 0
    def lin(x, name): return x @ w[name + ".weight"].T + w[name + ".bias"]
    x = w[pre + "embeddings.word_embeddings.weight"][ids] + w[pre + "embeddings.position_embeddings.weight"][off:off + T]
    if not distil: x = x + w[pre + "embeddings.token_type_embeddings.weight"][0]
    x = ln(x, w[pre + "embeddings.LayerNorm.weight"], w[pre + "embeddings.LayerNorm.bias"], eps)
    hd = H // nh
    for l in range(L):
        if distil:
            p = pre + "transformer.layer.%d." % l
            nq, nk, nv, no = "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin"
            n1, n2, l1, l2 = "ffn.lin1", "ffn.lin2", "sa_layer_norm", "output_layer_norm"
        else:
            p = pre + "encoder.layer.%d." % l
            nq, nk, nv, no = "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"
            n1, n2, l1, l2 = "intermediate.dense", "output.dense", "attention.output.LayerNorm", "output.LayerNorm"
        q, k, v = (lin(x, p + n).reshape(T, nh, hd) for n in (nq, nk, nv))
        a = np.einsum("thd,shd->hts", q, k) / math.sqrt(hd)
        a = np.exp(a - a.max(-1, keepdims=True)); a /= a.sum(-1, keepdims=True)
        o = np.einsum("hts,shd->thd", a, v).reshape(T, H)
        x = ln(x + lin(o, p + no), w[p + l1 + ".weight"], w[p + l1 + ".bias"], eps)
        x = ln(x + lin(gelu(lin(x, p + n1)), p + n2), w[p + l2 + ".weight"], w[p + l2 + ".bias"], eps)
    h = x[0]
    if mt == "roberta": return lin(np.tanh(lin(h, "classifier.dense")), "classifier.out_proj")
    if distil: return lin(np.maximum(lin(h, "pre_classifier"), 0), "classifier")
    return lin(np.tanh(lin(h, pre + "pooler.dense")), "classifier")

if __name__ == "__main__":
    if len(sys.argv) < 3: sys.exit(__doc__)
    model, got = sys.argv[1], json.load(open(sys.argv[2]))
    tol = float(sys.argv[sys.argv.index("--tol") + 1]) if "--tol" in sys.argv else 1e-4
    wf = sys.argv[sys.argv.index("--weights") + 1] if "--weights" in sys.argv else os.path.join(model, "model.safetensors")
    cfg = json.load(open(os.path.join(model, "config.json")))
    w = load(wf)
    worst = 0.0
    results = got if isinstance(got, list) else got.get("results", [got])
    for r in results:
        ref = forward(cfg, w, r["ids"])
        worst = max(worst, float(np.max(np.abs(ref - np.array(r["logits"])))))
    print("%d texts, largest |sq - numpy| logit difference %.2e" % (len(results), worst))
    sys.exit(0 if worst <= tol else 1)
