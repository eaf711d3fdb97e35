// options.js - panel 2: the settings, and which controls a run locks.
import { $ } from "./ui.js";
import { state } from "./state.js";
import { startRun, cancelRun } from "./progress.js";
import { drawLayer } from "./explain.js";
import { syncLabToSettings } from "./lab.js";

// ---------------- 2-3. quantize ----------------
export function currentOpts() {
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

export function setRunning(on) {
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

