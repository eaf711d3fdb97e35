// run.js - panel 5: the models classify or generate, each in its own pane: the original,
// the quantized one (the page's run), plain quantization (k = 1) at the same bits, and
// plain at about the same bits per weight once the frontier (frontier.js) found one.
// The panes run one after another, so each one's tokens per second is its own.
import { probFigure } from "./charts.js";
import { $, h, fmtBytes, fmtSecs, stop, showError } from "./ui.js";
import { auxW, quantW } from "./workers.js";
import { state } from "./state.js";
import { plainAtSameSize } from "./frontier.js";
import { setupArc } from "./arc.js";

export const DEFAULT_TEXT = { bert: "i feel so happy and grateful for my friends today", llama: "Once upon a time" };

export function runHint() {
  if (state.prequantized) return state.kind === "bert" ? "Type a sentence: the quantized file labels it." : "Type the start of a story: the quantized file continues it.";
  const q = state.blob
    ? "the original, the quantized model, and plain quantization without the split (at the same code width, and at the same size once measured) side by side"
    : "the original model (quantize to compare the quantized one beside it)";
  return state.kind === "bert" ? `Type a sentence: ${q} label it.` : `Type the start of a story: ${q} continue it, one after another.`;
}

export function setupRun() {
  $("#run").hidden = !state.runnable;
  setupArc();
  if (!state.runnable) return;
  $("#prompt").value = DEFAULT_TEXT[state.kind];
  $("#prompt-label").textContent = state.kind === "bert" ? "Text to classify" : "Prompt";
  $("#prompt").rows = state.kind === "bert" ? 2 : 3;
  $("#gen-opts").hidden = state.kind !== "llama";
  // the top line names the quantized model's label; generated text is in the panes
  $("#result-line").classList.toggle("offscreen", state.kind === "llama");
  $("#run-hint").textContent = runHint();
}

$("#gen-mode").addEventListener("change", () => {
  const sample = $("#gen-mode").value === "sample";
  $("#gen-temp").disabled = !sample;
  $("#gen-seed").disabled = !sample;
});
$("#run-btn").addEventListener("click", () => runModel());
$("#stop-btn").addEventListener("click", () => { stopAll = true; auxW.call("stop").catch(() => {}); });
$("#prompt").addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey || state.kind === "bert") && !ev.shiftKey) {
    ev.preventDefault();
    runModel();
  }
});

const intName = (bits) => (bits === "f32" ? "f32" : `INT${bits}`);

/* The panes to show: [{which, title, opts?}] (opts: a comparison model to make first). */
function panes() {
  const pq = state.prequantized;
  // a quantized file on its own runs in the "original" slot (the model the workers opened)
  if (pq) return [{ which: "original", title: `This file: ${pq.format} ${intName(pq.bits)}, k = ${pq.clusters}` }];
  const out = [{ which: "original", title: "Original" }];
  if (!state.blob) return out;
  const r = state.report;
  out.push({ which: "quantized", title: `SplitQuant ${intName(r.bits)}, k = ${r.clusters}` });
  if (r.clusters > 1 && r.bits !== "f32") {
    out.push({ which: "plain", title: `Plain ${intName(r.bits)} (k = 1, same width)`, opts: { ...state.opts, clusters: 1 } });
    const same = plainAtSameSize();
    if (same && same.bits !== r.bits)
      out.push({ which: "plain-size", title: `Plain ${intName(same.bits)} (k = 1, same size: ${same.bpw.toFixed(2)} bits/weight)`, opts: { ...state.opts, clusters: 1, bits: same.bits } });
  }
  return out;
}

/* Make a comparison model (quantized in the quantizer worker into Blob parts) and hand it
 * to the helper worker under its slot; cached while the model and options stay. */
async function ensureVariant(which, opts, note) {
  const key = `${state.blobKey}:${JSON.stringify(opts)}`;
  if (state.variants[which]?.key === key) return state.variants[which];
  note(`Quantizing the ${intName(opts.bits)} k = 1 model to compare…`);
  const res = await quantW.queue("quantize", { opts, cancel: null, sink: "blob" });
  const v = { key, report: res.report, size: res.blob.size, n: ++state.variantSeq };
  await auxW.call("setQuantized", { blob: res.blob, key: v.n, slot: which });
  state.variants[which] = v;
  return v;
}

const rate = (n, s) => (n > 0 && s > 0 ? n / s : null);
const fmtRate = (x) => (x === null ? "–" : x.toFixed(1));

/* A generation's figures, as `sq generate --stats` splits them: the prompt (prefill)
 * and the generated tokens (decode) each at its own rate, and the time to the first
 * token; the same numbers as data attributes for tests and bench/web_infer.mjs. */
function showRates(meta, r, loadS) {
  const prefill = rate(r.promptTokens, r.prefillSeconds), decode = rate(r.decodeTokens, r.decodeSeconds);
  meta.textContent = `${r.tokens} tokens in ${fmtSecs(r.seconds)}: prompt ${r.promptTokens} tokens at ${fmtRate(prefill)} tokens/s, ` +
    `generation at ${fmtRate(decode)} tokens/s` + (r.ttft !== null ? `; first token after ${fmtSecs(r.ttft)}` : "") +
    (loadS ? `; loaded in ${fmtSecs(loadS)}` : "") + (r.stopped ? "; stopped" : "") + ".";
  const d = { tokens: r.tokens, seconds: r.seconds, ttft: r.ttft ?? "", promptTokens: r.promptTokens, prefillSeconds: r.prefillSeconds,
              prefillTps: prefill ?? "", decodeTokens: r.decodeTokens, decodeSeconds: r.decodeSeconds, decodeTps: decode ?? "",
              threads: r.threads, heapBytes: r.heapBytes, loadSeconds: loadS };
  for (const [k, v] of Object.entries(d)) meta.dataset[k] = v;
}

let runBusy = false, stopAll = false;
export async function runModel() {
  if (!state.runnable || runBusy) return;
  const out = $("#output");
  const text = $("#prompt").value;
  if (!text.trim()) return showError(state.kind === "bert" ? "Type some text to classify first." : "Type a prompt first.");
  runBusy = true;
  stopAll = false;
  out.setAttribute("data-busy", "");
  out.textContent = "";
  $("#run-btn").disabled = true;
  const res = $("#run-results");
  res.textContent = "";
  const list = panes();
  const grid = h("div", { class: "gen-grid" });
  for (const p of list) {
    p.body = h(state.kind === "bert" ? "p" : "p", { class: "gen-text", "data-sq": p.which === "original" || p.which === "quantized" ? `gen-${p.which}` : `output-${p.which}` });
    p.meta = h("p", { class: "hint", "data-sq": `meta-${p.which}` }, "waiting…");
    grid.append(h("div", { class: "gen-pane", "data-pane": p.which }, h("h3", {}, p.title), p.body, p.meta));
  }
  if (!state.blob && !state.prequantized) grid.append(h("div", { class: "gen-pane muted" }, h("h3", {}, "Quantized"), h("p", {}, "Quantize the model to see it beside the original, with plain quantization at the same code width and at the same size.")));
  res.append(grid);
  if (state.kind === "bert") res.append(h("div", { id: "prob-chart" }));
  $("#stop-btn").hidden = state.kind !== "llama";
  const sample = $("#gen-mode").value === "sample";
  const opts = { maxTokens: Math.max(1, Math.min(2048, Number($("#gen-n").value) || 48)), temperature: sample ? Number($("#gen-temp").value) || 0.8 : 0,
                 topP: 0.9, seed: Math.max(0, Math.floor(Number($("#gen-seed").value) || 0)) };
  const results = {};
  let ran = 0;
  try {
    for (const p of list) {
      if (stopAll) { p.meta.textContent = "not run (stopped)."; continue; }
      const note = (t) => { p.meta.textContent = t; };
      try {
        if (p.opts) await ensureVariant(p.which, p.opts, note);
        // the original's linear layers run as float32: past ~3.4 GB they cannot fit in wasm32
        if (p.which === "original" && state.blob && state.info.info.split_params * 4 > 3.4e9) {
          p.body.textContent = "";
          p.meta.textContent = `Not run: as float32 this model needs ${fmtBytes(state.info.info.split_params * 4)}, more than this browser's WebAssembly memory (4 GB) holds. The quantized ones run.`;
          p.meta.dataset.skipped = "";
          continue;
        }
        const t0 = performance.now();
        const ld = await auxW.call("load", { which: p.which, kind: state.kind }, (m) => {
          if (m.event === "load") note(`Loading the model into the worker: ${fmtBytes(m.done)} of ${fmtBytes(m.total)} (${Math.min(100, (100 * m.done) / m.total).toFixed(0)}%)…`);
        });
        const loadS = ld.cached ? 0 : (performance.now() - t0) / 1000;
        if (state.kind === "bert") {
          note("Classifying…");
          const r = (await auxW.call("classify", { text, which: [p.which] }))[p.which];
          results[p.which] = r;
          p.body.textContent = `${r.label} (${(r.probs[r.label_id] * 100).toFixed(1)}%)`;
          p.meta.textContent = `in ${fmtSecs(r.seconds)}${loadS ? `; loaded in ${fmtSecs(loadS)}` : ""}.`;
          if (p.which === "quantized" || (p.which === "original" && !state.blob)) out.textContent = r.label;
        } else {
          p.body.textContent = "";
          p.body.append(h("span", { class: "prompt-echo" }, text));
          note("Generating…");
          const primary = p.which === "quantized" || (p.which === "original" && !state.blob);
          if (primary) out.textContent = text;
          const r = await auxW.call("generate", { prompt: text, which: p.which, ...opts }, (m) => {
            if (m.piece) { p.body.append(m.piece); if (primary) out.append(m.piece); }
          });
          results[p.which] = r;
          showRates(p.meta, r, loadS);
          if (primary) out.textContent = text + r.text;
          if (r.stopped) stopAll = true;
        }
        ran++;
      } catch (err) {
        if (err.fatal || err.cancelled) throw err;
        p.body.textContent = "";
        p.meta.textContent = /out of memory/i.test(err.message)
          ? "Not run: it does not fit in this browser's WebAssembly memory (4 GB at most)."
          : `Not run: ${stop(err.message)}`;
      }
    }
    if (!ran) throw new Error(list.map((p) => p.meta.textContent).join(" "));
    if (state.kind === "bert") {
      const box = $("#prob-chart");
      box.append(probFigure(results, Math.min(640, res.clientWidth || 640)));
    }
  } catch (err) {
    out.textContent = "";
    showError(err.fatal ? err.message : `The model could not run: ${stop(err.message)}`, "#prompt");
  } finally {
    $("#stop-btn").hidden = true;
    $("#run-btn").disabled = false;
    out.removeAttribute("data-busy");
    runBusy = false;
  }
}
