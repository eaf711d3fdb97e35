// pre.js - runs inside the module factory before anything else (emcc --pre-js).
// Under Node.js, read sq-core.wasm from beside this file: Emscripten 3.1.6 would try
// fetch() on a file:// URL first (unsupported by node) and print a warning.
if (typeof process == "object" && typeof process.versions == "object" && typeof process.versions.node == "string" &&
    !Module["wasmBinary"] && !Module["instantiateWasm"] && !Module["locateFile"]) {
  Module["wasmBinary"] = require("node:fs").readFileSync(new URL("sq-core.wasm", _scriptDir));
}
