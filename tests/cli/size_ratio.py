#!/usr/bin/env python3
"""Packed INT4 with 3 clusters must cost at most 1.6x the bytes of plain packed INT4
for the quantized tensors (the issue's budget)."""
import json, os, subprocess, sys
sq, model, tmp = sys.argv[1:4]
size = {}
for k in (1, 3):
    r = os.path.join(tmp, f"size{k}.json")
    subprocess.run([sq, "quantize", model, os.path.join(tmp, f"size{k}.safetensors"), "--bits", "4", "--clusters", str(k),
                    "--format", "packed", "--report", r, "--quiet"], check=True)
    size[k] = json.load(open(r))["quant_bytes_out"]
ratio = size[3] / size[1]
print(f"packed INT4: k=1 {size[1]} bytes, k=3 {size[3]} bytes, ratio {ratio:.3f}")
assert ratio <= 1.6, ratio
