// run.js - panel 5: the original and the quantized model classify or generate.
import { probFigure } from "./charts.js";
import { $, h, fmtSecs, stop, showError } from "./ui.js";
import { auxW } from "./workers.js";
import { state } from "./state.js";

// ---------------- 5. run ----------------
export const DEFAULT_TEXT = { bert: "i feel so happy and grateful for my friends today", llama: "Once upon a time" };

export function runHint() {
  const q = state.blob ? "the original and the quantized model side by side" : "the original model (quantize to compare it with the quantized one)";
  return state.kind === "bert" ? `Type a sentence: ${q} label it.` : `Type the start of a story: ${q} continue it.`;
}

export function setupRun() {
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
export async function runModel() {
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
