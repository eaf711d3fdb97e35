// ui.js - the small helpers every panel uses: $ and h() to make elements, number
// formats, and errors shown as sentences on the page.

export const $ = (s) => document.querySelector(s);
export function h(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
  return e;
}

// ---------------- formatting ----------------
export const fmtBytes = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} bytes`);
export const fmtCount = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));
export const fmtSci = (v) => (v === 0 ? "0" : !Number.isFinite(v) ? "–" : v.toExponential(2));
export const fmtNum = (v) => (!Number.isFinite(v) ? "–" : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3));
export const fmtSecs = (s) => (s < 1 ? `${(s * 1000).toFixed(0)} ms` : s < 90 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
export const widest = (l) => Math.max(...(l.cluster_ranges?.length ? l.cluster_ranges : [l.range]));

// ---------------- errors, as sentences on the page ----------------
/* A message as the end of a sentence: exactly one final full stop. */
export const stop = (m) => (/[.!?]$/.test(String(m).trim()) ? String(m).trim() : `${String(m).trim()}.`);
/* An error as a sentence at the top. Focus goes to `focus` (a selector or element) when
 * given, else to the message itself when the keyboard would otherwise fall to the body
 * (the control that had it may have been hidden or disabled by the failure). */
export function showError(text, focus = null) {
  const p = h("p", { class: "error", tabindex: "-1" }, h("span", { text }),
    h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss this message", onclick: () => {
      p.remove();
      if (document.activeElement === document.body || !document.activeElement) $("#load-h")?.scrollIntoView({ block: "nearest" });
    } }, "×"));
  $("#errors").append(p);
  p.scrollIntoView({ block: "nearest" });
  const target = typeof focus === "string" ? $(focus) : focus;
  const a = document.activeElement;
  if (target && !target.disabled && !target.closest("[hidden]")) target.focus();
  else if (!a || a === document.body || a.disabled || a.closest("[hidden]")) p.focus();
}
export const clearErrors = () => ($("#errors").textContent = "");
window.addEventListener("error", (ev) => showError(`Something went wrong on this page: ${ev.message}. Reloading the page should help.`));
window.addEventListener("unhandledrejection", (ev) => showError(`Something went wrong: ${ev.reason?.message || ev.reason}.`));

// ---------------- sizes: bits per weight (the report's bpw fields) ----------------
const elements = (shape) => shape.reduce((a, b) => a * b, 1);
/* Bits per weight of one report layer as stored: its bpw, or 8 x bytes_out / elements
 * (the same definition, for reports from before the field existed). */
export const layerBpw = (l) => (Number.isFinite(l.bpw) ? l.bpw : (8 * l.bytes_out) / elements(l.shape));
/* {linear: over the quantized layers together, file: the whole file over all params}. */
export function reportBpw(r) {
  let bytes = 0, n = 0;
  for (const l of r.layers) { bytes += l.bytes_out; n += elements(l.shape); }
  return { linear: Number.isFinite(r.bpw_linear) ? r.bpw_linear : n ? (8 * bytes) / n : NaN,
           file: Number.isFinite(r.bpw_file) ? r.bpw_file : (8 * r.bytes_out) / r.params };
}
