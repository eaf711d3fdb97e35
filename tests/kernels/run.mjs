#!/usr/bin/env node
// tests/kernels/run.mjs - run the kernel test program inside WebAssembly (node:wasi).
//
//   node tests/kernels/run.mjs --wasm build/kernels/test_kernels.wasm [--native-test BIN]
//   node tests/kernels/run.mjs --wasm W.wasm --bench [--native BIN] [--autovec W2.wasm]
//                               [--out build/bench/kernels.json] [--secs S]
//
// Tests: the program's output is passed through (and that of the native unit test BIN,
// build/tests/test_kernels, when given); ends with the summed "N passed, N failed" and
// exits non-zero on any failure. Bench: the program's "BENCH {...}" line (GB/s
// of weight bytes, scalar reference vs SIMD128 twin, per kernel) is written to --out,
// with the native numbers (ref vs AVX2, from --native) and the reference as sq.wasm
// builds it (-O3 -msimd128, auto-vectorised: --autovec) beside it.
import v8 from "node:v8";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";

// See tools/sq-wasi.mjs: node 20's WASI fast calls crash once memory has grown.
v8.setFlagsFromString("--no-turbo-fast-api-calls");
process.removeAllListeners("warning");
const { WASI } = await import("node:wasi");

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const wasmPath = opt("--wasm", "build/kernels/test_kernels.wasm");
const bench = argv.includes("--bench");
const secs = opt("--secs", "0.6");

// Run a wasm program with args; returns { code, stdout }.
async function runWasm(file, args) {
  const out = path.join(path.dirname(file), `.out-${process.pid}-${path.basename(file)}.txt`);
  const fd = fs.openSync(out, "w");
  const wasi = new WASI({ version: "preview1", args: [path.basename(file), ...args], env: {}, stdout: fd, returnOnExit: true });
  const module = await WebAssembly.compile(fs.readFileSync(file));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  let code;
  try {
    code = wasi.start(instance);
  } catch (err) {
    code = 134;
    console.error(`trap: ${err.message}`);
  }
  fs.closeSync(fd);
  const stdout = fs.readFileSync(out, "utf8");
  fs.rmSync(out);
  return { code, stdout };
}

function benchLine(stdout, what) {
  const line = stdout.split("\n").find((l) => l.startsWith("BENCH "));
  if (!line) throw new Error(`${what}: no BENCH line in its output:\n${stdout}`);
  return JSON.parse(line.slice(6));
}

if (!bench) {
  let passed = 0, failed = 0;
  const count = (what, code, stdout) => {
    const m = stdout.match(/(\d+) passed, (\d+) failed\s*$/);
    if (!m) { failed++; console.log(`FAIL ${what}: no summary (exit ${code})`); return; }
    passed += +m[1];
    failed += +m[2] + (code !== 0 && m[2] === "0" ? 1 : 0);
  };
  const nativeTest = opt("--native-test", "");
  if (nativeTest) {
    console.log(`== native: ${nativeTest}`);
    const r = spawnSync(nativeTest, [], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    process.stdout.write(r.stdout || "");
    count(nativeTest, r.status, r.stdout || "");
  }
  console.log(`== wasm (node:wasi): ${wasmPath}`);
  const r = await runWasm(wasmPath, []);
  process.stdout.write(r.stdout);
  count(wasmPath, r.code, r.stdout);
  console.log(`kernels: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

const t0 = performance.now();
const w = await runWasm(wasmPath, ["bench", secs]);
if (w.code !== 0) { process.stdout.write(w.stdout); process.exit(1); }
const wasm = benchLine(w.stdout, wasmPath);
const result = { wasm };
const autovec = opt("--autovec", "");
if (autovec) {
  const a = await runWasm(autovec, ["bench", secs]);
  const j = benchLine(a.stdout, autovec);
  result.wasm_ref_autovectorized = Object.fromEntries(Object.entries(j).filter(([k]) => k.endsWith("_scalar_gbs")));
}
const native = opt("--native", "");
if (native) {
  const r = spawnSync(native, ["bench", secs], { encoding: "utf8" });
  result.native = benchLine(r.stdout, native);
}
// The flat keys the issue asks for: <kernel>_scalar_gbs / <kernel>_simd_gbs (wasm).
const flat = {};
for (const [k, v] of Object.entries(wasm)) if (/_(scalar_gbs|simd_gbs|speedup)$/.test(k)) flat[k] = v;
const report = {
  ...flat,
  units: "GB/s of weight bytes (matvec: one input; matmul8: 8 inputs per pass over the weights); convert_*: GB/s of 16-bit input",
  note: "scalar = core/kernels/ref.c compiled -O3 -msimd128 -fno-vectorize -fno-slp-vectorize; simd = simd128.c; both give the same bits",
  ...result,
  seconds: +((performance.now() - t0) / 1000).toFixed(1),
};
const outPath = opt("--out", "build/bench/kernels.json");
fs.mkdirSync(path.dirname(outPath), { recursive: true });
fs.writeFileSync(outPath, JSON.stringify(report, null, 2) + "\n");
const rows = Object.keys(wasm).filter((k) => k.endsWith("_speedup")).map((k) => k.replace(/_speedup$/, ""));
console.log(`kernel                     wasm scalar   wasm simd  speedup${native ? "   native ref  native " + result.native.twin : ""}`);
for (const k of rows) {
  let line = `${k.padEnd(24)} ${wasm[k + "_scalar_gbs"].toFixed(2).padStart(9)} ${wasm[k + "_simd_gbs"].toFixed(2).padStart(11)} ${wasm[k + "_speedup"].toFixed(2).padStart(7)}x`;
  if (native) line += ` ${result.native[k + "_scalar_gbs"].toFixed(2).padStart(11)} ${result.native[k + "_simd_gbs"].toFixed(2).padStart(11)}`;
  console.log(line);
}
console.log(`wrote ${outPath}`);
