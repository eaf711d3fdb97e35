#!/usr/bin/env node
// sq-wasi.mjs - run build/sq.wasm (the sq CLI compiled for WASI) under Node's node:wasi.
//
//   node tools/sq-wasi.mjs inspect examples/bert-tiny-emotion
//   node tools/sq-wasi.mjs quantize examples/bert-tiny-emotion out.safetensors --bits 4
//
// Same arguments, output and exit status as the native `sq`. The current directory is
// preopened, so paths must be relative and stay below it (like `wasmtime --dir=.`):
//   wasmtime --dir=. build/sq.wasm quantize examples/bert-tiny-emotion out.safetensors
// Environment: SQ_WASM=path/to/sq.wasm (default: build/sq.wasm beside this repo's tools/),
// SQ_WASI_DIRS=dir1:dir2 more host directories to preopen (each under its own path).
import v8 from "node:v8";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

// Node's WASI calls go through V8 "fast API calls", which crash node (SIGSEGV, exit 139,
// sometimes after the program has finished) once a program's memory has grown by some
// hundreds of MB: seen with node 20.20 on any model larger than the bundled ones, and
// with a 20-line C program (nodejs/node#53087). Turning fast calls off avoids it at no
// measurable cost (sq makes few, large I/O calls). Must happen before node:wasi loads.
v8.setFlagsFromString("--no-turbo-fast-api-calls");

// node:wasi prints an ExperimentalWarning on stderr; sq promises one line on stderr
// when something fails, so drop that warning (others still print).
const defaultWarn = process.listeners("warning");
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if (w.name === "ExperimentalWarning" && /WASI/.test(w.message)) return;
  for (const f of defaultWarn) f(w);
});
const { WASI } = await import("node:wasi");

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmPath = process.env.SQ_WASM || path.join(here, "..", "build", "sq.wasm");
let bytes;
try {
  bytes = readFileSync(wasmPath);
} catch (err) {
  process.stderr.write(`sq-wasi: cannot read ${wasmPath} (run \`make wasi\` first): ${err.message}\n`);
  process.exit(1);
}

const preopens = { ".": process.cwd() };
for (const d of (process.env.SQ_WASI_DIRS || "").split(":").filter(Boolean)) preopens[d] = path.resolve(d);

const wasi = new WASI({
  version: "preview1",
  args: ["sq", ...process.argv.slice(2)],
  env: {},
  preopens,
  returnOnExit: true,
});
const module = await WebAssembly.compile(bytes);
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
let code;
try {
  code = wasi.start(instance);
} catch (err) {
  // A trap (e.g. out of memory: 4 GiB is the most a wasm32 program can address).
  process.stderr.write(`sq: ${err instanceof WebAssembly.RuntimeError ? "wasm trap: " : ""}${err.message}\n`);
  code = 1;
}
process.exitCode = code;
