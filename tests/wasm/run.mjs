#!/usr/bin/env node
// tests/wasm/run.mjs - the WebAssembly builds against the native one.
//
//   node tests/wasm/run.mjs [--build DIR] [--filter TEXT] [--large]      (make wasm-test)
//
// 1. build/sq.wasm under node:wasi (via tools/sq-wasi.mjs) behaves as build/sq:
//    same stdout, stderr and exit status, byte-identical quantized/dequantized files;
//    classify and greedy generate agree (up to libm's last bits).
// 2. The Emscripten module (build/web/sq-core.js through wasm/sq-core-api.js) quantizes
//    through its JS reader/writer byte-identically to native, reports the same, reports
//    progress per tensor, cancels, and surfaces errors.
// 3. Both .wasm files contain SIMD (v128) instructions.
// --large adds a 180M-parameter synthetic model (build/sq-synth --preset small, 360 MB):
//    memory growth to hundreds of MB under node:wasi and the module (~1 min, ~1 GB disk).
// Ends with "N passed, N failed"; exits 1 when anything failed.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
process.chdir(ROOT);
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const BUILD = opt("--build", "build");
const FILTER = opt("--filter", "");
const NATIVE = path.join(BUILD, "sq");
const WASM = path.join(BUILD, "sq.wasm");
const WASM_FULL = path.join(BUILD, "wasi", "sq.full.wasm");
const WEB = path.join(BUILD, "web");
const TMP = path.join(BUILD, "wasm-test");
// WASI sees the current directory; an out-of-tree build directory is preopened as is.
const tmpInTree = !path.isAbsolute(TMP) && !path.relative(ROOT, path.resolve(TMP)).startsWith("..");

fs.rmSync(TMP, { recursive: true, force: true });
fs.mkdirSync(TMP, { recursive: true });

let passed = 0, failed = 0;
const info = [];
async function test(name, fn) {
  if (FILTER && !name.includes(FILTER)) return;
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(err && err.stack || err).split("\n").slice(0, 6).join("\n     ")}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${JSON.stringify(a)?.slice(0, 400)} != ${JSON.stringify(b)?.slice(0, 400)}`);
}
function sameFile(a, b) {
  const sa = fs.statSync(a).size, sb = fs.statSync(b).size;
  if (sa !== sb) throw new Error(`${a} (${sa} bytes) and ${b} (${sb} bytes) differ in size`);
  const fa = fs.openSync(a, "r"), fb = fs.openSync(b, "r");
  try {
    const x = Buffer.alloc(1 << 22), y = Buffer.alloc(1 << 22);
    for (let off = 0; off < sa; off += x.length) {
      const n = fs.readSync(fa, x, 0, x.length, off);
      fs.readSync(fb, y, 0, n, off);
      if (x.compare(y, 0, n, 0, n) !== 0) {
        let i = 0;
        while (x[i] === y[i]) i++;
        throw new Error(`${a} and ${b} differ at byte ${off + i}`);
      }
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}

function run(cmd, args, env = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}
const native = (args) => run(NATIVE, args);
const wasi = (args) =>
  run(process.execPath, [path.join("tools", "sq-wasi.mjs"), ...args],
      { SQ_WASM: WASM, SQ_WASI_DIRS: tmpInTree ? "" : path.resolve(TMP) });
const T = (name) => (tmpInTree ? path.join(TMP, name) : path.resolve(TMP, name));

// Run native and WASI with the same arguments.
function both(args) {
  const n = native(args);
  const w = wasi(args);
  return { n, w };
}
function sameRun(n, w, what) {
  eq(w.status, n.status, `${what}: exit status (wasi stderr: ${w.stderr.trim()})`);
  eq(w.stdout, n.stdout, `${what}: stdout`);
}

// Reports must agree but for the wall times ("seconds"). mse/mse_plain are sums of
// squares: the native pipeline adds them up in 64 chunks when it has threads and in one
// without (threads=1, WASI, browser), so they may differ in the last bits (relative
// 1e-12); everything else is exact.
function sameReport(got, want, where = "report") {
  if (typeof want === "number" && typeof got === "number" && /\.mse(_plain)?$/.test(where)) {
    if (Math.abs(got - want) > 1e-12 * Math.max(Math.abs(want), 1e-300)) throw new Error(`${where}: ${got} != ${want}`);
    return;
  }
  if (want === null || typeof want !== "object" || got === null || typeof got !== "object") {
    if (got !== want) throw new Error(`${where}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
    return;
  }
  if (Array.isArray(want) !== Array.isArray(got)) throw new Error(`${where}: array vs object`);
  const keys = new Set([...Object.keys(want), ...Object.keys(got)]);
  for (const k of keys) if (k !== "seconds") sameReport(got[k], want[k], `${where}.${k}`);
}
const readJson = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
// A run's stderr without the timing ("in 0.45s").
const stderrNorm = (s) => s.replace(/ in [0-9.]+s;/g, " in Xs;");

const MODELS = [
  { name: "bert", dir: "examples/bert-tiny-emotion" },
  { name: "stories", dir: "examples/stories260K" },
];
const OPTION_SETS = [
  ["--bits", "4", "--clusters", "3", "--format", "paper"],
  ["--bits", "4", "--clusters", "3", "--format", "packed"],
  ["--bits", "2", "--format", "packed"],
  ["--bits", "3", "--clusters", "2", "--group", "row", "--format", "paper"],
  ["--bits", "8", "--clusters", "1"],
  ["--bits", "f32"],
  ["--bits", "4", "--format", "codebook"],
  ["--bits", "3", "--format", "codebook", "--group", "32"],
];

for (const f of [NATIVE, WASM, path.join(WEB, "sq-core.js"), path.join(WEB, "sq-core.wasm")])
  if (!fs.existsSync(f)) { console.log(`missing ${f}: run make, make wasi, make web-module`); process.exit(1); }

// ---------------- 1. sq.wasm under WASI vs native ----------------

await test("wasi: usage and unknown command match native", () => {
  for (const args of [[], ["--version"], ["--help"], ["frobnicate"], ["quantize"], ["quantize", "a", "b", "--bits", "5"]]) {
    const { n, w } = both(args);
    sameRun(n, w, `sq ${args.join(" ")}`);
    eq(w.stderr, n.stderr, `sq ${args.join(" ")}: stderr`);
  }
});

for (const m of MODELS) {
  await test(`wasi: inspect ${m.name} (text and --json) matches native`, () => {
    for (const extra of [[], ["--json"]]) {
      const { n, w } = both(["inspect", m.dir, ...extra]);
      eq(n.status, 0, `native inspect ${extra}: ${n.stderr}`);
      sameRun(n, w, `inspect ${m.dir} ${extra}`);
    }
  });
}

await test("wasi: a sharded model (3 shards + index) quantizes byte-identically to native", () => {
  const dir = T("sharded-stories");
  const mk = spawnSync("python3", ["tests/cli/make_shards.py", "examples/stories260K", dir, "3"], { encoding: "utf8" });
  eq(mk.status, 0, `make_shards: ${mk.stderr}`);
  const outN = T("sharded.native.safetensors"), outW = T("sharded.wasi.safetensors");
  const n = native(["quantize", dir, outN, "--quiet"]);
  const w = wasi(["quantize", dir, outW, "--quiet"]);
  eq(n.status, 0, `native failed: ${n.stderr}`);
  eq(w.status, 0, `wasi failed: ${w.stderr}`);
  sameFile(outN, outW);
  const bad = both(["inspect", path.join(dir, "model-00001-of-00003.safetensors").replace(/00001/, "00009")]);
  sameRun(bad.n, bad.w, "inspect of a missing shard");
});

const quantized = {}; // model name -> a quantized file (for dequantize and inspect)
for (const m of MODELS) {
  for (const os of OPTION_SETS) {
    const tag = `${m.name}${os.join("").replace(/--/g, "-")}`;
    await test(`wasi: quantize ${m.name} ${os.join(" ")} is byte-identical to native`, () => {
      const outN = T(`${tag}.native.safetensors`), outW = T(`${tag}.wasi.safetensors`);
      const repN = T(`${tag}.native.json`), repW = T(`${tag}.wasi.json`);
      const n = native(["quantize", m.dir, outN, ...os, "--report", repN]);
      const w = wasi(["quantize", m.dir, outW, ...os, "--report", repW]);
      eq(n.status, 0, `native failed: ${n.stderr}`);
      eq(w.status, 0, `wasi failed: ${w.stderr}`);
      sameFile(outN, outW);
      sameReport(readJson(repW), readJson(repN));
      eq(stderrNorm(w.stderr).replace(outW, "OUT"), stderrNorm(n.stderr).replace(outN, "OUT"), "stderr summary");
      if (os.includes("paper") || os.includes("f32")) quantized[`${m.name}${os.includes("f32") ? "-f32" : ""}`] = outN;
      if (os.join(" ") === "--bits 4 --clusters 3 --format packed")
      {
        const inner = (r) => (r.stderr.match(/ in ([0-9.]+)s;/) || [])[1];
        info.push(`quantize ${m.name} ${os.join(" ")}: native ${inner(n)}s, wasi ${inner(w)}s (as printed); ` +
                  `process wall time native ${n.seconds.toFixed(2)}s, node tools/sq-wasi.mjs ${w.seconds.toFixed(2)}s`);
      }
    });
  }
}

for (const [key, file] of Object.entries(quantized)) {
  await test(`wasi: inspect + dequantize of quantized ${key} match native`, () => {
    const i = both(["inspect", file, "--json"]);
    eq(i.n.status, 0, `native inspect: ${i.n.stderr}`);
    sameRun(i.n, i.w, "inspect quantized");
    for (const dt of [[], ["--dtype", "f16"]]) {
      const outN = T(`deq-${key}${dt.join("")}.native.safetensors`), outW = T(`deq-${key}${dt.join("")}.wasi.safetensors`);
      const n = native(["dequantize", file, outN, ...dt]);
      const w = wasi(["dequantize", file, outW, ...dt]);
      eq(n.status, 0, `native dequantize: ${n.stderr}`);
      eq(w.status, 0, `wasi dequantize: ${w.stderr}`);
      sameFile(outN, outW);
    }
  });
}

// Inference under WASI. Not bit-identical to native: glibc's and wasi-libc's (musl's)
// expf/erff/tanhf differ in the last bit now and then, so logits agree to ~1e-6; the
// labels and the greedy text must be the same.
await test("wasi: classify matches native (labels exact, probabilities to 1e-5)", () => {
  const args = ["classify", MODELS[0].dir, "i feel wonderful today", "i am so angry", "this is terrible", "--json"];
  const { n, w } = both(args);
  eq(n.status, 0, `native classify: ${n.stderr}`);
  eq(w.status, 0, `wasi classify: ${w.stderr}`);
  const a = JSON.parse(w.stdout), b = JSON.parse(n.stdout);
  eq(JSON.stringify(a.labels), JSON.stringify(b.labels), "labels");
  eq(a.results.length, b.results.length, "results");
  a.results.forEach((r, i) => {
    eq(r.label, b.results[i].label, `label of "${r.text}"`);
    r.probs.forEach((p, j) => assert(Math.abs(p - b.results[i].probs[j]) < 1e-5, `prob ${j} of "${r.text}": ${p} vs ${b.results[i].probs[j]}`));
  });
});

await test("wasi: the other architectures (mistral, qwen2, llama3-scaled; distilbert, roberta) quantize byte-identically and run as native", () => {
  const py = ["python3", "/usr/bin/python3"].find((p) => spawnSync(p, ["-c", "import numpy"]).status === 0);
  assert(py, "numpy is needed to build the tiny architecture models (apt-get install python3-numpy)");
  const dir = T("arch");
  for (const [script, src] of [["tests/ref/make_arch.py", "examples/stories260K"], ["tests/ref/make_bert_arch.py", "examples/bert-tiny-emotion"]]) {
    const mk = spawnSync(py, [script, src, dir], { encoding: "utf8" });
    eq(mk.status, 0, `${script}: ${mk.stderr}`);
  }
  for (const a of ["llama", "mistral", "qwen2", "distilbert", "roberta"]) {
    const m = path.join(dir, `${a}-tiny`);
    const outN = T(`arch-${a}.native.safetensors`), outW = T(`arch-${a}.wasi.safetensors`);
    const n = native(["quantize", m, outN, "--quiet"]), w = wasi(["quantize", m, outW, "--quiet"]);
    eq(n.status, 0, `native quantize ${a}: ${n.stderr}`);
    eq(w.status, 0, `wasi quantize ${a}: ${w.stderr}`);
    sameFile(outN, outW);
    const bert = a === "distilbert" || a === "roberta";
    for (const f of [m, outN]) {
      const args = bert ? ["classify", f, "the cat sat on the mat", "I feel great today"] : ["generate", f, "--prompt", "Once upon a time", "-n", "12", "--temp", "0"];
      const r = both(args);
      eq(r.n.status, 0, `native ${args[0]} ${a}: ${r.n.stderr}`);
      eq(r.w.status, 0, `wasi ${args[0]} ${a}: ${r.w.stderr}`);
      if (bert) eq(r.w.stdout.split("\n").map((l) => l.split("\t")[0]).join(","), r.n.stdout.split("\n").map((l) => l.split("\t")[0]).join(","), `${a} labels`);
      else eq(r.w.stdout, r.n.stdout, `${a} greedy text`);
    }
  }
});

await test("wasi: greedy generate matches native", () => {
  const { n, w } = both(["generate", MODELS[1].dir, "--prompt", "Once upon a time", "-n", "40", "--temp", "0"]);
  eq(n.status, 0, `native generate: ${n.stderr}`);
  sameRun(n, w, "generate");
});

await test("wasi: greedy generate on a codebook INT4 file matches native (simd128 table lookups)", () => {
  const f = T("stories-bits4-formatcodebook.native.safetensors");
  for (const args of [["generate", f, "--prompt", "Once upon a time", "-n", "40", "--temp", "0"]]) {
    const { n, w } = both(args);
    eq(n.status, 0, `native ${args[0]}: ${n.stderr}`);
    sameRun(n, w, args[0]);
  }
});

await test("wasi: --embeddings int4 / int8 (token embedding, tied and untied heads): same bytes; every inference command as native", () => {
  const TXT = "data/tinystories/tinystories-valid-first1000.jsonl", ARC = "data/arc-easy-sample/ARC-Easy-Dev-first50.jsonl";
  for (const [m, emb] of [[MODELS[1], "int4"], [MODELS[0], "int4"], [MODELS[1], "int8"]]) {
    const fn = T(`${m.name}-emb-${emb}.native.safetensors`), fw = T(`${m.name}-emb-${emb}.wasi.safetensors`);
    eq(native(["quantize", m.dir, fn, "--embeddings", emb, "--quiet"]).status, 0, "native quantize");
    const q = wasi(["quantize", m.dir, fw, "--embeddings", emb, "--quiet"]);
    eq(q.status, 0, `wasi quantize: ${q.stderr}`);
    assert(fs.readFileSync(fn).equals(fs.readFileSync(fw)), `${m.name} --embeddings ${emb}: wasi bytes differ from native`);
    const cmds = m.name === "bert"
      ? [["classify", fn, "i feel wonderful today", "i am so angry"], ["eval", fn, "--data", "data/emotion/test.jsonl", "--limit", "40"]]
      : [["generate", fn, "--prompt", "Once upon a time", "-n", "24", "--temp", "0"], ["eval", fn, "--task", "arc", "--data", ARC, "--limit", "4"]];
    for (const args of cmds) {
      const { n, w } = both(args);
      eq(n.status, 0, `native ${args[0]}: ${n.stderr}`);
      sameRun(n, w, `${args[0]} (--embeddings ${emb})`);
    }
    if (m.name === "stories") {
      const { n, w } = both(["perplexity", fn, "--text", TXT, "--limit", "2", "--json"]);
      eq(n.status, 0, `native perplexity: ${n.stderr}`);
      eq(w.status, 0, `wasi perplexity: ${w.stderr}`);
      const a = JSON.parse(n.stdout).perplexity, b = JSON.parse(w.stdout).perplexity;
      assert(Math.abs(a - b) <= 1e-5 * a, `perplexity native ${a} vs wasi ${b}`);
    }
  }
  // an untied head (qwen2-tiny from the architecture test above) as plain INT8
  const qd = T("arch/qwen2-tiny"), f = T("qwen2-emb8.safetensors");
  assert(fs.existsSync(qd), "arch/qwen2-tiny: the architecture test builds it first");
  eq(native(["quantize", qd, f, "--embeddings", "int8", "--quiet"]).status, 0, "native quantize qwen2-tiny");
  const { n, w } = both(["generate", f, "--prompt", "Once upon a time", "-n", "12", "--temp", "0"]);
  eq(n.status, 0, `native generate qwen2: ${n.stderr}`);
  sameRun(n, w, "generate (qwen2-tiny, untied INT8 head)");
});

// Hostile/bad inputs: same exit status (2 = bad input) and the same one-line message.
const src = fs.readFileSync("examples/stories260K/model.safetensors");
const BAD = {
  truncated: src.subarray(0, src.length - 1000),
  "header-cut": src.subarray(0, 40),
  "huge-header": Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]), Buffer.from("{}")]),
  "not-json": Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from("nope!")]),
  empty: Buffer.alloc(0),
};
for (const [name, bytes] of Object.entries(BAD)) fs.writeFileSync(T(`bad-${name}.safetensors`), bytes);

for (const name of Object.keys(BAD)) {
  await test(`wasi: bad file (${name}) fails like native`, () => {
    const file = T(`bad-${name}.safetensors`);
    for (const args of [["inspect", file], ["quantize", file, T(`bad-${name}.out.safetensors`), "--bits", "4"]]) {
      const { n, w } = both(args);
      assert(n.status !== 0, `native accepted ${name}`);
      sameRun(n, w, args.join(" "));
      eq(w.stderr, n.stderr, `${args[0]} ${name}: stderr`);
      assert(w.stderr.trim().split("\n").length === 1, `more than one stderr line: ${w.stderr}`);
    }
    assert(!fs.readdirSync(TMP).some((f) => f.startsWith(`bad-${name}.out`)), "a failed quantize left a file behind");
  });
}

await test("wasi: truncated safetensors exits 2", () => {
  const w = wasi(["quantize", T("bad-truncated.safetensors"), T("x.safetensors")]);
  eq(w.status, 2, "exit status");
});

await test("wasi: missing model and unwritable output fail like native", () => {
  for (const args of [["inspect", "examples/no-such-model"],
                      ["quantize", "examples/stories260K", "no-such-dir/out.safetensors", "--bits", "4"]]) {
    const { n, w } = both(args);
    sameRun(n, w, args.join(" "));
    eq(w.stderr, n.stderr, `${args.join(" ")}: stderr`);
  }
});

// ---------------- 2. the Emscripten module through its JS API ----------------

const api = await import(pathToFileURL(path.resolve(WEB, "sq-core-api.js")).href);
const sq = await api.loadSqCore();

// The texts the CLI finds beside the weights file, as bytes (exact).
function sideTexts(dir) {
  const t = {};
  for (const [slot, file] of [["config_json", "config.json"], ["tokenizer_json", "tokenizer.json"],
                              ["vocab_txt", "vocab.txt"], ["tokenizer_config_json", "tokenizer_config.json"]]) {
    const p = path.join(dir, file);
    if (fs.existsSync(p)) t[slot] = fs.readFileSync(p);
  }
  return t;
}
// The reader reads into wasm memory (readInto) unless copy: then read() returns bytes.
function openModel(file, texts = {}, { copy = false } = {}) {
  const fd = fs.openSync(file, "r");
  const r = api.fdReader(fs, fd);
  const m = sq.openModel({ size: r.size, ...(copy ? { read: r.read } : { readInto: r.readInto }), texts, name: path.basename(file) });
  const close = m.close.bind(m);
  m.close = () => { close(); fs.closeSync(fd); };
  return m;
}
function openFile(file) { // throws like openModel, closing the fd
  const fd = fs.openSync(file, "r");
  try { return sq.openModel({ ...api.fdReader(fs, fd), name: path.basename(file) }); } finally { fs.closeSync(fd); }
}

await test("module: version", () => eq(sq.version, native(["--version"]).stdout.trim().replace(/^sq /, ""), "version"));

const MODULE_CASES = [
  { m: MODELS[0], os: ["--bits", "4", "--clusters", "3", "--format", "packed"], opts: { bits: 4, clusters: 3, format: "packed" } },
  { m: MODELS[0], os: ["--bits", "4", "--clusters", "3", "--format", "paper"], opts: { bits: 4, clusters: 3, format: "paper" } },
  { m: MODELS[0], os: ["--bits", "2", "--clusters", "1", "--group", "row"], opts: { bits: 2, clusters: 1, group: "row" } },
  { m: MODELS[1], os: ["--bits", "f32"], opts: { bits: "f32" } },
  { m: MODELS[1], os: ["--bits", "3", "--format", "packed", "--group", "32"], opts: { bits: 3, format: "packed", group: 32 } },
  { m: MODELS[1], os: ["--bits", "4", "--format", "codebook"], opts: { bits: 4, clusters: 3, format: "codebook" } },
];
for (const c of MODULE_CASES) {
  await test(`module: quantize ${c.m.name} ${c.os.join(" ")} via JS reader/writer is byte-identical to native`, () => {
    const tag = `mod-${c.m.name}${c.os.join("").replace(/--/g, "-")}`;
    const outN = T(`${tag}.native.safetensors`), outM = T(`${tag}.module.safetensors`), repN = T(`${tag}.native.json`);
    const n = native(["quantize", c.m.dir, outN, ...c.os, "--report", repN]);
    eq(n.status, 0, `native failed: ${n.stderr}`);
    const model = openModel(path.join(c.m.dir, "model.safetensors"), sideTexts(c.m.dir));
    const fd = fs.openSync(outM, "w");
    let chunks = 0, maxChunk = 0, progress = [];
    const t0 = performance.now();
    let report;
    try {
      report = model.quantize({ ...c.opts, model: path.basename(c.m.dir) }, {
        write(chunk) { chunks++; maxChunk = Math.max(maxChunk, chunk.length); fs.writeSync(fd, chunk); },
        progress(p) { progress.push(p); return false; },
      });
    } finally {
      fs.closeSync(fd);
      model.close();
    }
    const secs = (performance.now() - t0) / 1000;
    sameFile(outN, outM);
    sameReport(report, readJson(repN));
    // progress: once per tensor, in order, with the report's layer rows
    eq(progress.length, JSON.parse(native(["inspect", c.m.dir, "--json"]).stdout).tensors, "progress calls");
    progress.forEach((p, i) => { eq(p.index, i + 1, "progress index"); eq(p.total, progress.length, "progress total"); });
    eq(progress.at(-1).bytes_done, progress.at(-1).bytes_total, "bytes_done at the end");
    const rows = progress.filter((p) => p.layer).map((p) => p.layer);
    sameReport(rows, report.layers, "progress layers vs report layers");
    if (fs.statSync(outN).size > 2 << 20) assert(chunks > 1, "output came in one piece");
    if (c.opts.format === "packed" && c.m.name === "bert")
      info.push(`module quantize ${c.m.name} ${c.os.join(" ")}: ${secs.toFixed(2)}s in-process, ${chunks} write calls, largest ${maxChunk} bytes`);
  });
}

await test("module: inspect matches native inspect --json (but for \"file\")", () => {
  for (const m of MODELS) {
    const model = openModel(path.join(m.dir, "model.safetensors"), sideTexts(m.dir));
    const got = model.inspect();
    model.close();
    const want = JSON.parse(native(["inspect", m.dir, "--json"]).stdout);
    eq(got.file, "model.safetensors", "file");
    delete got.file; delete want.file;
    eq(JSON.stringify(got), JSON.stringify(want), `inspect ${m.name}`);
  }
  // a quantized file: config from its metadata, "quantized" filled in
  let q = Object.values(quantized)[0];
  if (!q) {
    q = T("inspect-q.safetensors");
    eq(native(["quantize", MODELS[1].dir, q, "--bits", "4"]).status, 0, "native quantize");
  }
  const model = openModel(q);
  const got = model.inspect();
  model.close();
  const want = JSON.parse(native(["inspect", q, "--json"]).stdout);
  delete got.file; delete want.file;
  eq(JSON.stringify(got), JSON.stringify(want), "inspect quantized");
});

await test("module: texts as strings and read() give the same bytes as bytes and readInto()", () => {
  const dir = MODELS[1].dir;
  const outs = [];
  for (const asString of [false, true]) {
    const t = sideTexts(dir);
    if (asString) for (const k of Object.keys(t)) t[k] = t[k].toString("utf8");
    const model = openModel(path.join(dir, "model.safetensors"), t, { copy: asString });
    const parts = [];
    model.quantize({ bits: 4 }, { write: (c) => parts.push(Buffer.from(c)) });
    model.close();
    outs.push(Buffer.concat(parts));
  }
  assert(outs[0].equals(outs[1]), "outputs differ");
});

await test("module: cancel from the progress callback", () => {
  const model = openModel("examples/stories260K/model.safetensors");
  let calls = 0, writesAfter = 0, cancelled = false;
  try {
    model.quantize({ bits: 4 }, {
      write() { if (cancelled) writesAfter++; },
      progress(p) { calls++; if (p.index === 3) { cancelled = true; return true; } return false; },
    });
    throw new Error("quantize returned after a cancel");
  } catch (err) {
    eq(err.code, 3, `error code (${err.message})`);
    eq(err.name, "AbortError", "error name");
  }
  eq(calls, 3, "progress calls");
  eq(writesAfter, 0, "writes after cancel");
  // the model stays usable
  let n = 0;
  model.quantize({ bits: 4 }, { write: (c) => (n += c.length) });
  model.close();
  assert(n > 0, "no output after a cancel");
});

await test("module: exceptions of the callbacks propagate", () => {
  const boom = new Error("boom");
  const model = openModel("examples/stories260K/model.safetensors");
  for (const cbs of [{ write() { throw boom; } }, { write() {}, progress() { throw boom; } }]) {
    try { model.quantize({ bits: 4 }, cbs); throw new Error("no exception"); } catch (err) { assert(err === boom, `got ${err}`); }
  }
  model.close();
  // a reader that fails mid-way
  const fd = fs.openSync("examples/stories260K/model.safetensors", "r");
  const r = api.fdReader(fs, fd);
  let reads = 0;
  for (const reader of [{ read: (o, l) => { if (++reads > 3) throw boom; return r.read(o, l); } },
                        { readInto: (o, v) => { if (++reads > 3) throw boom; r.readInto(o, v); } },
                        { read: (o, l) => (++reads > 3 ? new Uint8Array(l - 1) : r.read(o, l)) }]) {
    reads = 0;
    const m2 = sq.openModel({ size: r.size, ...reader });
    try { m2.quantize({ bits: 4 }, { write() {} }); throw new Error("no exception"); } catch (err) {
      // a short read is an Error naming the byte counts
      assert(err === boom || /^reader returned \d+ bytes at offset \d+, expected \d+$/.test(err.message), `got ${err}`);
    }
    m2.close();
  }
  fs.closeSync(fd);
});

await test("module: bad options and bad files are SqError code 2 with the CLI's message", () => {
  const model = openModel("examples/stories260K/model.safetensors");
  for (const [o, msg] of [[{ bits: 9 }, "--bits must be 2, 3, 4, 5, 6, 7, 8 or f32"], [{ clusters: 0 }, "--clusters must be an integer from 1 to 8"],
                          [{ format: "zip" }, "--format must be packed, paper or codebook"], [{ format: "codebook", bits: 8 }, "--format codebook needs --bits 2, 3 or 4 (got 8)"], [{ group: "x" }, "--group must be auto, row, tensor or a positive number"],
                          [{ bitz: 4 }, "unknown option 'bitz'"]]) {
    try { model.quantize(o, { write() {} }); throw new Error("accepted " + JSON.stringify(o)); } catch (err) {
      eq(err.code, 2, `code for ${JSON.stringify(o)}`);
      eq(err.message, msg, "message");
    }
  }
  model.close();
  for (const name of Object.keys(BAD)) {
    const file = T(`bad-${name}.safetensors`);
    const n = native(["inspect", file]);
    try { openFile(file); throw new Error(`opened ${name}`); } catch (err) {
      eq(err.code, n.status, `code for ${name} (${err.message})`);
      eq(`sq: ${file}: ${err.message}\n`, n.stderr, "message");
    }
  }
});

await test("module: roundtrip (outlier lab) of one matrix", () => {
  const rows = 16, cols = 64, w = new Float32Array(rows * cols);
  let s = 1;
  for (let i = 0; i < w.length; i++) { s = (s * 1103515245 + 12345) % 2147483648; w[i] = (s / 2147483648 - 0.5) * (i % 97 === 0 ? 20 : 1); }
  const { stats, deq } = sq.roundtrip(w, rows, cols, { bits: 4, clusters: 3 }, 0);
  eq(deq.length, w.length, "deq length");
  eq(stats.counts.reduce((a, b) => a + b, 0), w.length, "counts");
  let mse = 0;
  for (let i = 0; i < w.length; i++) mse += (w[i] - deq[i]) ** 2;
  mse /= w.length;
  assert(Math.abs(mse - stats.mse) <= 1e-6 * Math.max(1, mse), `mse ${mse} vs ${stats.mse}`);
  const f32 = sq.roundtrip(w, rows, cols, { bits: "f32", clusters: 3 }, 0);
  assert(f32.deq.every((v, i) => v === w[i]), "f32 roundtrip is not exact");
});

// ---------------- large model (--large) ----------------

if (argv.includes("--large")) {
  await test("large: 180M-parameter synthetic model, WASI and module byte-identical to native", () => {
    const dir = T("synth-small");
    const g = run(path.join(BUILD, "sq-synth"), [dir, "--preset", "small"]);
    eq(g.status, 0, `sq-synth: ${g.stderr}`);
    const os = ["--bits", "4", "--clusters", "3", "--format", "packed"];
    const outN = T("synth-small.native.safetensors"), outW = T("synth-small.wasi.safetensors");
    const outM = T("synth-small.module.safetensors");
    const n = native(["quantize", dir, outN, ...os]);
    eq(n.status, 0, `native: ${n.stderr}`);
    const n1 = native(["quantize", dir, outN + ".t1", ...os, "--threads", "1"]);
    const w = wasi(["quantize", dir, outW, ...os]);
    eq(w.status, 0, `wasi: ${w.stderr}`);
    sameFile(outN, outW);
    const model = openModel(path.join(dir, "model.safetensors"), sideTexts(dir));
    const fd = fs.openSync(outM, "w");
    const t0 = performance.now();
    try {
      model.quantize({ bits: 4, clusters: 3, format: "packed" }, { write: (c) => fs.writeSync(fd, c) });
    } finally {
      fs.closeSync(fd);
      model.close();
    }
    const ms = performance.now() - t0;
    sameFile(outN, outM);
    const inner = (r) => (r.stderr.match(/ in ([0-9.]+)s;/) || [])[1];
    info.push(`quantize synth-small ${os.join(" ")}: native ${inner(n)}s (threads 1: ${inner(n1)}s), ` +
              `wasi ${inner(w)}s, module ${(ms / 1000).toFixed(2)}s`);
    for (const f of [outN, outN + ".t1", outW, outM]) fs.rmSync(f, { force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

// ---------------- 3. SIMD in the binaries ----------------

function objdump(args) {
  const r = spawnSync("wasm-objdump", args, { encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.error) throw new Error(`wasm-objdump (apt-get install wabt): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`wasm-objdump ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}
const SIMD_OP = /\b(?:v128|i8x16|i16x8|i32x4|i64x2|f32x4|f64x2)\.[a-z_0-9.]+/g;
for (const [label, file] of [["sq.wasm", WASM], ["sq-core.wasm", path.join(WEB, "sq-core.wasm")]]) {
  await test(`simd: ${label} contains v128 instructions`, () => {
    const ops = objdump(["-d", file]).match(SIMD_OP) || [];
    const kinds = {};
    for (const op of ops) kinds[op] = (kinds[op] || 0) + 1;
    const top = Object.entries(kinds).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${v}`).join(", ");
    info.push(`${label}: ${fs.statSync(file).size} bytes, ${ops.length} SIMD instructions (${top})`);
    assert(ops.length > 0, "no SIMD instruction");
  });
}
await test("simd: the linked sq.wasm declares the simd128 feature", () => {
  const out = objdump(["-x", "-j", "target_features", WASM_FULL]);
  assert(/simd128/.test(out), `target_features: ${out.trim().split("\n").slice(-5).join(" | ")}`);
});

console.log(info.map((l) => `# ${l}`).join("\n"));
if (!failed) fs.rmSync(TMP, { recursive: true, force: true }); // kept when something failed
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
