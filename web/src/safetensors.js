// safetensors.js - just enough of the safetensors layout for the page's charts: the
// header (tensor names, dtypes, shapes, byte ranges) and float conversion of a slice.
// Validation is the C core's job (sqw_open runs first); this only reads what it accepted.

const td = new TextDecoder();

/* read(offset, len) -> Uint8Array; size: the file's bytes. */
export function readHeader(read, size) {
  if (size < 8) throw new Error("the file is too short to be a safetensors file");
  const b = read(0, 8);
  const n = Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
  if (!(n > 1 && n <= size - 8 && n <= 256 * 1024 * 1024)) throw new Error("the file's header length is not valid");
  const json = JSON.parse(td.decode(read(8, n)));
  const base = 8 + n;
  const tensors = new Map();
  for (const [name, t] of Object.entries(json)) {
    if (name === "__metadata__") continue;
    tensors.set(name, { name, dtype: t.dtype, shape: t.shape, start: base + t.data_offsets[0], end: base + t.data_offsets[1] });
  }
  return { tensors, metadata: json.__metadata__ || {} };
}

/* Shards laid end to end in one reader (sizes: their bytes, in order): one header whose
 * offsets point into that concatenation, as the core's shards.h sees it. */
export function readShardedHeader(read, sizes) {
  const tensors = new Map();
  let metadata = {}, base = 0;
  for (const size of sizes) {
    const h = readHeader((off, len) => read(base + off, len), size);
    for (const t of h.tensors.values()) tensors.set(t.name, { ...t, start: base + t.start, end: base + t.end });
    metadata = { ...h.metadata, ...metadata };
    base += size;
  }
  return { tensors, metadata };
}

export const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

function f16(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
let F16_TABLE = null;

/* Float32Array of the values in bytes (little-endian F32, F16 or BF16). */
export function toFloat32(bytes, dtype) {
  const n = bytes.byteLength / (DTYPE_BYTES[dtype] || 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n).slice();
    return new Float32Array(bytes.slice().buffer);
  }
  const out = new Float32Array(n);
  if (dtype === "BF16") {
    const u = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
    return out;
  }
  if (dtype === "F16") {
    if (!F16_TABLE) {
      F16_TABLE = new Float32Array(65536);
      for (let h = 0; h < 65536; h++) F16_TABLE[h] = f16(h);
    }
    for (let i = 0; i < n; i++) out[i] = F16_TABLE[dv.getUint16(2 * i, true)];
    return out;
  }
  if (dtype === "F64") {
    for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
    return out;
  }
  throw new Error(`tensors of dtype ${dtype} are not float weights`);
}
