// charts.js - every chart of the page, drawn with Observable Plot from the report's
// fields (shared/DESIGN.md: range, cluster_ranges, cluster_min/max, centers, counts,
// mse, mse_plain) and, for the histograms, the layer's values.
import * as Plot from "@observablehq/plot";

export const CLUSTER_COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1"];
export const PLAIN_COLOR = "#6b6b6b";
export const OUTLIER_COLOR = "#d62728";
export const CLIP_COLOR = "#8c564b";

export function clusterNames(k) {
  if (k === 1) return ["all weights"];
  if (k === 2) return ["lower", "upper"];
  if (k === 3) return ["lower", "middle", "upper"];
  return Array.from({ length: k }, (_, i) => `cluster ${i + 1}`);
}

const fmt = (v) => (Math.abs(v) >= 100 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(2) : v.toPrecision(3));

/* Levels of a b-bit grid between lo and hi (affine), or symmetric around 0 (paper INT8). */
export function gridLevels(lo, hi, bits, symmetric = false) {
  if (!(bits >= 2 && bits <= 8) || !(hi >= lo)) return [];
  if (symmetric) {
    const a = Math.max(Math.abs(lo), Math.abs(hi));
    const s = a / 127;
    return s > 0 ? Array.from({ length: 255 }, (_, i) => (i - 127) * s) : [0];
  }
  const n = (1 << bits) - 1;
  const s = (hi - lo) / n;
  return s > 0 ? Array.from({ length: n + 1 }, (_, i) => lo + i * s) : [lo];
}

/* Grid rows for the strip under a histogram: plain INTb over the whole range, then
 * one grid per cluster over its own range (packed), or over its zero-padded sub-layer
 * (paper: the inserted zeros take part in the range). */
export function grids(stats, bits, format) {
  const rows = [];
  if (bits === "f32" || !stats) return rows;
  const sym = format === "paper" && bits === 8;
  const names = clusterNames(stats.cluster_min?.length || 1);
  rows.push({ row: `plain INT${bits}`, color: PLAIN_COLOR, levels: gridLevels(stats.min, stats.max, bits, sym) });
  if ((stats.cluster_min?.length || 0) > 1) {
    stats.cluster_min.forEach((lo, c) => {
      let hi = stats.cluster_max[c];
      if (format === "paper") { lo = Math.min(lo, 0); hi = Math.max(hi, 0); }
      rows.push({ row: `${names[c]} INT${bits}`, color: CLUSTER_COLORS[c % 4], levels: gridLevels(lo, hi, bits, sym) });
    });
  }
  return rows;
}

function clusterIndex(x, stats) {
  const k = stats?.cluster_min?.length || 1;
  if (k === 1) return 0;
  for (let c = 0; c < k - 1; c++) {
    const b = (stats.cluster_max[c] + stats.cluster_min[c + 1]) / 2;
    if (x < b) return c;
  }
  return k - 1;
}

export function boundaries(stats) {
  const k = stats?.cluster_min?.length || 1;
  const out = [];
  for (let c = 0; c < k - 1; c++) out.push((stats.cluster_max[c] + stats.cluster_min[c + 1]) / 2);
  return out;
}

/* Histogram (log counts) coloured by cluster, k-means centres (dashed) and boundaries
 * (solid), and under it a strip with the outliers and the quantization grids.
 * hist: {x0, dx, counts}; outliers: {values, lo, hi}; stats: a report layer. */
export function layerFigure({ hist, outliers, stats, bits, format, width = 760, note = "", gridRows = null, clip = null }) {
  const k = stats?.cluster_min?.length || 1;
  const names = clusterNames(k);
  const lo = Math.min(hist.x0, stats?.min ?? hist.x0), hi = Math.max(hist.x0 + hist.dx * hist.counts.length, stats?.max ?? -Infinity);
  const pad = (hi - lo) * 0.02 || 1e-3;
  const x = { domain: [lo - pad, hi + pad] };
  const bins = hist.counts
    .map((c, i) => ({ x1: hist.x0 + i * hist.dx, x2: hist.x0 + (i + 1) * hist.dx, c }))
    .filter((b) => b.c > 0)
    .map((b) => ({ ...b, cluster: names[clusterIndex((b.x1 + b.x2) / 2, stats)] }));
  const maxC = Math.max(1, ...bins.map((b) => b.c));
  const marginLeft = 118;
  const top = Plot.plot({
    width, height: 230, marginLeft, marginBottom: 30,
    x: { ...x, label: "weight value", labelAnchor: "right" },
    y: { type: "log", domain: [0.7, maxC * 2], label: "count (log)", grid: true },
    color: { domain: names, range: CLUSTER_COLORS.slice(0, k), legend: false },
    marks: [
      Plot.rectY(bins, { x1: "x1", x2: "x2", y1: 0.7, y2: "c", fill: "cluster", inset: 0,
                         title: (d) => `${d.cluster}: ${d.c.toLocaleString()} weights in [${fmt(d.x1)}, ${fmt(d.x2)})` }),
      // centres are named by the legend, not by text on the chart (nearby ones would overlap)
      Plot.ruleX(stats?.centers || [], { stroke: "#222", strokeDasharray: "5,3", strokeWidth: 1.2 }),
      Plot.ruleX(boundaries(stats), { stroke: "#111", strokeWidth: 2 }),
      Plot.ruleX(clip ? [clip.lo, clip.hi] : [], { stroke: CLIP_COLOR, strokeDasharray: "2,2", strokeWidth: 1.5 }),
    ],
  });
  const rows = gridRows || [{ row: "outliers (> 3σ)", color: OUTLIER_COLOR, levels: outliers?.values || [] }, ...grids(stats, bits, format)];
  const ticks = rows.flatMap((r) => r.levels.map((v) => ({ row: r.row, v, color: r.color })));
  const strip = Plot.plot({
    width, height: 26 + rows.length * 22, marginLeft, marginTop: 4,
    x: { ...x, axis: null },
    y: { domain: rows.map((r) => r.row), label: null, tickSize: 0 },
    marks: [
      Plot.tickX(ticks, { x: "v", y: "row", stroke: "color", strokeWidth: 1, strokeOpacity: 0.85 }),
      Plot.ruleX(boundaries(stats), { stroke: "#111", strokeWidth: 2, strokeOpacity: 0.35 }),
    ],
  });
  const fig = document.createElement("figure");
  fig.className = "layer-figure";
  const legend = document.createElement("div");
  legend.className = "legend";
  legend.innerHTML =
    names.map((n, i) => `<span><i style="background:${CLUSTER_COLORS[i]}"></i>${n} cluster</span>`).join("") +
    `<span><i class="dash"></i>k-means centre</span><span><i class="solid"></i>cluster boundary</span>` +
    `<span><i style="background:${OUTLIER_COLOR}"></i>outlier</span><span><i style="background:${PLAIN_COLOR}"></i>grid level</span>` +
    (clip ? `<span><i class="dash" style="border-color:${CLIP_COLOR}"></i>clipping range</span>` : "");
  fig.append(legend, top, strip);
  if (note) {
    const cap = document.createElement("figcaption");
    cap.textContent = note;
    fig.append(cap);
  }
  return fig;
}

/* A small bar for a layer row: the original range (grey) and each cluster's range. */
export function rangeBar(layer, width = 150) {
  const k = layer.cluster_min?.length || 0;
  const data = [{ lo: layer.min, hi: layer.max, row: "all", c: "original" }];
  const names = clusterNames(k);
  for (let c = 0; c < k; c++) data.push({ lo: layer.cluster_min[c], hi: layer.cluster_max[c], row: "split", c: names[c] });
  return Plot.plot({
    width, height: 26, margin: 0, marginTop: 2, marginBottom: 2,
    x: { domain: [layer.min, layer.max], axis: null },
    y: { domain: ["all", "split"], axis: null, padding: 0.2 },
    color: { domain: ["original", ...names], range: ["#c7c7c7", ...CLUSTER_COLORS.slice(0, k)] },
    marks: [Plot.barX(data, { x1: "lo", x2: "hi", y: "row", fill: "c" })],
    ariaLabel: "range of the layer and of each cluster",
  });
}

export function shortName(name) {
  return name
    .replace(/^(model\.|bert\.)/, "")
    .replace(/^encoder\.layer\.(\d+)\./, "L$1 ")
    .replace(/^layers\.(\d+)\./, "L$1 ")
    .replace(/\.weight$/, "")
    .replace("attention.self.", "attn.")
    .replace("attention.output.", "attn.out.")
    .replace("self_attn.", "attn.");
}

/* Per-layer summary: range reduction (range / widest cluster range) and error ratio
 * (MSE plain / MSE split), one bar per layer, in report order. */
export function summaryFigure(layers, width = 760) {
  const data = layers.map((l, i) => ({
    i, name: l.name, short: shortName(l.name),
    reduction: l.range / Math.max(...(l.cluster_ranges?.length ? l.cluster_ranges : [l.range])),
    ratio: l.mse > 0 ? l.mse_plain / l.mse : NaN,
  }));
  // past ~28 layers the names cannot all stand under the bars: label every n-th bar with
  // its index (a layer's name is in its tooltip and in the table)
  const many = data.length > 28;
  const every = Math.ceil(data.length / 28);
  const x = { domain: data.map((d) => d.short), label: many ? "layer (in file order; every " + every + "th numbered)" : null,
              tickRotate: many ? 0 : -35, tickFormat: many ? (d, i) => (i % every === 0 ? String(i) : "") : undefined };
  const mb = many ? 36 : 90;
  const a = Plot.plot({
    width, height: 150 + mb, marginLeft: 56, marginBottom: mb,
    x, y: { label: "range ÷ widest cluster", grid: true, zero: true },
    marks: [
      Plot.barY(data, { x: "short", y: "reduction", fill: CLUSTER_COLORS[0],
                        title: (d) => `${d.name}\nrange reduction ${d.reduction.toFixed(2)}×` }),
      Plot.ruleY([1], { stroke: "#333" }),
    ],
  });
  const finite = data.filter((d) => Number.isFinite(d.ratio) && d.ratio > 0);
  const rs = finite.map((d) => d.ratio);
  const b = Plot.plot({
    width, height: 150 + mb, marginLeft: 56, marginBottom: mb,
    x, y: { type: "log", label: "MSE plain ÷ MSE split", grid: true,
            domain: [Math.min(1, ...rs) / 1.15, Math.max(2, ...rs) * 1.15] },
    marks: [
      Plot.barY(finite, { x: "short", y1: 1, y2: "ratio", fill: CLUSTER_COLORS[1],
                          title: (d) => `${d.name}\nerror ${d.ratio.toFixed(2)}× lower with the split` }),
      Plot.ruleY([1], { stroke: "#333" }),
    ],
  });
  const fig = document.createElement("div");
  fig.className = "summary-figure";
  const h1 = document.createElement("h4");
  h1.textContent = "Range reduction per layer (original range ÷ widest cluster's range; higher is better)";
  const h2 = document.createElement("h4");
  h2.textContent = "Error ratio per layer (MSE of plain quantization ÷ MSE with the split; above 1 the split wins)";
  fig.append(h1, a, h2, b);
  return fig;
}

/* Label probabilities of each model that ran. results: {original?, quantized?, plain?, ...}. */
export function probFigure(results, width = 560) {
  const data = [];
  const models = Object.keys(results).filter((m) => results[m]);
  for (const m of models) results[m].labels.forEach((label, i) => data.push({ label, model: m, p: results[m].probs[i] }));
  const labels = results[models[0]].labels;
  const colors = { original: PLAIN_COLOR, quantized: CLUSTER_COLORS[0], plain: CLUSTER_COLORS[1], "plain-size": CLUSTER_COLORS[2] };
  return Plot.plot({
    width, height: 40 + labels.length * (14 * models.length + 16), marginLeft: 80, marginRight: 50,
    x: { domain: [0, 1], label: "probability", grid: true },
    fy: { domain: labels, label: null },
    y: { domain: models, axis: null },
    color: { domain: models, range: models.map((m) => colors[m] || "#999"), legend: true },
    marks: [
      Plot.barX(data, { x: "p", y: "model", fy: "label", fill: "model", title: (d) => `${d.model}: ${d.p.toFixed(4)}` }),
      Plot.text(data, { x: "p", y: "model", fy: "label", text: (d) => d.p.toFixed(3), dx: 4, textAnchor: "start", fontSize: 10 }),
    ],
  });
}

/* Size against error: every (bits, k) of one model. points: [{bits, k, bpw, mse, frontier,
 * current}]. Labels only on the frontier's points, placed above and below in turn. */
export function frontierFigure(points, width = 760) {
  // series: plain (k = 1), split k = 2..4, and the codebook format (a table of levels per tensor)
  const series = (p) => (p.format === "codebook" ? "codebook" : p.k === 1 ? "plain (k = 1)" : `split k = ${p.k}`);
  const ks = [...new Set(points.filter((p) => p.format !== "codebook").map((p) => p.k))].sort();
  const names = ks.map((k) => (k === 1 ? "plain (k = 1)" : `split k = ${k}`));
  const colors = ks.map((k) => (k === 1 ? PLAIN_COLOR : CLUSTER_COLORS[(k - 2) % 4]));
  if (points.some((p) => p.format === "codebook")) { names.push("codebook"); colors.push("#7a3b9a"); }
  const front = points.filter((p) => p.frontier).sort((a, b) => a.bpw - b.bpw);
  const ok = points.filter((p) => p.mse > 0);
  return Plot.plot({
    width, height: 320, marginLeft: 70, marginRight: 20, marginTop: 30,
    x: { label: "bits per weight as stored (quantized layers) →", grid: true },
    y: { type: "log", label: "↑ mean squared error", grid: true },
    color: { domain: names, range: colors, legend: true },
    marks: [
      Plot.line(front.filter((p) => p.mse > 0), { x: "bpw", y: "mse", stroke: "#bbb", strokeWidth: 1.5 }),
      Plot.dot(ok, { x: "bpw", y: "mse", fill: (d) => series(d), r: (d) => (d.current ? 7 : 4.5), stroke: (d) => (d.current ? "#000" : "none"),
                     title: (d) => `${d.format === "codebook" ? `INT${d.bits} codebook` : `INT${d.bits}, k = ${d.k}`}: ${d.bpw.toFixed(2)} bits/weight, MSE ${d.mse.toExponential(2)}${d.frontier ? " (on the frontier)" : ""}` }),
      ...[0, 1].map((odd) => Plot.text(front.filter((p, i) => p.mse > 0 && i % 2 === odd), { x: "bpw", y: "mse",
        text: (d) => `INT${d.bits}${d.format === "codebook" ? " cb" : d.k > 1 ? ` k${d.k}` : ""}`, dy: odd ? 13 : -11, fontSize: 10, fill: "#333" })),
    ],
  });
}
