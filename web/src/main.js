// main.js - the page: load a model, quantize it in a worker, show every layer, explain
// why the split helps, run the model, download the result. The main thread only
// draws; two module workers (worker.js) do everything heavy.
import { CLUSTER_COLORS, clusterNames, layerFigure, summaryFigure, probFigure, shortName } from "./charts.js";

const $ = (s) => document.querySelector(s);
function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
  return e;
}

// ---------------- formatting ----------------
const fmtBytes = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} bytes`);
const fmtCount = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
const fmtSci = (v) => (v === 0 ? "0" : !Number.isFinite(v) ? "–" : v.toExponential(2));
const fmtNum = (v) => (!Number.isFinite(v) ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));
const fmtSecs = (s) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : s < 90 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
const widest = (l) => Math.max(...(l.cluster_ranges?.length ? l.cluster_ranges : [l.range]));

// ---------------- errors, as sentences on the page ----------------
/* A message as the end of a sentence: exactly one final full stop. */
const stop = (m) => (/[.!?]$/.test(String(m).trim()) ? String(m).trim() : `${String(m).trim()}.`);
function showError(text) {
  const p = h("p", { class: "error" }, h("span", { text }),
    h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss this message", onclick: () => p.remove() }, "×"));
  $("#errors").append(p);
  p.scrollIntoView({ block: "nearest" });
}
const clearErrors = () => ($("#errors").textContent = "");
window.addEventListener("error", (ev) => showError(`Something went wrong on this page: ${ev.message}. Reloading the page should help.`));
window.addEventListener("unhandledrejection", (ev) => showError(`Something went wrong: ${ev.reason?.message || ev.reason}.`));

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
  restart() {
    this.w.terminate();
    const err = Object.assign(new Error("cancelled"), { cancelled: true });
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.spawn();
  }
}

const quantW = new Client("quantizer");
const auxW = new Client("helper worker");

// ---------------- state ----------------
const state = {
  files: null,       // {weights, texts, name}
  info: null,        // inspect() + config + dtypes
  kind: null,        // "bert" | "llama" | null
  running: false,
  cancel: null,      // Int32Array over a SharedArrayBuffer
  report: null,
  reportLayers: new Map(),
  weightLayers: [],
  opts: null,        // options of the last run
  blob: null,
  blobKey: 0,
  urls: [],
  layerCache: new Map(),
  selected: null,
  lab: null,
  loadSeq: 0,
};

// ---------------- 1. load ----------------
const TEXT_SLOTS = { "config.json": "config_json", "tokenizer.json": "tokenizer_json", "vocab.txt": "vocab_txt",
                     "tokenizer_config.json": "tokenizer_config_json" };

function friendlyOpenError(err, weightsName) {
  const m = err.message || String(err);
  if (err.fatal) return m;
  if (err.code === 2) return `${weightsName} is not a safetensors file that sq can read: ${stop(m)}`;
  return `${weightsName} could not be opened: ${stop(m)}`;
}

/* list: [{file, path}] (path: relative path inside the dropped folder, or the name). */
async function loadFiles(list, folderName) {
  clearErrors();
  const seq = ++state.loadSeq;
  if (state.running) await cancelRun(true);
  auxW.call("stop").catch(() => {}); // a generation under way ends before the new model opens
  resetModel();
  if (!list.length) return showError("No files were given. Drop a model folder, or choose its files.");
  // keep the shallowest file of each name (a folder may hold copies in subfolders)
  const byName = new Map();
  for (const it of list) {
    const depth = (it.path || it.file.name).split("/").length;
    const prev = byName.get(it.file.name);
    if (!prev || depth < prev.depth) byName.set(it.file.name, { ...it, depth });
  }
  const all = [...byName.values()].map((x) => x.file);
  let weights = all.filter((f) => f.name.toLowerCase().endsWith(".safetensors"));
  if (!weights.length) {
    const other = all.find((f) => /\.(bin|pt|pth|ckpt|gguf|onnx|h5|msgpack)$/i.test(f.name));
    if (other) return showError(`${other.name} is not a safetensors file. sq reads weights from .safetensors files; most Hugging Face models have one beside their .bin.`);
    return showError(`None of the ${all.length} file${all.length === 1 ? "" : "s"} is a .safetensors weights file. Add the model's *.safetensors file with its config.json.`);
  }
  if (weights.length > 1) {
    const main = weights.find((f) => f.name === "model.safetensors");
    if (!main) return showError(`This model's weights are split over ${weights.length} .safetensors files (${weights.slice(0, 3).map((f) => f.name).join(", ")}${weights.length > 3 ? ", …" : ""}). sq works on one weights file at a time: choose a model with a single model.safetensors.`);
    weights = [main];
  }
  const texts = {};
  for (const f of all) if (TEXT_SLOTS[f.name]) texts[TEXT_SLOTS[f.name]] = f;
  const name = folderName || weights[0].name;
  state.files = { weights: weights[0], texts, name };
  $("#model-info").hidden = false;
  $("#model-info").textContent = `Reading ${weights[0].name} (${fmtBytes(weights[0].size)})…`;
  let res;
  try {
    [res] = await Promise.all([quantW.call("open", state.files), auxW.call("open", state.files)]);
  } catch (err) {
    if (seq !== state.loadSeq) return;
    $("#model-info").hidden = true;
    state.files = null;
    return showError(friendlyOpenError(err, weights[0].name));
  }
  if (seq !== state.loadSeq) return;
  const { info, config } = res;
  if (info.quantized) {
    $("#model-info").hidden = true;
    state.files = null;
    const q = info.quantized;
    return showError(`${weights[0].name} is already quantized by sq (${q.format}, ${q.bits === "f32" ? "f32" : `INT${q.bits}`}, k = ${q.clusters}). Drop the original model to quantize it.`);
  }
  if (!config) {
    $("#model-info").hidden = true;
    state.files = null;
    return showError("config.json is missing. sq needs the model's config.json beside the weights: it says what kind of model this is. Drop the whole model folder, or add config.json to the files.");
  }
  if (config.unreadable) {
    $("#model-info").hidden = true;
    state.files = null;
    return showError("config.json is not valid JSON. Check that it is the model's own config.json.");
  }
  state.info = res;
  state.kind = modelKind(info, config);
  showModelInfo(res);
  $("#version").textContent = res.version;
  $("#start").disabled = false;
  $("#settings-hint").textContent = "Defaults: INT4, 3 clusters, packed — the usual SplitQuant setup.";
  setupExplain();
  setupRun();
}

function modelKind(info, config) {
  const arch = info.architecture || "";
  if (/^Bert\w*ForSequenceClassification$/.test(arch) || (config.model_type === "bert" && config.id2label && !/^Bert(Model|ForMaskedLM|ForPreTraining)$/.test(arch)))
    return "bert";
  if (/^Llama\w*ForCausalLM$/.test(arch) || config.model_type === "llama") return "llama";
  return null;
}

function showModelInfo({ info, config, dtypes }) {
  const box = $("#model-info");
  box.textContent = "";
  const split = info.layers.filter((l) => l.role === "split");
  const tok = state.files.texts.tokenizer_json ? "tokenizer.json" : state.files.texts.vocab_txt ? "vocab.txt" : "none";
  const runs = state.kind === "bert" ? "yes — text classification (labels: " + Object.values(config.id2label || {}).join(", ") + ")"
    : state.kind === "llama" ? "yes — text generation" : "no (runs BERT classifiers and Llama language models)";
  const dl = h("dl", { class: "facts" },
    h("dt", {}, "Model"), h("dd", {}, state.files.name),
    h("dt", {}, "Architecture"), h("dd", {}, info.architecture || config.model_type || "not stated in config.json"),
    h("dt", {}, "Parameters"), h("dd", {}, `${fmtCount(info.params)} (${info.params.toLocaleString("en")})`),
    h("dt", {}, "Weights file"), h("dd", {}, `${state.files.weights.name}, ${fmtBytes(info.bytes)}, ${info.tensors} tensors`),
    h("dt", {}, "Data types"), h("dd", {}, Object.entries(dtypes).map(([d, v]) => `${d} (${v.tensors} tensors, ${fmtBytes(v.bytes)})`).join(", ")),
    h("dt", {}, "Will be split"), h("dd", {}, `${split.length} linear layers, ${fmtCount(info.split_params)} parameters (${((100 * info.split_params) / info.params).toFixed(1)}% of the model); norms and embeddings stay as they are`),
    h("dt", {}, "Tokenizer"), h("dd", {}, tok),
    h("dt", {}, "Runs here"), h("dd", {}, runs));
  const rows = info.layers.map((l) => h("tr", {}, h("td", { class: "mono" }, l.name), h("td", {}, l.dtype), h("td", {}, l.shape.join(" × ")),
    h("td", {}, l.role === "split" ? "split + quantize" : l.role === "split-bias" ? "bias: split, stays float" : "kept as is")));
  const det = h("details", {}, h("summary", {}, `All ${info.tensors} tensors and what happens to each`),
    h("div", { class: "table-wrap tall" }, h("table", { class: "tensors" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "tensor"), h("th", { scope: "col" }, "dtype"), h("th", { scope: "col" }, "shape"), h("th", { scope: "col" }, "what sq does"))),
      h("tbody", {}, rows))));
  box.append(h("h3", {}, "Loaded"), dl, det);
  if (!state.kind) box.append(h("p", { class: "notice" }, `This ${info.architecture || "model"} can be quantized and downloaded here, but not run: the page runs BERT sequence classifiers and Llama causal language models.`));
}

function resetModel() {
  state.files = null;
  state.info = null;
  state.kind = null;
  state.report = null;
  state.reportLayers = new Map();
  state.weightLayers = [];
  state.blob = null;
  state.layerCache = new Map();
  state.selected = null;
  state.lab = null;
  for (const u of state.urls) URL.revokeObjectURL(u);
  state.urls = [];
  $("#start").disabled = true;
  $("#model-info").hidden = true;
  for (const id of ["#progress", "#explain", "#run", "#download", "#summary"]) $(id).hidden = true;
  $("#layer-rows").textContent = "";
  rowQueue = [];
  $("#download-links").textContent = "";
  $("#run-results").textContent = "";
  $("#output").textContent = "";
  $("#status").textContent = "";
  document.querySelector("[data-sq=done]")?.remove();
  auxW.call("setQuantized", { blob: null }).catch(() => {});
}

// files from the inputs
$("#files").addEventListener("change", (ev) => {
  const files = [...ev.target.files];
  ev.target.value = "";
  loadFiles(files.map((f) => ({ file: f, path: f.name })), null);
});
$("#folder").addEventListener("change", (ev) => {
  const files = [...ev.target.files];
  ev.target.value = "";
  const folder = files[0]?.webkitRelativePath?.split("/")[0] || null;
  loadFiles(files.map((f) => ({ file: f, path: f.webkitRelativePath || f.name })), folder);
});

// drag and drop (anywhere on the page; folders too)
function readEntries(dirEntry) {
  const reader = dirEntry.createReader();
  return new Promise((resolve, reject) => {
    const out = [];
    const more = () => reader.readEntries((batch) => (batch.length ? (out.push(...batch), more()) : resolve(out)), reject);
    more();
  });
}
async function collect(entry, path, out, depth = 0) {
  if (entry.isFile) {
    const file = await new Promise((res, rej) => entry.file(res, rej));
    out.push({ file, path: path + file.name });
  } else if (entry.isDirectory && depth < 3) {
    for (const e of await readEntries(entry)) await collect(e, `${path}${entry.name}/`, out, depth + 1);
  }
}
document.addEventListener("dragover", (ev) => {
  ev.preventDefault();
  $("#drop").classList.add("over");
});
document.addEventListener("dragleave", (ev) => {
  if (!ev.relatedTarget) $("#drop").classList.remove("over");
});
document.addEventListener("drop", async (ev) => {
  ev.preventDefault();
  $("#drop").classList.remove("over");
  const items = [...(ev.dataTransfer?.items || [])];
  const entries = items.map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  try {
    if (entries.length) {
      const out = [];
      for (const e of entries) await collect(e, "", out);
      const folder = entries.length === 1 && entries[0].isDirectory ? entries[0].name : null;
      return loadFiles(folder ? out.map((o) => ({ ...o, path: o.path.slice(folder.length + 1) })) : out, folder);
    }
    loadFiles([...(ev.dataTransfer?.files || [])].map((f) => ({ file: f, path: f.name })), null);
  } catch (err) {
    showError(`The dropped files could not be read: ${stop(err.message)}`);
  }
});

// bundled examples (same origin)
let examplesIndex = null;
for (const b of document.querySelectorAll("[data-example]")) {
  b.addEventListener("click", async () => {
    const id = b.dataset.example;
    if (b.getAttribute("aria-busy") === "true" || state.running) return; // (not disabled: keyboard focus stays)
    clearErrors();
    b.setAttribute("aria-busy", "true");
    const label = b.textContent;
    b.textContent = "Fetching…";
    try {
      if (!examplesIndex) {
        const r = await fetch("examples/index.json");
        if (!r.ok) throw new Error(`examples/index.json: HTTP ${r.status}`);
        examplesIndex = await r.json();
      }
      const ex = examplesIndex.models.find((m) => m.id === id);
      if (!ex) throw new Error(`no example called ${id}`);
      const files = await Promise.all(ex.files.map(async (name) => {
        const r = await fetch(`examples/${id}/${name}`);
        if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
        return new File([await r.blob()], name);
      }));
      b.textContent = label;
      await loadFiles(files.map((f) => ({ file: f, path: f.name })), id);
    } catch (err) {
      showError(`The bundled example could not be fetched (${err.message}). It is served with the page: are you offline before its first use?`);
    } finally {
      b.textContent = label;
      b.removeAttribute("aria-busy");
    }
  });
}

// ---------------- 2-3. quantize ----------------
function currentOpts() {
  const g = $("#group").value;
  return { bits: Number($("#bits").value), clusters: Number($("#clusters").value), format: $("#format").value,
           group: /^\d+$/.test(g) ? Number(g) : g };
}

$("#start").addEventListener("click", () => startRun());
$("#cancel").addEventListener("click", () => cancelRun(false));
$("#settings-form").addEventListener("submit", (ev) => ev.preventDefault());
for (const id of ["#bits", "#clusters", "#format", "#group"]) $(id).addEventListener("change", () => {
  if (state.running) return;
  if (state.lab) syncLabToSettings();
  // before quantizing, the layer chart previews the chosen settings on a sample
  if (state.selected && !state.reportLayers.has(state.selected)) drawLayer(state.selected);
});

function setRunning(on) {
  const focusWas = document.activeElement;
  state.running = on;
  $("#start").disabled = on || !state.files;
  $("#cancel").hidden = !on;
  for (const id of ["#bits", "#clusters", "#format", "#group", "#files", "#folder"]) $(id).disabled = on;
  for (const b of document.querySelectorAll("[data-example]")) b.setAttribute("aria-disabled", on ? "true" : "false");
  // keep the keyboard where it was: Start hands over to Cancel and back
  if (on && focusWas === $("#start")) $("#cancel").focus();
  if (!on && (focusWas === $("#cancel") || focusWas === document.body)) $("#start").focus();
}

async function startRun() {
  if (!state.files || state.running) return;
  clearErrors();
  const opts = currentOpts();
  state.opts = opts;
  state.report = null;
  state.reportLayers = new Map();
  state.weightLayers = [];
  state.blob = null;
  for (const u of state.urls) URL.revokeObjectURL(u);
  state.urls = [];
  document.querySelector("[data-sq=done]")?.remove();
  $("#download").hidden = true;
  $("#download-links").textContent = "";
  $("#layer-rows").textContent = "";
  rowQueue = [];
  $("#summary").hidden = false;
  $("#summary-chart").textContent = "";
  $("#summary-chart").append(h("p", { class: "hint" }, "The per-layer charts fill in as layers finish."));
  $("#progress").hidden = false;
  $("#explain").hidden = false;
  $("#bar").value = 0;
  $("#bar-text").textContent = "Starting…";
  $("#status").textContent = `Quantizing ${state.files.name}: INT${opts.bits}, k = ${opts.clusters}, ${opts.format} format, groups ${opts.group}.`;
  setRunning(true);
  auxW.call("setQuantized", { blob: null }).catch(() => {});
  const sab = self.crossOriginIsolated && typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : null;
  state.cancel = sab ? new Int32Array(sab) : null;
  const t0 = performance.now();
  let lastSummary = 0;
  try {
    const res = await quantW.call("quantize", { opts, cancel: sab }, (m) => {
      onProgress(m.p, (performance.now() - t0) / 1000);
      if (summaryVisible && performance.now() - lastSummary > 4000 && state.weightLayers.length > 1) {
        lastSummary = performance.now();
        drawSummary();
      }
    });
    finishRun(res, (performance.now() - t0) / 1000);
  } catch (err) {
    if (err.cancelled) {
      $("#status").textContent = "Cancelled. Nothing was kept; change the settings and start again whenever you like.";
      $("#bar-text").textContent = "cancelled";
    } else {
      $("#status").textContent = "Stopped by an error.";
      showError(err.fatal ? err.message : `Quantization failed: ${stop(err.message)}`);
    }
  } finally {
    state.cancel = null;
    setRunning(false);
  }
}

async function cancelRun(quiet) {
  if (!state.running) return;
  $("#status").textContent = "Cancelling…";
  if (state.cancel) Atomics.store(state.cancel, 0, 1);
  // the worker stops at its next read or tensor; if it does not within 1.5 s, end it
  const stopped = new Promise((r) => {
    const t0 = performance.now();
    const poll = () => (!state.running ? r(true) : performance.now() - t0 > (state.cancel ? 1500 : 0) ? r(false) : setTimeout(poll, 50));
    poll();
  });
  if (!(await stopped)) {
    quantW.restart();
    if (state.files) await quantW.call("open", state.files).catch((err) => showError(friendlyOpenError(err, state.files.weights.name)));
  }
  while (state.running) await new Promise((r) => setTimeout(r, 20));
  if (!quiet) $("#start").focus();
}

// progress arrives once per tensor: draw it at most once per frame
let progressFrame = 0, lastProgress = null;
function onProgress(p, elapsed) {
  lastProgress = { p, elapsed };
  if (!progressFrame) progressFrame = requestAnimationFrame(drawProgress);
  if (!p.layer) return;
  state.reportLayers.set(p.layer.name, p.layer);
  if (p.layer.kind === "bias") return;
  state.weightLayers.push(p.layer);
  addLayerRow(p.layer);
  if (state.selected === p.layer.name) drawLayer(p.layer.name);
}

function drawProgress() {
  progressFrame = 0;
  if (!lastProgress || !state.running) return;
  const { p, elapsed } = lastProgress;
  const frac = p.bytes_total ? p.bytes_done / p.bytes_total : p.index / p.total;
  $("#bar").value = frac;
  const eta = frac > 0.02 ? (elapsed * (1 - frac)) / frac : NaN;
  $("#bar-text").textContent = `${p.index} / ${p.total} tensors · ${fmtBytes(p.bytes_done)} of ${fmtBytes(p.bytes_total)} · ${fmtSecs(elapsed)} elapsed` +
    (Number.isFinite(eta) && frac < 1 ? ` · about ${fmtSecs(eta)} left` : "");
}

/* The row's little picture: the original range (grey) over each cluster's range, as
 * positioned boxes (plain HTML: a table of hundreds of rows stays cheap to draw). */
function rangeBar(l) {
  const k = l.cluster_min?.length || 0, span = l.max - l.min || 1;
  const names = clusterNames(k);
  const box = h("div", { class: "rbar", role: "img",
    "aria-label": `range ${fmtNum(l.range)}; clusters ${(l.cluster_ranges || []).map((r, c) => `${names[c]} ${fmtNum(r)}`).join(", ")}` },
    h("span", { class: "rall" }));
  for (let c = 0; c < k; c++) {
    const left = ((l.cluster_min[c] - l.min) / span) * 100, width = Math.max(0.8, ((l.cluster_max[c] - l.cluster_min[c]) / span) * 100);
    box.append(h("span", { class: "rc", style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%;background:${CLUSTER_COLORS[c % 4]}` }));
  }
  return box;
}

// rows arrive once per tensor: add them once per frame
let rowQueue = [];
function flushRows() {
  if (!rowQueue.length) return;
  const frag = document.createDocumentFragment();
  for (const r of rowQueue) frag.append(layerRow(r));
  rowQueue = [];
  const wrap = $("#layer-rows").closest(".table-wrap");
  const atEnd = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 40;
  $("#layer-rows").append(frag);
  if (atEnd && state.running) wrap.scrollTop = wrap.scrollHeight; // follow the newest row unless the reader scrolled up
}
function addLayerRow(l) {
  if (!rowQueue.length) requestAnimationFrame(flushRows);
  rowQueue.push(l);
}

function layerRow(l) {
  const gain = l.mse > 0 ? l.mse_plain / l.mse : NaN;
  const w = widest(l);
  const tr = h("tr", { "data-sq": "layer", "data-name": l.name },
    h("th", { scope: "row" }, h("button", { type: "button", class: "link mono", title: l.name, onclick: () => selectLayer(l.name, true) }, shortName(l.name))),
    h("td", { class: "mono" }, l.shape.join("×")),
    h("td", { class: "spark" }, rangeBar(l)),
    h("td", { class: "num" }, fmtNum(l.range)),
    h("td", { class: "num" }, `${fmtNum(w)} (${(l.range / w).toFixed(1)}× narrower)`),
    h("td", { class: "num" }, fmtSci(l.mse_plain)),
    h("td", { class: "num" }, fmtSci(l.mse)),
    h("td", { class: `num ${gain > 1 ? "good" : gain < 1 ? "bad" : ""}` }, Number.isFinite(gain) ? `${gain.toFixed(1)}×` : "–"),
    h("td", { class: "num" }, fmtSecs(l.seconds || 0)));
  if (l.name === state.selected) tr.classList.add("selected");
  return tr;
}

function finishRun({ report, blob, seconds, io, threads, heapBytes }, wall) {
  state.io = io; // reads/writes of the worker (kept for debugging from the console)
  state.report = report;
  state.blob = blob;
  state.blobKey++;
  for (const l of report.layers) state.reportLayers.set(l.name, l);
  flushRows();
  $("#bar").value = 1;
  const split = state.weightLayers.length;
  const wins = state.weightLayers.filter((l) => l.mse < l.mse_plain).length;
  $("#bar-text").textContent = `${report.layers.length ? "done" : "done (nothing to split)"} · ${fmtSecs(wall)}`;
  $("#status").textContent = "";
  // data-threads / data-heap-bytes / data-seconds / data-io: the core's threads, its wasm
  // memory (peak) size, the worker's time and I/O, for tests and benchmarks
  // (tests/web/run.mjs, bench/web_1b.mjs)
  $("#status").append(h("p", { "data-sq": "done", class: "done", "data-threads": threads, "data-heap-bytes": heapBytes,
                               "data-seconds": seconds, "data-io": JSON.stringify(io) },
    `Done in ${fmtSecs(seconds)}: ${split} layers split and quantized to INT${report.bits} with k = ${report.clusters}; ` +
    `the split beats plain INT${report.bits} on ${wins} of ${split}. ` +
    `${fmtBytes(report.bytes_in)} → ${fmtBytes(report.bytes_out)}` +
    (report.quant_bytes_in ? ` (the quantized layers: ${fmtBytes(report.quant_bytes_in)} → ${fmtBytes(report.quant_bytes_out)})` : "") + "."));
  drawSummary();
  showDownloads(report, blob);
  auxW.call("setQuantized", { blob, key: state.blobKey }).catch((err) => showError(`The quantized model cannot be opened for running: ${stop(err.message)}`));
  if (state.selected) drawLayer(state.selected);
  else pickDefaultLayer();
  if (state.kind) $("#run-hint").textContent = runHint();
}

function safeName(s) {
  return String(s).replace(/\.safetensors$/i, "").replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "") || "model";
}

function showDownloads(report, blob) {
  const base = `${safeName(state.files.name)}-int${report.bits}-k${report.clusters}-${report.format}`;
  const mu = URL.createObjectURL(blob);
  const rblob = new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" });
  const ru = URL.createObjectURL(rblob);
  state.urls.push(mu, ru);
  $("#download-links").textContent = "";
  $("#download-links").append(
    h("a", { class: "button primary", href: mu, download: `${base}.safetensors`, "data-sq": "download" }, `Quantized model (${base}.safetensors, ${fmtBytes(blob.size)})`),
    h("a", { class: "button", href: ru, download: `${base}-report.json`, "data-sq": "report" }, `Report (${base}-report.json)`),
    h("p", { class: "hint" }, "The file is the same, byte for byte, as `sq quantize` writes with these options. Its metadata carries the config and tokenizer, so it runs on its own."));
  $("#download").hidden = false;
}

// ---------------- 4. explain ----------------
function setupExplain() {
  const pick = $("#layer-pick");
  pick.textContent = "";
  const split = state.info.info.layers.filter((l) => l.role === "split");
  for (const l of split) pick.append(h("option", { value: l.name }, `${l.name}  [${l.shape.join("×")}]`));
  $("#explain").hidden = !split.length;
  syncLabToSettings(false);
  if (split.length) selectLayer(split[0].name, false);
}

$("#layer-pick").addEventListener("change", (ev) => selectLayer(ev.target.value, false));

function pickDefaultLayer() {
  // the layer whose split helped most: the clearest picture of why it works
  let best = null;
  for (const l of state.weightLayers) if (!best || l.range / widest(l) > best.range / widest(best)) best = l;
  if (best) selectLayer(best.name, false);
}

function selectLayer(name, scroll) {
  state.selected = name;
  $("#layer-pick").value = name;
  for (const tr of document.querySelectorAll("[data-sq=layer]")) tr.classList.toggle("selected", tr.dataset.name === name);
  drawLayer(name, true);
  if (scroll) $("#explain").scrollIntoView({ behavior: "smooth", block: "start" });
}

let drawSeq = 0;
async function drawLayer(name, newLayer = false) {
  const seq = ++drawSeq;
  const box = $("#layer-chart");
  box.setAttribute("aria-busy", "true");
  try {
    let data = state.layerCache.get(name);
    if (!data) {
      data = await auxW.call("layer", { name });
      state.layerCache.set(name, data);
    }
    if (seq !== drawSeq) return;
    const rep = state.reportLayers.get(name);
    const opts = rep && state.opts ? state.opts : currentOpts();
    let stats = rep, note;
    if (!rep) {
      const r = await auxW.call("roundtrip", { values: data.sample.values, rows: data.sample.rows, cols: data.sample.cols, opts: { ...opts, skip_plain: true } });
      if (seq !== drawSeq) return;
      stats = { ...r.stats, min: data.min, max: data.max, range: data.max - data.min };
      note = `Clusters estimated from ${data.sample.rows < data.rows ? `${data.sample.rows} of ${data.rows} rows` : "the layer"}; quantize to see the exact split.`;
    }
    box.textContent = "";
    const width = Math.min(980, box.clientWidth || 900);
    box.append(layerFigure({ hist: data.hist, outliers: data.outliers, stats, bits: opts.bits, format: opts.format, width,
      note: note || "Grids drawn over the whole tensor; the file keeps a grid per group of weights in a row, each at most this wide." }));
    $("#layer-caption").textContent = layerCaption(data, stats, opts);
    if (newLayer || !state.lab || state.lab.name !== name) resetLab(data);
  } catch (err) {
    if (seq === drawSeq) showError(`The chart of ${name} could not be drawn: ${stop(err.message)}`);
  } finally {
    if (seq === drawSeq) box.removeAttribute("aria-busy");
  }
}

function layerCaption(d, s, o) {
  const k = s.cluster_ranges?.length || 1;
  const w = widest(s);
  const step = (s.range / ((1 << o.bits) - 1));
  const steps = (s.cluster_ranges || []).map((r) => r / ((1 << o.bits) - 1));
  const finest = steps.length ? Math.min(...steps) : step;
  return `${d.name}: ${d.shape.join(" × ")} ${d.dtype}, ${d.n.toLocaleString("en")} weights between ${fmtNum(d.min)} and ${fmtNum(d.max)}; ` +
    `${d.outliers.count.toLocaleString("en")} lie more than 3 standard deviations from the mean. ` +
    (k > 1
      ? `Plain INT${o.bits} spreads ${1 << o.bits} levels over the whole range (step ${fmtNum(step)}), so the outliers stretch the grid for everyone. ` +
        `Split into ${k} clusters, the widest spans ${fmtNum(w)} (${(s.range / w).toFixed(1)}× narrower) and the finest grid steps by ${fmtNum(finest)}` +
        (Number.isFinite(s.mse_plain) && s.mse > 0 ? `: the error falls ${(s.mse_plain / s.mse).toFixed(1)}× (MSE ${fmtSci(s.mse_plain)} → ${fmtSci(s.mse)}).` : ".")
      : `With k = 1 this is plain INT${o.bits}: one grid with step ${fmtNum(step)} over the whole range.`);
}

// the outlier lab
const LAB_BITS = [2, 3, 4, 8];
function syncLabToSettings(run = true) {
  const o = currentOpts();
  $("#lab-bits").value = String(LAB_BITS.indexOf(o.bits));
  $("#lab-k").value = String(o.clusters);
  labLabels();
  if (run && state.lab) labRun();
}
function labLabels() {
  $("#lab-bits-out").textContent = `INT${LAB_BITS[Number($("#lab-bits").value)]}`;
  $("#lab-k-out").textContent = $("#lab-k").value;
}
function resetLab(data) {
  state.lab = { name: data.name, rows: data.sample.rows, cols: data.sample.cols, base: data.sample.values,
                values: data.sample.values.slice(), added: 0, totalRows: data.rows };
  labRun();
}
$("#lab-bits").addEventListener("input", () => { labLabels(); labRun(); });
$("#lab-k").addEventListener("input", () => { labLabels(); labRun(); });
$("#lab-reset").addEventListener("click", () => {
  if (!state.lab) return;
  state.lab.values = state.lab.base.slice();
  state.lab.added = 0;
  labRun();
});
$("#lab-outlier").addEventListener("click", () => {
  const lab = state.lab;
  if (!lab) return;
  let lo = Infinity, hi = -Infinity;
  for (const v of lab.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const i = Math.floor(Math.random() * lab.values.length);
  const up = lab.added % 2 === 0;
  lab.values[i] = up ? hi + (hi - lo) * 0.75 : lo - (hi - lo) * 0.75;
  lab.added++;
  labRun();
});

function histOf(values, bins = 120) {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0;
  for (const v of values) { if (v < min) min = v; if (v > max) max = v; sum += v; sq += v * v; }
  const n = values.length, mean = sum / n, std = Math.sqrt(Math.max(0, sq / n - mean * mean));
  const span = max - min || 1, counts = new Array(bins).fill(0), outs = [];
  for (const v of values) {
    counts[Math.min(bins - 1, Math.floor(((v - min) / span) * bins))]++;
    if (Math.abs(v - mean) > 3 * std) outs.push(v);
  }
  return { hist: { x0: min, dx: span / bins, counts }, outliers: { values: outs.slice(0, 400), count: outs.length } };
}

let labSeq = 0, labTimer = 0;
function labRun() {
  clearTimeout(labTimer);
  labTimer = setTimeout(labRunNow, 40);
}
async function labRunNow() {
  const lab = state.lab;
  if (!lab) return;
  const seq = ++labSeq;
  const bits = LAB_BITS[Number($("#lab-bits").value)], k = Number($("#lab-k").value);
  const o = { ...currentOpts(), bits, clusters: k };
  try {
    const r = await auxW.call("roundtrip", { values: lab.values, rows: lab.rows, cols: lab.cols, opts: o });
    if (seq !== labSeq) return;
    const s = r.stats;
    const { hist, outliers } = histOf(lab.values);
    const box = $("#lab-chart");
    box.textContent = "";
    box.append(layerFigure({ hist, outliers, stats: s, bits, format: o.format, width: Math.min(980, box.clientWidth || 900) }));
    const w = widest(s);
    const st = $("#lab-stats");
    st.textContent = "";
    st.append(
      h("div", {}, h("span", { class: "k" }, "sample"), `${lab.rows} × ${lab.cols}${lab.rows < lab.totalRows ? ` (of ${lab.totalRows} rows)` : ""}${lab.added ? `, ${lab.added} outlier${lab.added > 1 ? "s" : ""} added` : ""}`),
      h("div", {}, h("span", { class: "k" }, "range"), `${fmtNum(s.range)} → widest cluster ${fmtNum(w)} (${(s.range / w).toFixed(1)}×)`),
      h("div", {}, h("span", { class: "k" }, `MSE plain INT${bits}`), fmtSci(s.mse_plain)),
      h("div", {}, h("span", { class: "k" }, `MSE split k=${k}`), fmtSci(s.mse),
        s.mse > 0 && k > 1 ? h("strong", { class: s.mse < s.mse_plain ? "good" : "bad" }, ` ${(s.mse_plain / s.mse).toFixed(1)}× ${s.mse < s.mse_plain ? "lower" : "higher"}`) : ""),
      h("div", {}, h("span", { class: "k" }, "largest error"), fmtNum(r.maxErr)));
  } catch (err) {
    if (seq === labSeq) showError(`The outlier lab could not quantize the sample: ${stop(err.message)}`);
  }
}

let summaryVisible = false;
new IntersectionObserver((es) => { for (const e of es) summaryVisible = e.isIntersecting; }).observe($("#summary-chart"));

function drawSummary() {
  if (!state.weightLayers.length) return;
  $("#summary").hidden = false;
  const box = $("#summary-chart");
  box.textContent = "";
  box.append(summaryFigure(state.weightLayers, Math.min(980, box.clientWidth || 900)));
}

// ---------------- 5. run ----------------
const DEFAULT_TEXT = { bert: "i feel so happy and grateful for my friends today", llama: "Once upon a time" };

function runHint() {
  const q = state.blob ? "the original and the quantized model side by side" : "the original model (quantize to compare it with the quantized one)";
  return state.kind === "bert" ? `Type a sentence: ${q} label it.` : `Type the start of a story: ${q} continue it.`;
}

function setupRun() {
  $("#run").hidden = !state.kind;
  if (!state.kind) return;
  $("#prompt").value = DEFAULT_TEXT[state.kind];
  $("#prompt-label").textContent = state.kind === "bert" ? "Text to classify" : "Prompt";
  $("#prompt").rows = state.kind === "bert" ? 2 : 3;
  $("#gen-opts").hidden = state.kind !== "llama";
  $("#run-hint").textContent = runHint();
}

$("#gen-mode").addEventListener("change", () => {
  const sample = $("#gen-mode").value === "sample";
  $("#gen-temp").disabled = !sample;
  $("#gen-seed").disabled = !sample;
});
$("#run-btn").addEventListener("click", () => runModel());
$("#stop-btn").addEventListener("click", () => auxW.call("stop").catch(() => {}));
$("#prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey || state.kind === "bert") && !ev.shiftKey) {
    ev.preventDefault();
    runModel();
  }
});

let runBusy = false;
async function runModel() {
  if (!state.kind || runBusy) return;
  const out = $("#output");
  const text = $("#prompt").value;
  if (!text.trim()) return showError(state.kind === "bert" ? "Type some text to classify first." : "Type a prompt first.");
  runBusy = true;
  out.setAttribute("data-busy", "");
  out.textContent = "";
  $("#run-btn").disabled = true;
  const res = $("#run-results");
  res.textContent = "";
  res.append(h("p", { class: "hint" }, "Loading the model into the worker…"));
  const wanted = ["original"];
  if (state.blob) wanted.push("quantized");
  const which = [], skipped = [];
  try {
    // load each model on its own: a big original may not fit where its quantized copy does
    // the original's linear layers run as float32: past ~3.4 GB they cannot fit in wasm32
    const originalTooBig = state.info.info.split_params * 4 > 3.4e9;
    for (const w of wanted) {
      if (w === "original" && originalTooBig && state.blob) {
        skipped.push({ w, err: new Error("out of memory") });
        continue;
      }
      try {
        await auxW.call("load", { which: w, kind: state.kind });
        which.push(w);
      } catch (err) {
        if (err.fatal || err.cancelled) throw err;
        skipped.push({ w, err });
      }
    }
    if (!which.length) throw skipped[0].err;
    for (const { w, err } of skipped)
      showError(/out of memory/i.test(err.message)
        ? `The ${w} model does not fit in this browser's WebAssembly memory (4 GB at most), so only the ${which[0]} one runs.`
        : `The ${w} model could not be loaded (${stop(err.message).replace(/\.$/, "")}), so only the ${which[0]} one runs.`);
    if (state.kind === "bert") {
      const r = await auxW.call("classify", { text, which });
      const main = r.quantized || r.original;
      out.textContent = main.label;
      res.textContent = "";
      const line = (name, x) => x ? h("li", {}, h("strong", {}, `${name}: `), `${x.label} (${(x.probs[x.label_id] * 100).toFixed(1)}%) in ${fmtSecs(x.seconds)}`) : null;
      res.append(h("ul", { class: "verdicts" }, line("original", r.original), line("quantized", r.quantized)),
        probFigure(r, Math.min(640, res.clientWidth || 640)));
      if (!state.blob) res.append(h("p", { class: "hint" }, "Quantize the model to see its probabilities beside the original's."));
    } else {
      $("#stop-btn").hidden = false;
      const sample = $("#gen-mode").value === "sample";
      const opts = { maxTokens: Math.max(1, Math.min(2048, Number($("#gen-n").value) || 48)), temperature: sample ? Number($("#gen-temp").value) || 0.8 : 0,
                     topP: 0.9, seed: Math.max(0, Math.floor(Number($("#gen-seed").value) || 0)) };
      res.textContent = "";
      const panes = {};
      const grid = h("div", { class: "gen-grid" });
      for (const w of which) {
        const body = h("p", { class: "gen-text", "data-sq": `gen-${w}` }, h("span", { class: "prompt-echo" }, text));
        const meta = h("p", { class: "hint" }, "");
        panes[w] = { body, meta };
        grid.append(h("div", { class: "gen-pane" }, h("h3", {}, w === "original" ? "Original" : `Quantized (INT${state.report.bits}, k = ${state.report.clusters})`), body, meta));
      }
      if (!state.blob) grid.append(h("div", { class: "gen-pane muted" }, h("h3", {}, "Quantized"), h("p", {}, "Quantize the model to see its text beside the original's.")));
      res.append(grid);
      const primary = which.includes("quantized") ? "quantized" : which[0];
      out.textContent = text;
      const r = await auxW.call("generate", { prompt: text, which, ...opts }, (m) => {
        if (m.piece) panes[m.which].body.append(m.piece);
        if (m.which === primary && m.piece) out.append(m.piece);
      });
      for (const w of which) {
        const x = r[w];
        panes[w].meta.textContent = `${x.tokens} tokens in ${fmtSecs(x.seconds)} (${(x.tokens / Math.max(x.seconds, 1e-9)).toFixed(0)} tokens/s)${x.stopped ? ", stopped" : ""}.`;
      }
      out.textContent = text + r[primary].text;
    }
  } catch (err) {
    res.textContent = "";
    out.textContent = "";
    showError(err.fatal ? err.message : /out of memory/i.test(err.message)
      ? "This model does not fit in the browser's WebAssembly memory (4 GB at most). Quantize it first and run the quantized copy."
      : `The model could not run: ${stop(err.message)}`);
  } finally {
    $("#stop-btn").hidden = true;
    $("#run-btn").disabled = false;
    out.removeAttribute("data-busy");
    runBusy = false;
  }
}

// ---------------- start-up ----------------
Promise.all([quantW.call("ping"), auxW.call("ping")]).then(([p]) => {
  $("#version").textContent = p.version;
  // threads: the pthreads core needs cross-origin isolation (COOP/COEP headers)
  $("#threads").textContent = p.threads > 1 ? ` on ${p.threads} threads` : " on one thread";
  $("#threads").dataset.threads = p.threads;
  $("#threads").title = p.isolated ? "cross-origin isolated: the threaded core" : "not cross-origin isolated (no COOP/COEP headers): the single-thread core";
}).catch((err) => showError(err.fatal ? err.message : `The quantizer could not start: ${stop(err.message)}`));

function showOnline() {
  $("#net-state").hidden = navigator.onLine;
}
window.addEventListener("online", showOnline);
window.addEventListener("offline", showOnline);
showOnline();

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("sw.js").then(() => navigator.serviceWorker.ready).then(() => {
    $("#offline-state").textContent = "Ready to work offline.";
  }).catch(() => { $("#offline-state").textContent = "Offline use is not available here."; });
}
