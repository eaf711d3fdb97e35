// lab.js - the outlier lab: a sample of the chosen layer, quantized right here.
import { layerFigure } from "./charts.js";
import { $, h, fmtSci, fmtNum, widest, stop, showError } from "./ui.js";
import { auxW } from "./workers.js";
import { state } from "./state.js";
import { currentOpts } from "./options.js";

// the outlier lab
export const LAB_BITS = [2, 3, 4, 8];
export function syncLabToSettings(run = true) {
  const o = currentOpts();
  $("#lab-bits").value = String(LAB_BITS.indexOf(o.bits));
  $("#lab-k").value = String(o.clusters);
  labLabels();
  if (run && state.lab) labRun();
}
export function labLabels() {
  $("#lab-bits-out").textContent = `INT${LAB_BITS[Number($("#lab-bits").value)]}`;
  $("#lab-k-out").textContent = $("#lab-k").value;
}
export function resetLab(data) {
  state.lab = { name: data.name, rows: data.sample.rows, cols: data.sample.cols, base: data.sample.values,
                values: data.sample.values.slice(), added: 0, totalRows: data.rows };
  labRun();
}
$("#lab-bits").addEventListener("input", () => { labLabels(); labRun(); });
$("#lab-k").addEventListener("input", () => { labLabels(); labRun(); });
$("#lab-reset").addEventListener("click", () => {
  if (!state.lab) return;
  state.lab.values = state.lab.base.slice();
  state.lab.added = 0;
  labRun();
});
$("#lab-outlier").addEventListener("click", () => {
  const lab = state.lab;
  if (!lab) return;
  let lo = Infinity, hi = -Infinity;
  for (const v of lab.values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  const i = Math.floor(Math.random() * lab.values.length);
  const up = lab.added % 2 === 0;
  lab.values[i] = up ? hi + (hi - lo) * 0.75 : lo - (hi - lo) * 0.75;
  lab.added++;
  labRun();
});

export function histOf(values, bins = 120) {
  let min = Infinity, max = -Infinity, sum = 0, sq = 0;
  for (const v of values) { if (v < min) min = v; if (v > max) max = v; sum += v; sq += v * v; }
  const n = values.length, mean = sum / n, std = Math.sqrt(Math.max(0, sq / n - mean * mean));
  const span = max - min || 1, counts = new Array(bins).fill(0), outs = [];
  for (const v of values) {
    counts[Math.min(bins - 1, Math.floor(((v - min) / span) * bins))]++;
    if (Math.abs(v - mean) > 3 * std) outs.push(v);
  }
  return { hist: { x0: min, dx: span / bins, counts }, outliers: { values: outs.slice(0, 400), count: outs.length } };
}

let labSeq = 0, labTimer = 0;
export function labRun() {
  clearTimeout(labTimer);
  labTimer = setTimeout(labRunNow, 40);
}
export async function labRunNow() {
  const lab = state.lab;
  if (!lab) return;
  const seq = ++labSeq;
  const bits = LAB_BITS[Number($("#lab-bits").value)], k = Number($("#lab-k").value);
  const o = { ...currentOpts(), bits, clusters: k };
  try {
    const r = await auxW.call("roundtrip", { values: lab.values, rows: lab.rows, cols: lab.cols, opts: o });
    if (seq !== labSeq) return;
    const s = r.stats;
    const { hist, outliers } = histOf(lab.values);
    const box = $("#lab-chart");
    box.textContent = "";
    box.append(layerFigure({ hist, outliers, stats: s, bits, format: o.format, width: Math.min(980, box.clientWidth || 900) }));
    const w = widest(s);
    const st = $("#lab-stats");
    st.textContent = "";
    st.append(
      h("div", {}, h("span", { class: "k" }, "sample"), `${lab.rows} × ${lab.cols}${lab.rows < lab.totalRows ? ` (of ${lab.totalRows} rows)` : ""}${lab.added ? `, ${lab.added} outlier${lab.added > 1 ? "s" : ""} added` : ""}`),
      h("div", {}, h("span", { class: "k" }, "range"), `${fmtNum(s.range)} → widest cluster ${fmtNum(w)} (${(s.range / w).toFixed(1)}×)`),
      h("div", {}, h("span", { class: "k" }, `MSE plain INT${bits}`), fmtSci(s.mse_plain)),
      h("div", {}, h("span", { class: "k" }, `MSE split k=${k}`), fmtSci(s.mse),
        s.mse > 0 && k > 1 ? h("strong", { class: s.mse < s.mse_plain ? "good" : "bad" }, ` ${(s.mse_plain / s.mse).toFixed(1)}× ${s.mse < s.mse_plain ? "lower" : "higher"}`) : ""),
      h("div", {}, h("span", { class: "k" }, "largest error"), fmtNum(r.maxErr)));
  } catch (err) {
    if (seq === labSeq) showError(`The outlier lab could not quantize the sample: ${stop(err.message)}`);
  }
}
