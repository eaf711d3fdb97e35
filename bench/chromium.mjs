// bench/chromium.mjs - what the browser benchmarks (bench/web_1b.mjs, bench/web_infer.mjs)
// share: Chromium's command line, and sampling the memory and CPU of every Chromium
// process this node process started (from /proc) and the JS heaps of the page and its
// workers (the DevTools protocol).
import fs from "node:fs";

// Headless, no GPU and nothing that talks to the network or competes for the CPU.
export const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

// ---------------- memory sampling ----------------
// Every Chromium process is a descendant of this node process (playwright starts the
// browser; its zygote, renderers, GPU and utility processes descend from it).
function descendants() {
  const kids = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!kids.has(ppid)) kids.set(ppid, []);
      kids.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const out = [], todo = [process.pid];
  while (todo.length) for (const k of kids.get(todo.pop()) || []) { out.push(k); todo.push(k); }
  return out;
}
function rssOf(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}
// CPU seconds (user + system) of a process so far (clock ticks of 1/100 s on Linux).
function cpuOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return 0; }
}
function kindOf(pid) {
  try {
    // Chromium rewrites its children's command lines into one space-separated string
    const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split(/[\0 ]/);
    if (!/chrom/.test(cmd[0])) return null;
    const t = cmd.find((a) => a.startsWith("--type="));
    return t ? t.slice(7) : "browser";
  } catch { return null; }
}
export function sampler() {
  const peak = { total: 0, renderer: 0, browser: 0, start: null }; // start: the first sample's
  const kinds = new Map();
  const cpu0 = new Map(), cpu1 = new Map(); // CPU seconds per process: first and last seen
  const tick = () => {
    let total = 0, renderer = 0, browser = 0;
    for (const pid of descendants()) {
      if (!kinds.has(pid)) kinds.set(pid, kindOf(pid));
      const k = kinds.get(pid);
      if (!k) continue;
      const c = cpuOf(pid);
      if (!cpu0.has(pid)) cpu0.set(pid, c);
      cpu1.set(pid, c);
      const r = rssOf(pid);
      total += r;
      if (k === "renderer") renderer = Math.max(renderer, r); // the page's (the only real one)
      if (k === "browser") browser += r;
    }
    if (!peak.start) peak.start = { total, renderer, browser };
    peak.total = Math.max(peak.total, total);
    peak.renderer = Math.max(peak.renderer, renderer);
    peak.browser = Math.max(peak.browser, browser);
  };
  tick();
  const id = setInterval(tick, 500);
  // CPU seconds used meanwhile, by all of Chromium and by its renderers
  const cpu = (kind) => tick() ?? [...cpu1].reduce((a, [pid, c]) => a + (!kind || kinds.get(pid) === kind ? c - cpu0.get(pid) : 0), 0);
  return { peak, cpu, stop() { clearInterval(id); tick(); } };
}

// The JS heaps, through the DevTools protocol: a browser-level session attaches to every
// page and worker target (the page, its two workers, the pthread Workers) and sums their
// Runtime.getHeapUsage, sampled. Best effort: null when the protocol does not allow it.
export async function jsHeapProbe(browser, log = console.error) {
  try {
    const cdp = await browser.newBrowserCDPSession();
    const { targetInfos } = await cdp.send("Target.getTargets");
    const sessions = [];
    for (const t of targetInfos.filter((t) => t.type === "page" || t.type === "worker"))
      sessions.push((await cdp.send("Target.attachToTarget", { targetId: t.targetId, flatten: false })).sessionId);
    let next = 1;
    const waiting = new Map();
    cdp.on("Target.receivedMessageFromTarget", (ev) => {
      const m = JSON.parse(ev.message);
      const p = waiting.get(`${ev.sessionId}/${m.id}`);
      if (p) { waiting.delete(`${ev.sessionId}/${m.id}`); p(m.result || null); }
    });
    const ask = (sessionId, method) => new Promise((res) => {
      const id = next++, key = `${sessionId}/${id}`;
      waiting.set(key, res);
      cdp.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method }) }).catch(() => res(null));
      setTimeout(() => { if (waiting.delete(key)) res(null); }, 5000);
    });
    const total = async () => {
      const r = await Promise.all(sessions.map((sid) => ask(sid, "Runtime.getHeapUsage")));
      return r.some(Boolean) ? r.reduce((a, x) => a + (x ? x.usedSize : 0), 0) : null;
    };
    let peak = await total();
    if (peak === null) return null;
    let busy = false;
    const id = setInterval(async () => {
      if (busy) return;
      busy = true;
      const t = await total();
      if (t > peak) peak = t;
      busy = false;
    }, 500);
    return { targets: sessions.length, peak: () => peak, async stop() { clearInterval(id); const t = await total(); if (t > peak) peak = t; } };
  } catch (err) {
    log(`no JS heap figures: ${err.message}`);
    return null;
  }
}
