// frontier.js - size against error for the model just quantized: the same model quantized
// again at every width and k (in the quantizer worker, keeping only the byte count), each
// point its bits per weight (the quantized layers' stored bytes x 8 / their weights) and
// its error (mean squared error over all quantized weights). The lower-left edge is the
// frontier: the least error for a given size. Plain quantization (k = 1) is on the same
// chart, so "better at the same bits" and "better at the same size" can both be read off.
import { frontierFigure } from "./charts.js";
import { $, h, fmtBytes, fmtSci, fmtSecs, stop, showError, reportBpw } from "./ui.js";
import { quantW } from "./workers.js";
import { state } from "./state.js";

const KS = [1, 2, 3, 4];
// the codebook format's widths (a learned table of 2^b levels per tensor, k = 1)
const CODEBOOK_BITS = [2, 3, 4];
const isCodebook = (p) => p.format === "codebook";
// models up to this size are measured on their own after a run; bigger ones when asked
const AUTO_BYTES = 64 << 20;

/* The error of a run: mean squared error over all its quantized weights. */
export function runError(report) {
  let se = 0, n = 0;
  for (const l of report.layers) {
    if (l.kind !== "weight" || !Number.isFinite(l.mse)) continue;
    const m = l.shape.reduce((a, b) => a * b, 1);
    se += l.mse * m;
    n += m;
  }
  return n ? se / n : NaN;
}

const keyOf = (o) => `${state.blobKey}:${o.format}:${o.group}`;

/* The k = 1 point nearest in bits per weight to the page's run, or null (not measured). */
export function plainAtSameSize() {
  const f = state.frontier;
  if (!f || f.key !== keyOf(state.opts) || !state.report) return null;
  const target = reportBpw(state.report).linear;
  let best = null;
  for (const p of f.points) if (p.k === 1 && !isCodebook(p) && (!best || Math.abs(p.bpw - target) < Math.abs(best.bpw - target))) best = p;
  return best;
}

export function setupFrontier() {
  const box = $("#frontier");
  box.hidden = false;
  $("#frontier-chart").textContent = "";
  $("#frontier-table").textContent = "";
  const big = state.files.weights.size > AUTO_BYTES;
  $("#frontier-note").textContent = big
    ? `Measuring it quantizes this model ${state.bitsList.length * KS.length + CODEBOOK_BITS.length - 1} more times (each about as long as the run above; the codebook ones longer).`
    : "Measuring…";
  $("#frontier-start").hidden = !big;
  if (!big) measureFrontier();
}

$("#frontier-start").addEventListener("click", () => measureFrontier());

let measuring = false;
export async function measureFrontier() {
  if (measuring || !state.report) return;
  measuring = true;
  $("#frontier-start").hidden = true;
  const opts = state.opts, key = keyOf(opts), blobKey = state.blobKey;
  const points = [];
  const mine = { bits: opts.bits, k: opts.format === "codebook" ? 1 : opts.clusters, format: opts.format === "codebook" ? "codebook" : "grid",
                 bpw: reportBpw(state.report).linear, bytes: state.report.quant_bytes_out, mse: runError(state.report), current: true };
  // every width and k in the run's layout (packed when the run is a codebook one), then the codebook widths
  const grid = opts.format === "codebook" ? "packed" : opts.format;
  const configs = [];
  for (const bits of state.bitsList) for (const k of KS) configs.push({ bits, k, format: "grid" });
  for (const bits of CODEBOOK_BITS) if (state.bitsList.includes(bits)) configs.push({ bits, k: 1, format: "codebook" });
  const t0 = performance.now();
  try {
    for (const [i, c] of configs.entries()) {
      if (state.blobKey !== blobKey) return; // a new run or model: this measurement is stale
      if (c.bits === mine.bits && c.k === mine.k && c.format === mine.format) { points.push(mine); continue; }
      const label = c.format === "codebook" ? `INT${c.bits} codebook` : `INT${c.bits}, k = ${c.k}`;
      $("#frontier-note").textContent = `Measuring: ${i + 1} of ${configs.length} (${label}), ${fmtSecs((performance.now() - t0) / 1000)}…`;
      const o = c.format === "codebook" ? { ...opts, format: "codebook", bits: c.bits, clusters: 1, skip_plain: true }
                                        : { ...opts, format: grid, bits: c.bits, clusters: c.k, skip_plain: true };
      const res = await quantW.queue("quantize", { opts: o, cancel: null, sink: "count" });
      points.push({ bits: c.bits, k: c.k, format: c.format, bpw: reportBpw(res.report).linear, bytes: res.report.quant_bytes_out, mse: runError(res.report) });
    }
  } catch (err) {
    if (!err.cancelled) showError(`The size-against-error chart could not be measured: ${stop(err.message)}`);
    return;
  } finally {
    measuring = false;
  }
  if (state.blobKey !== blobKey) return;
  // the frontier: no other point is both smaller and more accurate
  for (const p of points) p.frontier = !points.some((q) => q !== p && q.bpw <= p.bpw && q.mse <= p.mse && (q.bpw < p.bpw || q.mse < p.mse));
  state.frontier = { key, points };
  draw(points, mine);
}

function draw(points, mine) {
  const box = $("#frontier-chart");
  box.textContent = "";
  box.append(frontierFigure(points, Math.min(900, box.clientWidth || 800)));
  const same = plainAtSameSize();
  const plainSameBits = points.find((p) => p.k === 1 && !isCodebook(p) && p.bits === mine.bits);
  const lines = [];
  if (mine.k > 1 && plainSameBits)
    lines.push(`At the same code width, plain INT${mine.bits} has ${(plainSameBits.mse / mine.mse).toFixed(1)}× the error of the split, but it is smaller: ${plainSameBits.bpw.toFixed(2)} bits per weight against ${mine.bpw.toFixed(2)}.`);
  if (mine.k > 1 && same) {
    const r = same.mse / mine.mse;
    lines.push(`At about the same size, plain INT${same.bits} (${same.bpw.toFixed(2)} bits per weight) has ${r >= 1 ? `${r.toFixed(1)}× the error of` : `${(1 / r).toFixed(1)}× less error than`} INT${mine.bits} k = ${mine.k}${r < 1 ? ": at this size the split does not pay" : ""}.`);
  }
  lines.push(mine.frontier ? "This run is on the frontier." : "This run is not on the frontier: another setting is smaller and more accurate.");
  $("#frontier-note").textContent = lines.join(" ");
  const rows = [...points].sort((a, b) => a.bpw - b.bpw).map((p) => h("tr", { "data-bits": p.bits, "data-k": p.k, "data-bpw": p.bpw, "data-format": isCodebook(p) ? "codebook" : "grid", class: p.current ? "selected" : null },
    h("td", {}, isCodebook(p) ? `INT${p.bits} codebook` : `INT${p.bits}`), h("td", { class: "num" }, isCodebook(p) ? "—" : String(p.k)), h("td", { class: "num" }, p.bpw.toFixed(2)),
    h("td", { class: "num" }, fmtBytes(p.bytes)), h("td", { class: "num" }, fmtSci(p.mse)),
    h("td", {}, p.frontier ? "yes" : ""), h("td", {}, p.current ? "this run" : "")));
  const t = $("#frontier-table");
  t.textContent = "";
  t.append(h("table", { "data-sq": "frontier" },
    h("caption", {}, "Every width and k on this model, and the codebook format at 2-4 bits: size (bits per weight of the quantized layers, their bytes) and error."),
    h("thead", {}, h("tr", {}, ["bits", "k", "bits/weight", "size", "MSE", "frontier", ""].map((c, i) => h("th", { scope: "col", class: i >= 1 && i <= 4 ? "num" : null }, c)))),
    h("tbody", {}, rows)));
}
