// main.js - the page: load a model, quantize it in a worker, show every layer, explain
// why the split helps, run the model, download the result. The main thread only draws;
// two module workers (worker.js) do everything heavy. One module per panel:
//   load.js (1), options.js (2), progress.js (3), explain.js + lab.js (4), run.js (5),
//   downloads.js (6); shared state in state.js, helpers in ui.js, workers in workers.js.
import { $, stop, showError } from "./ui.js";
import { quantW, auxW } from "./workers.js";
import { state } from "./state.js";
import "./frontier.js";
import "./load.js";
import "./options.js";
import "./progress.js";
import "./explain.js";
import "./lab.js";
import "./run.js";
import "./arc.js";
import "./downloads.js";

// ---------------- start-up ----------------
Promise.all([quantW.call("ping"), auxW.call("ping")]).then(([p]) => {
  $("#version").textContent = p.version;
  // threads: the pthreads core needs cross-origin isolation (COOP/COEP headers)
  $("#threads").textContent = p.threads > 1 ? ` on ${p.threads} threads` : " on one thread";
  $("#threads").dataset.threads = p.threads;
  $("#threads").title = p.isolated ? "cross-origin isolated: the threaded core" : "not cross-origin isolated (no COOP/COEP headers): the single-thread core";
  // the widths the core quantizes: the settings and the frontier offer every one
  state.bitsList = p.bits;
  const sel = $("#bits");
  for (const b of p.bits) if (![...sel.options].some((o) => Number(o.value) === b)) {
    const after = [...sel.options].find((o) => Number(o.value) > b);
    sel.insertBefore(new Option(`INT${b}`, String(b)), after || null);
  }
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
