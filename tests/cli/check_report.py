#!/usr/bin/env python3
"""The report contract of DESIGN.md, and SplitQuant's promise on the real BERT layers:
every split weight's widest cluster is narrower than its original range and its MSE is
lower than plain quantization at the same bits."""
import json, sys
rep = json.load(open(sys.argv[1]))
bits = int(sys.argv[2])
for key, typ in [("model", str), ("bits", int), ("clusters", int), ("format", str), ("seconds", (int, float)),
                 ("params", int), ("bytes_in", int), ("bytes_out", int), ("layers", list)]:
    assert isinstance(rep[key], typ), key
assert rep["bits"] == bits and rep["clusters"] == 3
weights = [l for l in rep["layers"] if l.get("kind", "weight") == "weight"]
assert len(weights) == 14, len(weights)
# --embeddings: the embedding and head are plain codes (k = 1, not split), listed apart
for l in rep["layers"]:
    assert l["kind"] in ("weight", "bias", "embedding", "head"), l["kind"]
    if l["kind"] in ("embedding", "head"):
        assert l["split"] is False and len(l["counts"]) == 1, l["name"]
assert rep["embeddings"] in ("keep", "int8", "int4") and (rep["embeddings"] == "keep") == (rep["bpw_embeddings"] is None)
for l in (l for l in rep["layers"] if l["kind"] in ("weight", "bias")):
    for key in ["name", "shape", "split", "range", "cluster_ranges", "centers", "counts", "mse", "mse_plain"]:
        assert key in l, (l["name"], key)
    assert l["split"] is True
    assert len(l["centers"]) == len(l["counts"]) == len(l["cluster_ranges"]) == 3
    assert l["centers"] == sorted(l["centers"])
    assert max(l["cluster_ranges"]) < l["range"], (l["name"], l["cluster_ranges"], l["range"])
for l in weights:
    n = 1
    for d in l["shape"]:
        n *= d
    assert sum(l["counts"]) == n
    assert l["mse"] < l["mse_plain"], (l["name"], l["mse"], l["mse_plain"])
