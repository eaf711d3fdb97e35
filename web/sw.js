// sw.js - the service worker: keeps the app shell (page, scripts, the WebAssembly
// module) in a versioned cache so the page opens offline after the first visit, and
// keeps each bundled example once it has been fetched. Same-origin GET requests only;
// nothing here ever talks to another origin. VERSION and SHELL are filled in by
// web/build.mjs (VERSION changes whenever a shell file does).
const VERSION = "__SQ_VERSION__";
const SHELL = __SQ_SHELL__;
const CACHE = `sq-shell-${VERSION}`;
const EXAMPLES = "sq-examples";

self.addEventListener("install", (ev) => {
  ev.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (ev) => {
  ev.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("sq-shell-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (ev) => {
  const req = ev.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  const isExample = url.pathname.includes("/examples/");
  ev.respondWith((async () => {
    const shell = await caches.open(CACHE);
    const hit = await shell.match(req, { ignoreSearch: true });
    if (hit) return hit;
    const ex = isExample ? await caches.open(EXAMPLES) : null;
    if (ex) {
      const exHit = await ex.match(req, { ignoreSearch: true });
      // a bundled example's files change only with the build: refresh them when the
      // shell (examples/index.json) is a new version, else serve the kept copy
      if (exHit && exHit.headers.get("x-sq-version") === VERSION) return exHit;
    }
    try {
      const res = await fetch(req);
      if (ex && res.ok && res.status === 200) {
        const body = await res.clone().blob();
        const headers = new Headers(res.headers);
        headers.set("x-sq-version", VERSION);
        await ex.put(req, new Response(body, { status: 200, statusText: res.statusText, headers }));
      }
      return res;
    } catch (err) {
      if (ex) {
        const stale = await ex.match(req, { ignoreSearch: true });
        if (stale) return stale;
      }
      if (req.mode === "navigate") {
        const page = await shell.match("index.html");
        if (page) return page;
      }
      throw err;
    }
  })());
});
