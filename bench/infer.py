#!/usr/bin/env python3
"""bench/infer.py - inference speed (`make bench` runs it; `make bench-infer` alone).

Writes BUILD/bench/infer.json: for each model shape (the synthetic Llama-3.2-1B, 2.47 GB
BF16, and the "small" preset: SmolLM-135M's body with the Llama 3 vocabulary) and each
weight layout (plain INT4, packed INT4 k=3, paper INT4 k=3, the BF16 original):

  prefill_64 / prefill_512   tok/s of `sq generate --stats -n 0` on a prompt of exactly
                             that many tokens (the "prompt N tokens in" figure), with
                             ttft_s = its seconds (time to the first token's logits)
  decode                     tok/s of `-n TOKENS` after a 2-token prompt
  peak_rss_mb                the largest peak RSS of those runs (wait4 on the child)

at THREADS threads (default: all cores) and one thread, with `--activations int8` (the
default) and `--activations f32` (the float32 arithmetic the int8 path replaces: the
baseline of the same run, so "x over f32" ratios mean something on a loaded machine).
Medians of SQ_BENCH_REPEAT runs (default 2), runs of one configuration interleaved with
its baseline. sq.wasm (node:wasi, one thread): decode and prefill_64 of plain and packed
INT4 on the 1B. The machine's load average is recorded before and after.

Environment: BUILD, SQ_BENCH_REPEAT, SQ_BENCH_THREADS, SQ_BENCH_TOKENS (decode tokens,
default 32), SQ_BENCH_INFER_SHAPES (default "1b,small"), SQ_BENCH_SKIP (wasi).
"""
import json, os, re, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BUILD = os.environ.get("BUILD", "build")
OUT = os.path.join(BUILD, "bench")
SQ = os.path.join(BUILD, "sq")
SYNTH = os.path.join(BUILD, "sq-synth")
WASM = os.path.join(BUILD, "sq.wasm")
REPEAT = max(1, int(os.environ.get("SQ_BENCH_REPEAT", "2")))
THREADS = int(os.environ.get("SQ_BENCH_THREADS", "0")) or (os.cpu_count() or 1)
TOKENS = int(os.environ.get("SQ_BENCH_TOKENS", "32"))
SHAPES = [s for s in os.environ.get("SQ_BENCH_INFER_SHAPES", "1b,small").split(",") if s]
SKIP = set(filter(None, os.environ.get("SQ_BENCH_SKIP", "").split(",")))
# name, quantize options (None: the BF16 original)
VARIANTS = [("int4_plain", ["--bits", "4", "--clusters", "1"]),
            ("int4_packed_k3", ["--bits", "4", "--clusters", "3", "--format", "packed"]),
            ("int4_paper_k3", ["--bits", "4", "--clusters", "3", "--format", "paper"]),
            ("bf16", None)]
T0 = time.time()
WORDS = "the quick brown fox jumps over a lazy dog and then runs far away into deep green forest".split()


def log(msg):
    print(f"[infer {time.time() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run_timed(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    bufs = {}
    ts = [threading.Thread(target=lambda n, f: bufs.__setitem__(n, f.read()), args=(n, f))
          for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in ts:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    for t in ts:
        t.join()
    rc = os.waitstatus_to_exitcode(status)
    err = bufs["err"].decode(errors="replace")
    if rc:
        raise RuntimeError(f"{' '.join(cmd)} exited {rc}: {err.strip()[-300:]}")
    return {"wall": time.monotonic() - t0, "err": err, "rss_mb": ru.ru_maxrss / 1024.0}


def rates(err):
    p = re.search(r"prompt (\d+) tokens in ([\d.]+)s \(([\d.]+) tok/s", err)
    g = re.search(r"(\d+) tokens generated in ([\d.]+)s \(([\d.]+) tok/s", err)
    return p, g


def prompt_of(sq_cmd, model, n):
    """A prompt of exactly n tokens (BOS included), found by asking sq itself."""
    words = n - 1
    for _ in range(8):
        text = " ".join(WORDS[i % len(WORDS)] for i in range(words))
        p, _ = rates(run_timed(sq_cmd + ["generate", model, "--prompt", text, "-n", "0", "--stats",
                                         "--threads", str(THREADS)])["err"])
        got = int(p.group(1))
        if got == n:
            return text
        words += n - got
    raise RuntimeError(f"could not build a {n}-token prompt")


def ensure_shape(shape):
    d = os.path.join(OUT, "synth1b" if shape == "1b" else f"synth-{shape}")
    st = os.path.join(d, "model.safetensors")
    if not (os.path.exists(st) and os.path.getmtime(st) >= os.path.getmtime(os.path.join("tools", "synth.c"))):
        log(f"generating {d} (--preset {shape})")
        subprocess.run([SYNTH, d, "--preset", shape], check=True, capture_output=True)
    return d


def median(xs):
    return round(statistics.median(xs), 3) if xs else None


def measure(model, prompts, threads, act, entry):
    """One configuration: prefill 64/512 and decode, REPEAT runs each."""
    base = [SQ, "generate", model, "--stats", "--threads", str(threads), "--activations", act, "--temp", "0"]
    for key, text, n in (("prefill_64", prompts[64], "0"), ("prefill_512", prompts[512], "0"), ("decode", "hi", str(TOKENS))):
        vals, secs = [], []
        for _ in range(REPEAT):
            r = run_timed(base + ["--prompt", text, "-n", n])
            p, g = rates(r["err"])
            entry["peak_rss_mb"] = max(entry.get("peak_rss_mb", 0), round(r["rss_mb"], 1))
            if key == "decode":
                vals.append(float(g.group(3)))
            else:
                vals.append(float(p.group(3)))
                secs.append(float(p.group(2)))
        entry[key] = median(vals)
        if key == "prefill_64":
            entry["ttft_s"] = median(secs)


def wasi(model, prompt64, entry):
    env = dict(os.environ, SQ_WASM=os.path.abspath(WASM), SQ_WASI_DIRS=os.path.dirname(os.path.abspath(model)))
    runner = ["node", os.path.join("tools", "sq-wasi.mjs")]
    r = run_timed(runner + ["generate", os.path.abspath(model), "--prompt", prompt64, "-n", "8", "--stats"], env=env)
    p, g = rates(r["err"])
    entry.update({"prefill_64": float(p.group(3)), "decode": float(g.group(3)), "peak_rss_mb": round(r["rss_mb"], 1)})


def main():
    os.makedirs(OUT, exist_ok=True)
    res = {"threads": THREADS, "repeat": REPEAT, "decode_tokens": TOKENS,
           "loadavg_before": [float(x) for x in open("/proc/loadavg").read().split()[:3]], "shapes": {}}
    # prompts of exact token counts, found on the small shape (same tokenizer, fast)
    prompts = {n: prompt_of([SQ], ensure_shape("small"), n) for n in (64, 512)}
    for shape in SHAPES:
        src = ensure_shape(shape)
        sh = res["shapes"][shape] = {"source": src}
        for name, qopts in VARIANTS:
            path = src
            try:
                if qopts:
                    path = os.path.join(OUT, f"infer-{shape}-{name}.safetensors")
                    log(f"{shape} {name}: quantizing")
                    subprocess.run([SQ, "quantize", src, path, "--quiet", "--threads", str(THREADS)] + qopts, check=True,
                                   capture_output=True)
                v = sh[name] = {"file_mb": round(os.path.getsize(path if qopts else os.path.join(src, "model.safetensors")) / 1e6, 1)}
                for threads in sorted({THREADS, 1}, reverse=True):
                    for act in ("int8", "f32"):
                        if name in ("bf16", "int4_packed_k3") and act == "f32":
                            continue  # these layouts multiply in float32 either way
                        if threads == 1 and act == "f32":
                            continue
                        log(f"{shape} {name}: {threads} thread(s), --activations {act}")
                        e = v.setdefault(f"t{threads}_{act}", {})
                        measure(path, prompts, threads, act, e)
                if shape == "1b" and name in ("int4_plain", "int4_packed_k3") and "wasi" not in SKIP and os.path.exists(WASM):
                    log(f"{shape} {name}: sq.wasm under node (1 thread)")
                    try:
                        wasi(path, prompts[64], v.setdefault("wasi_t1", {}))
                    except (RuntimeError, AttributeError) as ex:
                        v["wasi_t1"] = {"error": str(ex)[-200:]}
            except (RuntimeError, subprocess.CalledProcessError, AttributeError) as ex:
                sh[name] = {"error": str(ex)[-300:]}
                log(f"{shape} {name}: failed: {str(ex)[-200:]}")
            finally:
                if qopts and os.path.exists(path):
                    os.remove(path)
    res["loadavg_after"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    res["seconds"] = round(time.time() - T0, 1)
    with open(os.path.join(OUT, "infer.json"), "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    for shape, sh in res["shapes"].items():
        for name, v in sh.items():
            if not isinstance(v, dict):
                continue
            for cfg, e in v.items():
                if isinstance(e, dict) and "decode" in e:
                    print(f"{shape:6s} {name:15s} {cfg:10s} prefill64 {e.get('prefill_64')} prefill512 "
                          f"{e.get('prefill_512')} decode {e.get('decode')} tok/s, ttft {e.get('ttft_s')} s, "
                          f"peak {e.get('peak_rss_mb')} MB")


if __name__ == "__main__":
    main()
