// pre.js - runs inside the module factory before anything else (emcc --pre-js).
// Under Node.js, read sq-core.wasm from beside this file: Emscripten 3.1.6 would try
// fetch() on a file:// URL first (unsupported by node) and print a warning.
if (typeof process == "object" && typeof process.versions == "object" && typeof process.versions.node == "string" &&
    !Module["wasmBinary"] && !Module["instantiateWasm"] && !Module["locateFile"]) {
  Module["wasmBinary"] = require("node:fs").readFileSync(new URL("sq-core.wasm", _scriptDir));
}
// The heap as a Uint8Array over the memory as it is now. Module.HEAPU8 is replaced by
// the thread that grows the memory; in the threaded module (sq-core-mt.js) that can be a
// pthread, and the main thread's view would still cover the old size: refresh it here.
Module["sqHeap"] = function () {
  if (HEAPU8.buffer !== wasmMemory.buffer) updateGlobalBufferAndViews(wasmMemory.buffer);
  return HEAPU8;
};
