#!/usr/bin/env python3
"""Check a `--format codebook` file against docs/FORMAT.md, from its bytes alone.

    check_codebook.py ORIG QFILE DEQ [REPORT.json]

For every codebook tensor: the parts have the documented dtypes and shapes, the table
holds 2^bits ascending distinct int8 levels, every weight's code is its nearest level
(w ~ scale * table[code], ties aside), `sq dequantize` (DEQ) gives exactly
scale * table[code], and with a report: each layer's mse is the dequantized error, its
bytes_out the documented size, and its mse below the plain quantization's (mse_plain)
on most layers.
"""
import json
import struct
import sys

import stlib


def bits_field(row, i, b):
    off = i * b
    v = row[off >> 3] >> (off & 7)
    if (off & 7) + b > 8:
        v |= row[(off >> 3) + 1] << (8 - (off & 7))
    return v & ((1 << b) - 1)


def cast(v, dtype):
    """v (a float32 value) as sq dequantize writes it in dtype (round to nearest even)."""
    if dtype == "F16":
        return struct.unpack("<e", struct.pack("<e", v))[0]
    if dtype == "BF16":
        u = struct.unpack("<I", struct.pack("<f", v))[0]
        u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16
        return struct.unpack("<f", struct.pack("<I", u & 0xFFFFFFFF))[0]
    return v


def main():
    orig, qpath, dpath = sys.argv[1:4]
    rep = json.load(open(sys.argv[4])) if len(sys.argv) > 4 else None
    _, a = stlib.read(orig)
    meta, q = stlib.read(qpath)
    _, d = stlib.read(dpath)
    assert meta["sq.format"] == "codebook", meta["sq.format"]
    desc = json.loads(meta["sq.tensors"])
    mses = {}
    checked = 0
    for name, t in desc.items():
        if t["kind"] != "codebook":
            continue
        bits, group = t["bits"], t["group"]
        rows = t["shape"][0]
        cols = 1
        for s in t["shape"][1:]:
            cols *= s
        rb = (cols * bits + 7) // 8
        G = (cols + group - 1) // group if group else 1
        P = rows * G if group else 1
        cdt, cshape, craw = q[name + ".sq.codes"]
        tdt, tshape, traw = q[name + ".sq.table"]
        sdt, sshape, sraw = q[name + ".sq.scale"]
        assert (cdt, cshape) == ("U8", [rows, rb]), (name, cdt, cshape)
        assert (tdt, tshape) == ("I8", [1 << bits]), (name, tdt, tshape)
        assert (sdt, sshape) == ("BF16", [P]), (name, sdt, sshape)
        table = list(struct.unpack("%db" % len(traw), traw))
        assert all(x < y for x, y in zip(table, table[1:])), f"{name}: table not ascending/distinct: {table}"
        scale = stlib.floats("BF16", sraw)
        w = stlib.floats(a[name][0], a[name][2])
        back = stlib.floats(d[name][0], d[name][2])
        sse = 0.0
        for r in range(rows):
            row = craw[r * rb:(r + 1) * rb]
            for c in range(cols):
                p = (r * G + c // group) if group else 0
                code = bits_field(row, c, bits)
                v = struct.unpack("f", struct.pack("f", scale[p] * table[code]))[0]
                x = w[r * cols + c]
                assert back[r * cols + c] == cast(v, d[name][0]), f"{name}[{r},{c}]: dequantized {back[r * cols + c]} != scale*table[code] {v}"
                best = min(abs(x - scale[p] * t_) for t_ in table)
                assert abs(x - v) <= best + 1e-6 * abs(scale[p]) * 128 + 1e-45, \
                    f"{name}[{r},{c}]: code {code} ({v}) is not the nearest level to {x} (best error {best})"
                sse += (x - v) ** 2
        mses[name] = (sse / (rows * cols), rb * rows + (1 << bits) + 2 * P)
        checked += 1
    if not checked and not any(t["kind"] == "codebook" for t in desc.values()):
        print("no linear weights: nothing quantized")
        return
    if rep:
        better = n = 0
        for l in rep["layers"]:
            if l["kind"] != "weight":
                continue
            m, nbytes = mses[l["name"]]
            assert abs(l["mse"] - m) <= 1e-6 * m + 1e-30, f"{l['name']}: report mse {l['mse']} vs {m}"
            assert l["bytes_out"] == nbytes, f"{l['name']}: bytes_out {l['bytes_out']} vs {nbytes}"
            n += 1
            better += l["mse"] < l["mse_plain"]
        assert better * 4 >= n * 3, f"codebook beats plain on only {better}/{n} layers"
        print(f"codebook beats plain on {better}/{n} layers")
    print(f"{checked} codebook tensors: parts, nearest codes and dequantized values as documented")


if __name__ == "__main__":
    main()
