#!/usr/bin/env python3
"""Hostile variants of a file with a quantized token embedding (sq quantize --embeddings):
usage: make_bad_emb.py QUANTIZED.safetensors DIR. Every DIR/bad_emb_*.safetensors must be
refused by the inference commands and dequantize with one line and exit 2 (tests/cli/run.sh).
The embedding is named by its sq.tensors entry with "role": "embedding"."""
import json, os, struct, sys

sys.path.insert(0, os.path.dirname(__file__))
import stlib

src, out = sys.argv[1:3]
os.makedirs(out, exist_ok=True)
meta, tensors = stlib.read(src)
desc = json.loads(meta["sq.tensors"])
emb = next(n for n, d in desc.items() if d.get("role") == "embedding")


def write(name, meta, tensors):
    h, off, data = {"__metadata__": meta}, 0, b""
    for n, (dt, shape, b) in tensors.items():
        h[n] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        data += b
    hb = json.dumps(h).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(os.path.join(out, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + data)


def variant(name, tensor_fn=None, desc_fn=None):
    t = dict(tensors)
    d = json.loads(json.dumps(desc))
    if tensor_fn:
        tensor_fn(t)
    if desc_fn:
        desc_fn(d[emb])
    m = dict(meta)
    m["sq.tensors"] = json.dumps(d)
    write("bad_emb_" + name, m, t)


def codes_shape(t):  # one column of codes short
    dt, shape, b = t[emb + ".sq.codes"]
    t[emb + ".sq.codes"] = (dt, [shape[0], shape[1] - 1], b[: shape[0] * (shape[1] - 1)])


def scale_f32(t):  # the scale as F32 where BF16 is the format
    dt, shape, b = t[emb + ".sq.scale"]
    t[emb + ".sq.scale"] = ("F32", shape, b + b)


variant("codes_shape", codes_shape)
variant("codes_dtype", lambda t: t.update({emb + ".sq.codes": ("I8",) + t[emb + ".sq.codes"][1:]}))
variant("scale_dtype", scale_f32)
variant("scale_missing", lambda t: t.pop(emb + ".sq.scale"))
variant("min_missing", lambda t: t.pop(emb + ".sq.min"))
variant("desc_rows", desc_fn=lambda d: d.update(shape=[d["shape"][0] + 1, d["shape"][1]]))
variant("desc_cols", desc_fn=lambda d: d.update(shape=[d["shape"][0], d["shape"][1] * 2]))
variant("desc_1d", desc_fn=lambda d: d.update(shape=[d["shape"][0] * d["shape"][1]]))
variant("desc_bits", desc_fn=lambda d: d.update(bits=9))
variant("desc_dtype", desc_fn=lambda d: d.update(dtype="I32"))
variant("desc_role", desc_fn=lambda d: d.update(role="embeddings"))
variant("desc_group", desc_fn=lambda d: d.update(group=d["shape"][1] + 1))
# stored as it is and described as quantized at once
variant("both", lambda t: t.update({emb: ("F32", desc[emb]["shape"], b"\0" * (4 * desc[emb]["shape"][0] * desc[emb]["shape"][1]))}))
