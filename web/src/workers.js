// workers.js - the two module workers (worker.js) and a promise per request: one
// quantizes, the other draws histograms, runs the outlier lab and inference.

// ---------------- workers ----------------
class Client {
  constructor(label) {
    this.label = label;
    this.pending = new Map();
    this.next = 1;
    this.spawn();
  }
  spawn() {
    // "?threads=N" (1: the single-thread core) and "?output=blob" (the quantized output as
    // Blob parts, not an OPFS file) on the page's URL go on to the workers
    const page = new URLSearchParams(location.search), pass = new URLSearchParams();
    for (const k of ["threads", "output"]) if (page.get(k)) pass.set(k, page.get(k));
    this.w = new Worker(String(pass) ? `worker.js?${pass}` : "worker.js", { type: "module", name: this.label });
    this.w.onmessage = (ev) => {
      const m = ev.data;
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.event) return p.onEvent?.(m);
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(Object.assign(new Error(m.error.message), m.error));
    };
    this.w.onerror = (ev) => {
      ev.preventDefault?.();
      const err = new Error(`The ${this.label} stopped: ${ev.message || "it could not start (this browser may lack WebAssembly or module workers)"}.`);
      err.fatal = true;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }
  call(type, args = {}, onEvent = null) {
    return new Promise((resolve, reject) => {
      const id = this.next++;
      this.pending.set(id, { resolve, reject, onEvent });
      this.w.postMessage({ id, type, ...args });
    });
  }
  /* As call, but after every earlier queued request has settled: the quantizer runs one
   * quantization at a time (the page's run, a comparison model, the frontier). */
  queue(type, args = {}, onEvent = null) {
    const p = (this.tail || Promise.resolve()).catch(() => {}).then(() => this.call(type, args, onEvent));
    this.tail = p.catch(() => {});
    return p;
  }
  restart() {
    this.tail = null;
    this.w.terminate();
    const err = Object.assign(new Error("cancelled"), { cancelled: true });
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.spawn();
  }
}

export const quantW = new Client("quantizer");
export const auxW = new Client("helper worker");
