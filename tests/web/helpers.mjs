// helpers.mjs - plain helpers of the browser tests (tests/web/run.mjs): assertions, the
// CLI, byte and report comparisons, safetensors in and out for the partial models.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
export function assert(cond, msg) { if (!cond) throw new Error(msg); }
export function eq(a, b, what) {
  if (a !== b) throw new Error(`${what}: ${JSON.stringify(a)?.slice(0, 300)} != ${JSON.stringify(b)?.slice(0, 300)}`);
}
export function run(cmd, args) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (performance.now() - t0) / 1000 };
}
export function sameBytes(a, b, what) {
  const sa = fs.statSync(a).size, sb = fs.statSync(b).size;
  if (sa !== sb) throw new Error(`${what}: ${sa} bytes vs ${sb} bytes`);
  const fa = fs.openSync(a, "r"), fb = fs.openSync(b, "r");
  const x = Buffer.alloc(1 << 24), y = Buffer.alloc(1 << 24);
  try {
    for (let off = 0; off < sa; off += x.length) {
      const n = fs.readSync(fa, x, 0, x.length, off);
      fs.readSync(fb, y, 0, n, off);
      if (x.compare(y, 0, n, 0, n) !== 0) {
        const i = x.subarray(0, n).findIndex((v, k) => v !== y[k]);
        throw new Error(`${what}: differ at byte ${off + i}`);
      }
    }
  } finally {
    fs.closeSync(fa);
    fs.closeSync(fb);
  }
}
// The page's report vs the CLI's: equal but for times and the display name; mse sums
// may differ in the last bits (threads), see tests/wasm/run.mjs.
export function sameReport(got, want, where = "report") {
  if (typeof want === "number" && typeof got === "number" && /\.mse(_plain)?$/.test(where)) {
    if (Math.abs(got - want) > 1e-12 * Math.max(Math.abs(want), 1e-300)) throw new Error(`${where}: ${got} != ${want}`);
    return;
  }
  if (want === null || typeof want !== "object" || got === null || typeof got !== "object") {
    if (got !== want) throw new Error(`${where}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
    return;
  }
  for (const k of new Set([...Object.keys(want), ...Object.keys(got)]))
    if (k !== "seconds" && !(where === "report" && k === "model")) sameReport(got[k], want[k], `${where}.${k}`);
}
// safetensors in and out (for the partial models the checks must catch)
export function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
  const meta = header.__metadata__ || {};
  delete header.__metadata__;
  const tensors = Object.entries(header).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape,
    bytes: buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]) }));
  return { meta, tensors };
}
export function writeSafetensors(file, tensors, meta = {}) {
  const header = { __metadata__: meta };
  let off = 0;
  for (const t of tensors) { header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] }; off += t.bytes.length; }
  let h = Buffer.from(JSON.stringify(header));
  h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(file, Buffer.concat([len, h, ...tensors.map((t) => t.bytes)]));
}
export const elements = (shape) => shape.reduce((a, b) => a * b, 1);
export const bpwOf = (l) => (Number.isFinite(l.bpw) ? l.bpw : (8 * l.bytes_out) / elements(l.shape));
export const paneRate = /^\d+ tokens in [\d.]+ (ms|s): prompt \d+ tokens at \d+\.\d tokens\/s, generation at \d+\.\d tokens\/s; first token after [\d.]+ (ms|s)/;
/* A generation pane's figures (its data attributes) are consistent: n generated tokens
 * after a prompt of p tokens, both rates positive and equal to tokens / seconds, the first
 * token after the prompt's prefill and before the last one. Returns them as numbers. */
export function checkRates(d, { n, p } = {}, what = "pane") {
  const x = Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Number(v)]));
  const near = (a, b) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  if (n !== undefined && x.tokens !== n) throw new Error(`${what}: ${x.tokens} tokens, not ${n}`);
  if (p !== undefined && x.promptTokens !== p) throw new Error(`${what}: ${x.promptTokens} prompt tokens, not ${p}`);
  if (x.decodeTokens !== x.tokens - 1) throw new Error(`${what}: ${x.decodeTokens} decode steps for ${x.tokens} tokens`);
  for (const k of ["prefillTps", "decodeTps", "prefillSeconds", "decodeSeconds", "ttft", "seconds", "heapBytes", "threads"])
    if (!(x[k] > 0)) throw new Error(`${what}: data-${k} is ${d[k]}`);
  if (!near(x.prefillTps, x.promptTokens / x.prefillSeconds)) throw new Error(`${what}: prefill ${x.prefillTps} tok/s != ${x.promptTokens} / ${x.prefillSeconds} s`);
  if (!near(x.decodeTps, x.decodeTokens / x.decodeSeconds)) throw new Error(`${what}: decode ${x.decodeTps} tok/s != ${x.decodeTokens} / ${x.decodeSeconds} s`);
  if (!(x.ttft >= x.prefillSeconds && x.ttft <= x.seconds)) throw new Error(`${what}: first token after ${x.ttft} s, prefill ${x.prefillSeconds} s, all ${x.seconds} s`);
  if (!(x.prefillSeconds + x.decodeSeconds <= x.seconds + 1e-9)) throw new Error(`${what}: prefill + decode ${x.prefillSeconds + x.decodeSeconds} s > wall ${x.seconds} s`);
  return x;
}

export const exampleFiles = (dir) =>
  ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
    .map((f) => path.join(dir, f)).filter((f) => fs.existsSync(f));

