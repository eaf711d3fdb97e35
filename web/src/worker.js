// worker.js - everything heavy, off the page's main thread (a module Web Worker).
//
// The page runs two of these: one quantizes, the other draws layer histograms, runs the
// outlier lab and inference, so charts stay live while a model is being quantized.
// Every file is read with File.slice() through FileReaderSync: never a whole weights file.
//
// Protocol: the page posts {id, type, ...args}; the worker answers {id, ok, result} or
// {id, ok: false, error: {message, code, cancelled}}, and may post {id, event} before
// that (quantize progress, generated tokens).

import { loadSqCore, SqError } from "./sq-core-api.js";
import { BertClassifier, LlamaGenerator } from "./sq-infer-api.js";
import { readHeader, readShardedHeader, toFloat32 } from "./safetensors.js";
import { openSink, countSink, clearOldOutputs, dropOwnOutputs, outputsUsage } from "./sink.js";

// The threaded core when the page is cross-origin isolated (self.crossOriginIsolated:
// shared memory), else the single-thread one; loadSqCore picks (wasm/sq-core-api.js).
// "?threads=N" on this worker's URL (the page passes its own) limits the threads; 1 forces
// the single-thread module.
const THREADS = new URL(self.location.href).searchParams.get("threads") || "auto";
// "?output=blob" on this worker's URL (the page passes its own) skips the OPFS file and
// collects the quantized output as Blob parts (the fallback; see sink.js).
const OUTPUT = new URL(self.location.href).searchParams.get("output") === "blob" ? "blob" : "auto";
let corePromise = null;
const core = () => (corePromise ||= loadSqCore({}, { threads: THREADS }).then((sq) => { warmUp(sq); return sq; }));

// Quantize a small random matrix once at start-up: the browser compiles the module's
// hot functions (k-means, quantization) with its optimizing tier before the first model.
function warmUp(sq) {
  const rows = 64, cols = 512, w = new Float32Array(rows * cols);
  let s = 12345;
  for (let i = 0; i < w.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    w[i] = (s / 4294967296 - 0.5) * (i % 211 === 0 ? 8 : 1);
  }
  try {
    for (const bits of [4, 8]) for (const format of ["packed", "paper"]) sq.roundtrip(w, rows, cols, { bits, clusters: 3, format }, 0);
  } catch { /* only a warm-up */ }
}

// One turn of the event loop (a message to ourselves: unlike setTimeout(0), never clamped
// to 4 ms when it repeats).
const yieldChannel = new MessageChannel();
const yieldWaiting = [];
yieldChannel.port1.onmessage = () => yieldWaiting.shift()?.();
const yieldTask = () => new Promise((res) => { yieldWaiting.push(res); yieldChannel.port2.postMessage(0); });

let cancelFlag = null;            // Int32Array over a SharedArrayBuffer from the page, or null
let stopGenerate = false;
const cancelled = () => cancelFlag !== null && Atomics.load(cancelFlag, 0) !== 0;
class Cancelled extends Error { constructor() { super("cancelled"); this.name = "AbortError"; } }

// The open model: its files, the core's handle, the JS view of the header.
let current = null;   // {weights: File, texts: {slot: Uint8Array}, name, model, header, reader}
// Quantized outputs that can run, by slot: "quantized" (the page's run), "plain" (k = 1 at
// the same bits), "plain-size" (k = 1 at about the same bits per weight).
const outputs = {};   // slot -> {blob, key, model}
const runners = {};   // "original" | slot -> {key, kind, runner}

// Each FileReaderSync call costs a few milliseconds whatever its size (a round trip to
// the browser), and bigger reads go faster per byte (measured on a 2.5 GB file in
// Chromium: 1 GB in 1 MiB reads 14 s, 4 MiB 10 s, 16 MiB 7 s, 256 MiB 5.6 s). So small
// reads go through read-ahead windows of READ_BLOCK bytes; big reads (a whole tensor) go
// straight to the file. Two windows: the quantizer reads two places of the file in turn
// (the next weight ahead, and a tensor being copied such as the embedding). Either way
// only slices are read, never the whole file.
const READ_BLOCK = 16 << 20;
const readStats = { count: 0, bytes: 0, ms: 0 };
let onRead = null; // (bytes) => void while a model loads into a runner (its progress)
function fileReader(blob) {
  const frs = new FileReaderSync();
  const size = blob.size;
  let wins = []; // [{start, buf}], most recently used first
  const raw = (offset, len) => {
    const t0 = performance.now();
    const b = new Uint8Array(frs.readAsArrayBuffer(blob.slice(offset, offset + len)));
    readStats.count++;
    readStats.bytes += len;
    readStats.ms += performance.now() - t0;
    if (onRead) onRead(len);
    if (b.length !== len) throw new Error(`short read at ${offset}: ${b.length} of ${len} bytes (did the file change?)`);
    return b;
  };
  return {
    size,
    read(offset, len) {
      if (cancelled()) throw new Cancelled();
      if (len >= READ_BLOCK) {
        // a window that read past a small tensor may hold the start of this one: take
        // that part from it rather than read those bytes again (on a 1B model the
        // windows otherwise cost a fifth more bytes read)
        const w = wins.find((w) => offset >= w.start && offset < w.start + w.buf.length);
        if (!w) return raw(offset, len);
        const have = w.start + w.buf.length - offset;
        const b = new Uint8Array(len);
        b.set(w.buf.subarray(offset - w.start));
        b.set(raw(offset + have, len - have), have);
        return b;
      }
      let w = wins.find((w) => offset >= w.start && offset + len <= w.start + w.buf.length);
      if (!w) w = { start: offset, buf: raw(offset, Math.min(READ_BLOCK, size - offset)) };
      wins = [w, ...wins.filter((x) => x !== w)].slice(0, 2);
      return w.buf.subarray(offset - w.start, offset - w.start + len);
    },
  };
}

// ---------------- the output (sink.js: an OPFS file or Blob parts) ----------------
clearOldOutputs();

function closeRunner(which) {
  const r = runners[which];
  if (r) { try { r.runner.close(); } catch { /* already gone */ } delete runners[which]; }
}

function closeOutput(slot) {
  closeRunner(slot);
  if (outputs[slot]?.model) outputs[slot].model.close();
  delete outputs[slot];
}

function closeAll() {
  for (const w of Object.keys(runners)) closeRunner(w);
  for (const slot of Object.keys(outputs)) closeOutput(slot);
  if (current?.model) current.model.close();
  current = null;
}

function dtypeSummary(header) {
  const d = {};
  for (const t of header.tensors.values()) {
    const e = (d[t.dtype] ||= { tensors: 0, bytes: 0 });
    e.tensors++;
    e.bytes += t.end - t.start;
  }
  return d;
}

const handlers = {
  /* Open a model: {weights: File, texts: {config_json: File, ...}, name}. */
  async open({ weights, texts, name, shards, indexFile }) {
    const sq = await core();
    closeAll();
    const frs = new FileReaderSync();
    const bytes = {};
    for (const [slot, f] of Object.entries(texts || {})) if (f) bytes[slot] = new Uint8Array(frs.readAsArrayBuffer(f));
    // a sharded model: weights is one Blob of the shard Files end to end (load.js)
    const reader = fileReader(weights);
    const index = shards && indexFile ? new Uint8Array(frs.readAsArrayBuffer(indexFile)) : undefined;
    const model = sq.openModel({ ...reader, texts: bytes, name: indexFile ? indexFile.name : weights.name, shards, index });
    try {
      const info = model.inspect();
      const header = shards ? readShardedHeader(reader.read, shards.map((s) => s.size)) : readHeader(reader.read, reader.size);
      current = { weights, texts: bytes, name, model, header };
      let config = null;
      const ctext = bytes.config_json ? new TextDecoder().decode(bytes.config_json) : header.metadata["sq.config"];
      if (ctext) {
        try { config = JSON.parse(ctext); } catch { config = { unreadable: true }; }
      }
      return { info, config, dtypes: dtypeSummary(header), metadata: header.metadata, version: sq.version };
    } catch (err) {
      model.close();
      throw err;
    }
  },

  /* Quantize the open model: {opts, cancel: SharedArrayBuffer|null, sink}; events: progress.
   * The output goes to a sink (sink.js) chosen once: sink "file" (the page's run: an OPFS
   * file, or Blob parts), "blob" (a comparison model: Blob parts) or "count" (the
   * size-vs-error frontier: only the byte count is kept). */
  async quantize({ opts, cancel, sink: kind = "file" }, id) {
    if (!current) throw new Error("no model is open");
    cancelFlag = cancel ? new Int32Array(cancel) : null;
    const t0 = performance.now();
    if (kind === "file") {
      await dropOwnOutputs(); // the previous run's file: the page has let go of it
      await clearOldOutputs(); // and any left by ended workers (a cancel that ended one)
    }
    const sink = kind === "count" ? countSink()
      : await openSink({ blobOnly: OUTPUT === "blob" || kind === "blob", expect: current.weights.size });
    readStats.count = readStats.bytes = readStats.ms = 0;
    try {
      const report = current.model.quantize({ ...opts, model: current.name }, {
        write: (chunk) => sink.write(chunk),
        progress(p) {
          postMessage({ id, event: "progress", p, t: (performance.now() - t0) / 1000 });
          return cancelled();
        },
      });
      const { blob, io: wio } = await sink.finish();
      const seconds = (performance.now() - t0) / 1000;
      const sq = await core();
      const io = { reads: readStats.count, readBytes: readStats.bytes, readSeconds: readStats.ms / 1000, ...wio };
      return { report, blob, seconds, threads: sq.threads, heapBytes: sq.heapBytes, io };
    } finally {
      cancelFlag = null;
      sink.discard(); // cancelled or failed: the partial file goes (a finished one is kept)
    }
  },

  /* The sq-out files of this origin: {files, bytes}; {drop: true} first deletes this
   * worker's kept output and every file no live worker holds. */
  async outputs({ drop = false } = {}) {
    if (drop) {
      closeOutput("quantized");
      await dropOwnOutputs();
      await clearOldOutputs();
    }
    return outputsUsage();
  },

  /* A layer's values: exact histogram over the whole tensor (read in slices of rows),
   * its outliers (beyond 3 standard deviations) and a sample of whole rows for the lab. */
  async layer({ name, bins = 160, sampleMax = 16384 }) {
    if (!current) throw new Error("no model is open");
    const t = current.header.tensors.get(name);
    if (!t) throw new Error(`the model has no tensor '${name}'`);
    const realRows = t.shape.length > 1 ? t.shape[0] : 1;
    const realCols = t.shape.length > 1 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : (t.shape[0] ?? 1);
    if (!(realRows * realCols > 0)) throw new Error(`tensor '${name}' is empty`);
    const esz = (t.end - t.start) / (realRows * realCols);
    const frs = new FileReaderSync();
    const readRows = (r0, nr) => {
      const off = t.start + r0 * realCols * esz;
      return toFloat32(new Uint8Array(frs.readAsArrayBuffer(current.weights.slice(off, off + nr * realCols * esz))), t.dtype);
    };
    // a tensor of up to 16M values is read once; a bigger one is streamed twice in slices
    const all = realRows * realCols <= 1 << 24 ? readRows(0, realRows) : null;
    const rowsPer = Math.max(1, Math.floor((1 << 22) / realCols));
    function* slices() {
      if (all) yield all;
      else for (let r = 0; r < realRows; r += rowsPer) yield readRows(r, Math.min(rowsPer, realRows - r));
    }
    // pass 1: min, max, mean, std
    let min = Infinity, max = -Infinity, sum = 0, sumsq = 0, n = 0;
    for (const v of slices()) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (x < min) min = x;
        if (x > max) max = x;
        sum += x;
        sumsq += x * x;
      }
      n += v.length;
    }
    const mean = sum / n, std = Math.sqrt(Math.max(0, sumsq / n - mean * mean));
    // pass 2: histogram and outliers
    const counts = new Float64Array(bins);
    const span = max - min || 1;
    const lo = mean - 3 * std, hi = mean + 3 * std;
    let nOut = 0;
    const outs = [];
    for (const v of slices()) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        let b = Math.floor(((x - min) / span) * bins);
        if (b >= bins) b = bins - 1;
        counts[b]++;
        if (x < lo || x > hi) {
          nOut++;
          if (outs.length < 100000) outs.push(x);
        }
      }
    }
    // at most 400 outliers to mark: the most extreme ones on each side
    outs.sort((a, b) => a - b);
    const marks = outs.length <= 400 ? outs : [...outs.slice(0, 200), ...outs.slice(-200)];
    // the lab's sample: evenly spaced whole rows (or the start of one long row)
    const sRows = Math.max(1, Math.min(realRows, Math.floor(sampleMax / realCols)));
    const sCols = Math.min(realCols, sampleMax);
    const sample = new Float32Array(sRows * sCols);
    for (let i = 0; i < sRows; i++) {
      const r = Math.floor((i * realRows) / sRows);
      sample.set((all ? all.subarray(r * realCols, r * realCols + sCols) : readRows(r, 1).subarray(0, sCols)), i * sCols);
    }
    return {
      name, dtype: t.dtype, shape: t.shape, rows: realRows, cols: realCols, n, min, max, mean, std,
      hist: { x0: min, dx: span / bins, counts: Array.from(counts) },
      outliers: { count: nOut, lo, hi, values: marks },
      sample: { values: sample, rows: sRows, cols: sCols },
    };
  },

  /* The outlier lab: quantize one small matrix. {values, rows, cols, opts, seed, clip}.
   * clip (a percentile, e.g. 99.9): also plain quantization after clipping every value to
   * [-p, p] with p that percentile of |value|; its error is against the unclipped values. */
  async roundtrip({ values, rows, cols, opts, seed = 0, clip = 0 }) {
    const sq = await core();
    const { stats, deq } = sq.roundtrip(values, rows, cols, opts, seed);
    let maxErr = 0;
    for (let i = 0; i < deq.length; i++) maxErr = Math.max(maxErr, Math.abs(deq[i] - values[i]));
    let c = null;
    if (clip > 0 && clip < 100) {
      const mags = Float32Array.from(values, Math.abs).sort();
      const p = mags[Math.min(mags.length - 1, Math.floor((clip / 100) * mags.length))];
      let count = 0;
      const clipped = values.map((v) => (v > p ? (count++, p) : v < -p ? (count++, -p) : v));
      const d = sq.roundtrip(clipped, rows, cols, { ...opts, clusters: 1, skip_plain: true }, seed).deq;
      let se = 0, me = 0;
      for (let i = 0; i < d.length; i++) { const e = d[i] - values[i]; se += e * e; me = Math.max(me, Math.abs(e)); }
      c = { pct: clip, lo: -p, hi: p, count, mse: se / d.length, maxErr: me };
    }
    return { stats, maxErr, clip: c };
  },

  /* Make a quantized output (a Blob or File) available for inference. {blob, key, slot}. */
  async setQuantized({ blob, key, slot = "quantized" }) {
    const sq = await core();
    closeOutput(slot);
    if (!blob) return null;
    const reader = fileReader(blob);
    const model = sq.openModel({ ...reader, name: "quantized.safetensors" });
    outputs[slot] = { blob, key, model };
    return model.inspect().quantized;
  },

  /* Load a runner once: which = "original" | a slot of outputs. Events: {event: "load",
   * done, total} (bytes read so far of the model's file, at most every 100 ms). */
  async load({ which, kind, ctx = 0 }, id) {
    const src = which === "original" ? current : outputs[which];
    if (!src) throw new Error(which === "original" ? "no model is open" : `the ${which} model is not there yet`);
    const key = which === "original" ? "original" : src.key;
    if (runners[which]?.key === key && runners[which]?.kind === kind) return { cached: true, seconds: 0 };
    closeRunner(which);
    const t0 = performance.now();
    const total = which === "original" ? current.weights.size : src.blob.size;
    let done = 0, last = 0;
    onRead = (n) => {
      done += n;
      const t = performance.now();
      if (t - last > 100) { last = t; postMessage({ id, event: "load", done, total }); }
    };
    try {
      const runner = kind === "bert" ? BertClassifier.open(src.model) : LlamaGenerator.open(src.model, { ctx });
      runners[which] = { key, kind, runner };
    } finally {
      onRead = null;
    }
    return { seconds: (performance.now() - t0) / 1000 };
  },

  /* BERT: {text, which: [..]} -> {original?: result, quantized?: result}. */
  async classify({ text, which }) {
    const out = {};
    for (const w of which) {
      const r = runners[w];
      if (!r || r.kind !== "bert") throw new Error(`the ${w} classifier is not loaded`);
      const t0 = performance.now();
      out[w] = { ...r.runner.classify(text), seconds: (performance.now() - t0) / 1000 };
    }
    return out;
  },

  /* Llama: {prompt, which, maxTokens, temperature, topP, seed}; events: token. One model
   * at a time, so each one's rate is its own. The figures (as `sq generate --stats`):
   * prefillSeconds: the prompt through the model (start); ttft: from the prompt to the
   * first token (prefill + its sampling: the first step only samples); decodeTokens /
   * decodeSeconds: the steps after the first, each one forward of the previous token +
   * sampling + its text, timed inside the call (not the yields between them); seconds:
   * the wall clock from the prompt to the last token. heapBytes: the wasm memory's size
   * afterwards (it only grows: its peak). */
  async generate({ prompt, which, maxTokens, temperature, topP, seed }, id) {
    stopGenerate = false;
    const r = runners[which];
    if (!r || r.kind !== "llama") throw new Error(`the ${which} model is not loaded`);
    const t0 = performance.now();
    const promptTokens = r.runner.start(prompt, { maxTokens, temperature, topP, seed });
    const prefillSeconds = (performance.now() - t0) / 1000;
    let tokens = 0, text = "", ttft = null, done = false, yielded = performance.now();
    let steps = 0, decodeMs = 0;
    while (!done && !stopGenerate) {
      const s0 = performance.now();
      const s = r.runner.step();
      const s1 = performance.now();
      if (steps++ > 0) decodeMs += s1 - s0;
      if (s.token >= 0 && !s.eos) {
        tokens++;
        if (ttft === null) ttft = (s1 - t0) / 1000;
      }
      text += s.piece;
      done = s.done;
      if (s.piece || s.done) postMessage({ id, event: "token", which, piece: s.piece, done: s.done });
      // let a "stop" message in, every 50 ms (a task per token would cost each a little:
      // the rate shown would not be the model's)
      if (performance.now() - yielded > 50) {
        await yieldTask();
        yielded = performance.now();
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const sq = await core();
    return { text, tokens, promptTokens, seconds, ttft, prefillSeconds, decodeTokens: Math.max(0, steps - 1),
             decodeSeconds: decodeMs / 1000, threads: sq.threads, heapBytes: sq.heapBytes, stopped: !done };
  },

  /* Llama multiple choice: {lines, which} -> {n, correct, correctNorm, acc, accNorm,
   * questions: [{id, answer, pred, pred_norm}]}; events: {event: "arc", done, total}. */
  async arc({ lines, which }, id) {
    stopGenerate = false;
    const r = runners[which];
    if (!r || r.kind !== "llama") throw new Error(`the ${which} model is not loaded`);
    let correct = 0, correctNorm = 0, yielded = performance.now();
    const questions = [], t0 = performance.now();
    for (let i = 0; i < lines.length && !stopGenerate; i++) {
      const q = r.runner.arc(lines[i].text, lines[i].lineno);
      correct += q.pred === q.answer;
      correctNorm += q.pred_norm === q.answer;
      questions.push({ id: q.id, answer: q.answer, pred: q.pred, pred_norm: q.pred_norm });
      if (performance.now() - yielded > 100) {
        postMessage({ id, event: "arc", which, done: i + 1, total: lines.length });
        await new Promise((res) => setTimeout(res, 0));
        yielded = performance.now();
      }
    }
    const n = questions.length;
    return { n, correct, correctNorm, acc: n ? correct / n : 0, accNorm: n ? correctNorm / n : 0, questions,
             seconds: (performance.now() - t0) / 1000, stopped: n < lines.length };
  },

  async stop() {
    stopGenerate = true;
    return true;
  },

  async close() {
    closeAll();
    return true;
  },

  async ping() {
    const sq = await core();
    // the widths this core quantizes (a width it does not know fails as bad input)
    const bits = [2, 3, 4, 5, 6, 7, 8].filter((b) => {
      try { sq.roundtrip(new Float32Array([0, 1, 2, 3, 4, 5, 6, 7]), 1, 8, { bits: b, clusters: 1 }, 0); return true; } catch { return false; }
    });
    return { version: sq.version, isolated: self.crossOriginIsolated === true, threads: sq.threads, heapBytes: sq.heapBytes, bits };
  },
};

function explain(err) {
  if (err && (err.name === "AbortError" || err instanceof Cancelled)) return { message: "cancelled", cancelled: true };
  if (err instanceof SqError) return { message: err.message, code: err.code };
  return { message: String((err && err.message) || err), code: 1 };
}

self.onmessage = async (ev) => {
  const { id, type, ...args } = ev.data || {};
  const h = handlers[type];
  if (!h) return postMessage({ id, ok: false, error: { message: `unknown request '${type}'` } });
  try {
    const result = await h(args, id);
    postMessage({ id, ok: true, result });
  } catch (err) {
    postMessage({ id, ok: false, error: explain(err) });
  }
};
