// explain.js - panel 4: one layer's histogram with its clusters and grids, and the
// per-layer summary charts. The outlier lab (lab.js) works on the chosen layer's sample.
import { layerFigure, summaryFigure } from "./charts.js";
import { $, h, fmtSci, fmtNum, widest, stop, showError } from "./ui.js";
import { auxW } from "./workers.js";
import { state } from "./state.js";
import { currentOpts } from "./options.js";
import { resetLab, syncLabToSettings } from "./lab.js";

// ---------------- 4. explain ----------------
export function setupExplain() {
  const pick = $("#layer-pick");
  pick.textContent = "";
  const split = state.info.info.layers.filter((l) => l.role === "split");
  for (const l of split) pick.append(h("option", { value: l.name }, `${l.name}  [${l.shape.join("×")}]`));
  $("#explain").hidden = !split.length;
  syncLabToSettings(false);
  if (split.length) selectLayer(split[0].name, false);
}

$("#layer-pick").addEventListener("change", (ev) => selectLayer(ev.target.value, false));

export function pickDefaultLayer() {
  // the layer whose split helped most: the clearest picture of why it works
  let best = null;
  for (const l of state.weightLayers) if (!best || l.range / widest(l) > best.range / widest(best)) best = l;
  if (best) selectLayer(best.name, false);
}

export function selectLayer(name, scroll) {
  state.selected = name;
  $("#layer-pick").value = name;
  for (const tr of document.querySelectorAll("[data-sq=layer]")) tr.classList.toggle("selected", tr.dataset.name === name);
  drawLayer(name, true);
  if (scroll) $("#explain").scrollIntoView({ behavior: "smooth", block: "start" });
}

let drawSeq = 0;
export async function drawLayer(name, newLayer = false) {
  const seq = ++drawSeq;
  const box = $("#layer-chart");
  box.setAttribute("aria-busy", "true");
  try {
    let data = state.layerCache.get(name);
    if (!data) {
      data = await auxW.call("layer", { name });
      state.layerCache.set(name, data);
    }
    if (seq !== drawSeq) return;
    const rep = state.reportLayers.get(name);
    const opts = rep && state.opts ? state.opts : currentOpts();
    let stats = rep, note;
    if (!rep) {
      const r = await auxW.call("roundtrip", { values: data.sample.values, rows: data.sample.rows, cols: data.sample.cols, opts: { ...opts, skip_plain: true } });
      if (seq !== drawSeq) return;
      stats = { ...r.stats, min: data.min, max: data.max, range: data.max - data.min };
      note = `Clusters estimated from ${data.sample.rows < data.rows ? `${data.sample.rows} of ${data.rows} rows` : "the layer"}; quantize to see the exact split.`;
    }
    box.textContent = "";
    const width = Math.min(980, box.clientWidth || 900);
    box.append(layerFigure({ hist: data.hist, outliers: data.outliers, stats, bits: opts.bits, format: opts.format, width,
      note: note || "Grids drawn over the whole tensor; the file keeps a grid per group of weights in a row, each at most this wide." }));
    $("#layer-caption").textContent = layerCaption(data, stats, opts);
    if (newLayer || !state.lab || state.lab.name !== name) resetLab(data);
  } catch (err) {
    if (seq === drawSeq) showError(`The chart of ${name} could not be drawn: ${stop(err.message)}`);
  } finally {
    if (seq === drawSeq) box.removeAttribute("aria-busy");
  }
}

export function layerCaption(d, s, o) {
  const k = s.cluster_ranges?.length || 1;
  const w = widest(s);
  const step = (s.range / ((1 << o.bits) - 1));
  const steps = (s.cluster_ranges || []).map((r) => r / ((1 << o.bits) - 1));
  const finest = steps.length ? Math.min(...steps) : step;
  return `${d.name}: ${d.shape.join(" × ")} ${d.dtype}, ${d.n.toLocaleString("en")} weights between ${fmtNum(d.min)} and ${fmtNum(d.max)}; ` +
    `${d.outliers.count.toLocaleString("en")} lie more than 3 standard deviations from the mean. ` +
    (k > 1
      ? `Plain INT${o.bits} spreads ${1 << o.bits} levels over the whole range (step ${fmtNum(step)}), so the outliers stretch the grid for everyone. ` +
        `Split into ${k} clusters, the widest spans ${fmtNum(w)} (${(s.range / w).toFixed(1)}× narrower) and the finest grid steps by ${fmtNum(finest)}` +
        (Number.isFinite(s.mse_plain) && s.mse > 0 ? `: the error falls ${(s.mse_plain / s.mse).toFixed(1)}× (MSE ${fmtSci(s.mse_plain)} → ${fmtSci(s.mse)}).` : ".")
      : `With k = 1 this is plain INT${o.bits}: one grid with step ${fmtNum(step)} over the whole range.`);
}

export let summaryVisible = false;
new IntersectionObserver((es) => { for (const e of es) summaryVisible = e.isIntersecting; }).observe($("#summary-chart"));

export function drawSummary() {
  if (!state.weightLayers.length) return;
  $("#summary").hidden = false;
  const box = $("#summary-chart");
  box.textContent = "";
  box.append(summaryFigure(state.weightLayers, Math.min(980, box.clientWidth || 900)));
}
