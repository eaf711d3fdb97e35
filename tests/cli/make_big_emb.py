"""make_big_emb.py OUT.safetensors [ROWS COLS]: a Llama-named file whose token embedding
(BF16, 65536 x 512 = 64 MiB by default) dwarfs its one linear layer, to measure that
`sq quantize --embeddings` streams the embedding in row blocks instead of holding it
(standard library only; values in [-2^-5, 2^-5), finite by construction)."""
import json, os, random, struct, sys

out = sys.argv[1]
rows, cols = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (65536, 512)
rnd = random.Random(7)
def bf16(n):
    b = bytearray(rnd.randbytes(2 * n))
    # high byte: sign + the exponent's top 7 bits; 0x3C..0x3D keeps |x| < 2^-5
    b[1::2] = b[1::2].translate(bytes((x & 0x81) | 0x3C for x in range(256)))
    return bytes(b)
ts = [("model.embed_tokens.weight", [rows, cols]), ("model.layers.0.mlp.up_proj.weight", [64, cols])]
header, off, blobs = {}, 0, []
for name, shape in ts:
    n = shape[0] * shape[1]
    header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [off, off + 2 * n]}
    blobs.append(bf16(n))
    off += 2 * n
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    for b in blobs: f.write(b)
