#!/usr/bin/env python3
"""make eval: quality against size for every format (docs/results.md, docs/results.json,
docs/frontier.svg).

For the bundled BERT-Tiny (emotion test set, 2000 rows) and stories260K (perplexity on
the first 100 TinyStories validation stories, the PROVENANCE reference setting): FP32,
then every width sq accepts (2..8) x {packed, paper} x k = 1..4 (k = 1 is plain
quantization: "packed" is the plain baseline, "paper" the reference recipe), and the
codebook format at 2/3/4 bits (default groups of 64, and groups of 128), all with the
embeddings kept as they are (`--embeddings keep`); then the token embedding (and tied head)
quantized by `--embeddings int8|int4` beside FP32, INT4 k=3 packed (the default), INT4 and
INT8 plain linear layers (`--embeddings-only` measures just those rows and merges them
into docs/results.json, then rewrites the docs from it). Every number is
measured by this run: bits per weight (8 x bytes of the stored quantized linear weights /
their elements, from the report's layers), mean layer MSE (the report's per-layer
error), accuracy and perplexity (sq eval / sq perplexity). The picture is drawn from the
JSON by hand (SVG, no plotting library).
"""
import concurrent.futures as cf
import json
import math
import os
import subprocess
import sys
import time

SQ = os.environ.get("SQ", "build/sq")
OUT = os.environ.get("EVAL_DIR", "build/eval")
DOCS = os.environ.get("EVAL_DOCS", "docs")
BERT = "examples/bert-tiny-emotion"
STORIES = "examples/stories260K"
EMOTION = "data/emotion/test.jsonl"
TINY = "data/tinystories/tinystories-valid-first1000.jsonl"
STORIES_LIMIT = int(os.environ.get("STORIES_LIMIT", "100"))


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        sys.exit(f"eval: {' '.join(cmd)} failed: {r.stderr.strip()}")
    return r


def widths():
    """The widths this sq accepts (2..8): INT5-7 appear when sq has them."""
    ok = []
    for b in range(2, 9):
        r = run([SQ, "quantize", STORIES, os.path.join(OUT, "probe.safetensors"), "--bits", str(b), "--clusters", "1",
                 "--quiet"], check=False)
        if r.returncode == 0:
            ok.append(b)
    return ok


def configs():
    # (label, bits, clusters, format, group, embeddings)
    cs = [("FP32", None, None, None, None, "keep")]
    for bits in sorted(widths(), reverse=True):
        for k in (1, 2, 3, 4):
            for fmt in ("packed", "paper"):
                if k == 1:
                    label = f"INT{bits} plain" if fmt == "packed" else f"INT{bits} plain, reference recipe"
                else:
                    label = f"INT{bits} split k={k}, {fmt}"
                cs.append((label, bits, k, fmt, "auto", "keep"))
        if bits <= 4:
            cs.append((f"INT{bits} codebook", bits, 1, "codebook", "auto", "keep"))
            cs.append((f"INT{bits} codebook g128", bits, 1, "codebook", "128", "keep"))
    return cs + emb_configs()


def emb_configs():
    """--embeddings: the token embedding (the tied LM head of stories260K too) as plain
    INT8 / INT4 codes, beside linear layers kept exact (--bits f32 --clusters 1: one
    float part, the original weights) and quantized as the formats' usual choices."""
    cs = []
    for emb in ("int8", "int4"):
        E = emb.upper()
        cs += [(f"FP32 linear, embeddings {E}", "f32", 1, "packed", "auto", emb),
               (f"INT4 split k=3, packed, embeddings {E}", 4, 3, "packed", "auto", emb),
               (f"INT4 plain, embeddings {E}", 4, 1, "packed", "auto", emb),
               (f"INT8 plain, embeddings {E}", 8, 1, "packed", "auto", emb)]
    return cs


def model_bytes(path):
    return os.path.getsize(path) if os.path.isfile(path) else os.path.getsize(os.path.join(path, "model.safetensors"))


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def one(model, name, cfg):
    label, bits, k, fmt, group, emb = cfg
    bpw = mse = bpw_emb = None
    if bits is None:
        path = model
    else:
        path = os.path.join(OUT, f"{name}-int{bits}-k{k}-{fmt}-g{group}-e{emb}.safetensors")
        rep = path + ".report.json"
        args = [SQ, "quantize", model, path, "--bits", str(bits), "--format", fmt, "--group", group, "--report", rep,
                "--embeddings", emb, "--quiet"]
        if fmt != "codebook":
            args += ["--clusters", str(k)]
        run(args)
        r = json.load(open(rep))
        ws = [l for l in r["layers"] if l["kind"] == "weight"]
        elems = sum(numel(l["shape"]) for l in ws)
        bpw = 8 * sum(l["bytes_out"] for l in ws) / elems
        mse = sum(l["mse"] for l in ws) / len(ws)
        bpw_emb = r.get("bpw_embeddings")
    t0 = time.time()
    if name == "bert":
        res = json.loads(run([SQ, "eval", path, "--data", EMOTION, "--json"]).stdout)
        metric = {"accuracy": res["accuracy"], "correct": res["correct"], "total": res["total"]}
    else:
        res = json.loads(run([SQ, "perplexity", path, "--text", TINY, "--limit", str(STORIES_LIMIT), "--json"]).stdout)
        metric = {"perplexity": res["perplexity"], "tokens": res["tokens"]}
    return {"model": name, "config": label, "bits": bits or "f32", "clusters": k or 1, "format": fmt or "float",
            "group": group, "embeddings": emb, "bpw_embeddings": bpw_emb, "bpw": bpw, "mean_layer_mse": mse,
            "file_bytes": model_bytes(path),
            "eval_seconds": round(time.time() - t0, 2), **metric}


# ---------------------------------------------------------------- the picture

FAMILY = [  # (key, legend, colour)
    ("plain", "plain (packed layout, k=1)", "#d62728"),
    ("reference", "plain, reference recipe (paper k=1)", "#ff9896"),
    ("packed", "split, packed (k=2..4)", "#1f77b4"),
    ("paper", "split, paper (k=2..4)", "#9edae5"),
    ("codebook", "codebook (learned 2^b levels)", "#2ca02c"),
]


def family(r):
    if r["format"] == "codebook":
        return "codebook"
    if r["clusters"] == 1:
        return "plain" if r["format"] == "packed" else "reference"
    return r["format"]


def short(r):
    if r["format"] == "codebook":
        return f"cb{r['bits']}" + ("/g128" if r["group"] == "128" else "")
    return f"{r['bits']}" + (f"/k{r['clusters']}" if r["clusters"] > 1 else "")


def svg(rows):
    W, H = 1560, 540
    pw, ph, top, left = 400, 380, 60, 70
    XMIN, XMAX = 2.0, 9.0
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15">Quality against bits per weight '
           '(quantized linear weights), measured by make eval</text>']
    panels = [
        ("stories", "stories260K perplexity (log scale, lower is better)", "perplexity", True, 3.5, 1000.0),
        ("stories", "stories260K perplexity, 3.55 to 4.25 (lower is better)", "perplexity", False, 3.55, 4.25),
        ("bert", "BERT-Tiny emotion accuracy % (higher is better)", "accuracy", False, 80.0, 90.0),
    ]
    off = []
    for pi, (model, title, key, logy, ymin, ymax) in enumerate(panels):
        x0 = left + pi * (pw + 90)
        fp32 = [r for r in rows if r["model"] == model and r["bits"] == "f32"][0]

        def X(v):
            return x0 + (v - XMIN) / (XMAX - XMIN) * pw

        def Y(v):
            if logy:
                v = max(min(v, ymax), ymin)
                return top + ph - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * ph
            v = max(min(v, ymax), ymin)
            return top + ph - (v - ymin) / (ymax - ymin) * ph

        out.append(f'<text x="{x0 + pw / 2}" y="{top - 12}" text-anchor="middle" font-size="13">{title}</text>')
        out.append(f'<rect x="{x0}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>')
        out.append(f'<clipPath id="clip{pi}"><rect x="{x0}" y="{top}" width="{pw}" height="{ph}"/></clipPath>')
        for b in range(int(XMIN), int(XMAX) + 1):
            out.append(f'<line x1="{X(b)}" y1="{top}" x2="{X(b)}" y2="{top + ph}" stroke="#eee"/>')
            out.append(f'<text x="{X(b)}" y="{top + ph + 16}" text-anchor="middle">{b}</text>')
        out.append(f'<text x="{x0 + pw / 2}" y="{top + ph + 34}" text-anchor="middle">bits per weight</text>')
        ticks = ([4, 5, 7, 10, 20, 50, 100, 300, 1000] if logy else [80, 82, 84, 86, 88, 90] if key == "accuracy"
                 else [3.6, 3.7, 3.8, 3.9, 4.0, 4.1, 4.2])
        for t in ticks:
            out.append(f'<line x1="{x0}" y1="{Y(t)}" x2="{x0 + pw}" y2="{Y(t)}" stroke="#eee"/>')
            out.append(f'<text x="{x0 - 6}" y="{Y(t) + 4}" text-anchor="end">{t}</text>')
        scale = 100 if key == "accuracy" else 1
        fv = fp32[key] * scale
        out.append(f'<line x1="{x0}" y1="{Y(fv)}" x2="{x0 + pw}" y2="{Y(fv)}" stroke="#555" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x0 + pw - 4}" y="{Y(fv) - 4}" text-anchor="end" fill="#555">FP32 {fv:.4g}</text>')
        for fam, _, col in FAMILY:
            pts = sorted((r for r in rows if r["model"] == model and r["bpw"] and family(r) == fam), key=lambda r: r["bpw"])
            shown = [r for r in pts if XMIN <= r["bpw"] <= XMAX]
            if pi != 1:
                off += [(model, r) for r in pts if not XMIN <= r["bpw"] <= XMAX]
            if fam in ("plain", "codebook"):
                line = [r for r in shown if fam == "plain" or r["group"] == "auto"]
                if len(line) > 1:
                    d = " ".join(f"{X(r['bpw']):.1f},{Y(r[key] * scale):.1f}" for r in line)
                    out.append(f'<polyline points="{d}" fill="none" stroke="{col}" stroke-width="1.5" clip-path="url(#clip{pi})"/>')
            for r in shown:
                v = r[key] * scale
                clipped = not ymin <= v <= ymax
                if clipped and pi == 1:
                    continue  # the zoomed panel shows only what is inside it
                cx, cy = X(r["bpw"]), Y(v)
                shape = (f'<rect x="{cx - 4}" y="{cy - 4}" width="8" height="8" fill="{col}" stroke="#333"/>' if clipped
                         else f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{col}" stroke="#333" stroke-width="0.5"/>')
                out.append(shape)
                lab = short(r) + (f" ({v:.4g})" if clipped else "")
                out.append(f'<text x="{cx + 5:.1f}" y="{cy - 5:.1f}" font-size="9">{lab}</text>')
    ly = top + ph + 52
    for i, (fam, legend, col) in enumerate(FAMILY):
        lx = left + i * 290
        out.append(f'<circle cx="{lx}" cy="{ly}" r="5" fill="{col}" stroke="#333" stroke-width="0.5"/>')
        out.append(f'<text x="{lx + 9}" y="{ly + 4}">{legend}</text>')
    out.append(f'<text x="{left}" y="{ly + 22}" font-size="10">Labels: width/k (k = clusters); cbN = codebook INT N '
               '(/g128: groups of 128). Squares: value beyond the axis (printed; the zoomed panel leaves such points out). Points beyond 9 bits per weight '
               f'are in docs/results.md ({len(off)} of them).</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- tables


def fmt_row(r, key):
    bpw = f"{r['bpw']:.3f}" if r["bpw"] else "32"
    mse = f"{r['mean_layer_mse']:.3e}" if r["mean_layer_mse"] is not None else "0"
    if key == "accuracy":
        m = f"{100 * r['accuracy']:.2f}% | {r['correct']}/{r['total']}"
    else:
        m = f"{r['perplexity']:.4f} | {r['tokens']}"
    return f"| {r['config']} | {bpw} | {m} | {mse} | {r['file_bytes']:,} |"


def frontier_claims(rows):
    """The comparisons the README states, computed from the rows: the best of each
    family at or below a bits-per-weight budget."""
    lines = []
    for model, key, better in (("stories", "perplexity", min), ("bert", "accuracy", max)):
        for budget in (2.5, 3.5, 4.5, 5.5, 6.5, 8.5):
            cand = [r for r in rows if r["model"] == model and r["bpw"] and r["bpw"] <= budget]
            if not cand:
                continue
            best = {}
            for r in cand:
                f = family(r)
                if f not in best or (r[key] < best[f][key] if better is min else r[key] > best[f][key]) or \
                        (r[key] == best[f][key] and r["bpw"] < best[f]["bpw"]):
                    best[f] = r
            parts = []
            for f, _, _ in FAMILY:
                if f in best:
                    r = best[f]
                    v = f"{r[key]:.3f}" if key == "perplexity" else f"{100 * r[key]:.2f}%"
                    parts.append(f"{f}: {r['config']} {v} @ {r['bpw']:.2f}")
            lines.append(f"| {model} | ≤ {budget} | " + "; ".join(parts) + " |")
    return lines


def kept(rows):
    """The rows of the main grid and picture: embeddings as they are."""
    return [r for r in rows if r.get("embeddings", "keep") == "keep"]


def emb_table(rows, model, key):
    """--embeddings rows beside the same linear configuration with the embeddings kept."""
    base = {(r["bits"], r["clusters"], r["format"], r["group"]): r for r in kept(rows) if r["model"] == model}
    base[("f32", 1, "packed", "auto")] = next(r for r in rows if r["model"] == model and r["config"] == "FP32")
    L = [f"| linear layers | embeddings | bpw (linear) | bpw (embeddings) | {key} | change vs kept | file bytes | vs kept |",
         "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["model"] != model or r.get("embeddings", "keep") == "keep":
            continue
        b = base.get((r["bits"], r["clusters"], r["format"], r["group"]))
        lin = r["config"].rsplit(", embeddings", 1)[0]
        v = r[key] if key == "perplexity" else 100 * r[key]
        bv = None if b is None else (b[key] if key == "perplexity" else 100 * b[key])
        ch = "" if bv is None else (f"{100 * (v / bv - 1):+.2f}%" if key == "perplexity" else f"{v - bv:+.2f} pt")
        size = "" if b is None else f"{r['file_bytes'] / b['file_bytes']:.3f}×"
        q = f"{v:.4f}" if key == "perplexity" else f"{v:.2f}%"
        L.append(f"| {lin} | {r['embeddings']} | {r['bpw']:.3f} | {r['bpw_embeddings']:.3f} | {q} | {ch} | "
                 f"{r['file_bytes']:,} | {size} |")
    return L


def measure(cs):
    jobs = [(BERT, "bert", c) for c in cs] + [(STORIES, "stories", c) for c in cs]
    with cf.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        return list(ex.map(lambda j: one(*j), jobs))


def main():
    if sys.argv[1:] == ["--svg-only"]:  # redraw the picture from docs/results.json
        rows = json.load(open(os.path.join(DOCS, "results.json")))["rows"]
        with open(os.path.join(DOCS, "frontier.svg"), "w") as f:
            f.write(svg(kept(rows)))
        return
    os.makedirs(OUT, exist_ok=True)
    if sys.argv[1:] == ["--embeddings-only"]:  # measure the --embeddings rows, keep the rest
        old = json.load(open(os.path.join(DOCS, "results.json")))["rows"]
        rows = kept(old) + measure(emb_configs())
    else:
        rows = measure(configs())
    os.makedirs(DOCS, exist_ok=True)
    with open(os.path.join(DOCS, "results.json"), "w") as f:
        json.dump({"generated_by": "make eval", "stories_limit": STORIES_LIMIT, "rows": rows}, f, indent=1)
    with open(os.path.join(DOCS, "frontier.svg"), "w") as f:
        f.write(svg(kept(rows)))
    L = [
        "# Results (generated by `make eval`; do not edit by hand)",
        "",
        "Every number below was measured by `make eval` (tools/eval.py) on the bundled models.",
        "Bits per weight (bpw) = 8 × bytes of the stored quantized linear weights (codes, cluster ids,",
        "tables, scales, offsets, sub-layers) / their element count; biases, norms and embeddings",
        "stay float (`--embeddings keep`) and are only in the file bytes, except in the last",
        "section. Mean layer MSE: the mean over the quantized linear weights of each one's mean",
        "squared error (the report's `mse`). Perplexity and accuracy run with the inference",
        "defaults (`--activations int8`: each layer input rounded to int8 per 32 columns).",
        "",
        "![quality against bits per weight](frontier.svg)",
        "",
        "## The best of each family within a size budget",
        "",
        "| model | bpw budget | best per family (config, quality @ bpw) |",
        "|---|---|---|",
        *frontier_claims(kept(rows)),
        "",
        "## BERT-Tiny emotion: accuracy on the 2000-row test set",
        "",
        "| configuration | bpw | accuracy | correct | mean layer MSE | file bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    order = lambda r: (-(r["bpw"] or 99),)
    L += [fmt_row(r, "accuracy") for r in sorted((r for r in kept(rows) if r["model"] == "bert"), key=order)]
    L += [
        "",
        f"## stories260K: perplexity on the first {STORIES_LIMIT} TinyStories validation stories",
        "",
        "| configuration | bpw | perplexity | tokens | mean layer MSE | file bytes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    L += [fmt_row(r, "perplexity") for r in sorted((r for r in kept(rows) if r["model"] == "stories"), key=order)]
    L += [
        "",
        "## Quantized embeddings (`--embeddings int8|int4`)",
        "",
        "The token embedding as plain per-row codes (packed layout, k = 1, groups as `--group`",
        "reads them: 128 along a row, here one per row), looked up one row per token; stories260K",
        "ties its LM head to it, so the head runs on the same codes. Change and size against the",
        "same linear layers with the embeddings kept (FP32 linear: the original model).",
        "",
        f"### stories260K perplexity ({STORIES_LIMIT} stories)",
        "",
        *emb_table(rows, "stories", "perplexity"),
        "",
        "### BERT-Tiny emotion accuracy (2000 rows)",
        "",
        *emb_table(rows, "bert", "accuracy"),
        "",
        "Candidates that were measured before the codebook format was chosen, and lost, are in",
        "[formats_lab.md](formats_lab.md) (tools/formats_lab.py: numpy fake-quantization measured with sq).",
        "",
        "## What the papers report, and what differs here",
        "",
        "- SplitQuant (BERT-Tiny, emotion): FP32 90.2%, INT2 86.5% → 89.8% with SplitQuant;",
        "  SMS spam: FP32 98.4%, INT2 96.2% → 98.3%.",
        "- SplitQuantV2 (Llama 3.2 1B, ARC): FP 57.94, INT4 45.92 → 57.68 with SplitQuantV2.",
        "- Our BERT-Tiny is a hybrid (see examples/bert-tiny-emotion/PROVENANCE.txt): its 28 linear",
        "  tensors are the real fine-tuned weights of the paper's model, but its embeddings and",
        "  LayerNorms were re-trained here, so its FP32 accuracy is 88.5%, not 90.2%, and absolute",
        "  figures are not comparable with the paper's; the effect of splitting on the same linear",
        "  weights is.",
        "- Our k-means uses its own seeded random stream (scikit-learn's draws differ), and",
        "  `packed` and `codebook` are our formats, not the paper's. We have no SMS-spam model and",
        "  no real Llama 3.2 1B weights here.",
        "",
    ]
    with open(os.path.join(DOCS, "results.md"), "w") as f:
        f.write("\n".join(L))
    print("\n".join(L))


if __name__ == "__main__":
    main()
