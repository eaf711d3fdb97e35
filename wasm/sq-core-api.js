// sq-core-api.js - the JavaScript API of the sq core in the browser (and node).
//
// Copied to build/web/ beside sq-core.js / sq-core.wasm by `make web-module`.
//
//   import { loadSqCore, blobReader } from "./sq-core-api.js";
//   const sq = await loadSqCore();                    // once per worker; sq.threads: 1, or
//                                                     // more when cross-origin isolated
//   const model = sq.openModel({
//     ...blobReader(file),                            // {size, read(offset, len)}
//     texts: { config_json, tokenizer_json, vocab_txt, tokenizer_config_json },
//     name: file.name,                                // source_name: the weights file's base name
//   });
//   const info = model.inspect();                     // object of `sq inspect --json`
//   const report = model.quantize(
//     { bits: 4, clusters: 3, format: "packed", group: "auto" },
//     { write(chunk) { parts.push(chunk.slice()); },  // chunk: a view, copy to keep it
//       progress(p) { postMessage(p); return cancelled; } });  // truthy return = cancel
//   model.close();
//
// Everything is synchronous: run it in a Web Worker (the reader is expected to use
// FileReaderSync there) so the page stays responsive. Errors are thrown as SqError
// with .code 1 (internal), 2 (bad input) or 3 (cancelled); an exception thrown by a
// callback (read, write, progress) is rethrown as is.
//
// The quantized bytes equal `sq quantize` (native and WASI) for the same input, options
// and texts: pass the same side files the CLI would find beside the weights
// (config.json, tokenizer.json, vocab.txt, tokenizer_config.json; as Uint8Array for
// byte-exactness, or as strings) and name = the weights file's base name.

// The module itself (sq-core.js, or the threaded sq-core-mt.js) is imported by loadSqCore.

export const SQ_OK = 0, SQ_EINTERNAL = 1, SQ_EINPUT = 2, SQ_ECANCEL = 3;

// Text slots of wasm/bindings.h (SQW_TEXT_*).
const TEXT_SLOTS = { config_json: 0, tokenizer_json: 1, vocab_txt: 2, tokenizer_config_json: 3, source_name: 4 };

export class SqError extends Error {
  constructor(code, message) {
    super(message);
    this.name = code === SQ_ECANCEL ? "AbortError" : "SqError";
    this.code = code;
  }
}

/* A reader over a Blob/File in a Web Worker: {size, read(offset, len)}. */
export function blobReader(blob) {
  const frs = new FileReaderSync();
  return {
    size: blob.size,
    read: (offset, len) => new Uint8Array(frs.readAsArrayBuffer(blob.slice(offset, offset + len))),
  };
}

/* A reader over an open file descriptor in node: pass the node:fs module. It reads
 * straight into wasm memory (readInto). */
export function fdReader(fs, fd) {
  const readInto = (offset, view) => {
    let got = 0;
    while (got < view.length) {
      const n = fs.readSync(fd, view, got, view.length - got, offset + got);
      if (n <= 0) throw new Error(`short read at ${offset + got}`);
      got += n;
    }
  };
  return {
    size: fs.fstatSync(fd).size,
    read(offset, len) {
      const b = new Uint8Array(len);
      readInto(offset, b);
      return b;
    },
    readInto,
  };
}

const isNode = typeof process == "object" && typeof process.versions == "object" && typeof process.versions.node == "string";

/* Threads the threaded module would use here, or 1 when it cannot run: it needs a shared
 * wasm memory, i.e. SharedArrayBuffer, which browsers give only to cross-origin isolated
 * pages (COOP + COEP headers, as `make serve` sends). Node always gets the single-thread
 * module (its pthread Workers would need a node build of the module: not built). At most
 * MAX_THREADS: the pool's Workers are started with the module, each costs memory, and
 * the core's sections rarely have more parts than that. */
const MAX_THREADS = 8;
export function availableThreads() {
  if (isNode || typeof SharedArrayBuffer !== "function" || !globalThis.crossOriginIsolated) return 1;
  const hc = (typeof navigator === "object" && navigator.hardwareConcurrency) || 1;
  return Math.max(1, Math.min(hc, MAX_THREADS));
}

/* Load and instantiate the module. moduleArgs go to Emscripten (e.g. wasmBinary, locateFile).
 * threads: how many threads quantization and inference may use: "auto" (the default: all
 * of availableThreads()) or a number; anything above 1 loads the threaded module
 * (sq-core-mt.js: the calling thread plus threads - 1 pthread Workers, started now),
 * 1 the single-thread sq-core.js. The output bytes are the same either way.
 * In a browser the .wasm is fetched from beside this file (a module Web Worker is
 * neither "web" nor "worker" to Emscripten 3.1.6, whose own fallback would fail there). */
export async function loadSqCore(moduleArgs = {}, { threads = "auto" } = {}) {
  const args = Object.assign({}, moduleArgs);
  const avail = availableThreads();
  const n = threads === "auto" ? avail : Math.max(1, Math.min(Number(threads) || 1, avail));
  const name = n > 1 ? "sq-core-mt" : "sq-core";
  if (n > 1) args.sqPoolSize = n - 1; // read by -sPTHREAD_POOL_SIZE (mk/web-threads.mk)
  if (!isNode && !args.wasmBinary && !args.instantiateWasm && !args.locateFile) {
    const url = new URL(`${name}.wasm`, import.meta.url);
    const res = await fetch(url);
    if (!res.ok) throw new Error(`cannot load ${url}: HTTP ${res.status}`);
    args.wasmBinary = await res.arrayBuffer();
  }
  const { default: createSqCore } = await import(n > 1 ? "./sq-core-mt.js" : "./sq-core.js");
  return new SqCore(await createSqCore(args));
}

const enc = new TextEncoder();
const toBytes = (v) =>
  v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v) : ArrayBuffer.isView(v)
    ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : enc.encode(String(v));

export class SqCore {
  constructor(M) {
    this.M = M;
    M.sqCalls = M.sqCalls || {};
    this._nextId = 1;
    this.version = M.UTF8ToString(M._sqw_version() >>> 0);
    this.threads = M._sqw_threads();          // 1 in the single-thread module
    this.threaded = typeof SharedArrayBuffer === "function" && M.HEAPU8.buffer instanceof SharedArrayBuffer;
  }

  /* The heap as a Uint8Array, current even after a pthread grew the memory (pre.js). */
  heap() { return this.M.sqHeap(); }

  /* The wasm memory's size in bytes now (it only grows: the peak of the module's heap). */
  get heapBytes() { return this.M.sqHeap().length; }

  _register(obj) {
    const id = this._nextId++;
    this.M.sqCalls[id] = obj;
    return id;
  }

  _unregister(id) { delete this.M.sqCalls[id]; }

  // Copy a JS string (UTF-8) or bytes into wasm memory, NUL-terminated; free with _free.
  _alloc(v) {
    const M = this.M;
    const b = toBytes(v);
    const p = M._malloc(b.length + 1) >>> 0;
    if (!p) throw new SqError(SQ_EINTERNAL, "out of memory");
    const heap = this.heap();
    heap.set(b, p);
    heap[p + b.length] = 0;
    return [p, b.length];
  }

  _openShards(id, shards, index) {
    const M = this.M;
    const n = shards.length;
    const ps = M._malloc(8 * Math.max(n, 1)) >>> 0;
    if (!ps) throw new SqError(SQ_EINTERNAL, "out of memory");
    const [pn] = this._alloc(shards.map((s) => `${s.name}\n`).join(""));
    const [pi, ni] = index != null ? this._alloc(index) : [0, 0];
    try {
      const dv = new DataView(this.heap().buffer);
      shards.forEach((s, i) => dv.setFloat64(ps + 8 * i, Number(s.size), true));
      return M._sqw_open_shards(id, ps, n, pn, pi, ni);
    } finally {
      M._free(ps); M._free(pn); if (pi) M._free(pi);
    }
  }

  // Turn a failed call into an exception (the callback's own exception first).
  _fail(cb) {
    if (cb && cb.error) throw cb.error;
    const M = this.M;
    throw new SqError(M._sqw_error_code(), M.UTF8ToString(M._sqw_error_message() >>> 0));
  }

  // Take a malloc'd C string: decode it and free it.
  _take(p, cb) {
    p >>>= 0;
    if (!p) this._fail(cb);
    const s = this.M.UTF8ToString(p);
    this.M._sqw_free(p);
    return s;
  }

  /* Open a safetensors model. size: bytes; read(offset, len) -> Uint8Array of len
   * bytes, or readInto(offset, view) filling a Uint8Array view of wasm memory (no copy;
   * the view is only valid during the call); both synchronous. texts: the side files
   * (see the top); name: the weights file's base name. A sharded model: shards =
   * [{name, size}] in the order they are laid end to end in the reader (e.g. one Blob
   * of the shard Files), index = the model.safetensors.index.json bytes or text (or
   * omitted: then every tensor of every shard is the model). */
  openModel({ size, read, readInto, texts = {}, name, shards, index } = {}) {
    if (typeof read !== "function" && typeof readInto !== "function")
      throw new TypeError("openModel: read(offset, len) or readInto(offset, view) is required");
    const cb = typeof readInto === "function" ? { readInto } : { read };
    const id = this._register(cb);
    const h = (shards ? this._openShards(id, shards, index) : this.M._sqw_open(id, Number(size))) >>> 0;
    if (!h) { this._unregister(id); this._fail(cb); }
    const model = new SqModel(this, h, id, cb);
    try {
      const all = Object.assign({}, texts);
      if (name !== undefined && all.source_name === undefined) all.source_name = name;
      for (const [k, v] of Object.entries(all)) if (v !== undefined && v !== null) model.setText(k, v);
    } catch (err) {
      model.close();
      throw err;
    }
    return model;
  }

  /* The "outlier lab": quantize one matrix (Float32Array, rows x cols) and get back the
   * dequantized values and the layer statistics (the report's fields). */
  roundtrip(w, rows, cols, opts = {}, seed = 0) {
    const M = this.M;
    if (w.length !== rows * cols) throw new RangeError("roundtrip: w.length != rows * cols");
    const bytes = rows * cols * 4;
    const pw = M._malloc(bytes || 4) >>> 0, pd = M._malloc(bytes || 4) >>> 0;
    const [po] = this._alloc(JSON.stringify(opts));
    try {
      if (!pw || !pd) throw new SqError(SQ_EINTERNAL, "out of memory");
      new Float32Array(this.heap().buffer, pw, rows * cols).set(w);
      const stats = JSON.parse(this._take(M._sqw_roundtrip(pw, rows, cols, po, seed, pd)));
      const deq = new Float32Array(this.heap().buffer, pd, rows * cols).slice();
      return { stats, deq };
    } finally {
      M._free(pw); M._free(pd); M._free(po);
    }
  }
}

export class SqModel {
  constructor(core, handle, readId, readCb) {
    this.core = core;
    this.h = handle;
    this.readId = readId;
    this.readCb = readCb;
  }

  _check() { if (!this.h) throw new Error("model is closed"); }

  /* slot: config_json | tokenizer_json | vocab_txt | tokenizer_config_json | source_name.
   * value: string (UTF-8 encoded), bytes, or null to clear. */
  setText(slot, value) {
    this._check();
    const M = this.core.M;
    const s = TEXT_SLOTS[slot];
    if (s === undefined) throw new TypeError(`unknown text '${slot}' (${Object.keys(TEXT_SLOTS).join(", ")})`);
    if (value === null || value === undefined) {
      if (M._sqw_set_text(this.h, s, 0, 0)) this.core._fail();
      return;
    }
    const [p, n] = this.core._alloc(value);
    try {
      if (M._sqw_set_text(this.h, s, p, n)) this.core._fail();
    } finally {
      M._free(p);
    }
  }

  /* The object `sq inspect MODEL --json` prints ("file" is the source name). */
  inspect() {
    this._check();
    this.readCb.error = undefined;
    return JSON.parse(this.core._take(this.core.M._sqw_inspect(this.h), this.readCb));
  }

  /* Quantize. opts: {bits: 2..8|"f32", clusters, group: "auto"|"row"|"tensor"|N,
   * format: "packed"|"paper", seed, skip_plain, model: report display name,
   * threads: 0 = all the module has (SqCore.threads), else at most that many}.
   * write(chunk): every output byte in order (chunk is a view into wasm memory, valid
   * only during the call). progress(p): after each tensor, p = {index, total,
   * bytes_done, bytes_total, name, layer} (layer: the report's fields, or null for a
   * copied tensor); return truthy to cancel (throws SqError code 3). Returns the report. */
  quantize(opts = {}, { write, progress } = {}) {
    this._check();
    if (typeof write !== "function") throw new TypeError("quantize: write(chunk) is required");
    const core = this.core, M = core.M, readId = this.readId;
    const cb = {
      write,
      progress: progress ? (json) => progress(JSON.parse(json)) : null,
      // the reader's exception surfaces here too
      get error() { return this._error || core.M.sqCalls[readId].error; },
      set error(e) { this._error = e; },
    };
    this.readCb.error = undefined;
    const id = core._register(cb);
    const [po] = core._alloc(JSON.stringify(opts));
    try {
      return JSON.parse(core._take(M._sqw_quantize(this.h, po, id), cb));
    } finally {
      M._free(po);
      core._unregister(id);
    }
  }

  close() {
    if (!this.h) return;
    this.core.M._sqw_close(this.h);
    this.core._unregister(this.readId);
    this.h = 0;
  }
}

// Inference (classify / generate) will be added here by its bindings: see the end of
// wasm/bindings.c for the C side.
