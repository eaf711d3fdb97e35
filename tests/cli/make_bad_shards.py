"""make_bad_shards.py SRC_DIR OUT_DIR: hostile sharded model folders (OUT_DIR/bad_*), each
one thing wrong with the index or the shards, for the CLI tests: sq must refuse every one
with one line and exit 2. Built from SRC_DIR's model.safetensors (standard library only)."""
import json, os, shutil, sys
sys.path.insert(0, os.path.dirname(__file__))
import stlib
from make_shards import write

src, out = sys.argv[1], sys.argv[2]
meta, tensors = stlib.read(os.path.join(src, "model.safetensors"))
items = list(tensors.items())
half = len(items) // 2
A, B = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"

def folder(name, parts, index, metas=({"format": "pt"}, {"format": "pt"})):
    d = os.path.join(out, "bad_" + name)
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(src, "config.json"), d)
    for (fname, ts), m in zip(parts, metas):
        write(os.path.join(d, fname), ts, m)
    if index is not None:
        with open(os.path.join(d, "model.safetensors.index.json"), "w" if isinstance(index, str) else "wb") as f:
            f.write(index if isinstance(index, str) else index)
    return d

def wm(parts):
    return {t: fname for fname, ts in parts for t, _ in ts}

def idx(weight_map):
    return json.dumps({"metadata": {}, "weight_map": weight_map})

good = [(A, items[:half]), (B, items[half:])]
first = items[0][0]
folder("index_missing_shard", [good[0]], idx(wm(good)))
folder("index_tensor_in_two_shards", [(A, items[:half]), (B, items[half:] + [items[0]])], idx(wm(good)))
folder("noindex_tensor_in_two_shards", [(A, items[:half]), (B, items[half:] + [items[0]])], None)
m = wm(good); m[first] = B
folder("index_wrong_shard", good, idx(m))
m = wm(good); del m[first]
folder("index_missing_tensor", good, idx(m))
m = wm(good); m["model.layers.99.mlp.up_proj.weight"] = A
folder("index_extra_tensor", good, idx(m))
# the same tensor listed twice (cJSON keeps both) while another goes unlisted: counts match
m = wm(good); del m[items[1][0]]
folder("index_duplicate_key", good, idx(m)[:-2] + ', "%s": "%s"}}' % (first, A))
folder("index_malformed", good, idx(wm(good))[:-7])
folder("index_not_object", good, "[1, 2, 3]")
folder("index_no_weight_map", good, json.dumps({"metadata": {}}))
folder("index_empty_weight_map", good, idx({}))
folder("index_weight_map_not_strings", good, idx({t: 3 for t in wm(good)}))
m = wm(good); m[first] = "../" + A
folder("index_path_traversal", good, idx(m))
m = wm(good); m[first] = "/etc/passwd"
folder("index_absolute_path", good, idx(m))
folder("index_deep", good, '{"weight_map": {}, "x": ' + "[" * 5000 + "]" * 5000 + "}")
d = folder("index_huge", good, idx(wm(good)))
with open(os.path.join(d, "model.safetensors.index.json"), "r+b") as f:
    f.truncate(65 << 20)  # sparse: cheap to make, must be refused by its size before reading
d = folder("shard_truncated", good, idx(wm(good)))
p = os.path.join(d, B)
with open(p, "r+b") as f:
    f.truncate(os.path.getsize(p) - 100)
folder("shard_not_safetensors", [(A, items[:half])], idx(wm(good)))
with open(os.path.join(out, "bad_shard_not_safetensors", B), "wb") as f:
    f.write(b"this is not a safetensors file")
folder("meta_disagree", good, idx(wm(good)), ({"format": "pt", "sq.config": "{}"}, {"format": "pt", "sq.config": "{\"a\":1}"}))
# two index files: which one is the model?
d = folder("two_indexes", good, idx(wm(good)))
shutil.copy(os.path.join(d, "model.safetensors.index.json"), os.path.join(d, "other.safetensors.index.json"))
