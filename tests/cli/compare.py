#!/usr/bin/env python3
"""Comparisons for tests/cli/run.sh. Modes:
  exact ORIG BACK            every tensor of ORIG is in BACK with identical dtype, shape and bytes
  mse ORIG DEQ REPORT        per-layer MSE of DEQ vs ORIG equals the report's "mse"
  reference SQ MODEL TMP     --clusters 1 --format paper equals reference-plain-quant.safetensors
  step ORIG BACK QFILE       every split weight's round-trip error is within one quantization step
"""
import json, math, os, struct, subprocess, sys
sys.path.insert(0, os.path.dirname(__file__))
import stlib

mode = sys.argv[1]

if mode == "exact":
    _, a = stlib.read(sys.argv[2]); _, b = stlib.read(sys.argv[3])
    for name, (dt, shape, raw) in a.items():
        assert name in b, "missing " + name
        assert b[name][0] == dt and b[name][1] == shape, f"{name}: {b[name][:2]} != {(dt, shape)}"
        assert b[name][2] == raw, name + ": bytes differ"
    assert set(a) == set(b), "extra tensors: %s" % (set(b) - set(a))

elif mode == "mse":
    _, a = stlib.read(sys.argv[2]); _, b = stlib.read(sys.argv[3])
    rep = json.load(open(sys.argv[4]))
    n = 0
    for layer in rep["layers"]:
        if layer.get("kind", "weight") not in ("weight", "embedding", "head"):  # --embeddings: theirs too
            continue
        x = stlib.floats(a[layer["name"]][0], a[layer["name"]][2])
        y = stlib.floats(b[layer["name"]][0], b[layer["name"]][2])
        mse = sum((p - q) ** 2 for p, q in zip(x, y)) / len(x)
        assert abs(mse - layer["mse"]) <= 1e-6 * max(mse, 1e-30) + 1e-30, f"{layer['name']}: {mse} vs report {layer['mse']}"
        n += 1
    assert n > 0

elif mode == "reference":
    sq, model, tmp = sys.argv[2:5]
    _, ref = stlib.read(os.path.join(model, "reference-plain-quant.safetensors"))
    layers = sorted({k.rsplit(".", 1)[0] for k in ref})
    total = exact = 0
    for bits in (8, 4, 3, 2):
        q = os.path.join(tmp, f"ref{bits}.safetensors"); d = os.path.join(tmp, f"ref{bits}.deq.safetensors")
        subprocess.run([sq, "quantize", model, q, "--bits", str(bits), "--clusters", "1", "--format", "paper", "--quiet"], check=True)
        subprocess.run([sq, "dequantize", q, d], check=True)
        _, deq = stlib.read(d)
        for layer in layers:
            want = stlib.floats("F32", ref[f"{layer}.int{bits}"][2])
            got = stlib.floats("F32", deq[layer][2])
            assert len(want) == len(got)
            for i, (w, g) in enumerate(zip(want, got)):
                total += 1
                if w == g:
                    exact += 1
                    continue
                ulp = abs(math.ulp(w)) if w else 1.5e-45
                assert abs(w - g) <= ulp, f"{layer} int{bits} [{i}]: {g!r} vs reference {w!r}"
    print(f"{exact}/{total} values bit-identical to the reference, the rest within 1 ulp")

elif mode == "step":
    _, a = stlib.read(sys.argv[2]); _, b = stlib.read(sys.argv[3])
    meta, _ = stlib.read(sys.argv[4])
    desc = json.loads(meta["sq.tensors"])
    for name, d in desc.items():
        # each tensor's own width: --embeddings gives the embedding and head theirs
        bits = "f32" if d["bits"] == 32 else str(d["bits"])
        x = stlib.floats(a[name][0], a[name][2])
        y = stlib.floats(b[name][0], b[name][2])
        if bits == "f32" or d["kind"] == "bias":
            assert x == y, name + ": not exact"
            continue
        rng = max(x) - min(x)
        step = rng / (2 ** int(bits) - 1)
        if d["kind"] == "paper":
            # the reference pads each part with zeros, which take part in min/max;
            # INT8 is symmetric per row: step = absmax / 127
            rng = max(max(x), 0) - min(min(x), 0)
            step = rng / (2 ** int(bits) - 1)
            if bits == "8":
                step = max(abs(v) for v in x) / 127
        # BF16 parameters (packed) cannot resolve steps below ~1e-40; allow that much.
        tol = step * 0.5 * 1.02 + 2e-40 + 1e-7 * max(abs(v) for v in x)
        err = max(abs(p - q) for p, q in zip(x, y))
        assert err <= tol, f"{name}: max error {err} > {tol} (range {rng})"
else:
    sys.exit("unknown mode " + mode)
