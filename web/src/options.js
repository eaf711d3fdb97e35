// options.js - panel 2: the settings, and which controls a run locks.
import { $ } from "./ui.js";
import { state } from "./state.js";
import { startRun, cancelRun } from "./progress.js";
import { drawLayer } from "./explain.js";
import { syncLabToSettings } from "./lab.js";

// ---------------- 2-3. quantize ----------------
export function currentOpts() {
  const g = $("#group").value, e = $("#embeddings").value;
  const o = { bits: Number($("#bits").value), clusters: Number($("#clusters").value), format: $("#format").value,
              group: /^\d+$/.test(g) ? Number(g) : g };
  if (e) o.embeddings = e; // "" = the core's default for the format (core/quant/plan.c)
  return o;
}

$("#start").addEventListener("click", () => startRun());
$("#cancel").addEventListener("click", () => cancelRun(false));
$("#settings-form").addEventListener("submit", (ev) => ev.preventDefault());
for (const id of ["#bits", "#clusters", "#format", "#group", "#embeddings"]) $(id).addEventListener("change", () => {
  if (state.running) return;
  settingsHint();
  if (state.lab) syncLabToSettings();
  // before quantizing, the layer chart previews the chosen settings on a sample
  if (state.selected && !state.reportLayers.has(state.selected)) drawLayer(state.selected);
});

export function setRunning(on) {
  const focusWas = document.activeElement;
  state.running = on;
  $("#start").disabled = on || !state.files;
  $("#cancel").hidden = !on;
  for (const id of ["#bits", "#clusters", "#format", "#group", "#embeddings", "#files", "#folder"]) $(id).disabled = on;
  for (const b of document.querySelectorAll("[data-example]")) b.setAttribute("aria-disabled", on ? "true" : "false");
  // keep the keyboard where it was: Start hands over to Cancel and back
  if (on && focusWas === $("#start")) $("#cancel").focus();
  if (!on && (focusWas === $("#cancel") || focusWas === document.body)) $("#start").focus();
}


const DEFAULTS = { bits: 4, clusters: 3, format: "packed", group: "auto", embeddings: undefined };
/* The line under the settings: what they are (the defaults, or what changed), and for a
 * model that will not run, that only the weights are quantized. */
export function settingsHint() {
  if (!state.files) return;
  if (state.prequantized) {
    $("#settings-hint").textContent = "The loaded file is already quantized: these settings apply when an original model is loaded.";
    return;
  }
  const o = currentOpts();
  const changed = Object.keys(DEFAULTS).filter((k) => o[k] !== DEFAULTS[k]);
  let t = changed.length
    ? `INT${o.bits}, k = ${o.clusters}${o.clusters === 1 ? " (plain quantization, no split)" : ""}, ${o.format} format, scale groups: ${o.group}` +
      (o.embeddings ? `, embeddings: ${o.embeddings}` : "") +
      ` (changed from the defaults: ${changed.join(", ")}).`
    : "Defaults: INT4, 3 clusters, packed, groups of 128 — the usual SplitQuant setup; the token embedding as INT8 codes.";
  if (state.kind && !state.runnable) t += " Weight-only: this model will not run as loaded (see above), so the file will not run on its own either.";
  $("#settings-hint").textContent = t;
}
