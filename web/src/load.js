// load.js - panel 1: files in (picker, folder, drop, bundled examples), what was loaded.
import { $, h, fmtBytes, fmtCount, stop, showError, clearErrors } from "./ui.js";
import { quantW, auxW } from "./workers.js";
import { state } from "./state.js";
import { cancelRun, clearRows } from "./progress.js";
import { setupExplain } from "./explain.js";
import { setupRun } from "./run.js";
import { settingsHint } from "./options.js";
import { checkModel, shardOf } from "./check.js";

// ---------------- 1. load ----------------
export const TEXT_SLOTS = { "config.json": "config_json", "tokenizer.json": "tokenizer_json", "vocab.txt": "vocab_txt",
                     "tokenizer_config.json": "tokenizer_config_json" };

export function friendlyOpenError(err, weightsName) {
  const m = err.message || String(err);
  if (err.fatal) return m;
  if (err.code === 2) return `${weightsName} is not a safetensors file that sq can read: ${stop(m)}`;
  return `${weightsName} could not be opened: ${stop(m)}`;
}

/* list: [{file, path}] (path: relative path inside the dropped folder, or the name). */
export async function loadFiles(list, folderName) {
  clearErrors();
  if (state.running && !confirm("A quantization is running. Stop it and load the new model?")) return;
  const seq = ++state.loadSeq;
  state.onLoadStart?.();
  state.onLoadStart = null;
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
  let unused = [];
  const indexFile = all.find((f) => /\.safetensors\.index\.json$/i.test(f.name));
  let shardSet = null;
  if (weights.length > 1 || indexFile) {
    // never resolved silently: a folder's model.safetensors is the model (the others are
    // named on the page); a complete set of shards (the index's, or N-of-N names) is one
    // model; loose files or an incomplete set: the person picks one (a shard can be
    // quantized on its own, weight by weight, but does not run)
    const main = folderName && weights.find((f) => f.name === "model.safetensors");
    if (!main) {
      const found = await findShards(weights, indexFile);
      if (seq !== state.loadSeq) return;
      if (found.error) return showError(found.error);
      shardSet = found.shards;
    }
    if (!shardSet && weights.length > 1) {
      const picked = main || (await pickWeights(weights, seq));
      if (!picked) return;
      unused = weights.filter((f) => f !== picked).map((f) => f.name);
      weights = [picked];
    } else if (shardSet) {
      unused = weights.filter((f) => !shardSet.includes(f)).map((f) => f.name);
    }
  }
  const texts = {};
  for (const f of all) if (TEXT_SLOTS[f.name]) texts[TEXT_SLOTS[f.name]] = f;
  const name = folderName || (await looseName(texts.config_json, weights[0]));
  if (seq !== state.loadSeq) return;
  if (shardSet) {
    // one File of the shards end to end: the core (shards.h) sees them as one model; its
    // name is what the CLI records as the source (the index file's, or the folder's)
    const whole = new File(shardSet, indexFile ? indexFile.name : name);
    state.files = { weights: whole, texts, name, shard: null, index: indexFile ? indexFile.name : null, unused,
                    shards: shardSet.map((f) => ({ name: f.name, size: f.size })), indexFile: indexFile || null };
  } else {
    state.files = { weights: weights[0], texts, name, shard: shardOf(weights[0].name), index: indexFile ? indexFile.name : null, unused };
  }
  $("#model-info").hidden = false;
  $("#model-info").textContent = `Reading ${weights[0].name} (${fmtBytes(weights[0].size)})…`;
  let res;
  try {
    [res] = await Promise.all([quantW.queue("open", state.files), auxW.call("open", state.files)]);
  } catch (err) {
    if (seq !== state.loadSeq) return;
    $("#model-info").hidden = true;
    state.files = null;
    return showError(friendlyOpenError(err, weights[0].name));
  }
  if (seq !== state.loadSeq) return;
  const { info, config } = res;
  if (info.quantized) {
    // a file sq quantized (here or with sq quantize): it cannot be quantized again, but
    // when its metadata carries a config and a tokenizer of a kind the page runs, it runs
    const q = info.quantized;
    const what = `${weights[0].name} is already quantized by sq (${q.format}, ${q.bits === "f32" ? "f32" : `INT${q.bits}`}, k = ${q.clusters})`;
    const meta = res.metadata || {};
    const kind = config && !config.unreadable ? modelKind(info, config) : null;
    const tok = texts.tokenizer_json || texts.vocab_txt || meta["sq.tokenizer.json"] || meta["sq.vocab.txt"];
    if (!kind || !tok) {
      $("#model-info").hidden = true;
      state.files = null;
      return showError(`${what}. Drop the original model to quantize it.`);
    }
    state.info = res;
    state.kind = kind;
    state.prequantized = q;
    state.runnable = true; // the core checks its tensors when it loads (a missing one is said in the pane)
    showQuantizedInfo(res, what);
    $("#version").textContent = res.version;
    settingsHint();
    setupRun();
    return;
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
  state.check = state.kind ? checkModel(state.kind, config, info.layers, texts) : null;
  state.runnable = !!state.check?.runs;
  showModelInfo(res);
  $("#version").textContent = res.version;
  $("#start").disabled = false;
  settingsHint();
  setupExplain();
  setupRun();
}

/* The shards of one model among the weights: the files the index names (all of them, or
 * an error naming the missing ones), else a complete N-of-N set; {shards: [File] sorted}
 * or {shards: null} when these are not a sharded model, or {error}. */
async function findShards(weights, indexFile) {
  const byName = new Map(weights.map((f) => [f.name, f]));
  if (indexFile) {
    let names;
    try {
      if (indexFile.size > 64 * 1024 * 1024) throw new Error("too large");
      const map = JSON.parse(await indexFile.text()).weight_map;
      if (!map || typeof map !== "object") throw new Error("no weight_map");
      names = [...new Set(Object.values(map))].sort();
    } catch {
      return { error: `${indexFile.name} is not a readable index (it should be JSON with a "weight_map" naming each tensor's shard). Check that it is the model's own index file.` };
    }
    const missing = names.filter((n) => !byName.has(n));
    if (missing.length) return { error: `${indexFile.name} names ${names.length} shard${names.length === 1 ? "" : "s"}, and ${missing.length} of them ${missing.length === 1 ? "is" : "are"} not among the files given: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""}. Drop the whole model folder, every shard included.` };
    return { shards: names.map((n) => byName.get(n)) };
  }
  const info = weights.map((f) => shardOf(f.name));
  const count = info[0]?.count;
  if (weights.length > 1 && info.every((x) => x && x.count === count) && weights.length === count)
    return { shards: [...weights].sort((a, b) => a.name.localeCompare(b.name)) };
  return { shards: null };
}

/* Several .safetensors files: ask which one (resolves to the File, or null if another
 * load started meanwhile). */
function pickWeights(weights, seq) {
  const box = $("#model-info");
  box.hidden = false;
  box.textContent = "";
  const shards = weights.map((f) => shardOf(f.name));
  const sharded = shards.every((s) => s && s.count === shards[0].count);
  const count = sharded ? shards[0].count : 0;
  return new Promise((resolve) => {
    const sorted = [...weights].sort((a, b) => a.name.localeCompare(b.name));
    const list = h("ul", { class: "pick-list" }, sorted.map((f) => h("li", {},
      h("button", { type: "button", "data-sq": "pick-weights", "data-name": f.name,
                    onclick: () => { state.onLoadStart = null; resolve(f); } }, `${f.name} (${fmtBytes(f.size)})`))));
    state.onLoadStart = () => resolve(null); // another load replaces this question
    box.append(h("h3", {}, "Which weights file?"),
      h("p", { class: "notice", "data-sq": "pick-note" }, sharded
        ? `These are ${weights.length} of the ${count} shards of one model; the others are missing. Drop the whole model folder (every shard, and its index if it has one) to load the model, or pick a shard to quantize its layers on their own (that part cannot run, and its download is not a whole model).`
        : `${weights.length} different .safetensors files were given, and the page will not guess which is the model. Pick one:`),
      list);
    list.querySelector("button").focus();
  }).then((f) => (seq === state.loadSeq ? f : null));
}

/* A name for loose files: the config's _name_or_path, else the weights file's own name
 * unless it is the generic model.safetensors, else the architecture. */
async function looseName(configFile, weights) {
  let cfg = null;
  try { cfg = configFile ? JSON.parse(await configFile.text()) : null; } catch { /* reported after opening */ }
  const fromCfg = typeof cfg?._name_or_path === "string" ? cfg._name_or_path.split(/[\\/]/).filter(Boolean).pop() : null;
  if (fromCfg) return fromCfg;
  const base = weights.name.replace(/\.safetensors$/i, "");
  if (!/^model(-\d+-of-\d+)?$/i.test(base)) return base;
  return cfg?.architectures?.[0] || cfg?.model_type || base;
}

export function modelKind(info, config) {
  const arch = info.architecture || "";
  if (/^(Bert|Roberta|DistilBert)ForSequenceClassification$/.test(arch) || (["bert", "roberta", "distilbert"].includes(config.model_type) && config.id2label && !/^(Bert|Roberta|DistilBert)(Model|ForMaskedLM|ForPreTraining)$/.test(arch)))
    return "bert";
  // the Llama family runs on the same network (core/models/llama.h)
  if (/^(Llama|Mistral|Qwen2)ForCausalLM$/.test(arch) || ["llama", "mistral", "qwen2"].includes(config.model_type)) return "llama";
  return null;
}

export function showModelInfo({ info, config, dtypes }) {
  const box = $("#model-info");
  box.textContent = "";
  const split = info.layers.filter((l) => l.role === "split");
  const c = state.check;
  const tok = c?.tokenizer || (state.files.texts.tokenizer_json ? "tokenizer.json" : state.files.texts.vocab_txt ? "vocab.txt" : "none");
  const what = state.kind === "bert" ? `text classification (labels: ${Object.values(config.id2label || {}).join(", ")})` : "text generation";
  const runs = !state.kind ? "no (the page runs BERT sequence classifiers and Llama causal language models)"
    : state.runnable ? `yes — ${what}; all ${c.expected} tensors it needs are here with the shapes config.json implies`
    : `no — ${c.sentence.replace(/^./, (x) => x.toLowerCase())}`;
  const dl = h("dl", { class: "facts" },
    h("dt", {}, "Model"), h("dd", {}, state.files.name),
    h("dt", {}, "Architecture"), h("dd", {}, info.architecture || config.model_type || "not stated in config.json"),
    h("dt", {}, "Parameters"), h("dd", {}, `${fmtCount(info.params)} (${info.params.toLocaleString("en")})`),
    h("dt", {}, "Weights file"), h("dd", {}, `${state.files.shards ? `${state.files.shards.length} shards (${state.files.shards[0].name} …)` : state.files.weights.name}, ${fmtBytes(info.bytes)}, ${info.tensors} tensors` +
      (state.files.shard ? ` — shard ${state.files.shard.index} of ${state.files.shard.count}` : "")),
    h("dt", {}, "Data types"), h("dd", {}, Object.entries(dtypes).map(([d, v]) => `${d} (${v.tensors} tensors, ${fmtBytes(v.bytes)})`).join(", ")),
    h("dt", {}, "Will be split"), h("dd", {}, `${split.length} linear layers, ${fmtCount(info.split_params)} parameters (${((100 * info.split_params) / info.params).toFixed(1)}% of the model); norms and embeddings stay as they are`),
    h("dt", {}, "Tokenizer"), h("dd", {}, tok),
    h("dt", {}, "Runs here"), h("dd", { "data-sq": "runs", "data-runs": state.runnable ? "yes" : "no" }, runs));
  const rows = info.layers.map((l) => h("tr", {}, h("td", { class: "mono" }, l.name), h("td", {}, l.dtype), h("td", {}, l.shape.join(" × ")),
    h("td", {}, l.role === "split" ? "split + quantize" : l.role === "split-bias" ? "bias: split, stays float" : "kept as is")));
  const det = h("details", {}, h("summary", {}, `All ${info.tensors} tensors and what happens to each`),
    h("div", { class: "table-wrap tall", tabindex: "0", role: "region", "aria-label": "all tensors" }, h("table", { class: "tensors" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "tensor"), h("th", { scope: "col" }, "dtype"), h("th", { scope: "col" }, "shape"), h("th", { scope: "col" }, "what sq does"))),
      h("tbody", {}, rows))));
  box.append(h("h3", {}, "Loaded"), dl, det);
  if (state.files.unused.length) box.append(h("p", { class: "hint", "data-sq": "unused-weights" },
    `Also in the folder, not used: ${state.files.unused.join(", ")} (the model is ${state.files.shards ? `the ${state.files.shards.length} shards` : state.files.weights.name}; drop another file on its own to open it).`));
  if (!state.kind) box.append(h("p", { class: "notice" }, `This ${info.architecture || "model"} can be quantized and downloaded here, but not run: the page runs BERT sequence classifiers and Llama causal language models.`));
  else if (!state.runnable) box.append(h("p", { class: "notice", "data-sq": "check-warning" },
    `This ${info.architecture || "model"} will not run as loaded: ${c.sentence.replace(/^./, (x) => x.toLowerCase())} ` +
    (state.files.shard ? `It is shard ${state.files.shard.index} of ${state.files.shard.count} of a sharded model: the other shards hold the rest. ` : "") +
    "You can still quantize its weights here and download them, but the file will not run on its own."));
}

/* What was loaded, for a file sq already quantized: what it is, and that it runs. */
function showQuantizedInfo({ info, config }, what) {
  const box = $("#model-info");
  box.textContent = "";
  const q = info.quantized;
  const dl = h("dl", { class: "facts" },
    h("dt", {}, "Model"), h("dd", {}, state.files.name),
    h("dt", {}, "Architecture"), h("dd", {}, info.architecture || config.model_type || "not stated in config.json"),
    h("dt", {}, "Quantized"), h("dd", {}, `${q.format}, ${q.bits === "f32" ? "f32" : `INT${q.bits}`}, k = ${q.clusters}, scale groups: ${q.group} (sq ${q.version}); ` +
      `${Number(info.bpw_linear).toFixed(2)} bits per weight in the linear layers, ${Number(info.bpw_file).toFixed(2)} over the file`),
    h("dt", {}, "Parameters"), h("dd", {}, `${fmtCount(Number(q.source_params) || info.params)} in the original`),
    h("dt", {}, "Weights file"), h("dd", {}, `${state.files.weights.name}, ${fmtBytes(info.bytes)}, ${info.tensors} tensors`),
    h("dt", {}, "Runs here"), h("dd", { "data-sq": "runs", "data-runs": "yes" }, `yes — ${state.kind === "bert" ? "text classification" : "text generation"}, from the config and tokenizer in its metadata`));
  box.append(h("h3", {}, "Loaded"), dl,
    h("p", { class: "notice", "data-sq": "prequantized" }, `${what}: it runs below. To quantize, or to compare it with the original, drop the original model.`));
}

export function resetModel() {
  state.prequantized = null;
  state.files = null;
  state.info = null;
  state.kind = null;
  state.check = null;
  state.runnable = false;
  state.blobKey++; // a measurement of the previous model stops
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
  clearRows();
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
export function readEntries(dirEntry) {
  const reader = dirEntry.createReader();
  return new Promise((resolve, reject) => {
    const out = [];
    const more = () => reader.readEntries((batch) => (batch.length ? (out.push(...batch), more()) : resolve(out)), reject);
    more();
  });
}
export async function collect(entry, path, out, depth = 0) {
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
