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
};
