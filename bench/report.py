#!/usr/bin/env python3
"""bench/report.py - turn build/bench/results.json into the README's performance section.

    python3 bench/report.py [RESULTS.json] [--readme README.md]

Prints a Markdown section: every measured figure beside the target issue 6 set for it.
With --readme, replaces the text between the markers
    <!-- bench:begin -->  and  <!-- bench:end -->
in that file (the README's "Performance" section), so the section is always generated
from a real run (`make bench` calls this at the end). Figures that are missing from the
JSON (a step skipped or failed) show as "n/a"; nothing is filled in by hand.
"""
import json, os, sys

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def num(x, fmt="{:.2f}", unit=""):
    return "n/a" if x is None else fmt.format(x) + unit


def verdict(ok):
    return "—" if ok is None else ("met" if ok else "**not met**")


def le(a, b):
    return None if a is None or b is None else a <= b


def ge(a, b):
    return None if a is None or b is None else a >= b


def ratio(a, b):
    return None if a is None or not b else a / b


def render(res):
    m = res.get("machine") or {}
    q = res.get("quantize_1b") or {}
    g = res.get("generate_1b") or {}
    b = res.get("browser_1b") or {}
    k = res.get("kernels") or {}
    kw = k.get("wasm", k) if isinstance(k, dict) else {}
    la = m.get("loadavg_before")
    rows = []

    def row(what, measured, target, ok):
        rows.append(f"| {what} | {measured} | {target} | {verdict(ok)} |")

    thr = q.get("threads")
    ns, rs, n1 = q.get("native_s"), q.get("read_s"), q.get("native_1thread_s")
    row(f"native quantize, packed INT4 k=3, {thr} threads", f"{num(ns, unit=' s')} (1 thread {num(n1, unit=' s')})", "≤ 15 s", le(ns, 15))
    row("… vs just reading the file (`read_s`)", f"{num(ratio(ns, rs), unit='×')} ({num(rs, unit=' s')})", "≤ 4×", le(ratio(ns, rs), 4))
    rss = q.get("native_peak_rss_mb")
    row("native quantize peak RSS", f"{num(rss, '{:.0f}', ' MB')}", "≤ 1024 MB", le(rss, 1024))
    ws = q.get("wasi_s")
    row("WASI quantize (sq.wasm, node, 1 thread)",
        f"{num(ws, unit=' s')} = {num(ratio(ws, ns), unit='×')} native ({num(ratio(ws, n1), unit='×')} native 1 thread)",
        "≤ 2.5× native", le(ratio(ws, ns), 2.5))
    wp = q.get("wasi_peak_mb")
    row("WASI quantize peak RSS (whole node process)", f"{num(wp, '{:.0f}', ' MB')}", "wasm heap ≤ 1536 MB", le(wp, 1536))
    runs = b.get("runs") or [b]
    for r in runs:
        bs = r.get("browser_s")
        how = "cross-origin isolated, pthreads core" if r.get("isolated") else "not isolated, single-thread core"
        row(f"browser quantize (headless Chromium, {how}, {r.get('threads', 'n/a')} thread(s))",
            f"{num(bs, unit=' s')} = {num(ratio(bs, ws), unit='×')} WASI", "≤ 1.5× WASI", le(ratio(bs, ws), 1.5))
        bh = r.get("worker_peak_heap_mb")
        row(f"… its wasm heap, peak (Chromium RSS peak, all processes: {num(r.get('chromium_peak_rss_mb'), '{:.0f}', ' MB')})",
            f"{num(bh, '{:.0f}', ' MB')}", "≤ 1536 MB", le(bh, 1536))
    for name, e in (res.get("quantize_bundled") or {}).items():
        row(f"quantize {name} (packed INT4 k=3, 1 thread), WASI vs native",
            f"{num(e.get('wasi_quantize_s'), '{:.3f}', ' s')} vs {num(e.get('native_quantize_s'), '{:.3f}', ' s')} "
            f"= {num(e.get('wasi_over_native'), unit='×')}", "reported", None)

    def tps(name):
        e = g.get(name) or {}
        return e.get("tok_s")

    plain, packed, paper, i8 = tps("int4_plain"), tps("int4_packed_k3"), tps("int4_paper_k3"), tps("int8_plain")
    gt = g.get("threads")
    row(f"generate, plain INT4, {gt} threads", f"{num(plain, unit=' tok/s')}", "≥ 22.4 tok/s (0.8 × llama.cpp Q4_0's 28)",
        ge(plain, 22.4))
    row("generate, packed INT4 split k=3", f"{num(packed, unit=' tok/s')} = {num(ratio(packed, plain), unit='×')} plain", "≥ 0.7× plain",
        ge(ratio(packed, plain), 0.7))
    row("generate, paper INT4 k=3 (three sub-layers)", f"{num(paper, unit=' tok/s')}", "reported", None)
    row("generate, plain INT8", f"{num(i8, unit=' tok/s')}", "reported", None)
    wg = g.get("wasi_int4_packed_k3") or {}
    if wg:
        row("generate in sq.wasm (node), packed INT4 k=3",
            f"{num(wg.get('tok_s'), unit=' tok/s')}, peak {num(wg.get('peak_rss_mb'), '{:.0f}', ' MB')}", "fits wasm32 (4 GiB)",
            le(wg.get("peak_rss_mb"), 4096) if wg.get("tok_s") else None)
    sp = kw.get("matvec_int4_speedup")
    row("SIMD128 int4 matvec vs its scalar twin (wasm, node)",
        f"{num(sp, unit='×')} ({num(kw.get('matvec_int4_simd_gbs'))} vs {num(kw.get('matvec_int4_scalar_gbs'))} GB/s)", "≥ 3×",
        ge(sp, 3))

    out = [BEGIN, "",
           f"Measured by `make bench` on {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('mem_gb', '?')} GB "
           f"(load average before the run: {la[0] if la else 'n/a'}), on a synthetic Llama-3.2-1B-shaped BF16 model "
           f"({num((q.get('params') or 0) / 1e9)} B parameters, {num((q.get('bytes_in') or 0) / 1e9)} GB; "
           "`build/sq-synth --preset 1b`). Targets are issue 6's; llama.cpp figures are its reference "
           "measurements on this kind of machine. Raw numbers: `build/bench/results.json`; what each one "
           "means: [bench/README.md](bench/README.md).", "",
           "| what | measured | target | |", "|---|---|---|---|"] + rows
    ident = [f"native 1 vs {thr} threads: {q.get('threads_identical')}", f"WASI vs native: {q.get('wasi_identical')}",
             f"browser vs native: {b.get('identical')}"]
    out += ["", "Outputs byte-identical — " + "; ".join(ident) + ".", "", END]
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    readme = None
    if "--readme" in args:
        i = args.index("--readme")
        readme = args[i + 1]
        del args[i:i + 2]
    path = args[0] if args else os.path.join(os.environ.get("BUILD", "build"), "bench", "results.json")
    res = json.load(open(path))
    section = render(res)
    if not readme:
        print(section)
        return
    text = open(readme).read()
    a, z = text.find(BEGIN), text.find(END)
    if a < 0 or z < a:
        sys.exit(f"bench/report.py: {readme} has no {BEGIN} ... {END} markers")
    text = text[:a] + section + text[z + len(END):]
    tmp = readme + ".tmp"
    with open(tmp, "w") as fp:
        fp.write(text)
    os.replace(tmp, readme)
    print(f"bench/report.py: updated the performance section of {readme}", file=sys.stderr)


if __name__ == "__main__":
    main()
