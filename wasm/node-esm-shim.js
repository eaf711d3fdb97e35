// node-esm-shim.js - emitted at the top of build/web/sq-core.js (emcc --extern-pre-js).
// Emscripten 3.1.6 (Debian 12) uses require() and __dirname in its Node.js branch even
// with -sEXPORT_ES6, and an ES module has neither: define them, under Node only, so the
// same file loads in a browser, a (module) Web Worker and node. Browsers skip the block.
var require, __dirname;
if (typeof process == "object" && typeof process.versions == "object" && typeof process.versions.node == "string") {
  const { createRequire } = await import("node:module");
  require = createRequire(import.meta.url);
  __dirname = require("node:path").dirname(require("node:url").fileURLToPath(import.meta.url));
}
