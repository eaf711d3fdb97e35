"""Minimal safetensors reader for the tests (standard library only)."""
import json, struct
from array import array

def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, d in header.items():
        b, e = d["data_offsets"]
        out[name] = (d["dtype"], d["shape"], data[base + b:base + e])
    return meta, out

def floats(dtype, raw):
    if dtype == "F32":
        a = array("f"); a.frombytes(raw); return list(a)
    if dtype == "F16":
        return list(struct.unpack("<%de" % (len(raw) // 2), raw))
    if dtype == "BF16":
        h = array("H"); h.frombytes(raw)
        u = array("I", [x << 16 for x in h])
        return list(array("f", u.tobytes()))
    raise ValueError("not a float dtype: " + dtype)
