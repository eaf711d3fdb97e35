// arc.js - panel 5's multiple choice (ARC) block, for Llama models: a JSONL file of
// questions (picked or dropped on the block), scored by the original and the quantized
// model one after another in the helper worker, each choice by its log-likelihood after
// "Question: …\nAnswer:" as lm-evaluation-harness does (core/eval/arc.h); accuracy and
// length-normalised accuracy side by side, as `sq eval MODEL --task arc --data FILE`.
import { $, h, fmtSecs, stop, showError } from "./ui.js";
import { auxW } from "./workers.js";
import { state } from "./state.js";

const MAX_BYTES = 64 << 20;
let lines = null, fileName = "", busy = false;

export function setupArc() {
  const box = $("#arc");
  box.hidden = !(state.runnable && state.kind === "llama");
  $("#arc-results").textContent = "";
  $("#arc-btn").disabled = !lines;
}

async function takeFile(file) {
  if (!file) return;
  if (file.size > MAX_BYTES) return showError(`${file.name} is ${Math.round(file.size / 1e6)} MB; a question file here may hold at most 64 MB.`);
  const text = await file.text();
  const out = [];
  text.split("\n").forEach((t, i) => { if (t.trim()) out.push({ text: t, lineno: i + 1 }); });
  if (!out.length) return showError(`${file.name} holds no questions (one JSON object per line).`);
  lines = out;
  fileName = file.name;
  $("#arc-file-name").textContent = `${file.name}: ${out.length} question${out.length === 1 ? "" : "s"}`;
  $("#arc-btn").disabled = false;
}

$("#arc-file").addEventListener("change", (ev) => takeFile(ev.target.files[0]));
const box = $("#arc");
box.addEventListener("dragover", (ev) => { ev.preventDefault(); ev.stopPropagation(); box.classList.add("drag"); });
box.addEventListener("dragleave", () => box.classList.remove("drag"));
box.addEventListener("drop", (ev) => {
  ev.preventDefault();
  ev.stopPropagation(); // not a model: the page's own drop handler must not see it
  box.classList.remove("drag");
  takeFile(ev.dataTransfer.files[0]);
});
$("#arc-btn").addEventListener("click", () => runArc());

const pct = (x) => `${(100 * x).toFixed(1)}%`;

async function runArc() {
  if (busy || !lines) return;
  busy = true;
  $("#arc-btn").disabled = true;
  const out = $("#arc-results");
  out.textContent = "";
  const which = state.blob ? ["original", "quantized"] : ["original"];
  const rows = {};
  const table = h("table", { class: "arc-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "model"), h("th", {}, "acc"), h("th", {}, "acc_norm"), h("th", {}, ""))));
  const body = h("tbody");
  for (const w of which) {
    rows[w] = h("tr", { "data-sq": `arc-${w}` }, h("td", {}, w === "original" ? "Original" : "Quantized"), h("td"), h("td"), h("td", { class: "hint" }, "waiting…"));
    body.append(rows[w]);
  }
  table.append(body);
  out.append(h("p", { class: "hint" }, `${fileName}, ${lines.length} question${lines.length === 1 ? "" : "s"}: the prompt "Question: …\\nAnswer:" after BOS, each choice scored by the summed log-likelihood of its tokens (acc), and per character (acc_norm).`), table);
  try {
    for (const w of which) {
      const cells = rows[w].children;
      cells[3].textContent = "loading…";
      await auxW.call("load", { which: w, kind: "llama" });
      const r = await auxW.call("arc", { lines, which: w }, (m) => {
        if (m.event === "arc") cells[3].textContent = `${m.done} of ${m.total}…`;
      });
      cells[1].textContent = `${pct(r.acc)} (${r.correct}/${r.n})`;
      cells[2].textContent = `${pct(r.accNorm)} (${r.correctNorm}/${r.n})`;
      cells[3].textContent = `in ${fmtSecs(r.seconds)}`;
      Object.assign(rows[w].dataset, { acc: r.acc, accNorm: r.accNorm, n: r.n });
    }
    out.dataset.done = "";
  } catch (err) {
    for (const w of which) if (!("acc" in rows[w].dataset)) rows[w].children[3].textContent = "not scored";
    if (err.fatal) showError(err.message);
    else showError(`The questions could not be scored: ${stop(err.message)}`, "#arc-file");
  } finally {
    busy = false;
    $("#arc-btn").disabled = !lines;
  }
}
