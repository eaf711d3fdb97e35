// load.js - panel 1: files in (picker, folder, drop, bundled examples), what was loaded.
import { $, h, fmtBytes, fmtCount, stop, showError, clearErrors } from "./ui.js";
import { quantW, auxW } from "./workers.js";
import { state } from "./state.js";
import { cancelRun, clearRows } from "./progress.js";
import { setupExplain } from "./explain.js";
import { setupRun } from "./run.js";

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

export function modelKind(info, config) {
  const arch = info.architecture || "";
  if (/^Bert\w*ForSequenceClassification$/.test(arch) || (config.model_type === "bert" && config.id2label && !/^Bert(Model|ForMaskedLM|ForPreTraining)$/.test(arch)))
    return "bert";
  if (/^Llama\w*ForCausalLM$/.test(arch) || config.model_type === "llama") return "llama";
  return null;
}

export function showModelInfo({ info, config, dtypes }) {
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

export function resetModel() {
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
