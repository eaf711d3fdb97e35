#!/usr/bin/env node
// bench/web_infer.mjs - inference speed in the browser: the web app generates with a
// quantized Llama in headless Chromium, and the run panel's own figures are read back
// (prompt = prefill tok/s, generation = decode tok/s, time to the first token, the
// wasm memory's peak), cross-origin isolated (the pthreads core) and not (the
// single-thread core).
//
//   node bench/web_infer.mjs [--build DIR] [--shapes small,1b] [--layouts int4_plain,int4_packed_k3]
//                            [--modes threads,single] [--threads N] [--prompt-tokens 64]
//                            [--tokens 32] [--repeat 2] [--chromium PATH] [--json FILE]
//
// Shapes: "small" (SmolLM-135M's body with the Llama 3 vocabulary, 360 MB BF16) and
// "1b" (Llama-3.2-1B's, 2.47 GB), written by DIR/sq-synth --preset SHAPE into
// DIR/bench/synth-small and DIR/bench/synth1b when missing or older than tools/synth.c
// (kept, shared with bench/run.py and bench/infer.py). Layouts: int4_plain (`sq quantize
// --bits 4 --clusters 1`) and int4_packed_k3 (`--bits 4 --clusters 3 --format packed`),
// quantized by DIR/sq into DIR/bench-web/ and removed afterwards. The page gets the
// quantized file alone (it runs a file sq quantized: config and tokenizer are in its
// metadata), greedy generation of --tokens new tokens after a prompt of exactly
// --prompt-tokens tokens (BOS included; found with DIR/sq generate -n 0 --stats).
// --modes: "threads" serves the page with COOP/COEP (cross-origin isolated: the threaded
// core with navigator.hardwareConcurrency threads, at most 8; --threads N limits them
// through ?threads=N); "single" serves it without (a plain static host: one thread).
// Each shape and mode gets a fresh browser; each layout is loaded once and generates
// --repeat times (the first run also pays the compilation of the hot wasm functions by
// the optimizing tier: the figures are those of the last run, the first is kept as
// "first").
//
// Prints one line per run on stderr and, last, the JSON on stdout (also to --json FILE):
//   {"cpus", "prompt_tokens", "new_tokens", "load" (1, 5, 15-minute load averages at the end),
//    "shapes": {SHAPE: {"source", LAYOUT: {"file_mb", MODE: {
//      "isolated", "threads"     what the page ran on
//      "prefill_tps"             the prompt's tokens / the seconds of the core's prefill call
//      "decode_tps"              tokens after the first / the seconds of their steps (each one
//                                forward of the previous token + sampling + its text)
//      "ttft_s"                  from the prompt to the first token (prefill + sampling)
//      "wall_s"                  from the prompt to the last token, in the worker
//      "prompt_tokens", "decode_tokens", "tokens" (generated: fewer than asked means the
//                                model ended the text)
//      "load_s"                  loading the model into the worker (read + unpack)
//      "heap_peak_mb"            the inference worker's wasm memory at the end (it only grows)
//      "chromium_peak_rss_mb"    peak of the summed RSS of every Chromium process (sampled)
//      "load_before"             1-minute load average before the run
//      "renderer_cpu_s"          CPU seconds of the page's renderer process (the page, its
//                                workers and pthreads) during the generation: over wall_s,
//                                how many cores it had
//      "native"                  {threads, prefill_tps, decode_tps, ttft_s, cpu_s}: build/sq
//                                generate --stats on the same file, prompt and thread count,
//                                run just before (on a shared machine, compare the ratio)
//      "first"                   {prefill_tps, decode_tps, ttft_s} of the first run}}}}}
// Exit status 1 if a run failed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const list = (name, dflt) => opt(name, dflt).split(",").filter(Boolean);
const BUILD = path.resolve(opt("--build", "build"));
const CHROMIUM = opt("--chromium", "/usr/bin/chromium");
const SHAPES = list("--shapes", "small,1b");
const LAYOUTS = list("--layouts", "int4_plain,int4_packed_k3");
const MODES = list("--modes", "threads,single");
const THREADS = opt("--threads", "");
const PROMPT_TOKENS = Number(opt("--prompt-tokens", "64"));
const NEW_TOKENS = Number(opt("--tokens", "32"));
const REPEAT = Math.max(1, Number(opt("--repeat", "2")));
const JSON_OUT = opt("--json", "");
const SQ = path.join(BUILD, "sq");
const WORK = path.join(BUILD, "bench-web");
const QUANT = { int4_plain: ["--bits", "4", "--clusters", "1"], int4_packed_k3: ["--bits", "4", "--clusters", "3", "--format", "packed"] };
const MB = 1 << 20;

const log = (...a) => console.error("web_infer:", ...a);
function die(msg) { log(msg); process.exit(2); }
for (const [f, how] of [[SQ, "make"], [path.join(BUILD, "sq-synth"), "make"], [path.join(BUILD, "web", "index.html"), "make web"],
                        [path.join(BUILD, "web", "sq-core-mt.js"), "make web"]])
  if (!fs.existsSync(f)) die(`${f} is missing (${how} BUILD=${path.relative(ROOT, BUILD) || "."})`);
if (!fs.existsSync(CHROMIUM)) die(`${CHROMIUM} is missing (apt-get install chromium)`);
for (const s of SHAPES) if (s !== "small" && s !== "1b") die(`unknown shape '${s}' (small, 1b)`);
for (const l of LAYOUTS) if (!QUANT[l]) die(`unknown layout '${l}' (${Object.keys(QUANT).join(", ")})`);
for (const m of MODES) if (m !== "threads" && m !== "single") die(`unknown mode '${m}' (threads, single)`);
if (!(PROMPT_TOKENS >= 2 && NEW_TOKENS >= 2)) die("--prompt-tokens and --tokens must be at least 2");

const { chromium } = await import("playwright-core");
const { createServer } = await import(path.join(ROOT, "web", "serve.mjs"));
const { CHROMIUM_ARGS, sampler } = await import(path.join(ROOT, "bench", "chromium.mjs"));
fs.mkdirSync(WORK, { recursive: true });

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr.slice(-400)}`);
  return r;
}

function ensureShape(shape) {
  const dir = path.join(BUILD, "bench", shape === "1b" ? "synth1b" : `synth-${shape}`);
  const st = path.join(dir, "model.safetensors");
  if (!(fs.existsSync(st) && fs.statSync(st).mtimeMs >= fs.statSync(path.join(ROOT, "tools", "synth.c")).mtimeMs)) {
    log(`writing ${dir} (sq-synth --preset ${shape})`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    run(path.join(BUILD, "sq-synth"), [dir, "--preset", shape]);
  }
  return dir;
}

// A prompt of exactly n tokens, BOS included (as bench/infer.py: asking sq itself).
const WORDS = "the quick brown fox jumps over a lazy dog and then runs far away into deep green forest".split(" ");
function promptOf(model, n) {
  let words = n - 1;
  for (let i = 0; i < 8; i++) {
    const text = Array.from({ length: words }, (_, k) => WORDS[k % WORDS.length]).join(" ");
    const r = run(SQ, ["generate", model, "--prompt", text, "-n", "0", "--stats"]);
    const got = Number((r.stderr.match(/prompt (\d+) tokens in/) || [])[1]);
    if (got === n) return text;
    if (!got) throw new Error(`sq generate --stats said no prompt size: ${r.stderr.slice(-200)}`);
    words += n - got;
  }
  throw new Error(`could not build a ${n}-token prompt`);
}

const round = (x, d = 2) => (x === null || x === undefined || x === "" || !Number.isFinite(Number(x)) ? null : Math.round(Number(x) * 10 ** d) / 10 ** d);

// One shape in one mode: a fresh browser, each layout's file loaded and run REPEAT times.
// The same generation by native build/sq on the same file and thread count, just before
// the browser's: on a shared machine the ratio means more than either figure alone.
function native(file, prompt, threads) {
  const r = run(SQ, ["generate", file, "--prompt", prompt, "-n", String(NEW_TOKENS), "--stats", "--threads", String(threads)]);
  const p = r.stderr.match(/prompt (\d+) tokens in ([\d.]+)s \(([\d.]+) tok\/s, ([\d.]+)s of CPU\)/);
  const g = r.stderr.match(/(\d+) tokens generated in ([\d.]+)s \(([\d.]+) tok\/s, ([\d.]+)s of CPU\)/);
  if (!p || !g) throw new Error(`sq generate --stats: ${r.stderr.slice(-200)}`);
  return { threads, prefill_tps: Number(p[3]), decode_tps: Number(g[3]), ttft_s: Number(p[2]), cpu_s: round(Number(p[4]) + Number(g[4])) };
}

async function runMode(mode, files, prompt) {
  const server = createServer(path.join(BUILD, "web"), { isolate: mode === "threads" });
  await new Promise((res) => server.listen(0, "127.0.0.1", res));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const out = {};
  try {
    for (const [layout, file] of Object.entries(files)) {
      const r = (out[layout] = { load_before: round(os.loadavg()[0]) });
      const nthreads = mode === "single" ? 1 : Math.min(8, Number(THREADS) || os.cpus().length);
      try { r.native = native(file, prompt, nthreads); } catch (err) { r.native = { error: String(err.message).split("\n")[0] }; }
      const context = await browser.newContext();
      const mem = sampler();
      try {
        const page = await context.newPage();
        const errors = [];
        page.on("pageerror", (e) => errors.push(String(e)));
        const q = new URLSearchParams();
        if (mode === "threads" && THREADS) q.set("threads", THREADS);
        await page.goto(origin + "/" + (String(q) ? `?${q}` : ""));
        await page.waitForFunction(() => document.querySelector("#threads")?.dataset.threads, null, { timeout: 60000 });
        r.isolated = await page.evaluate(() => self.crossOriginIsolated);
        await page.setInputFiles("input[type=file][data-sq=files]", [file]);
        await page.waitForFunction(() => document.querySelector("[data-sq=prequantized]") || document.querySelector("#errors")?.innerText.trim(),
          null, { timeout: 120000 });
        const err = (await page.locator("#errors").innerText()).trim();
        if (err) throw new Error(`the page: ${err}`);
        await page.selectOption("[data-sq=mode]", "greedy");
        await page.fill("[data-sq=tokens]", String(NEW_TOKENS));
        await page.fill("[data-sq=prompt]", prompt);
        for (let i = 0; i < REPEAT; i++) {
          const cpu0 = mem.cpu("renderer");
          await page.click("[data-sq=run]");
          await page.waitForFunction(() => { const o = document.querySelector("[data-sq=output]"); return o && !o.hasAttribute("data-busy"); },
            null, { timeout: 1800000 });
          const e2 = (await page.locator("#errors").innerText()).trim();
          if (e2) throw new Error(`the page: ${e2}`);
          const d = await page.evaluate(() => ({ ...document.querySelector("[data-sq=meta-original]").dataset }));
          if (d.decodeTps === undefined) throw new Error(`no figures in the pane: ${await page.locator("[data-sq=meta-original]").innerText()}`);
          const fig = { prefill_tps: round(d.prefillTps, 1), decode_tps: round(d.decodeTps, 1), ttft_s: round(d.ttft, 3) };
          fig.renderer_cpu_s = round(mem.cpu("renderer") - cpu0);
          if (i === 0) { r.first = fig; r.load_s = round(d.loadSeconds); }
          Object.assign(r, fig, { wall_s: round(d.seconds, 3), prompt_tokens: Number(d.promptTokens), decode_tokens: Number(d.decodeTokens),
                                  tokens: Number(d.tokens), threads: Number(d.threads), heap_peak_mb: Math.round(Number(d.heapBytes) / MB) });
        }
        if (r.prompt_tokens !== PROMPT_TOKENS) throw new Error(`the page ran ${r.prompt_tokens} prompt tokens, not ${PROMPT_TOKENS}`);
        if (errors.length) r.errors = errors;
      } catch (err) {
        r.error = String(err.message || err).split("\n")[0];
      } finally {
        mem.stop();
        r.chromium_peak_rss_mb = Math.round(mem.peak.total / MB);
        await context.close();
      }
      log(r.error ? `${mode} ${layout}: FAILED: ${r.error}`
        : `${mode} ${layout}: prefill ${r.prefill_tps} tok/s, decode ${r.decode_tps} tok/s, TTFT ${r.ttft_s} s on ${r.threads} thread(s) ` +
          `(isolated: ${r.isolated}; first run ${r.first.prefill_tps} / ${r.first.decode_tps}; native just before ${r.native.prefill_tps} / ` +
          `${r.native.decode_tps}); renderer CPU ${r.renderer_cpu_s} s for ${r.wall_s} s; load ${r.load_s} s, ` +
          `wasm heap ${r.heap_peak_mb} MiB, Chromium RSS peak ${r.chromium_peak_rss_mb} MiB, load average ${r.load_before}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
  return out;
}

const result = { cpus: os.cpus().length, prompt_tokens: PROMPT_TOKENS, new_tokens: NEW_TOKENS, repeat: REPEAT, shapes: {} };
let ok = true;
for (const shape of SHAPES) {
  const sh = (result.shapes[shape] = {});
  const files = {};
  try {
    sh.source = path.relative(ROOT, ensureShape(shape));
    for (const layout of LAYOUTS) {
      const f = path.join(WORK, `infer-${shape}-${layout}.safetensors`);
      log(`${shape} ${layout}: sq quantize`);
      run(SQ, ["quantize", sh.source, f, "--quiet", ...QUANT[layout]]);
      files[layout] = f;
      sh[layout] = { file_mb: round(fs.statSync(f).size / 1e6, 1) };
    }
    const prompt = promptOf(files[LAYOUTS[0]], PROMPT_TOKENS);
    for (const mode of MODES) {
      const got = await runMode(mode, files, prompt);
      for (const [layout, r] of Object.entries(got)) {
        sh[layout][mode] = r;
        if (r.error) ok = false;
      }
    }
  } catch (err) {
    sh.error = String(err.message || err).split("\n")[0];
    log(`${shape}: FAILED: ${sh.error}`);
    ok = false;
  } finally {
    for (const f of Object.values(files)) fs.rmSync(f, { force: true });
  }
}
result.load = os.loadavg().map((x) => round(x));
const text = JSON.stringify(result, null, 2);
if (JSON_OUT) fs.writeFileSync(JSON_OUT, text + "\n");
console.log(text);
process.exit(ok ? 0 : 1);
