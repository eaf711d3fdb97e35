#!/usr/bin/env python3
"""bench/run.py - sq's benchmarks (`make bench`; never part of `make test`).

Writes BUILD/bench/results.json and prints a summary. Everything runs on a synthetic
Llama-3.2-1B-shaped BF16 model (build/sq-synth --preset 1b, 2.47 GB) generated into
BUILD/bench/synth1b (kept between runs, never committed):

  machine       cpu model, cores, memory, kernel, load average before the run
  quantize_1b   read_s: streaming the file through core's reader, every tensor as f32
                (bench/read_bench.c, one thread); native_s: `sq quantize --bits 4
                --clusters 3 --format packed` with all cores; native_peak_rss_mb;
                wasi_s / wasi_peak_mb: the same under node:wasi (BUILD/sq.wasm and
                tools/sq-wasi.mjs; null when either is missing). Medians of repeats.
  browser_infer bench/web_infer.mjs: the web app generates in headless Chromium (isolated:
                pthreads core; not: single-thread core) with files quantized by sq on the
                1B and SmolLM-135M shapes: prefill / decode tok/s, TTFT, wasm heap peak.
  infer         bench/infer.py: prefill (64- and 512-token prompts) and decode tok/s,
                time to first token and peak RSS of `sq generate` on the 1B and a
                SmolLM-135M-shaped model, plain / packed k=3 / paper k=3 INT4 and BF16,
                --activations int8 vs f32, all threads and one, and sq.wasm; see there.
  kernels       BUILD/bench/kernels.json as `make kernels-bench` (mk/kernels.mk, run by
                `make bench` first) wrote it; without it, the first of
                bench/kernels.{mjs,py,sh} that exists is run (env BENCH_DIR, SQ, BUILD)
                and the JSON object it prints last is stored; else null.

Environment: BUILD (default build), SQ_BENCH_REPEAT (default 3), SQ_BENCH_THREADS
(default: all cores), SQ_BENCH_SKIP (comma list of: wasi, web, generate, kernels),
SQ_BENCH_TOKENS (default 32).
"""
import filecmp, json, os, platform, re, shutil, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.chdir(ROOT)
BUILD = os.environ.get("BUILD", "build")
OUT = os.path.join(BUILD, "bench")
SQ = os.path.join(BUILD, "sq")
SYNTH = os.path.join(BUILD, "sq-synth")
READ = os.path.join(OUT, "read_bench")
WASM = os.path.join(BUILD, "sq.wasm")
MODEL = os.path.join(OUT, "synth1b")
REPEAT = max(1, int(os.environ.get("SQ_BENCH_REPEAT", "3")))
THREADS = int(os.environ.get("SQ_BENCH_THREADS", "0")) or (os.cpu_count() or 1)
SKIP = set(filter(None, os.environ.get("SQ_BENCH_SKIP", "").split(",")))
TOKENS = int(os.environ.get("SQ_BENCH_TOKENS", "32"))
T_START = time.time()


def log(msg):
    print(f"[bench {time.time() - T_START:6.1f}s] {msg}", file=sys.stderr, flush=True)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()[-400:]}")


def run_timed(cmd, check=True, env=None):
    """Like run, with the peak RSS (MB) and CPU seconds measured by wait4 on this child
    (its own peak, which on Linux includes what it had at fork: keep this process small)."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    # read the pipes while waiting, then reap with wait4 to get this child's rusage
    bufs = {}

    def drain(name, f):
        bufs[name] = f.read()

    ts = [threading.Thread(target=drain, args=(n, f)) for n, f in (("out", p.stdout), ("err", p.stderr))]
    for t in ts:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    for t in ts:
        t.join()
    p.returncode = os.waitstatus_to_exitcode(status)
    out, err = bufs["out"].decode(errors="replace"), bufs["err"].decode(errors="replace")
    if p.returncode and check:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {err.strip()[-400:]}")
    return {"wall": wall, "out": out, "err": err, "rc": p.returncode, "rss_mb": ru.ru_maxrss / 1024.0,
            "user": ru.ru_utime, "sys": ru.ru_stime}


def machine():
    m = {"cpu": None, "cores": os.cpu_count(), "mem_gb": None, "kernel": platform.release(),
         "python": platform.python_version(), "loadavg_before": None, "compiler": None}
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                m["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                m["mem_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
        m["loadavg_before"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        pass
    try:
        m["compiler"] = subprocess.run([os.environ.get("CC", "cc"), "--version"], capture_output=True,
                                       text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        pass
    return m


def median(xs):
    return statistics.median(xs) if xs else None


def ensure_model():
    st = os.path.join(MODEL, "model.safetensors")
    # regenerated when missing or older than the generator's source
    if os.path.exists(st) and os.path.getmtime(st) >= os.path.getmtime(os.path.join("tools", "synth.c")):
        log(f"model: {MODEL} (kept)")
        return
    log(f"model: generating {MODEL} with {SYNTH} --preset 1b")
    shutil.rmtree(MODEL, ignore_errors=True)
    run([SYNTH, MODEL, "--preset", "1b"])


def quantize_args(model, out, bits, clusters, fmt, threads):
    return ["quantize", model, out, "--bits", str(bits), "--clusters", str(clusters), "--format", fmt,
            "--threads", str(threads), "--quiet"]


def bench_quantize(res):
    st = os.path.join(MODEL, "model.safetensors")
    q = res["quantize_1b"]
    q["bytes_in"] = os.path.getsize(st)
    # read_s: the floor (one thread, page cache warm after the first of its repeats)
    log("read_s: bench/read_bench")
    r = run_timed([READ, st, "--repeat", str(REPEAT)])
    rb = json.loads(r["out"].strip().splitlines()[-1])
    q["params"] = rb["params"]
    q["read_s"] = rb["seconds"]
    q["read_raw_s"] = rb["raw_seconds"]
    # native
    out = os.path.join(OUT, "q4k3.safetensors")
    walls, cpus, rss = [], [], []
    for i in range(REPEAT):
        log(f"native_s: sq quantize (packed INT4 k=3, {THREADS} threads) {i + 1}/{REPEAT}")
        # a fresh output each time: replacing a file just written makes ext4 flush it on
        # close (auto_da_alloc), which would time the disk, not sq
        if os.path.exists(out):
            os.remove(out)
        r = run_timed([SQ] + quantize_args(MODEL, out, 4, 3, "packed", THREADS))
        walls.append(r["wall"])
        cpus.append(r["user"] + r["sys"])
        rss.append(r["rss_mb"])
    q["threads"] = THREADS
    q["native_s"] = median(walls)
    q["native_runs_s"] = [round(w, 3) for w in walls]
    q["native_cpu_s"] = median(cpus)
    q["native_peak_rss_mb"] = max(rss)
    q["bytes_out"] = os.path.getsize(out)
    # one thread, for the speed-up (a single run)
    log("native_1thread_s: sq quantize --threads 1")
    r = run_timed([SQ] + quantize_args(MODEL, os.path.join(OUT, "q4k3.t1.safetensors"), 4, 3, "packed", 1))
    q["native_1thread_s"] = r["wall"]
    # compared in chunks: this process must stay small (a child's peak RSS counts the
    # memory it had when forked, before exec)
    q["threads_identical"] = filecmp.cmp(out, os.path.join(OUT, "q4k3.t1.safetensors"), shallow=False)
    os.remove(os.path.join(OUT, "q4k3.t1.safetensors"))
    # wasi
    q["wasi_s"] = q["wasi_peak_mb"] = None
    if "wasi" in SKIP:
        return
    # brought up to date when the wasm toolchain is there (mk/wasm.mk); else whatever exists
    log("wasi: make wasi")
    subprocess.run(["make", f"BUILD={BUILD}", "wasi"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runner = os.path.join("tools", "sq-wasi.mjs")
    if not (os.path.exists(WASM) and os.path.exists(runner) and shutil.which("node")):
        log("wasi: no sq.wasm / tools/sq-wasi.mjs / node: skipped")
        return
    wout = os.path.join(OUT, "q4k3.wasi.safetensors")
    env = dict(os.environ, SQ_WASM=os.path.abspath(WASM))
    # WASI sees the current directory (relative paths) and SQ_WASI_DIRS (absolute ones)
    wmodel, wdirs = MODEL, []
    for d in (MODEL, OUT):
        if os.path.isabs(d) or os.path.islink(d):
            wdirs.append(os.path.abspath(d))
    if wdirs:
        env["SQ_WASI_DIRS"] = ":".join(wdirs)
        wmodel, wout = os.path.abspath(MODEL), os.path.abspath(wout)
    log("wasi_s: node tools/sq-wasi.mjs quantize (one thread)")
    try:
        r = run_timed(["node", runner] + quantize_args(wmodel, wout, 4, 3, "packed", 1)[:-3] + ["--quiet"], env=env)
        q["wasi_s"] = r["wall"]
        q["wasi_peak_mb"] = r["rss_mb"]
        q["wasi_identical"] = filecmp.cmp(wout, out, shallow=False)
    except RuntimeError as ex:
        q["wasi_error"] = str(ex)[-300:]
        log(f"wasi: failed: {str(ex)[-200:]}")
    if os.path.exists(wout):
        os.remove(wout)


def bench_browser(res):
    """The synthetic 1B quantized by the web app in headless Chromium (bench/web_1b.mjs):
    cross-origin isolated with the pthreads core, and not isolated with the single-thread
    core; the download is compared with native's output byte for byte."""
    res["browser_1b"] = None
    native = os.path.join(OUT, "q4k3.safetensors")
    if "web" in SKIP or not shutil.which("node") or not os.path.exists(native):
        return
    log("browser: make web")
    if subprocess.run(["make", f"BUILD={BUILD}", "web"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        res["browser_1b"] = {"error": "make web failed"}
        return
    jf = os.path.join(OUT, "web_1b.json")
    log("browser: node bench/web_1b.mjs (threads, then single)")
    try:
        run_timed(["node", os.path.join("bench", "web_1b.mjs"), "--build", BUILD, "--model", MODEL, "--native", native,
                   "--json", jf])
        b = json.load(open(jf))
    except (RuntimeError, OSError, ValueError) as ex:
        res["browser_1b"] = {"error": str(ex)[-300:]}
        log(f"browser: failed: {str(ex)[-200:]}")
        return
    runs = b.get("runs") or []
    # the headline figures: the threaded run when the page could use threads
    main = next((r for r in runs if r.get("isolated")), runs[0] if runs else {})
    res["browser_1b"] = dict(b, **{k: main.get(k) for k in ("mode", "threads", "browser_s", "worker_peak_heap_mb",
                                                               "js_heap_peak_mb", "chromium_peak_rss_mb",
                                                               "identical")})
    res["browser_1b"]["identical"] = bool(runs) and all(r.get("identical") for r in runs)


def bench_browser_infer(res):
    """Generation in headless Chromium (bench/web_infer.mjs): the web app runs files
    quantized by build/sq (plain INT4, packed INT4 k=3; the SmolLM-135M and 1B shapes),
    64-token prompt + SQ_BENCH_TOKENS new tokens, cross-origin isolated (pthreads core,
    THREADS threads) and not (single-thread core): the run panel's prefill and decode tok/s,
    time to first token and wasm heap peak, with native build/sq on the same file beside."""
    res["browser_infer"] = None
    if "web" in SKIP or not shutil.which("node"):
        return
    if subprocess.run(["make", f"BUILD={BUILD}", "web"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
        res["browser_infer"] = {"error": "make web failed"}
        return
    jf = os.path.join(OUT, "web_infer.json")
    shapes = os.environ.get("SQ_BENCH_INFER_SHAPES", "1b,small")
    log(f"browser inference: node bench/web_infer.mjs (shapes {shapes}; threads, then single)")
    try:
        run_timed(["node", os.path.join("bench", "web_infer.mjs"), "--build", BUILD, "--shapes", shapes,
                   "--threads", str(THREADS), "--tokens", str(TOKENS), "--json", jf], check=False)
        res["browser_infer"] = json.load(open(jf))
    except (RuntimeError, OSError, ValueError) as ex:
        res["browser_infer"] = {"error": str(ex)[-300:]}
        log(f"browser inference: failed: {str(ex)[-200:]}")


BUNDLED = [("bert-tiny-emotion", "examples/bert-tiny-emotion"), ("stories260K", "examples/stories260K")]


def bench_bundled(res):
    """Native vs WASI quantize (packed INT4 k=3, one thread) of the bundled models: the
    process's wall time (WASI includes node starting and compiling sq.wasm) and the
    quantize time the report itself measures ("seconds"). Medians of 5."""
    out = {}
    runner = os.path.join("tools", "sq-wasi.mjs")
    have_wasi = "wasi" not in SKIP and os.path.exists(WASM) and shutil.which("node")
    env = dict(os.environ, SQ_WASM=os.path.abspath(WASM))
    for name, path in BUNDLED:
        e = {}
        for kind in ("native", "wasi"):
            if kind == "wasi" and not have_wasi:
                continue
            walls, inner = [], []
            qf, rf = os.path.join(OUT, f"bundled.{kind}.safetensors"), os.path.join(OUT, f"bundled.{kind}.json")
            for _ in range(5):
                for f in (qf, rf):
                    if os.path.exists(f):
                        os.remove(f)
                cmd = ([SQ] if kind == "native" else ["node", runner]) + quantize_args(path, qf, 4, 3, "packed", 1) + [
                    "--report", rf]
                r = run_timed(cmd, env=env)
                walls.append(r["wall"])
                inner.append(json.load(open(rf))["seconds"])
            e[f"{kind}_wall_s"] = round(median(walls), 4)
            e[f"{kind}_quantize_s"] = round(median(inner), 4)
            if kind == "wasi":
                e["identical"] = filecmp.cmp(qf, os.path.join(OUT, "bundled.native.safetensors"), shallow=False)
        for kind in ("native", "wasi"):
            for f in (os.path.join(OUT, f"bundled.{kind}.safetensors"), os.path.join(OUT, f"bundled.{kind}.json")):
                if os.path.exists(f):
                    os.remove(f)
        if "wasi_quantize_s" in e:
            e["wasi_over_native"] = round(e["wasi_quantize_s"] / max(e["native_quantize_s"], 1e-9), 2)
        out[name] = e
        log(f"bundled {name}: {e}")
    res["quantize_bundled"] = out


def bench_infer(res):
    """bench/infer.py (prefill 64/512, decode, TTFT, peak RSS; 1B and SmolLM-135M shapes;
    plain/packed/paper INT4 and BF16; int8 vs f32 activations; 1 and all threads; sq.wasm)
    as a child process; its JSON becomes res["infer"]."""
    log("infer: bench/infer.py")
    r = subprocess.run([sys.executable, os.path.join("bench", "infer.py")], env=dict(os.environ, BUILD=BUILD))
    path = os.path.join(OUT, "infer.json")
    res["infer"] = json.load(open(path)) if r.returncode == 0 and os.path.exists(path) else {"error": f"exit {r.returncode}"}


def bench_kernels(res):
    """The kernels' numbers: BUILD/bench/kernels.json, written by `make kernels-bench`
    (mk/kernels.mk, a prerequisite of `make bench`); else a bench/kernels.{mjs,py,sh}
    hook that prints a JSON object last; else null."""
    res["kernels"] = None
    path = os.path.join(OUT, "kernels.json")
    if os.path.exists(path):
        try:
            res["kernels"] = json.load(open(path))
            if os.path.getmtime(path) < T_START - 3600:
                res["kernels_note"] = f"{path} is more than an hour older than this run"
        except ValueError as ex:
            res["kernels"] = {"error": f"{path}: {ex}"}
        return
    for hook, cmd in (("kernels.mjs", ["node"]), ("kernels.py", [sys.executable]), ("kernels.sh", ["bash"])):
        hp = os.path.join("bench", hook)
        if not os.path.exists(hp):
            continue
        log(f"kernels: {hp}")
        env = dict(os.environ, BENCH_DIR=OUT, SQ=SQ, BUILD=BUILD)
        try:
            r = run_timed(cmd + [hp], env=env)
            res["kernels"] = json.loads(r["out"].strip().splitlines()[-1])
        except (RuntimeError, ValueError, IndexError) as ex:
            res["kernels"] = {"error": str(ex)[-300:]}
        return


def summary(res):
    q = res["quantize_1b"]

    def f(x, unit="s"):
        return "n/a" if x is None else f"{x:.2f} {unit}"

    def ratio(a, b):
        return "n/a" if a is None or b in (None, 0) else f"{a / b:.2f}x"

    lines = ["", "sq bench summary", "================",
             f"machine      {res['machine']['cpu']}, {res['machine']['cores']} cores, {res['machine']['mem_gb']} GB, "
             f"load before {res['machine']['loadavg_before']}",
             f"model        synthetic Llama-3.2-1B, {q['params'] / 1e9:.2f} B params, {q['bytes_in'] / 1e9:.2f} GB BF16",
             f"read_s       {f(q['read_s'])}  (raw bytes only {f(q.get('read_raw_s'))}; one thread)",
             f"native_s     {f(q['native_s'])}  packed INT4 k=3, {q['threads']} threads "
             f"(runs {q.get('native_runs_s')}, CPU {f(q.get('native_cpu_s'))}); 1 thread {f(q.get('native_1thread_s'))}",
             f"             native_s / read_s = {ratio(q['native_s'], q['read_s'])} (target <= 4x); "
             f"speed-up {ratio(q.get('native_1thread_s'), q['native_s'])} on {q['threads']} threads; "
             f"output identical across thread counts: {q.get('threads_identical')}",
             f"peak RSS     {f(q['native_peak_rss_mb'], 'MB')} (target <= 1024 MB)",
             f"wasi_s       {f(q['wasi_s'])}, peak {f(q['wasi_peak_mb'], 'MB')}; wasi_s / native 1 thread = "
             f"{ratio(q['wasi_s'], q.get('native_1thread_s'))}; identical to native: {q.get('wasi_identical')}"]
    for name, e in (res.get("quantize_bundled") or {}).items():
        lines.append(f"bundled      {name}: quantize native {f(e.get('native_quantize_s'))}, WASI "
                     f"{f(e.get('wasi_quantize_s'))} ({e.get('wasi_over_native', 'n/a')}x; wall incl. node start "
                     f"{f(e.get('wasi_wall_s'))}); identical: {e.get('identical')}")
    b = res.get("browser_1b") or {}
    for r in b.get("runs") or []:
        lines.append(f"browser      {r.get('mode')}: {f(r.get('browser_s'))} on {r.get('threads')} thread(s) "
                     f"(isolated {r.get('isolated')}); wasm heap peak {f(r.get('worker_peak_heap_mb'), 'MB')}; "
                     f"browser_s / wasi_s = {ratio(r.get('browser_s'), q.get('wasi_s'))}; identical: {r.get('identical')}")
    if b.get("error"):
        lines.append(f"browser      failed: {b['error'][:120]}")
    for shape, sh in ((res.get("infer") or {}).get("shapes") or {}).items():
        for name, v in sh.items():
            for cfg, e in (v.items() if isinstance(v, dict) else []):
                if isinstance(e, dict) and e.get("decode") is not None:
                    lines.append(f"infer        {shape} {name} {cfg}: prefill 64 {e.get('prefill_64')}, 512 "
                                 f"{e.get('prefill_512')}, decode {e.get('decode')} tok/s; peak {e.get('peak_rss_mb')} MB")
    for shape, sh in ((res.get("browser_infer") or {}).get("shapes") or {}).items():
        for name, v in sh.items():
            for mode, e in (v.items() if isinstance(v, dict) else []):
                if isinstance(e, dict) and ("decode_tps" in e or "error" in e) and mode in ("threads", "single"):
                    nat = e.get("native") or {}
                    lines.append(f"browser inf  {shape} {name} {mode} ({e.get('threads')} thr): " + (
                        f"failed: {e['error'][:80]}" if e.get("error") else
                        f"prefill {e.get('prefill_tps')}, decode {e.get('decode_tps')} tok/s, TTFT {e.get('ttft_s')} s, "
                        f"heap {e.get('heap_peak_mb')} MB (native {nat.get('prefill_tps')} / {nat.get('decode_tps')})"))
    if not res.get("infer"):
        lines.append("infer        n/a (" + ("skipped" if "generate" in SKIP else "see infer in results.json") + ")")
    k = res.get("kernels")
    lines.append("kernels      " + ("n/a (no build/bench/kernels.json)" if k is None else
                                    f"see results.json ({len(json.dumps(k))} bytes from make kernels-bench)"))
    la = res["machine"].get("loadavg_before") or [0]
    if la[0] > 0.5 * (res["machine"].get("cores") or 1):
        lines.append(f"note         the machine was busy (load {la[0]} on {res['machine']['cores']} cores): "
                     "wall times are inflated; CPU seconds are closer to an idle run")
    lines.append(f"total        {time.time() - T_START:.0f} s; results in {os.path.join(OUT, 'results.json')}")
    print("\n".join(lines))


def main():
    os.makedirs(OUT, exist_ok=True)
    for p in (SQ, SYNTH, READ):
        if not os.path.exists(p):
            sys.exit(f"bench: {p} is missing (run `make bench`, which builds it)")
    res = {"machine": machine(), "quantize_1b": {}, "browser_infer": None, "infer": None, "kernels": None}
    ensure_model()
    bench_quantize(res)
    bench_bundled(res)
    bench_browser(res)
    bench_browser_infer(res)
    if os.path.exists(os.path.join(OUT, "q4k3.safetensors")):  # 1.4 GB, used by the steps above only
        os.remove(os.path.join(OUT, "q4k3.safetensors"))
    if "generate" not in SKIP:
        bench_infer(res)
    if "kernels" not in SKIP:
        bench_kernels(res)
    res["machine"]["loadavg_after"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    res["seconds"] = round(time.time() - T_START, 1)
    with open(os.path.join(OUT, "results.json"), "w") as fp:
        json.dump(res, fp, indent=2)
        fp.write("\n")
    summary(res)
    # the README's performance section, generated from this run (bench/report.py)
    if os.environ.get("SQ_BENCH_README", "1") != "0":
        subprocess.run([sys.executable, os.path.join("bench", "report.py"), os.path.join(OUT, "results.json"),
                        "--readme", "README.md"], check=False)


if __name__ == "__main__":
    main()
