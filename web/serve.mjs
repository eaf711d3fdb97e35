#!/usr/bin/env node
// serve.mjs - a small static server for build/web (make serve), with the headers the page
// wants: cross-origin isolation (COOP + COEP, so SharedArrayBuffer works: the threaded
// core, and cancelling a running quantization) and no caching (the service worker does the offline caching).
//
//   node web/serve.mjs [--root build/web] [--port 8080] [--host 127.0.0.1] [--no-isolation]
//   (--no-isolation: no COOP/COEP, so the page runs the single-thread core)
//   (PORT / HOST from the environment work too; --port 0 picks a free port.)
//
// Prints "serving DIR at http://HOST:PORT/" once it listens. Only GET and HEAD; no
// directory listings; never serves anything outside the root.
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const ROOT = path.resolve(opt("--root", "build/web"));
const PORT = Number(opt("--port", process.env.PORT || 8080));
const HOST = opt("--host", process.env.HOST || "127.0.0.1");

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".json": "application/json; charset=utf-8", ".wasm": "application/wasm",
  ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".txt": "text/plain; charset=utf-8",
  ".jsonl": "text/plain; charset=utf-8", ".webmanifest": "application/manifest+json",
};

// isolate = false leaves out COOP/COEP: a page that is not cross-origin isolated (as on
// a plain static host), which gets the single-thread core (tests, benchmarks).
export function headers(extra = {}, isolate = true) {
  return {
    ...(isolate ? { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" } : {}),
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
    ...extra,
  };
}

export function createServer(root = ROOT, { isolate = true } = {}) {
  const hdr = (extra) => headers(extra, isolate);
  return http.createServer((req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, hdr({ Allow: "GET, HEAD", "Content-Type": "text/plain" }));
      return res.end("method not allowed\n");
    }
    let rel;
    try {
      rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400, hdr({ "Content-Type": "text/plain" }));
      return res.end("bad request\n");
    }
    if (rel.endsWith("/")) rel += "index.html";
    const file = path.join(root, path.normalize(rel));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403, hdr({ "Content-Type": "text/plain" }));
      return res.end("forbidden\n");
    }
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) {
        res.writeHead(404, hdr({ "Content-Type": "text/plain; charset=utf-8" }));
        return res.end("not found\n");
      }
      const type = TYPES[path.extname(file).toLowerCase()] || "application/octet-stream";
      res.writeHead(200, hdr({ "Content-Type": type, "Content-Length": st.size }));
      if (req.method === "HEAD") return res.end();
      fs.createReadStream(file).pipe(res);
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("serve.mjs")) {
  if (!fs.existsSync(path.join(ROOT, "index.html"))) {
    console.error(`serve: ${ROOT}/index.html is missing: run make web first`);
    process.exit(2);
  }
  const server = createServer(ROOT, { isolate: !argv.includes("--no-isolation") });
  server.on("error", (err) => {
    console.error(`serve: cannot listen on ${HOST}:${PORT}: ${err.message}`);
    process.exit(1);
  });
  server.listen(PORT, HOST, () => {
    const a = server.address();
    console.log(`serving ${ROOT} at http://${HOST}:${a.port}/`);
  });
}
