"""make_bert_arch.py BERT_DIR OUT_DIR: tiny random sequence classifiers of the BERT family
with each architecture's exact config keys and tensor names, as Hugging Face writes them:
  distilbert-tiny  DistilBertForSequenceClassification (WordPiece: BERT_DIR's vocab.txt)
  roberta-tiny     RobertaForSequenceClassification, a byte-level BPE tokenizer.json with
                   RobertaProcessing (<s> ... </s>) built here (the 256 byte symbols and a few merges)
Used by tests/cli/run.sh with tests/ref/bert_ref.py."""
import json, os, shutil, struct, sys
import numpy as np

def write(path, tensors):
    header, off, blobs = {}, 0, []
    for name, a in tensors:
        raw = np.asarray(a, "<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw); blobs.append(raw)
    h = json.dumps(header).encode(); h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h))); f.write(h)
        for b in blobs: f.write(b)

r = np.random.default_rng(7)
def m(rows, cols): return r.normal(0, 1 / np.sqrt(cols), (rows, cols))
def vec(n, c=0.0, s=0.1): return c + s * r.normal(size=n)
def lin(t, name, rows, cols): t += [(name + ".weight", m(rows, cols)), (name + ".bias", vec(rows))]
def lnorm(t, name, n): t += [(name + ".weight", vec(n, 1.0)), (name + ".bias", vec(n))]
H, I, L, NH, LABELS = 32, 48, 2, 4, 3
out = sys.argv[2]

# DistilBERT: vocab from the BERT example
d = os.path.join(out, "distilbert-tiny"); os.makedirs(d, exist_ok=True)
V = sum(1 for _ in open(os.path.join(sys.argv[1], "vocab.txt"), encoding="utf-8"))
t = [("distilbert.embeddings.word_embeddings.weight", r.normal(0, 1, (V, H))),
     ("distilbert.embeddings.position_embeddings.weight", r.normal(0, 1, (64, H)))]
lnorm(t, "distilbert.embeddings.LayerNorm", H)
for l in range(L):
    p = "distilbert.transformer.layer.%d." % l
    for n in ("q_lin", "k_lin", "v_lin", "out_lin"): lin(t, p + "attention." + n, H, H)
    lnorm(t, p + "sa_layer_norm", H)
    lin(t, p + "ffn.lin1", I, H); lin(t, p + "ffn.lin2", H, I)
    lnorm(t, p + "output_layer_norm", H)
lin(t, "pre_classifier", H, H); lin(t, "classifier", LABELS, H)
write(os.path.join(d, "model.safetensors"), t)
json.dump({"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert", "dim": H,
           "hidden_dim": I, "n_layers": L, "n_heads": NH, "max_position_embeddings": 64, "vocab_size": V,
           "activation": "gelu", "id2label": {"0": "neg", "1": "neu", "2": "pos"},
           "label2id": {"neg": 0, "neu": 1, "pos": 2}, "pad_token_id": 0}, open(os.path.join(d, "config.json"), "w"), indent=2)
shutil.copy(os.path.join(sys.argv[1], "vocab.txt"), d)
shutil.copy(os.path.join(sys.argv[1], "tokenizer_config.json"), d)

# RoBERTa with its own byte-level BPE tokenizer
d = os.path.join(out, "roberta-tiny"); os.makedirs(d, exist_ok=True)
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
cs = bs[:]; k = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + k); k += 1
byte_char = {b: chr(c) for b, c in zip(bs, cs)}
vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
for b in range(256): vocab[byte_char[b]] = len(vocab)
merges = []
for a, b in (("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r")):
    merges.append(a + " " + b); vocab[a + b] = len(vocab)
V = len(vocab)
added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
         for c, i in (("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3))]
tok = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
       "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
       "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True, "add_prefix_space": False},
       "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
       "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                 "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": merges}}
json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w"))
P_OFF = 2  # pad_token_id 1 + 1
t = [("roberta.embeddings.word_embeddings.weight", r.normal(0, 1, (V, H))),
     ("roberta.embeddings.position_embeddings.weight", r.normal(0, 1, (66, H))),
     ("roberta.embeddings.token_type_embeddings.weight", r.normal(0, 1, (1, H)))]
lnorm(t, "roberta.embeddings.LayerNorm", H)
for l in range(L):
    p = "roberta.encoder.layer.%d." % l
    for n in ("self.query", "self.key", "self.value", "output.dense"): lin(t, p + "attention." + n, H, H)
    lnorm(t, p + "attention.output.LayerNorm", H)
    lin(t, p + "intermediate.dense", I, H); lin(t, p + "output.dense", H, I)
    lnorm(t, p + "output.LayerNorm", H)
lin(t, "classifier.dense", H, H); lin(t, "classifier.out_proj", LABELS, H)
write(os.path.join(d, "model.safetensors"), t)
json.dump({"architectures": ["RobertaForSequenceClassification"], "model_type": "roberta", "hidden_size": H,
           "intermediate_size": I, "num_hidden_layers": L, "num_attention_heads": NH, "max_position_embeddings": 66,
           "type_vocab_size": 1, "vocab_size": V, "hidden_act": "gelu", "layer_norm_eps": 1e-5, "pad_token_id": 1,
           "bos_token_id": 0, "eos_token_id": 2, "id2label": {"0": "neg", "1": "neu", "2": "pos"}},
          open(os.path.join(d, "config.json"), "w"), indent=2)
