#!/usr/bin/env python3
"""Write hostile and odd-but-valid safetensors files into DIR for the CLI tests.

Each case is DIR/<name>.safetensors; the expectation is encoded in the name prefix:
bad_*  -> every command must refuse with exit 2, one line on stderr, no output file
val_*  -> valid safetensors with non-finite weights: inspect works, quantize refuses (exit 2)
ok_*   -> quantize must succeed (odd but valid input)
"""
import json, math, os, struct, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

def st(tensors, meta=None, header_override=None, tail=b"", raw_header=None):
    """tensors: list of (name, dtype, shape, bytes)."""
    h = {}
    if meta is not None:
        h["__metadata__"] = meta
    off = 0
    data = b""
    for name, dt, shape, b in tensors:
        h[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        data += b
    if header_override:
        header_override(h)
    hb = raw_header if raw_header is not None else json.dumps(h).encode()
    hb += b" " * ((8 - len(hb) % 8) % 8)
    return struct.pack("<Q", len(hb)) + hb + data + tail

def f32(vals):
    return struct.pack("<%df" % len(vals), *vals)

def mat(rows, cols, fn):
    return [fn(r, c) for r in range(rows) for c in range(cols)]

def w(name, rows, cols, fn, dt="F32"):
    return (name, dt, [rows, cols], f32(mat(rows, cols, fn)))

good_w = w("layer.dense.weight", 4, 8, lambda r, c: math.sin(r * 8 + c) * 0.1)
good_b = ("layer.dense.bias", "F32", [4], f32([0.1, -0.2, 0.3, 0.0]))
base = st([good_w, good_b])

def put(name, data):
    with open(os.path.join(out, name + ".safetensors"), "wb") as f:
        f.write(data)

put("ok_small", base)
put("bad_truncated_data", base[:-5])
put("bad_truncated_header", base[:20])
put("bad_empty", b"")
put("bad_short", b"\x01\x02\x03")
put("bad_header_len_huge", struct.pack("<Q", 2**62) + base[8:])
put("bad_header_len_over_100mb", struct.pack("<Q", 100_000_001) + b"{}" + b" " * 6)
put("bad_header_len_past_eof", struct.pack("<Q", 4096) + base[8:])
put("bad_json", st([], raw_header=b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]'))
put("bad_json_not_object", st([], raw_header=b'[1, 2, 3]'))
put("bad_json_deep", st([], raw_header=b'{"x":' + b"[" * 10000 + b"]" * 10000 + b"}"))
put("bad_unknown_dtype", st([("layer.dense.weight", "F31", [4, 8], f32([0.0] * 32))]))
put("bad_shape_overflow", st([good_w], header_override=lambda h: h["layer.dense.weight"].update(shape=[2**40, 2**40])))
put("bad_shape_negative", st([good_w], header_override=lambda h: h["layer.dense.weight"].update(shape=[-4, -8])))
put("bad_shape_mismatch", st([good_w], header_override=lambda h: h["layer.dense.weight"].update(shape=[4, 9])))
put("bad_offsets_out_of_bounds", st([good_w], header_override=lambda h: h["layer.dense.weight"].update(data_offsets=[0, 1 << 40])))
def overlap(h):
    h["layer.dense.bias"]["data_offsets"] = [0, 16]
put("bad_offsets_overlap", st([good_w, good_b], header_override=overlap))
def gap(h):
    h["layer.dense.bias"]["data_offsets"] = [132, 148]
put("bad_offsets_gap", st([good_w, good_b], header_override=gap, tail=b"\0" * 4))
put("bad_trailing_bytes", st([good_w], tail=b"junk"))
put("bad_offsets_not_int", st([good_w], header_override=lambda h: h["layer.dense.weight"].update(data_offsets=["0", "128"])))
put("bad_metadata_not_string", st([good_w], meta={"format": 3}))
put("val_nan_weight", st([w("layer.dense.weight", 4, 8, lambda r, c: float("nan") if (r, c) == (2, 3) else 0.1 * c)]))
put("val_inf_weight", st([w("layer.dense.weight", 4, 8, lambda r, c: float("inf") if (r, c) == (0, 0) else 0.1 * c)]))
put("val_neg_inf_bias", st([good_w, ("layer.dense.bias", "F32", [4], f32([0.0, -math.inf, 0.0, 1.0]))]))
put("val_beyond_2p126", st([w("layer.dense.weight", 4, 8, lambda r, c: 3e38 if (r, c) == (1, 2) else -0.5)]))
put("bad_header_nul", st([], raw_header=b'{"a\x00": {}}'))

# odd but valid
put("ok_constant", st([w("layer.dense.weight", 4, 8, lambda r, c: 0.25)]))
put("ok_zeros", st([w("layer.dense.weight", 4, 8, lambda r, c: 0.0)]))
put("ok_two_values", st([w("layer.dense.weight", 4, 8, lambda r, c: 1.0 if (r + c) % 2 else -1.0)]))
put("ok_subnormal", st([w("layer.dense.weight", 4, 8, lambda r, c: (r * 8 + c + 1) * 1e-42)]))
put("ok_huge_outliers", st([w("layer.dense.weight", 4, 8, lambda r, c: 1e30 if (r, c) == (1, 1) else (-1e30 if (r, c) == (3, 7) else 0.01 * c))]))
put("ok_bf16", st([("layer.dense.weight", "BF16", [4, 8], struct.pack("<32H", *[(0x3c00 + i * 37) & 0x7f7f for i in range(32)]))]))
put("ok_f16", st([("layer.dense.weight", "F16", [4, 8], struct.pack("<32H", *[(0x2c00 + i * 41) & 0x7bff for i in range(32)]))]))
put("ok_conv", st([("conv.weight", "F32", [4, 2, 3, 3], f32([math.cos(i) for i in range(72)])), ("conv.bias", "F32", [4], f32([0.0, 1.0, 2.0, 3.0]))]))
put("ok_no_linear", st([("norm.weight", "F32", [4], f32([1.0] * 4)), ("ids", "I64", [2], struct.pack("<2q", 1, 2))]))
put("ok_empty_tensor", st([("empty.weight", "F32", [0, 8], b""), good_w]))
put("ok_odd_group", st([w("layer.dense.weight", 3, 161, lambda r, c: math.sin(r * 161 + c))]))

# non-finite values in tensors that are only copied (norms, embeddings): quantize must
# still refuse, naming the tensor (file name: nf_<tensor name>)
def bf16(vals):
    return struct.pack("<%dH" % len(vals), *[struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in vals])
put("nf_model.norm.weight", st([good_w, ("model.norm.weight", "F32", [4], f32([1.0, float("nan"), 1.0, 1.0]))]))
put("nf_model.embed_tokens.weight", st([("model.embed_tokens.weight", "BF16", [4, 8], bf16([0.5] * 20 + [-math.inf] + [0.5] * 11)), good_w]))
put("nf_emb.ln.weight", st([good_w, ("emb.ln.weight", "F16", [4], struct.pack("<4H", 0x3c00, 0x3c00, 0x7c00, 0x3c00))]))
