#!/usr/bin/env node
// build.mjs - builds the static site into build/web/ (make web):
//   app.js      web/src/main.js + charts (Observable Plot, bundled by esbuild)
//   worker.js   web/src/worker.js (imports sq-core-api.js / sq-infer-api.js at run time)
//   index.html, style.css, sq-infer-api.js (wasm/), sw.js (with the shell list + version)
//   examples/   the bundled models (copied from examples/, never committed twice) + index.json
// sq-core.js, sq-core.wasm and sq-core-api.js come from `make web-module` (mk/wasm.mk),
// sq-core-mt.{js,wasm,worker.js} (the threaded core) from `make web-module-mt` (mk/web-threads.mk).
//
//   node web/build.mjs [--out build/web]
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(ROOT);
const argv = process.argv.slice(2);
const OUT = argv.includes("--out") ? argv[argv.indexOf("--out") + 1] : "build/web";

const EXAMPLES = [
  { id: "bert-tiny-emotion", title: "BERT-Tiny emotion classifier" },
  { id: "stories260K", title: "stories260K (a tiny Llama)" },
];
const EXAMPLE_FILES = ["config.json", "model.safetensors", "tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

for (const f of ["sq-core.js", "sq-core.wasm", "sq-core-api.js", "sq-core-mt.js", "sq-core-mt.wasm", "sq-core-mt.worker.js"])
  if (!fs.existsSync(path.join(OUT, f))) {
    console.error(`build.mjs: ${OUT}/${f} is missing: run make web-module web-module-mt first`);
    process.exit(2);
  }

// the core API files are loaded at run time beside worker.js, not bundled
const runtimeApi = {
  name: "sq-runtime-api",
  setup(b) {
    b.onResolve({ filter: /^\.\/sq-(core|infer)-api\.js$/ }, (a) => ({ path: a.path, external: true }));
  },
};
const common = { bundle: true, format: "esm", minify: true, sourcemap: "linked", target: ["chrome110", "firefox115", "safari16"],
                 legalComments: "eof", logLevel: "warning" };
await esbuild.build({ ...common, entryPoints: { app: "web/src/main.js" }, outdir: OUT });
await esbuild.build({ ...common, entryPoints: { worker: "web/src/worker.js" }, outdir: OUT, plugins: [runtimeApi] });

// copy a file only when it changed (the examples are large)
function copy(src, dst) {
  const s = fs.statSync(src);
  if (fs.existsSync(dst)) {
    const d = fs.statSync(dst);
    if (d.size === s.size && d.mtimeMs >= s.mtimeMs) return;
  }
  fs.mkdirSync(path.dirname(dst), { recursive: true });
  fs.copyFileSync(src, dst);
}
copy("web/index.html", path.join(OUT, "index.html"));
copy("web/style.css", path.join(OUT, "style.css"));
copy("wasm/sq-infer-api.js", path.join(OUT, "sq-infer-api.js"));

const index = { models: [] };
for (const ex of EXAMPLES) {
  const files = EXAMPLE_FILES.filter((f) => fs.existsSync(path.join("examples", ex.id, f)));
  for (const f of files) copy(path.join("examples", ex.id, f), path.join(OUT, "examples", ex.id, f));
  index.models.push({ ...ex, files });
}
fs.writeFileSync(path.join(OUT, "examples", "index.json"), JSON.stringify(index, null, 2) + "\n");

// the service worker: the shell list and a version that changes with any shell file
// (both cores: the threaded one, with its pthread Workers' script, when isolated)
const SHELL = ["./", "index.html", "style.css", "app.js", "worker.js", "sq-core.js", "sq-core.wasm", "sq-core-api.js",
               "sq-core-mt.js", "sq-core-mt.wasm", "sq-core-mt.worker.js", "sq-infer-api.js", "examples/index.json"];
const hash = crypto.createHash("sha256");
for (const f of SHELL.slice(1)) hash.update(f).update(fs.readFileSync(path.join(OUT, f)));
const version = hash.digest("hex").slice(0, 16);
const sw = fs.readFileSync("web/sw.js", "utf8").replace("__SQ_VERSION__", version).replace("__SQ_SHELL__", JSON.stringify(SHELL));
fs.writeFileSync(path.join(OUT, "sw.js"), sw);
console.log(`web: built ${OUT} (shell version ${version})`);
