#!/usr/bin/env node
// bench/web_1b.mjs - the browser benchmark: quantize a Llama-3.2-1B-shaped BF16 model
// (2.47 GB, build/sq-synth --preset 1b) with the web app in headless Chromium, end to end
// (pick the files, INT4 k=3 packed, wait for done, download), check the download is
// byte-identical to build/sq quantize, and measure time and memory.
//
//   node bench/web_1b.mjs [--build DIR] [--model DIR] [--native FILE] [--modes threads,single]
//                         [--chromium PATH] [--json FILE] [--threads N] [--output blob]
//
// --model: a model directory (default: DIR/bench/synth1b or build/bench/synth1b when one
//   holds a model, else one is written to DIR/bench-web/synth1b by DIR/sq-synth and
//   removed afterwards).
// --native: build/sq quantize's output for that model with --bits 4 --clusters 3 --format
//   packed (kept); without it build/sq runs first ("native_s").
// --modes: "threads" serves the page cross-origin isolated (COOP/COEP): the threaded
//   core (sq-core-mt.js) with navigator.hardwareConcurrency threads (at most 8; --threads N
//   limits them); "single" serves it without those headers, as a plain static host
//   would: the single-thread core. Each mode runs in a fresh browser with a fresh
//   persistent profile (a temporary directory, removed afterwards), as a real user's: the
//   output then goes to a disk-backed OPFS file (incognito contexts keep OPFS in memory).
// --output blob: the page with ?output=blob (the worker's fallback: the output as Blob
//   parts, not an OPFS file), to compare the two.
// Needs DIR/sq, DIR/web (make web) and DIR/sq-synth when no model is given; the native
// output (without --native) is written to DIR/bench-web/ and removed at the end, as are
// the downloads (about 1.4 GB each, one at a time).
//
// Prints one line per mode and, last, the JSON (also written to --json FILE):
//   {"model", "bytes_in", "bytes_out", "native_s", "cpus",
//    "load" (1, 5, 15-minute load averages at the end: timings on a shared machine are noisy),
//    "runs": [{
//     "mode", "isolated", "threads", "load_before" (1-minute load average before it),
//     "browser_s"            the quantize call in the worker (the core + its output file),
//     "output"               where the worker put the output: "opfs" (a file of the Origin
//                            Private File System) or "blob" (Blob parts, the fallback),
//     "write_s"              the worker's seconds spent writing the output (io.writeSeconds),
//     "wall_s"               click on Quantize to the done marker,
//     "download_s"           click on the download link to the file saved,
//     "worker_peak_heap_mb"  the wasm memory's size at the end (it only grows: its peak),
//     "js_heap_peak_mb"      peak of the summed used JS heaps of the page and its workers
//                            (CDP Runtime.getHeapUsage, sampled), null if not measurable,
//     "chromium_peak_rss_mb" peak of the summed RSS of every Chromium process (sampled
//                            from /proc every 0.5 s), and its parts:
//     "renderer_peak_rss_mb" the page's renderer (the page, its workers, the wasm heap),
//     "browser_peak_rss_mb"  the browser process (Blob storage: the quantized output when "output" is "blob"),
//     "start_rss_mb"         {total, renderer, browser} when Quantize was clicked,
//     "chromium_cpu_s"       CPU seconds (user + system) of Chromium while quantizing
//     "renderer_cpu_s"       ... of its renderer (the page, the workers, the pthreads),
//     "identical"            the download equals build/sq's output byte for byte,
//     "io"                   the worker's read/write counts and seconds}]}
// Exit status 1 if a run failed or was not identical.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const BUILD = path.resolve(opt("--build", "build"));
const CHROMIUM = opt("--chromium", "/usr/bin/chromium");
const MODES = opt("--modes", "threads,single").split(",").filter(Boolean);
const JSON_OUT = opt("--json", "");
const THREADS = opt("--threads", "");
const OUTPUT = opt("--output", ""); // "blob": ?output=blob, the worker's Blob fallback (to compare)
const WORK = path.join(BUILD, "bench-web");
const SQ = path.join(BUILD, "sq");
const MB = 1 << 20;

const log = (...a) => console.error("web_1b:", ...a);
function die(msg) { log(msg); process.exit(2); }
for (const [f, how] of [[SQ, "make"], [path.join(BUILD, "web", "index.html"), "make web"], [path.join(BUILD, "web", "sq-core-mt.js"), "make web"]])
  if (!fs.existsSync(f)) die(`${f} is missing (${how} BUILD=${path.relative(ROOT, BUILD) || "."})`);
if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} is missing (apt-get install chromium)`);
for (const m of MODES) if (m !== "threads" && m !== "single") die(`unknown mode '${m}' (threads, single)`);

const { chromium } = await import("playwright-core");
const { createServer } = await import(path.join(ROOT, "web", "serve.mjs"));
const { CHROMIUM_ARGS, sampler, jsHeapProbe } = await import(path.join(ROOT, "bench", "chromium.mjs"));
fs.mkdirSync(WORK, { recursive: true });

function run(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

// ---------------- the model and the native reference ----------------
let model = opt("--model", "");
let madeModel = false;
if (!model) {
  const shared = [path.join(BUILD, "bench", "synth1b"), path.join("build", "bench", "synth1b")]
    .find((d) => fs.existsSync(path.join(d, "model.safetensors")));
  if (shared) model = shared;
  else {
    model = path.join(WORK, "synth1b");
    log(`writing the synthetic 1B model to ${model}`);
    run(path.join(BUILD, "sq-synth"), [model, "--preset", "1b"]);
    madeModel = true;
  }
}
const files = ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
  .map((f) => path.resolve(model, f)).filter((f) => fs.existsSync(f));
const bytesIn = fs.statSync(path.join(model, "model.safetensors")).size;
// the reference: --native FILE (build/sq's output for this model and these options, e.g.
// the one bench/run.py just wrote), else build/sq runs now
const given = opt("--native", "");
const native = given || path.join(WORK, "native.safetensors");
let nativeSeconds = null;
if (!given) {
  log(`native: ${SQ} quantize ${model} --bits 4 --clusters 3 --format packed`);
  nativeSeconds = run(SQ, ["quantize", model, native, "--bits", "4", "--clusters", "3", "--format", "packed", "--quiet"]);
}

function sameBytes(a, b) {
  if (fs.statSync(a).size !== fs.statSync(b).size) return false;
  const fa = fs.openSync(a, "r"), fb = fs.openSync(b, "r");
  const x = Buffer.alloc(1 << 24), y = Buffer.alloc(1 << 24);
  try {
    for (let off = 0; ; off += x.length) {
      const n = fs.readSync(fa, x, 0, x.length, off);
      if (n === 0) return true;
      if (fs.readSync(fb, y, 0, n, off) !== n || x.compare(y, 0, n, 0, n) !== 0) return false;
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

// ---------------- one run ----------------
async function runMode(mode) {
  const isolate = mode === "threads";
  const server = createServer(path.join(BUILD, "web"), { isolate });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  const origin = `http://127.0.0.1:${server.address().port}`;
  // a persistent profile (a fresh one per run), as a real user has: in Playwright's default
  // incognito-like contexts the Origin Private File System, where the worker writes the
  // output, lives in memory and is several times slower
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sq-web-1b-profile-"));
  let context = null, browser = null;
  const out = { mode, isolated: null, threads: null };
  const dl = path.join(WORK, `page-${mode}.safetensors`);
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      acceptDownloads: true,
      args: CHROMIUM_ARGS,
    });
    // its Browser (playwright-core 1.65 gives one for a persistent context too; if null: no
    // JS heap figures), for the browser-level session of the JS heap probe
    browser = context.browser?.() ?? null;
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    const q = new URLSearchParams();
    if (mode === "threads" && THREADS) q.set("threads", THREADS);
    if (OUTPUT) q.set("output", OUTPUT);
    await page.goto(origin + "/" + (String(q) ? `?${q}` : ""));
    await page.waitForFunction(() => document.querySelector("#threads")?.dataset.threads, null, { timeout: 60000 });
    out.isolated = await page.evaluate(() => self.crossOriginIsolated);
    await page.setInputFiles("input[type=file][data-sq=files]", files);
    await page.waitForFunction(() => /LlamaForCausalLM/.test(document.querySelector("#model-info")?.innerText || ""), null, { timeout: 120000 });
    await page.selectOption("[data-sq=bits]", "4");
    await page.selectOption("[data-sq=clusters]", "3");
    await page.selectOption("[data-sq=format]", "packed");
    await page.selectOption("[data-sq=group]", "auto");
    const heap = browser ? await jsHeapProbe(browser, log) : null;
    const mem = sampler();
    const t0 = performance.now();
    await page.click("[data-sq=start]");
    await page.waitForSelector("[data-sq=done]", { timeout: 1800000 });
    out.wall_s = (performance.now() - t0) / 1000;
    const cpuQuant = { all: mem.cpu(), renderer: mem.cpu("renderer") }; // the quantization's (not the download's)
    const done = await page.evaluate(() => { const d = document.querySelector("[data-sq=done]"); return { ...d.dataset }; });
    if (heap) await heap.stop();
    const t1 = performance.now();
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("a[data-sq=download]")]);
    await download.saveAs(dl);
    out.download_s = (performance.now() - t1) / 1000;
    mem.stop();
    out.threads = Number(done.threads);
    out.browser_s = Number(done.seconds);
    out.worker_peak_heap_mb = Math.round(Number(done.heapBytes) / MB);
    out.js_heap_peak_mb = heap ? Math.round(heap.peak() / MB) : null;
    out.chromium_peak_rss_mb = Math.round(mem.peak.total / MB);
    out.renderer_peak_rss_mb = Math.round(mem.peak.renderer / MB);
    out.browser_peak_rss_mb = Math.round(mem.peak.browser / MB);
    out.start_rss_mb = Object.fromEntries(Object.entries(mem.peak.start).map(([k, v]) => [k, Math.round(v / MB)]));
    out.chromium_cpu_s = Math.round(cpuQuant.all * 10) / 10;
    out.renderer_cpu_s = Math.round(cpuQuant.renderer * 10) / 10;
    out.bytes_out = fs.statSync(dl).size;
    out.identical = sameBytes(dl, native);
    out.io = done.io ? JSON.parse(done.io) : null;
    out.output = out.io?.output ?? null;
    out.write_s = out.io ? Math.round(out.io.writeSeconds * 100) / 100 : null;
    if (errors.length) out.errors = errors;
  } catch (err) {
    out.error = String(err.message || err).split("\n")[0];
    out.identical = false;
  } finally {
    if (context) await context.close();
    server.close();
    fs.rmSync(dl, { force: true });
    fs.rmSync(profile, { recursive: true, force: true });
  }
  return out;
}

const result = { model: path.relative(ROOT, path.resolve(model)), bytes_in: bytesIn, bytes_out: fs.statSync(native).size,
                 native_s: nativeSeconds === null ? null : Math.round(nativeSeconds * 100) / 100, cpus: os.cpus().length, runs: [] };
try {
  for (const mode of MODES) {
    const load = os.loadavg()[0];
    const r = await runMode(mode);
    r.load_before = Math.round(load * 100) / 100;
    result.runs.push(r);
    log(r.error ? `${mode}: FAILED: ${r.error}`
      : `${mode}: ${r.browser_s.toFixed(1)} s on ${r.threads} thread(s) (isolated: ${r.isolated}), wasm heap ${r.worker_peak_heap_mb} MiB, ` +
        `Chromium RSS peak ${r.chromium_peak_rss_mb} MiB, output ${r.output} (writes ${r.write_s} s), identical: ${r.identical}`);
  }
} finally {
  if (!given) fs.rmSync(native, { force: true });
  if (madeModel) fs.rmSync(model, { recursive: true, force: true });
}
result.load = os.loadavg().map((x) => Math.round(x * 100) / 100);
const text = JSON.stringify(result, null, 2);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, text + "\n");
console.log(text);
process.exit(result.runs.every((r) => r.identical && !r.error) ? 0 : 1);
