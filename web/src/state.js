// state.js - what the page knows, in one place: every panel reads and writes this object.

// ---------------- state ----------------
export const state = {
  files: null,       // {weights, texts, name}
  info: null,        // inspect() + config + dtypes
  kind: null,        // "bert" | "llama" | null
  running: false,
  cancel: null,      // Int32Array over a SharedArrayBuffer
  report: null,
  reportLayers: new Map(),
  weightLayers: [],
  opts: null,        // options of the last run
  blob: null,
  blobKey: 0,
  urls: [],
  layerCache: new Map(),
  selected: null,
  lab: null,
  loadSeq: 0,
  check: null,       // checkModel() of the loaded model (check.js)
  runnable: false,   // it will run here: its architecture, every tensor, a tokenizer
  prequantized: null, // the loaded file is already quantized by sq (inspect().quantized): it only runs
  variants: {},      // comparison models made for the Run panel: slot -> {key, report, size}
  variantSeq: 0,
  frontier: null,    // {key, points}: size against error (frontier.js)
  bitsList: [2, 3, 4, 5, 6, 7, 8], // the widths the core quantizes (from the worker's ping)
  onLoadStart: null, // a question (which weights file?) that a new load answers
};
