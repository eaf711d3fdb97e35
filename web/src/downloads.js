// downloads.js - panel 6: the quantized file and its report as download links.
import { $, h, fmtBytes } from "./ui.js";
import { state } from "./state.js";

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
    h("p", { class: "hint" }, "The file is the same, byte for byte, as `sq quantize` writes with these options. Its metadata carries the config and tokenizer, so it runs on its own."));
  $("#download").hidden = false;
}
