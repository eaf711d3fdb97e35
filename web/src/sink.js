// sink.js - where a quantize run's output bytes go (worker side), chosen once per run.
//
//   const sink = await openSink({ blobOnly, expect });  // expect: about how many bytes
//   sink.write(chunk);                                  // every output byte, in order
//   const { blob, io } = await sink.finish();           // a File (OPFS) or a Blob
//   sink.discard();                                     // cancelled or failed: nothing kept
//   countSink()                                         // the same interface, keeps only the count
//
// Two kinds, one interface:
//  - an OPFS file (sq-out-<time>-<random>.safetensors in the Origin Private File System)
//    written through a FileSystemSyncAccessHandle: the page gets fileHandle.getFile(), a
//    disk-backed File (no copy in memory; in Chromium ~3x faster than making Blobs);
//  - Blob parts of BLOCK bytes, which the browser keeps outside the worker (it may page
//    them to disk); the final Blob only refers to the parts.
// The OPFS file is used when there is one (no OPFS, no sync access handles, too little
// quota or any error opening it: Blobs). A write that fails mid-run moves what was written
// into Blob parts and goes on that way, and so does a run whose first SLOW_CHECK bytes
// were written at under SLOW_MBS (Chromium keeps OPFS in memory in incognito windows and
// Playwright's default contexts: ~20-50 MB/s there, slower than Blobs at ~90 MB/s; a
// normal profile's disk-backed OPFS takes ~300 MB/s). Either way the worker holds one
// BLOCK: chunks (views of wasm memory, ~1 MiB) are gathered in one reused buffer (a fresh
// ArrayBuffer per chunk cost seconds of allocation on a 1B model; and a Blob cannot be
// made from a view of the threaded core's shared memory anyway).
//
// The worker that wrote a file holds a Web Lock of its name for as long as the file may be
// in use (until its next run or until it ends), so a worker clearing old files (at start-up
// and when a run starts) never deletes one that another tab still offers for download.

export const OUT_PREFIX = "sq-out-";
const BLOCK = 32 << 20;
const SLOW_CHECK = 2 * BLOCK, SLOW_MBS = 60;
const mine = new Map(); // name -> release() of its lock: this worker's finished outputs

async function opfsRoot() {
  if (typeof FileSystemFileHandle === "undefined" || typeof FileSystemFileHandle.prototype.createSyncAccessHandle !== "function")
    throw new Error("no FileSystemSyncAccessHandle");
  if (!navigator.storage?.getDirectory) throw new Error("no navigator.storage.getDirectory");
  return navigator.storage.getDirectory();
}

// hold the lock `name` until release() (granted at once: the names are unique)
function holdLock(name) {
  if (!navigator.locks?.request) return Promise.resolve(() => {});
  return new Promise((granted, failed) => {
    navigator.locks.request(name, () => new Promise((release) => granted(release))).catch(failed);
  });
}

/* Delete the sq-out files nobody holds (those of ended workers and closed tabs). */
export async function clearOldOutputs() {
  let dir;
  try { dir = await opfsRoot(); } catch { return; }
  try {
    const names = [];
    for await (const [name, h] of dir.entries()) if (h.kind === "file" && name.startsWith(OUT_PREFIX) && !mine.has(name)) names.push(name);
    for (const name of names) {
      try {
        if (navigator.locks?.request) await navigator.locks.request(name, { ifAvailable: true }, async (lock) => { if (lock) await dir.removeEntry(name); });
        else await dir.removeEntry(name);
      } catch { /* in use (an open access handle) or already gone */ }
    }
  } catch { /* best effort */ }
}

/* This worker's kept files (the previous run's output): the page has let go of them. */
export async function dropOwnOutputs() {
  if (!mine.size) return;
  let dir = null;
  try { dir = await opfsRoot(); } catch { /* cannot happen once a file was written */ }
  for (const [name, release] of mine) {
    try { if (dir) await dir.removeEntry(name); } catch { /* gone */ }
    release();
    mine.delete(name);
  }
}

/* Bytes the sq-out files of this origin take now: {files, bytes} (0 without OPFS). */
export async function outputsUsage() {
  let files = 0, bytes = 0;
  try {
    const dir = await opfsRoot();
    for await (const [name, h] of dir.entries()) {
      if (h.kind !== "file" || !name.startsWith(OUT_PREFIX)) continue;
      try { bytes += (await h.getFile()).size; files++; } catch { /* being written */ }
    }
  } catch { /* no OPFS */ }
  return { files, bytes };
}

// A fresh output file with its sync access handle, or null (then Blob parts) with why.
async function outputFile(expect) {
  let release = null, dir = null, name = null;
  try {
    dir = await opfsRoot();
    if (navigator.storage.estimate) {
      const { quota, usage } = await navigator.storage.estimate();
      if (Number.isFinite(quota) && quota - (usage || 0) < expect) throw new Error(`storage quota: ${quota - (usage || 0)} bytes free`);
    }
    name = `${OUT_PREFIX}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}.safetensors`;
    release = await holdLock(name); // before the file exists: nobody can take it for an old one
    const fileHandle = await dir.getFileHandle(name, { create: true });
    const handle = await fileHandle.createSyncAccessHandle();
    return { file: { name, dir, fileHandle, handle, release }, why: null };
  } catch (err) {
    if (dir && name) dir.removeEntry(name).catch(() => {});
    if (release) release();
    return { file: null, why: String((err && err.message) || err) };
  }
}

// Close and delete an output file that will not be used (cancelled, failed, fell back).
function closeAndDelete(f) {
  try { f.handle?.close(); } catch { /* closed */ }
  f.handle = null;
  f.dir.removeEntry(f.name).catch(() => {}).finally(f.release);
}

/* The sink of one run. blobOnly: skip the OPFS file (?output=blob). expect: about how
 * many bytes will come (the quota check). */
export async function openSink({ blobOnly = false, expect = 0 } = {}) {
  let out = null, note = null;
  if (blobOnly) note = "asked (?output=blob)";
  else ({ file: out, why: note } = await outputFile(expect));
  let fellBack = null; // why a mid-run write to the OPFS file failed (or was too slow)
  let opfsMs = 0, checked = false, writeMs = 0;
  const parts = [];
  let block = new Uint8Array(BLOCK), used = 0, written = 0, done = false;

  // the bytes written so far go back into Blob parts (read from the file block by block),
  // the file is closed and deleted, and the run goes on with Blobs
  const toBlobs = (err) => {
    fellBack = String((err && err.message) || err);
    try {
      for (let at = 0; at < written;) {
        const b = new Uint8Array(Math.min(BLOCK, written - at));
        if (out.handle.read(b, { at }) !== b.length) throw new Error("short read of the output file");
        parts.push(new Blob([b]));
        at += b.length;
      }
    } finally {
      closeAndDelete(out);
      out = null;
    }
  };
  const flush = () => {
    if (!used) return;
    const data = block.subarray(0, used);
    if (out) {
      try {
        const tw = performance.now();
        const n = out.handle.write(data, { at: written });
        opfsMs += performance.now() - tw;
        if (n !== used) throw new Error(`short write to the output file: ${n} of ${used} bytes`);
        written += used;
        used = 0;
      } catch (err) {
        toBlobs(err);
      }
      if (out && !checked && written >= SLOW_CHECK) {
        checked = true;
        const mbs = written / 1e6 / (opfsMs / 1000);
        if (mbs < SLOW_MBS) toBlobs(`slow: ${mbs.toFixed(0)} MB/s over the first ${written >> 20} MiB`);
      }
      if (out || !used) return;
    }
    parts.push(new Blob([data]));
    written += used;
    used = 0;
  };

  return {
    write(chunk) {
      const tw = performance.now();
      for (let off = 0; off < chunk.length;) {
        const n = Math.min(chunk.length - off, BLOCK - used);
        block.set(chunk.subarray(off, off + n), used);
        used += n;
        off += n;
        if (used === BLOCK) flush();
      }
      writeMs += performance.now() - tw;
    },
    /* -> {blob, io: {writeSeconds, writeBytes, output, outputNote?, outputFallback?}} */
    async finish() {
      const tw = performance.now();
      flush();
      block = null;
      let blob;
      if (out) {
        try {
          out.handle.close();
          out.handle = null;
          blob = await out.fileHandle.getFile();
          if (blob.size !== written) throw new Error(`the output file has ${blob.size} bytes, not ${written}`);
          mine.set(out.name, out.release); // kept (and its lock held) until the next run or the worker ends
          out = null;
        } catch (err) {
          // the file cannot be read back whole: nothing to recover it from, so fail the run
          // (a closed handle cannot be read; the next run will decide up front again)
          throw new Error(`the quantized output could not be kept: ${String((err && err.message) || err)}`);
        }
      } else {
        blob = new Blob(parts, { type: "application/octet-stream" });
      }
      done = true;
      writeMs += performance.now() - tw;
      const io = { writeSeconds: writeMs / 1000, writeBytes: written, output: blob instanceof File ? "opfs" : "blob" };
      if (fellBack) io.outputFallback = fellBack;
      else if (note) io.outputNote = note;
      return { blob, io };
    },
    discard() {
      if (out) closeAndDelete(out);
      out = null;
      if (!done) parts.length = 0;
    },
  };
}

/* A sink that keeps nothing but the byte count (the size-vs-error frontier's runs). */
export function countSink() {
  let written = 0;
  return {
    write(chunk) { written += chunk.length; },
    async finish() { return { blob: null, io: { writeSeconds: 0, writeBytes: written, output: "count" } }; },
    discard() {},
  };
}
