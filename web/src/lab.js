// lab.js - the outlier lab: a sample of the chosen layer's rows, quantized right here three
// ways at the bits and scale grouping chosen in the lab:
//   plain    one affine grid per scale group over the group's whole range;
//   clipped  the same, after clipping every weight to a percentile range of the sample
//            (what outlier clipping does: the bulk gets a finer grid, the outliers lose
//            their true value, and their error counts);
//   split    SplitQuant: k-means splits the weights into k clusters, each with its own
//            grid in every group.
// The grids drawn are those of one stored scale group, the one holding the sample's
// largest weight (with one scale per tensor: the only one), as the file would store them.
import { layerFigure, CLUSTER_COLORS, PLAIN_COLOR, OUTLIER_COLOR, CLIP_COLOR, clusterNames, gridLevels } from "./charts.js";
import { $, h, fmtSci, fmtNum, widest, stop, showError } from "./ui.js";
import { auxW } from "./workers.js";
import { state } from "./state.js";
import { currentOpts } from "./options.js";

const labBits = () => state.bitsList;
export function syncLabToSettings(run = true) {
  const o = currentOpts();
  $("#lab-bits").max = String(labBits().length - 1);
  $("#lab-bits").value = String(Math.max(0, labBits().indexOf(o.bits)));
  $("#lab-k").value = String(o.clusters);
  const g = String(o.group);
  if ([...$("#lab-group").options].some((x) => x.value === g)) $("#lab-group").value = g;
  labLabels();
  if (run && state.lab) labRun();
}
export function labLabels() {
  $("#lab-bits-out").textContent = `INT${labBits()[Number($("#lab-bits").value)]}`;
  $("#lab-k-out").textContent = $("#lab-k").value;
}
export function resetLab(data) {
  state.lab = { name: data.name, rows: data.sample.rows, cols: data.sample.cols, base: data.sample.values,
                values: data.sample.values.slice(), added: 0, totalRows: data.rows };
  labRun();
}
for (const id of ["#lab-bits", "#lab-k"]) $(id).addEventListener("input", () => { labLabels(); labRun(); });
for (const id of ["#lab-group", "#lab-clip"]) $(id).addEventListener("change", () => labRun());
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
  // a fixed sequence of places (the same picture every time), alternately above and below
  const i = (lab.added * 7919 + 4099) % lab.values.length;
  const up = lab.added % 2 === 0;
  lab.values[i] = up ? hi + (hi - lo) * 0.75 : lo - (hi - lo) * 0.75;
  lab.added++;
  labRun();
});

/* The group size of a policy along a row of `cols` (as sq_group_size in core/quant). */
export function groupSize(policy, cols) {
  if (policy === "tensor") return 0;
  if (policy === "row") return cols;
  if (policy === "auto") {
    if (cols <= 128) return cols;
    for (let g = 128; g >= 32; g -= 32) if (cols % g === 0) return g;
    return cols;
  }
  return Math.max(1, Math.min(Number(policy), cols));
}

function groupText(policy, cols, rows) {
  const g = groupSize(policy, cols);
  if (g === 0) return `one scale for the whole sample (${(rows * cols).toLocaleString("en")} weights)`;
  if (g === cols) return `one scale per row (${cols} weights each)`;
  return `one scale per group of ${g} weights along a row (${Math.ceil(cols / g)} per row)`;
}

/* The values of the stored scale group holding the largest |weight|. */
function worstGroup(values, rows, cols, policy) {
  let at = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i]) > Math.abs(values[at])) at = i;
  const g = groupSize(policy, cols);
  if (g === 0) return { values, where: "the whole sample" };
  const r = Math.floor(at / cols), c0 = Math.floor((at % cols) / g) * g, c1 = Math.min(cols, c0 + g);
  return { values: values.subarray(r * cols + c0, r * cols + c1), where: g === cols ? `row ${r + 1}` : `row ${r + 1}, weights ${c0 + 1}–${c1}` };
}

const minMax = (v) => {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) { if (x < lo) lo = x; if (x > hi) hi = x; }
  return [lo, hi];
};

/* Grid rows of one group as stored: plain over its range, clipped over its clipped range,
 * each cluster over its members in that group (paper format: the zero padding included). */
function groupGrids(group, stats, bits, format, clip) {
  const sym = format === "paper" && bits === 8;
  const [lo, hi] = minMax(group);
  const rows = [{ row: `plain INT${bits}`, color: PLAIN_COLOR, levels: gridLevels(lo, hi, bits, sym) }];
  if (clip) rows.push({ row: `clipped INT${bits}`, color: CLIP_COLOR, levels: gridLevels(Math.max(lo, clip.lo), Math.min(hi, clip.hi), bits, sym) });
  const k = stats.cluster_min?.length || 1;
  if (k > 1) {
    const bounds = [];
    for (let c = 0; c < k - 1; c++) bounds.push((stats.cluster_max[c] + stats.cluster_min[c + 1]) / 2);
    const names = clusterNames(k);
    for (let c = 0; c < k; c++) {
      let clo = Infinity, chi = -Infinity;
      for (const x of group) {
        let id = 0;
        while (id < k - 1 && x >= bounds[id]) id++;
        if (id === c) { if (x < clo) clo = x; if (x > chi) chi = x; }
      }
      if (format === "paper") { clo = Math.min(clo, 0); chi = Math.max(chi, 0); }
      rows.push({ row: `${names[c]} INT${bits}`, color: CLUSTER_COLORS[c % 4],
                  levels: Number.isFinite(clo) ? gridLevels(clo, chi, bits, sym) : [] });
    }
  }
  return rows;
}

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
  const bits = labBits()[Number($("#lab-bits").value)], k = Number($("#lab-k").value);
  const gv = $("#lab-group").value;
  const group = /^\d+$/.test(gv) ? Number(gv) : gv;
  const pct = Number($("#lab-clip").value);
  const o = { ...currentOpts(), bits, clusters: k, group };
  try {
    const r = await auxW.call("roundtrip", { values: lab.values, rows: lab.rows, cols: lab.cols, opts: o, clip: pct });
    if (seq !== labSeq) return;
    const s = r.stats;
    const { hist, outliers } = histOf(lab.values);
    const wg = worstGroup(lab.values, lab.rows, lab.cols, group);
    const rows = [{ row: "outliers (> 3σ)", color: OUTLIER_COLOR, levels: outliers.values }, ...groupGrids(wg.values, s, bits, o.format, r.clip)];
    const box = $("#lab-chart");
    box.textContent = "";
    box.append(layerFigure({ hist, outliers, stats: s, bits, format: o.format, width: Math.min(980, box.clientWidth || 900), gridRows: rows,
      clip: r.clip, note: `Grids of one stored scale group: ${wg.where}, the one holding the largest weight. ${r.clip ? `Dotted: the clipping range (${r.clip.pct}th percentile of |w| each side).` : ""}` }));
    const w = widest(s);
    const best = Math.min(s.mse_plain, r.clip.mse, s.mse);
    const verdict = (m) => (m === best ? h("strong", { class: "good" }, " lowest") : "");
    const st = $("#lab-stats");
    st.textContent = "";
    $("#lab-group-note").textContent = `Scale grouping: ${groupText(group, lab.cols, lab.rows)}.`;
    st.append(
      h("div", {}, h("span", { class: "k" }, "sample"), `${lab.rows} × ${lab.cols}${lab.rows < lab.totalRows ? ` (of ${lab.totalRows} rows)` : ""}${lab.added ? `, ${lab.added} outlier${lab.added > 1 ? "s" : ""} added` : ""}`),
      h("div", {}, h("span", { class: "k" }, "range"), `${fmtNum(s.range)} → widest cluster ${fmtNum(w)} (${(s.range / w).toFixed(1)}×)`),
      h("div", { "data-sq": "lab-mse-plain", "data-mse": s.mse_plain }, h("span", { class: "k" }, `MSE plain INT${bits}`), fmtSci(s.mse_plain), verdict(s.mse_plain)),
      h("div", { "data-sq": "lab-mse-clip", "data-mse": r.clip.mse }, h("span", { class: "k" }, `MSE clipped at ${r.clip.pct}%`), fmtSci(r.clip.mse),
        ` (${r.clip.count.toLocaleString("en")} clipped, largest error ${fmtNum(r.clip.maxErr)})`, verdict(r.clip.mse)),
      h("div", { "data-sq": "lab-mse-split", "data-mse": s.mse }, h("span", { class: "k" }, `MSE split k=${k}`), fmtSci(s.mse),
        s.mse > 0 && k > 1 ? h("strong", { class: s.mse < s.mse_plain ? "good" : "bad" }, ` ${(s.mse_plain / s.mse).toFixed(1)}× ${s.mse < s.mse_plain ? "lower" : "higher"} than plain`) : "", verdict(s.mse)),
      h("div", {}, h("span", { class: "k" }, "largest error (split)"), fmtNum(r.maxErr)));
  } catch (err) {
    if (seq === labSeq) showError(`The outlier lab could not quantize the sample: ${stop(err.message)}`);
  }
}
