#!/usr/bin/env python3
"""formats_lab.py: try weight formats on the bundled models before writing them in C.

Each candidate is a fake-quantizer (quantize -> dequantize in numpy) over the linear
weights that `sq quantize` splits. The lab writes an F32 model beside the source's
config/tokenizer, measures it with the real `build/sq perplexity` / `build/sq eval`,
and prints bits per weight (8 x stored bytes of the quantized linear weights / their
element count) and the mean layer MSE. The existing formats are measured through sq
itself (quantize, dequantize, report sizes), so every row is comparable.

    /usr/bin/python3 tools/formats_lab.py [--only NAME,...] [--out DIR]

Needs numpy (Debian: python3-numpy). Not part of `make test`; `make eval` measures the
shipped formats with sq alone.
"""
import argparse
import json
import os
import struct
import subprocess
import sys

import numpy as np

SQ = os.environ.get("SQ", "build/sq")
MODELS = {"stories": "examples/stories260K", "bert": "examples/bert-tiny-emotion"}
TINY = "data/tinystories/tinystories-valid-first1000.jsonl"
EMOTION = "data/emotion/test.jsonl"

# ---------------------------------------------------------------- safetensors


def st_read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    meta = head.pop("__metadata__", {})
    out = {}
    for name, t in head.items():
        a, b = t["data_offsets"]
        raw = data[a:b]
        dt = t["dtype"]
        if dt == "F32":
            v = np.frombuffer(raw, "<f4")
        elif dt == "F16":
            v = np.frombuffer(raw, "<f2").astype(np.float32)
        elif dt == "BF16":
            v = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            v = np.frombuffer(raw, {"U8": "u1", "I8": "i1", "I64": "<i8", "I32": "<i4"}[dt])
        out[name] = v.reshape(t["shape"]).copy()
    return out, meta


def st_write(path, tensors, meta=None):
    head, blobs, off = {}, [], 0
    for name in sorted(tensors):
        v = np.ascontiguousarray(tensors[name])
        dt = {"float32": "F32", "int64": "I64", "int32": "I32", "uint8": "U8", "int8": "I8"}[str(v.dtype)]
        b = v.tobytes()
        head[name] = {"dtype": dt, "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if meta:
        head["__metadata__"] = meta
    h = json.dumps(head).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- rounding helpers


def to_f16(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


def to_bf16(x):
    """Round to nearest even BF16 (finite inputs)."""
    a = np.atleast_1d(np.asarray(x, np.float32))
    u = a.view(np.uint32).astype(np.uint64)
    u = (u + np.uint64(0x7FFF) + ((u >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16) << np.uint64(16)
    r = u.astype(np.uint32).view(np.float32)
    return r if np.ndim(x) else r[0]


def groups_of(cols, g):
    g = cols if not g or g >= cols else g
    return [(a, min(a + g, cols)) for a in range(0, cols, g)]


# ---------------------------------------------------------------- 1-D k-means


def kmeans1d(x, k, w=None, iters=60, init=None):
    """Weighted Lloyd in 1-D, initialised at quantiles (deterministic)."""
    x = np.asarray(x, np.float64).ravel()
    w = np.ones_like(x) if w is None else np.asarray(w, np.float64).ravel()
    order = np.argsort(x, kind="stable")
    xs, ws = x[order], w[order]
    cw = np.cumsum(ws)
    cx = np.cumsum(ws * xs)
    if init is None:
        q = (np.arange(k) + 0.5) / k * cw[-1]
        c = xs[np.searchsorted(cw, q).clip(0, len(xs) - 1)]
    else:
        c = np.sort(np.asarray(init, np.float64))
    for _ in range(iters):
        c = np.sort(c)
        b = (c[1:] + c[:-1]) / 2
        idx = np.searchsorted(xs, b, side="right")
        lo = np.concatenate([[0], idx])
        hi = np.concatenate([idx, [len(xs)]])
        new = c.copy()
        for j in range(k):
            if hi[j] > lo[j]:
                W = cw[hi[j] - 1] - (cw[lo[j] - 1] if lo[j] else 0)
                X = cx[hi[j] - 1] - (cx[lo[j] - 1] if lo[j] else 0)
                if W > 0:
                    new[j] = X / W
        if np.allclose(new, c, rtol=0, atol=1e-12):
            c = new
            break
        c = new
    return np.sort(c)


def nearest(x, table):
    """Index of the nearest table entry (table sorted ascending)."""
    t = np.asarray(table, np.float64)
    b = (t[1:] + t[:-1]) / 2
    return np.searchsorted(b, x, side="right")


# ---------------------------------------------------------------- candidates


def q_codebook(W, bits, group, sdt="f16", fit="search", table_scope="tensor", rounds=3, nsearch=46, span=(0.80, 1.25)):
    """(b) learned 2^b-entry int8 table per tensor + one scale per group: w = s_g * T[q].

    The table is the weighted 1-D k-means of the group-normalised weights (weight s_g^2 so
    it minimises the layer's squared error); each group's scale is then chosen among 32
    candidates around absmax/127 (fit="search") or kept at absmax/127 (fit="absmax"); the
    two steps alternate `rounds` times. Returns (dequantized, stored bytes)."""
    rows, cols = W.shape
    gl = groups_of(cols, group)
    K = 1 << bits
    rnd = to_f16 if sdt == "f16" else to_bf16
    Wd = W.astype(np.float64)
    # absmax per group
    amax = np.stack([np.abs(Wd[:, a:b]).max(axis=1) for a, b in gl], axis=1)  # rows x G
    s = amax / 127.0
    s[s == 0] = 1.0

    def expand(sv):
        out = np.empty_like(Wd)
        for j, (a, b) in enumerate(gl):
            out[:, a:b] = sv[:, j : j + 1]
        return out

    T = None
    for r in range(rounds):
        S = expand(s)
        X = Wd / S
        if table_scope == "tensor":
            c = kmeans1d(X, K, w=S * S)
            T = np.clip(np.rint(c), -127, 127)
            T = np.unique(T)
            while len(T) < K:  # keep 2^b distinct entries
                T = np.unique(np.concatenate([T, [T.max() + 1 if T.max() < 127 else T.min() - 1]]))
            T = np.sort(T)
        if fit == "search" and r < rounds:
            best = np.full(s.shape, np.inf)
            bests = s.copy()
            tmax = np.abs(T).max()
            for f in np.linspace(span[0], span[1], nsearch):
                cand = rnd(np.maximum(amax / tmax * f, 1e-30))
                Sc = expand(cand)
                idx = nearest(Wd / Sc, T)
                err = (Wd - Sc * T[idx]) ** 2
                e = np.stack([err[:, a:b].sum(axis=1) for a, b in gl], axis=1)
                m = e < best
                best[m] = e[m]
                bests[m] = cand[m]
            s = bests
        elif fit == "ls":  # least squares for the assignment, reassign, keep the best
            s0 = rnd(np.maximum(amax / np.abs(T).max(), 1e-30))
            best, bests, cur = np.full(s.shape, np.inf), s0.copy(), s0
            for it in range(4):
                Sc = expand(cur)
                idx = nearest(Wd / Sc, T)
                q = T[idx]
                err = (Wd - Sc * q) ** 2
                e = np.stack([err[:, a:b].sum(axis=1) for a, b in gl], axis=1)
                m = e < best
                best[m] = e[m]
                bests[m] = cur[m]
                num = np.stack([(Wd * q)[:, a:b].sum(axis=1) for a, b in gl], axis=1)
                den = np.stack([(q * q)[:, a:b].sum(axis=1) for a, b in gl], axis=1)
                cur = rnd(np.where(den > 0, np.maximum(num / np.maximum(den, 1e-300), 1e-30), s0))
            s = bests
        else:
            s = rnd(np.maximum(amax / np.abs(T).max(), 1e-30))
    S = expand(rnd(s))
    idx = nearest(Wd / S, T)
    D = (S * T[idx]).astype(np.float32)
    nbytes = rows * ((cols * bits + 7) // 8) + rows * len(gl) * 2 + K  # codes + f16 scales + table
    return D, nbytes


def q_codebook_affine(W, bits, group, rounds=3):
    """(b') learned table in [0,1] + scale and min per group (bf16 each)."""
    rows, cols = W.shape
    gl = groups_of(cols, group)
    K = 1 << bits
    Wd = W.astype(np.float64)
    mn = np.stack([Wd[:, a:b].min(axis=1) for a, b in gl], axis=1)
    mx = np.stack([Wd[:, a:b].max(axis=1) for a, b in gl], axis=1)
    m = to_bf16(mn)
    sc = to_bf16(np.maximum(mx - m, 1e-30))

    def expand(v):
        out = np.empty_like(Wd)
        for j, (a, b) in enumerate(gl):
            out[:, a:b] = v[:, j : j + 1]
        return out

    M, S = expand(m), expand(sc)
    X = (Wd - M) / S
    for _ in range(rounds):
        c = kmeans1d(X, K, w=S * S)
        T = np.clip(np.rint(c * 255), 0, 255) / 255
    idx = nearest(X, T)
    D = (M + S * T[idx]).astype(np.float32)
    nbytes = rows * ((cols * bits + 7) // 8) + rows * len(gl) * 4 + K
    return D, nbytes


def q_implicit(W, bits, scope="tensor", k=3, want_alloc=False):
    """(a) implicit cluster id: k-means (k=3) boundaries per tensor; the 2^b levels are
    shared out among the clusters (each cluster a uniform grid over its own range, level
    counts chosen to minimise the layer's error). scope=tensor: one range set per tensor
    (b bits per weight); scope=row: ranges per row (3 x BF16 scale+min per row)."""
    rows, cols = W.shape
    Wd = W.astype(np.float64)
    c = kmeans1d(Wd, k)
    bnd = (c[1:] + c[:-1]) / 2
    K = 1 << bits
    lab = np.searchsorted(bnd, Wd, side="right")

    def grid(lo, hi, n):
        return np.array([(lo + hi) / 2]) if n == 1 else lo + (hi - lo) * np.arange(n) / (n - 1)

    allocs = [(a, b_, K - a - b_) for a in range(1, K) for b_ in range(1, K - a) if K - a - b_ >= 1]
    if scope == "row":  # the allocation that is best for the whole tensor (a search per row is too slow here)
        allocs = [q_implicit(W, bits, "tensor", k, want_alloc=True)]
    best = None
    for al in allocs:
        if scope == "tensor":
            levels = np.concatenate(
                [grid(Wd[lab == j].min(), Wd[lab == j].max(), al[j]) if (lab == j).any() else [] for j in range(k)]
            )
            levels = np.sort(to_bf16(levels).astype(np.float64))
            D = levels[nearest(Wd, levels)]
        else:
            D = np.empty_like(Wd)
            for r in range(rows):
                lv = []
                for j in range(k):
                    sel = Wd[r][lab[r] == j]
                    if len(sel):
                        lv.append(grid(to_bf16(sel.min()), to_bf16(sel.max()), al[j]))
                lv = np.sort(np.concatenate(lv))
                D[r] = lv[nearest(Wd[r], lv)]
        e = ((Wd - D) ** 2).mean()
        if best is None or e < best[0]:
            best = (e, D, al)
    if want_alloc:
        return best[2]
    nbytes = rows * ((cols * bits + 7) // 8) + (K * 4 if scope == "tensor" else rows * k * 4 + 3)
    return best[1].astype(np.float32), nbytes


def q_packed_cheap(W, bits, k):
    """(c) today's packed layout (ids + codes) with its per-cluster parameters made as
    cheap as they get: one scale + offset per cluster for the whole tensor."""
    rows, cols = W.shape
    Wd = W.astype(np.float64)
    c = kmeans1d(Wd, k)
    bnd = (c[1:] + c[:-1]) / 2
    lab = np.searchsorted(bnd, Wd, side="right")
    D = np.empty_like(Wd)
    n = (1 << bits) - 1
    for j in range(k):
        sel = lab == j
        if not sel.any():
            continue
        lo, hi = to_bf16(Wd[sel].min()), to_bf16(Wd[sel].max())
        s = (hi - lo) / n if hi > lo else 1.0
        D[sel] = lo + s * np.clip(np.rint((Wd[sel] - lo) / s), 0, n)
    ib = int(np.ceil(np.log2(k)))
    nbytes = rows * ((cols * bits + 7) // 8) + rows * ((cols * ib + 7) // 8) + k * 4
    return D.astype(np.float32), nbytes


def q_packed_rowscale(W, bits, k, group):
    """(c') packed ids + codes, cluster boundaries shared per tensor, per (group, cluster)
    one F16 scale, the offsets the clusters' tensor-wide minima (one offset per cluster)."""
    rows, cols = W.shape
    Wd = W.astype(np.float64)
    gl = groups_of(cols, group)
    c = kmeans1d(Wd, k)
    bnd = (c[1:] + c[:-1]) / 2
    lab = np.searchsorted(bnd, Wd, side="right")
    n = (1 << bits) - 1
    D = np.empty_like(Wd)
    lows = [to_bf16(Wd[lab == j].min()) if (lab == j).any() else 0 for j in range(k)]
    for r in range(rows):
        for a, b in gl:
            w, l = Wd[r, a:b], lab[r, a:b]
            out = np.empty_like(w)
            for j in range(k):
                sel = l == j
                if not sel.any():
                    continue
                lo = lows[j]
                s = to_f16(max((w[sel].max() - lo) / n, 1e-8))
                if s * n < w[sel].max() - lo:
                    s = to_f16(s * (1 + 2 ** -10))
                out[sel] = lo + s * np.clip(np.rint((w[sel] - lo) / s), 0, n)
            D[r, a:b] = out
    ib = int(np.ceil(np.log2(k)))
    nbytes = rows * ((cols * bits + 7) // 8) + rows * ((cols * ib + 7) // 8) + rows * len(gl) * k * 2 + k * 2
    return D.astype(np.float32), nbytes


# ---------------------------------------------------------------- measuring


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"lab: {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


def measure(model, path):
    if model == "bert":
        return json.loads(run([SQ, "eval", path, "--data", EMOTION, "--json"]))["accuracy"]
    return json.loads(run([SQ, "perplexity", path, "--text", TINY, "--limit", "100", "--json"]))["perplexity"]


def layer_names(model, out):
    rep = os.path.join(out, f"{model}-names.json")
    run([SQ, "quantize", MODELS[model], os.path.join(out, f"{model}-names.safetensors"), "--bits", "4", "--clusters", "1",
         "--report", rep, "--quiet"])
    return [l["name"] for l in json.load(open(rep))["layers"] if l["kind"] != "bias"]


def fake_model(model, out, tag, qfun):
    src = MODELS[model]
    T, meta = st_read(os.path.join(src, "model.safetensors"))
    d = os.path.join(out, f"{model}-{tag}")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(src):
        if f.endswith(".json") or f == "vocab.txt":
            dst = os.path.join(d, f)
            if not os.path.exists(dst):
                os.symlink(os.path.abspath(os.path.join(src, f)), dst)
    names = layer_names(model, out)
    mses, nb, ne = [], 0, 0
    for n in names:
        W = T[n].astype(np.float32)
        W2 = W.reshape(W.shape[0], -1)
        D, b = qfun(W2)
        mses.append(float(((W2.astype(np.float64) - D) ** 2).mean()))
        nb += b
        ne += W2.size
        T[n] = D.reshape(W.shape)
    st_write(os.path.join(d, "model.safetensors"), {k: v.astype(np.float32) if v.dtype != np.float32 and v.dtype.kind == "f" else v for k, v in T.items()}, meta or None)
    return d, 8 * nb / ne, float(np.mean(mses))


def sq_model(model, out, bits, k, fmt, group="auto"):
    """An existing format measured through sq itself."""
    q = os.path.join(out, f"{model}-sq-{fmt}-{bits}-{k}-{group}.safetensors")
    rep = q + ".json"
    run([SQ, "quantize", MODELS[model], q, "--bits", str(bits), "--clusters", str(k), "--format", fmt, "--group", str(group),
         "--report", rep, "--quiet"])
    r = json.load(open(rep))
    deq = q + ".f32.safetensors"
    run([SQ, "dequantize", q, deq])
    T0, _ = st_read(os.path.join(MODELS[model], "model.safetensors"))
    T1, _ = st_read(deq)
    names = [l["name"] for l in r["layers"] if l["kind"] != "bias"]
    mses = [float(((T0[n].astype(np.float64) - T1[n]) ** 2).mean()) for n in names]
    ne = sum(T0[n].size for n in names)
    qb = r["quant_bytes_out"]
    if fmt == "paper" and k > 1:  # bias parts are counted in quant bytes: drop them
        qb -= sum(l.get("bytes_out", 0) for l in r["layers"] if l["kind"] == "bias")
    return q, 8 * qb / ne, float(np.mean(mses))


CANDS = {}


def cand(name, fn):
    CANDS[name] = fn


for b in (4, 3, 2):
    for g in (32, 64, 128):
        cand(f"cb{b}-g{g}-f16-search", lambda W, b=b, g=g: q_codebook(W, b, g, "f16", "search"))
    cand(f"cb{b}-g64-f16-absmax", lambda W, b=b: q_codebook(W, b, 64, "f16", "absmax"))
    cand(f"cb{b}-g64-bf16-search", lambda W, b=b: q_codebook(W, b, 64, "bf16", "search"))
    for r in (1, 2):
        cand(f"cbr{r}-{b}-g64-bf16-search", lambda W, b=b, r=r: q_codebook(W, b, 64, "bf16", "search", rounds=r))
        cand(f"cbr{r}-{b}-g64-bf16-ls", lambda W, b=b, r=r: q_codebook(W, b, 64, "bf16", "ls", rounds=r))
        cand(f"cbr{r}-{b}-g64-bf16-s16", lambda W, b=b, r=r: q_codebook(W, b, 64, "bf16", "search", rounds=r, nsearch=16, span=(0.85, 1.15)))
    cand(f"cbaff{b}-g128", lambda W, b=b: q_codebook_affine(W, b, 128))
    cand(f"implicit{b}-tensor", lambda W, b=b: q_implicit(W, b, "tensor"))
    cand(f"implicit{b}-row", lambda W, b=b: q_implicit(W, b, "row"))
for b, k in ((2, 3), (2, 4), (1, 3), (1, 4)):
    cand(f"packedcheap{b}-k{k}", lambda W, b=b, k=k: q_packed_cheap(W, b, k))
cand("packedrow2-k3-g128", lambda W: q_packed_rowscale(W, 2, 3, 128))
cand("packedrow1-k3-g128", lambda W: q_packed_rowscale(W, 1, 3, 128))

SQ_ROWS = [(b, 1, "packed") for b in (8, 4, 3, 2)] + [(b, 1, "paper") for b in (4, 3, 2)] + [
    (b, k, "packed") for b in (4, 3, 2) for k in (2, 3, 4)]


DESCR = [  # (name prefix, what it is)
    ("cbr", "codebook, table from absmax-normalised weights then scale fit once (r1) or twice (r2); "
            "search: 46 scale candidates 0.80-1.25, s16: 16 candidates 0.85-1.15, ls: least-squares scale"),
    ("cbaff", "(b') codebook in [0,1] with an affine scale + min per group (BF16 each), group 128"),
    ("cb", "(b) codebook: learned 2^b int8 levels per tensor, one scale per group (gN), f16/bf16, "
           "search = best of 46 scales, absmax = absmax/127; 3 rounds of table + scale fits"),
    ("implicit", "(a) implicit cluster id: k=3 k-means clusters per tensor share the 2^b levels "
                 "(uniform grid per cluster, level counts chosen for the least error); ranges per tensor or per row"),
    ("packedcheap", "(c) packed ids + codes with one scale + offset per cluster for the whole tensor "
                    "(b bits + ceil(log2 k) id bits)"),
    ("packedrow", "(c') packed ids + codes, boundaries per tensor, one F16 scale per (group of 128, cluster), "
                  "offsets = the clusters' tensor minima"),
    ("sq-", "measured through sq itself (quantize, dequantize, report sizes): packed/paper, bits, k"),
]


def write_md(res, path):
    L = ["# Candidate formats measured in the lab (tools/formats_lab.py; do not edit by hand)", "",
         "Fake-quantization in numpy (quantize, dequantize, an F32 model measured by `build/sq perplexity`",
         "and `build/sq eval`); the `sq-` rows are sq's own formats through sq. bpw = 8 x stored bytes of the",
         "quantized linear weights / their elements; MSE = mean over layers of each layer's MSE. stories260K:",
         "perplexity on the first 100 TinyStories validation stories (FP32 3.5794); BERT-Tiny: emotion accuracy",
         "on 2000 rows (FP32 88.50%). The shipped `codebook` format is `cbr1-*-g64-bf16-search` with 45",
         "candidates searched coarse-to-fine; its own numbers are in results.md.", "",
         "| candidate | stories bpw | perplexity | stories MSE | BERT bpw | accuracy | BERT MSE |",
         "|---|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(res, key=lambda n: (-res[n]["stories"]["bpw"], n)):
        s_, b_ = res[name]["stories"], res[name]["bert"]
        L.append(f"| {name} | {s_['bpw']:.3f} | {s_['metric']:.4f} | {s_['mse']:.3e} | {b_['bpw']:.3f} | "
                 f"{100 * b_['metric']:.2f}% | {b_['mse']:.3e} |")
    L += ["", "Candidates:", ""]
    L += [f"- `{p}*`: {d}" for p, d in DESCR]
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--sq", action="store_true", help="also measure the existing formats through sq")
    ap.add_argument("--out", default="build/lab")
    ap.add_argument("--json", default="build/lab/lab.json")
    ap.add_argument("--md", help="write this markdown table of every measured candidate (e.g. docs/formats_lab.md) and stop")
    a = ap.parse_args()
    if a.md:
        write_md(json.load(open(a.json)), a.md)
        return
    os.makedirs(a.out, exist_ok=True)
    res = json.load(open(a.json)) if os.path.exists(a.json) else {}
    todo = [c for c in CANDS if not a.only or any(c.startswith(p) for p in a.only.split(","))]
    for name in todo:
        row = {}
        for model in ("stories", "bert"):
            d, bpw, mse = fake_model(model, a.out, name, CANDS[name])
            row[model] = {"bpw": bpw, "mse": mse, "metric": measure(model, d)}
        res[name] = row
        print(f"{name:28s} stories bpw {row['stories']['bpw']:.3f} ppl {row['stories']['metric']:.4f} mse {row['stories']['mse']:.3e}"
              f" | bert bpw {row['bert']['bpw']:.3f} acc {row['bert']['metric']:.4f} mse {row['bert']['mse']:.3e}", flush=True)
        json.dump(res, open(a.json, "w"), indent=1)
    if a.sq:
        for b, k, fmt in SQ_ROWS:
            name = f"sq-{fmt}{b}-k{k}"
            row = {}
            for model in ("stories", "bert"):
                q, bpw, mse = sq_model(model, a.out, b, k, fmt)
                row[model] = {"bpw": bpw, "mse": mse, "metric": measure(model, q)}
            res[name] = row
            print(f"{name:28s} stories bpw {row['stories']['bpw']:.3f} ppl {row['stories']['metric']:.4f} mse {row['stories']['mse']:.3e}"
                  f" | bert bpw {row['bert']['bpw']:.3f} acc {row['bert']['metric']:.4f} mse {row['bert']['mse']:.3e}", flush=True)
            json.dump(res, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
