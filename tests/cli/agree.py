#!/usr/bin/env python3
"""Two models must give the same predictions on at least a share of the emotion test rows
(first N rows, batched through `sq classify --json`).
usage: agree.py SQ MODEL_A MODEL_B DATA.jsonl [N] [SHARE (default 0.99)]"""
import json, subprocess, sys
sq, a, b, data = sys.argv[1:5]
n = int(sys.argv[5]) if len(sys.argv) > 5 else 500
share = float(sys.argv[6]) if len(sys.argv) > 6 else 0.99
texts = [json.loads(l)["text"] for l in open(data)][:n]
def labels(model):
    out = []
    for i in range(0, len(texts), 100):
        r = subprocess.run([sq, "classify", model, *texts[i:i + 100], "--json"], capture_output=True, text=True, check=True)
        out += [x["label"] for x in json.loads(r.stdout)["results"]]
    return out
la, lb = labels(a), labels(b)
same = sum(x == y for x, y in zip(la, lb))
print(f"{same}/{len(texts)} predictions agree")
assert len(la) == len(lb) == len(texts) and same >= share * len(texts), same
