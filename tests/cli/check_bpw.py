#!/usr/bin/env python3
"""Bits per weight (the report's bpw, bpw_linear, bpw_file) against the bytes actually
written, and `sq inspect` of the file against the report. usage: check_bpw.py SQ MODEL DIR"""
import json, re, subprocess, sys

sq, model, tmp = sys.argv[1:4]

def quantize(name, *args):
    out, rep = f"{tmp}/{name}.safetensors", f"{tmp}/{name}.report.json"
    p = subprocess.run([sq, "quantize", model, out, "--report", rep, *args], capture_output=True, text=True, check=True)
    return out, json.load(open(rep)), p.stderr

def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))

results = {}
for name, args in [("plain4", ["--bits", "4", "--clusters", "1"]), ("packed4k3", ["--bits", "4", "--clusters", "3"]),
                   ("paper4k3", ["--bits", "4", "--clusters", "3", "--format", "paper"]), ("plain8", ["--bits", "8", "--clusters", "1"]),
                   ("keep", ["--embeddings", "keep"]), ("emb8", ["--embeddings", "int8"]), ("emb4", ["--bits", "3", "--embeddings", "int4"])]:
    path, r, err = quantize(name, *args)
    results[name] = r
    # the whole file: 8 x bytes / source parameters
    assert close(r["bpw_file"] * r["params"] / 8, r["bytes_out"]), (name, r["bpw_file"], r["params"], r["bytes_out"])
    # every layer: 8 x its stored bytes / its elements; linear: the same over all layers
    # (--embeddings: the embedding and an untied head apart, in bpw_embeddings)
    tb = te = eb = ee = 0
    for l in r["layers"]:
        n = 1
        for d in l["shape"]:
            n *= d
        assert close(l["bpw"], 8 * l["bytes_out"] / n), (name, l["name"], l["bpw"])
        if l["kind"] in ("embedding", "head"):
            eb += l["bytes_out"]; ee += n
        else:
            tb += l["bytes_out"]; te += n
    assert close(r["bpw_linear"], 8 * tb / te), (name, r["bpw_linear"], 8 * tb / te)
    assert (r["bpw_embeddings"] is None) == (ee == 0) and (ee == 0 or close(r["bpw_embeddings"], 8 * eb / ee)), (name, r["bpw_embeddings"])
    assert (ee > 0) == (r["embeddings"] != "keep"), (name, r["embeddings"])
    # the summary line prints the model figures
    m = re.search(r"bits/weight ([0-9.]+) linear layers, (?:([0-9.]+) embeddings \(INT[0-9]\), )?([0-9.]+) whole file", err)
    assert m, err
    assert abs(float(m.group(1)) - r["bpw_linear"]) < 6e-4 and abs(float(m.group(3)) - r["bpw_file"]) < 6e-4, (m.groups(), r)
    assert (m.group(2) is None) == (ee == 0) and (ee == 0 or abs(float(m.group(2)) - r["bpw_embeddings"]) < 6e-4), (m.groups(), r)
    # inspect reads the same figures back from the file alone
    ins = json.loads(subprocess.run([sq, "inspect", path, "--json"], capture_output=True, text=True, check=True).stdout)
    assert close(ins["bpw_linear"], r["bpw_linear"]) and close(ins["bpw_file"], r["bpw_file"]), (name, ins["bpw_linear"], ins["bpw_file"], r)
    assert (ins["bpw_embeddings"] is None) == (ee == 0) and (ee == 0 or close(ins["bpw_embeddings"], r["bpw_embeddings"])), (name, ins)
    assert ins["quantized"]["embeddings"] == r["embeddings"], (name, ins["quantized"], r["embeddings"])
    assert ins["quantized"]["source_params"] == r["params"]
    txt = subprocess.run([sq, "inspect", path], capture_output=True, text=True, check=True).stdout
    assert f"linear layers {r['bpw_linear']:.3f}" in txt and f"whole file {r['bpw_file']:.3f}" in txt, txt

# what splitting costs: cluster ids plus a scale and offset per (group, cluster)
assert results["packed4k3"]["bpw_linear"] > results["plain4"]["bpw_linear"] + 1
assert results["paper4k3"]["bpw_linear"] > results["packed4k3"]["bpw_linear"]
assert results["plain8"]["bpw_linear"] > results["plain4"]["bpw_linear"] + 3.5
assert 4 < results["plain4"]["bpw_linear"] < 5, results["plain4"]["bpw_linear"]
# the embeddings at int8 / int4: 8 / 4 bits plus a BF16 scale and offset per group of <= 128
assert 8 < results["emb8"]["bpw_embeddings"] <= 8.5 and 4 < results["emb4"]["bpw_embeddings"] <= 4.5, results["emb8"]
assert results["emb8"]["bytes_out"] < results["keep"]["bytes_out"] and results["emb8"]["bpw_linear"] == results["packed4k3"]["bpw_linear"]
print("bpw ok:", {k: round(v["bpw_linear"], 3) for k, v in results.items()})
