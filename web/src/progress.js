// progress.js - panel 3: a quantize run in the worker, its progress bar and the live
// layer table (one row per quantized weight).
import { CLUSTER_COLORS, clusterNames, shortName } from "./charts.js";
import { $, h, fmtBytes, fmtSci, fmtNum, fmtSecs, widest, stop, showError, clearErrors, layerBpw, reportBpw } from "./ui.js";
import { setupFrontier } from "./frontier.js";
import { quantW, auxW } from "./workers.js";
import { state } from "./state.js";
import { friendlyOpenError } from "./load.js";
import { currentOpts, setRunning } from "./options.js";
import { showDownloads } from "./downloads.js";
import { drawLayer, drawSummary, pickDefaultLayer, selectLayer, summaryVisible } from "./explain.js";
import { runHint } from "./run.js";

export async function startRun() {
  if (!state.files || state.running) return;
  clearErrors();
  const opts = currentOpts();
  state.opts = opts;
  state.report = null;
  state.reportLayers = new Map();
  state.weightLayers = [];
  state.blob = null;
  for (const u of state.urls) URL.revokeObjectURL(u);
  state.urls = [];
  document.querySelector("[data-sq=done]")?.remove();
  $("#download").hidden = true;
  $("#download-links").textContent = "";
  clearRows();
  state.blobKey++; // anything measured for the previous run (frontier, comparisons) is stale
  state.variants = {};
  state.frontier = null;
  $("#frontier").hidden = true;
  for (const slot of ["plain", "plain-size"]) auxW.call("setQuantized", { blob: null, slot }).catch(() => {});
  $("#summary").hidden = false;
  $("#summary-chart").textContent = "";
  $("#summary-chart").append(h("p", { class: "hint" }, "The per-layer charts fill in as layers finish."));
  $("#progress").hidden = false;
  $("#explain").hidden = false;
  $("#bar").value = 0;
  $("#bar-text").textContent = "Starting…";
  $("#status").textContent = `Quantizing ${state.files.name}: INT${opts.bits}, k = ${opts.clusters}, ${opts.format} format, groups ${opts.group}.`;
  setRunning(true);
  auxW.call("setQuantized", { blob: null }).catch(() => {});
  const sab = self.crossOriginIsolated && typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(4) : null;
  state.cancel = sab ? new Int32Array(sab) : null;
  const t0 = performance.now();
  let lastSummary = 0;
  try {
    const res = await quantW.queue("quantize", { opts, cancel: sab }, (m) => {
      onProgress(m.p, (performance.now() - t0) / 1000);
      if (summaryVisible && performance.now() - lastSummary > 4000 && state.weightLayers.length > 1) {
        lastSummary = performance.now();
        drawSummary();
      }
    });
    finishRun(res, (performance.now() - t0) / 1000);
  } catch (err) {
    if (err.cancelled) {
      $("#status").textContent = "Cancelled. Nothing was kept; change the settings and start again whenever you like.";
      $("#bar-text").textContent = "cancelled";
    } else {
      $("#status").textContent = "Stopped by an error.";
      showError(err.fatal ? err.message : `Quantization failed: ${stop(err.message)}`);
    }
  } finally {
    state.cancel = null;
    setRunning(false);
  }
}

export async function cancelRun(quiet) {
  if (!state.running) return;
  $("#status").textContent = "Cancelling…";
  if (state.cancel) Atomics.store(state.cancel, 0, 1);
  // the worker stops at its next read or tensor; if it does not within 1.5 s, end it
  const stopped = new Promise((r) => {
    const t0 = performance.now();
    const poll = () => (!state.running ? r(true) : performance.now() - t0 > (state.cancel ? 1500 : 0) ? r(false) : setTimeout(poll, 50));
    poll();
  });
  if (!(await stopped)) {
    quantW.restart();
    if (state.files) await quantW.queue("open", state.files).catch((err) => showError(friendlyOpenError(err, state.files.weights.name)));
  }
  while (state.running) await new Promise((r) => setTimeout(r, 20));
  if (!quiet) $("#start").focus();
}

// progress arrives once per tensor: draw it at most once per frame
let progressFrame = 0, lastProgress = null;
export function onProgress(p, elapsed) {
  lastProgress = { p, elapsed };
  if (!progressFrame) progressFrame = requestAnimationFrame(drawProgress);
  if (!p.layer) return;
  state.reportLayers.set(p.layer.name, p.layer);
  // the table is the split linear layers; the embedding / head of --embeddings are in the done line
  if (p.layer.kind !== "weight") return;
  state.weightLayers.push(p.layer);
  addLayerRow(p.layer);
  if (state.selected === p.layer.name) drawLayer(p.layer.name);
}

export function drawProgress() {
  progressFrame = 0;
  if (!lastProgress || !state.running) return;
  const { p, elapsed } = lastProgress;
  const frac = p.bytes_total ? p.bytes_done / p.bytes_total : p.index / p.total;
  $("#bar").value = frac;
  const eta = frac > 0.02 ? (elapsed * (1 - frac)) / frac : NaN;
  $("#bar-text").textContent = `${p.index} / ${p.total} tensors · ${fmtBytes(p.bytes_done)} of ${fmtBytes(p.bytes_total)} · ${fmtSecs(elapsed)} elapsed` +
    (Number.isFinite(eta) && frac < 1 ? ` · about ${fmtSecs(eta)} left` : "");
}

/* The row's little picture: the original range (grey) over each cluster's range, as
 * positioned boxes (plain HTML: a table of hundreds of rows stays cheap to draw). */
export function rangeBar(l) {
  const k = l.cluster_min?.length || 0, span = l.max - l.min || 1;
  const names = clusterNames(k);
  const box = h("div", { class: "rbar", role: "img",
    "aria-label": `range ${fmtNum(l.range)}; clusters ${(l.cluster_ranges || []).map((r, c) => `${names[c]} ${fmtNum(r)}`).join(", ")}` },
    h("span", { class: "rall" }));
  for (let c = 0; c < k; c++) {
    const left = ((l.cluster_min[c] - l.min) / span) * 100, width = Math.max(0.8, ((l.cluster_max[c] - l.cluster_min[c]) / span) * 100);
    box.append(h("span", { class: "rc", style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%;background:${CLUSTER_COLORS[c % 4]}` }));
  }
  return box;
}

// rows arrive once per tensor: add them once per frame
let rowQueue = [];
export function flushRows() {
  if (!rowQueue.length) return;
  const frag = document.createDocumentFragment();
  for (const r of rowQueue) frag.append(layerRow(r));
  rowQueue = [];
  const wrap = $("#layer-rows").closest(".table-wrap");
  const atEnd = wrap.scrollTop + wrap.clientHeight >= wrap.scrollHeight - 40;
  $("#layer-rows").append(frag);
  if (atEnd && state.running) wrap.scrollTop = wrap.scrollHeight; // follow the newest row unless the reader scrolled up
}
export function addLayerRow(l) {
  if (!rowQueue.length) requestAnimationFrame(flushRows);
  rowQueue.push(l);
}

export function layerRow(l) {
  const gain = l.mse > 0 ? l.mse_plain / l.mse : NaN;
  const w = widest(l);
  const bpw = layerBpw(l);
  // one Tab stop for the whole table (roving tabindex): the arrow keys move between rows
  const first = !$("#layer-rows [data-sq=layer] button[tabindex='0']") && !rowQueue.some((r) => r.__tab);
  if (first) l.__tab = true;
  const tr = h("tr", { "data-sq": "layer", "data-name": l.name },
    h("th", { scope: "row" }, h("button", { type: "button", class: "link mono", title: l.name, tabindex: first ? "0" : "-1",
                                            onclick: () => selectLayer(l.name, true) }, shortName(l.name))),
    h("td", { class: "mono" }, l.shape.join("×")),
    h("td", { class: "spark" }, rangeBar(l)),
    h("td", { class: "num" }, `${fmtNum(l.range)} → ${fmtNum(w)}`, h("span", { class: "sub" }, ` ${(l.range / w).toFixed(1)}×`)),
    h("td", { class: "num" }, fmtSci(l.mse_plain)),
    h("td", { class: "num" }, fmtSci(l.mse)),
    h("td", { class: `num ${gain > 1 ? "good" : gain < 1 ? "bad" : ""}` }, Number.isFinite(gain) ? `${gain.toFixed(1)}×` : "–"),
    h("td", { class: "num", "data-sq": "bpw", "data-bpw": bpw }, bpw.toFixed(2)),
    h("td", { class: "num", "data-sq": "size" }, fmtBytes(l.bytes_out)),
    h("td", { class: "num" }, fmtSecs(l.seconds || 0)));
  if (l.name === state.selected) tr.classList.add("selected");
  return tr;
}

// arrow keys, Home and End move between the rows' buttons
$("#layer-rows").addEventListener("keydown", (ev) => {
  const b = ev.target.closest("button");
  if (!b || !["ArrowDown", "ArrowUp", "Home", "End"].includes(ev.key)) return;
  const all = [...$("#layer-rows").querySelectorAll("[data-sq=layer] th button")];
  const i = all.indexOf(b);
  const j = ev.key === "Home" ? 0 : ev.key === "End" ? all.length - 1 : Math.max(0, Math.min(all.length - 1, i + (ev.key === "ArrowDown" ? 1 : -1)));
  ev.preventDefault();
  b.tabIndex = -1;
  all[j].tabIndex = 0;
  all[j].focus();
  all[j].scrollIntoView({ block: "nearest" });
});

export function finishRun({ report, blob, seconds, io, threads, heapBytes }, wall) {
  state.io = io; // reads/writes of the worker (kept for debugging from the console)
  state.report = report;
  state.blob = blob;
  state.blobKey++;
  for (const l of report.layers) state.reportLayers.set(l.name, l);
  flushRows();
  $("#bar").value = 1;
  const split = state.weightLayers.length;
  const wins = state.weightLayers.filter((l) => l.mse < l.mse_plain).length;
  $("#bar-text").textContent = `${report.layers.length ? "done" : "done (nothing to split)"} · ${fmtSecs(wall)}`;
  $("#status").textContent = "";
  // data-threads / data-heap-bytes / data-seconds / data-io: the core's threads, its wasm
  // memory (peak) size, the worker's time and I/O, for tests and benchmarks
  // (tests/web/run.mjs, bench/web_1b.mjs)
  const bpw = reportBpw(report);
  $("#status").append(h("p", { "data-sq": "done", class: "done", "data-threads": threads, "data-heap-bytes": heapBytes,
                               "data-seconds": seconds, "data-io": JSON.stringify(io), "data-bpw-linear": bpw.linear, "data-bpw-file": bpw.file },
    `Done in ${fmtSecs(seconds)}: ${split} layers split and quantized to INT${report.bits} with k = ${report.clusters}, ` +
    `${bpw.linear.toFixed(2)} bits per weight as stored (codes${report.clusters > 1 ? ", cluster ids" : ""} and scales; the original: ${(8 * (report.quant_bytes_in || 0) / Math.max(1, report.layers.reduce((a, l) => a + l.shape.reduce((x, y) => x * y, 1), 0))).toFixed(0)}). ` +
    `The split beats plain INT${report.bits} at the same code width on ${wins} of ${split} layers` + (report.clusters > 1 ? " (plain is smaller: see size against error below). " : ". ") +
    (Number.isFinite(report.bpw_embeddings) ? `The token embedding${report.layers.some((l) => l.kind === "head") ? " and the LM head" : ""}: ` +
      `${report.embeddings.toUpperCase()} codes per row, ${report.bpw_embeddings.toFixed(2)} bits per weight. ` : "") +
    `File ${fmtBytes(report.bytes_in)} → ${fmtBytes(report.bytes_out)}, ${bpw.file.toFixed(2)} bits per parameter overall` +
    (report.quant_bytes_in ? ` (the quantized layers: ${fmtBytes(report.quant_bytes_in)} → ${fmtBytes(report.quant_bytes_out)})` : "") + "."));
  drawSummary();
  showDownloads(report, blob);
  auxW.call("setQuantized", { blob, key: state.blobKey }).catch((err) => showError(`The quantized model cannot be opened for running: ${stop(err.message)}`));
  if (state.selected) drawLayer(state.selected);
  else pickDefaultLayer();
  if (state.runnable) $("#run-hint").textContent = runHint();
  setupFrontier();
}

export function clearRows() {
  $("#layer-rows").textContent = "";
  rowQueue = [];
}
