"""make_shards.py SRC_DIR OUT_DIR N [--no-index]: split SRC_DIR's model.safetensors into N
shards named as Hugging Face names them (model-0000i-of-0000N.safetensors) plus
model.safetensors.index.json, and copy the side files (config, tokenizer). Tensors keep
their order; each shard's __metadata__ is {"format": "pt"}, as transformers writes it.
Standard library only."""
import json, os, shutil, struct, sys
sys.path.insert(0, os.path.dirname(__file__))
import stlib

def write(path, tensors, meta):
    header, off = {}, 0
    if meta: header["__metadata__"] = meta
    for name, (dt, shape, raw) in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for _, (_, _, raw) in tensors: f.write(raw)

def main():
    src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    no_index = "--no-index" in sys.argv
    meta, tensors = stlib.read(os.path.join(src, "model.safetensors"))
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(src):
        if f.endswith(".json") or f.endswith(".txt"):
            shutil.copy(os.path.join(src, f), out)
    items = list(tensors.items())
    per = -(-len(items) // n)
    weight_map, total = {}, 0
    for i in range(n):
        name = "model-%05d-of-%05d.safetensors" % (i + 1, n)
        part = items[i * per:(i + 1) * per]
        write(os.path.join(out, name), part, {"format": "pt"})
        for t, (_, _, raw) in part:
            weight_map[t] = name; total += len(raw)
    if not no_index:
        with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

if __name__ == "__main__":
    main()
