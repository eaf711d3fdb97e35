// downloads.js - panel 6: the quantized file and its report as download links.
import { $, h, fmtBytes } from "./ui.js";
import { state } from "./state.js";
import { quantW, auxW } from "./workers.js";
import { runHint } from "./run.js";

export function safeName(s) {
  return String(s).replace(/\.safetensors$/i, "").replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "") || "model";
}

export function showDownloads(report, blob) {
  const base = `${safeName(state.files.name)}-int${report.bits}-k${report.clusters}-${report.format}`;
  const mu = URL.createObjectURL(blob);
  const rblob = new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" });
  const ru = URL.createObjectURL(rblob);
  state.urls.push(mu, ru);
  $("#download-links").textContent = "";
  $("#download-links").append(
    h("a", { class: "button primary", href: mu, download: `${base}.safetensors`, "data-sq": "download" }, `Quantized model (${base}.safetensors, ${fmtBytes(blob.size)})`),
    h("a", { class: "button", href: ru, download: `${base}-report.json`, "data-sq": "report" }, `Report (${base}-report.json)`),
    h("p", { class: "hint", "data-sq": "download-note" }, `The file is the same, byte for byte, as \`sq quantize\` writes with these options. ${selfContained()}`));
  $("#download").hidden = false;
  showStorage();
}

/* What the download note may claim: only a model that runs here runs on its own. */
function selfContained() {
  const t = state.files.texts;
  const carries = ["config.json", t.tokenizer_json && "tokenizer.json", t.vocab_txt && "vocab.txt"].filter(Boolean).join(" and ");
  if (state.runnable) return `Its metadata carries ${carries}, so it runs on its own.`;
  if (!state.kind) return `Its metadata carries ${carries}; the page cannot run this architecture, so it was not checked to run.`;
  return `It does not run on its own: ${state.check.sentence.replace(/^./, (c) => c.toLowerCase())}`;
}

/* Space the quantized outputs take in this browser's storage for the page, and a way to
 * delete them (they go anyway when the page next starts, unless a tab still holds one). */
export async function showStorage() {
  const line = $("#storage-line");
  let u;
  try { u = await quantW.call("outputs"); } catch { return; }
  line.textContent = "";
  if (!u.files) {
    line.textContent = state.blob ? "The quantized model is held by this tab (as Blobs) until you close it or quantize again."
      : "Nothing is kept in this browser's storage now.";
    return;
  }
  line.append(`Quantized outputs kept in this browser's storage for the page: ${u.files} file${u.files === 1 ? "" : "s"}, ${fmtBytes(u.bytes)}. `,
    h("button", { type: "button", class: "link", "data-sq": "delete-outputs", onclick: deleteOutputs }, "Delete them"),
    " (the download link above stops working).");
}

async function deleteOutputs() {
  for (const u of state.urls) URL.revokeObjectURL(u);
  state.urls = [];
  state.blob = null;
  await auxW.call("setQuantized", { blob: null }).catch(() => {});
  for (const slot of ["plain", "plain-size"]) await auxW.call("setQuantized", { blob: null, slot }).catch(() => {});
  state.variants = {};
  await quantW.call("outputs", { drop: true }).catch(() => {});
  $("#download-links").textContent = "";
  $("#download-links").append(h("p", { class: "hint" }, "Deleted. Quantize again to make a new file."));
  await showStorage();
  $("#start").focus();
  if (state.runnable) $("#run-hint").textContent = runHint();
}
