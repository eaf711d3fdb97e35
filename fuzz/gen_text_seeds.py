#!/usr/bin/env python3
"""Write the tokenizer seed corpus: OUTDIR/tokenizer/<name>.

Each seed is: one mode byte, the tokenizer file, "\\n#SQFUZZ#\\n", the text to encode
(see fuzz/fuzz_tokenizer.c for the mode byte). Tokenizer files are small: the bundled
stories260K tokenizer.json (15 KB) as it is, and trimmed versions of the BERT vocab.txt /
tokenizer.json and of the Llama 3 tokenizer.json (vocabulary cut down, merges kept only
where both halves and the result survive, added tokens kept).
Run from the repository root: python3 fuzz/gen_text_seeds.py fuzz/corpus
"""
import json, os, sys

SEP = b"\n#SQFUZZ#\n"
out = os.path.join(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus", "tokenizer")
os.makedirs(out, exist_ok=True)
EX = "examples"

TEXTS = [
    "Hello, world! Don't you think it's 2024?",
    "Once upon a time, there was a little girl named Lily.",
    "i feel really happy today :)",
    "Caf\u00e9 na\u00efve \u00c5ngstr\u00f6m r\u00e9sum\u00e9 \u4e2d\u6587\u5b57 \u3053\u3093\u306b\u3061\u306f \U0001F600\U0001F44D\U0001F3FD",
    "[CLS] hello [SEP] [MASK] [UNK] <s> </s> <|begin_of_text|>hi<|eot_id|> <unk>",
    "tabs\tand\nnewlines\r\n  multiple   spaces \u00a0\u2009\u3000 end",
    "x" * 130 + " supercalifragilisticexpialidocious" * 3,
    "12345678901234 3.14159 1,000,000 ${var} #hash @user a-b_c/d\\e",
]
BAD_UTF8 = [b"\xff\xfe invalid \xc3\x28 \xe2\x82 \xf0\x9f\x98 \xed\xa0\x80 \xc0\xaf end",
            b"\x00nul\x00inside\x00", b"\xe2\x96\x81\xe2\x96\x81 metaspace"]

def put(name, mode, tok, text):
    if isinstance(text, str):
        text = text.encode()
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([mode]) + tok + SEP + text)

def dump(j):
    return json.dumps(j, ensure_ascii=False, separators=(",", ":")).encode()

# mode byte: bits 0-1 loader (0 auto, 1 json, 2 vocab.txt uncased, 3 vocab.txt cased),
# bit 2 ADD_SPECIAL, bit 3 ADD_BOS, bit 4 LITERAL, bits 5-7 max_len (0 none, else 2^n)
ADD_SPECIAL, ADD_BOS, LITERAL = 4, 8, 16

# stories260K: sentencepiece-style BPE with byte fallback, as it is
st = open(os.path.join(EX, "stories260K/tokenizer.json"), "rb").read()
for i, t in enumerate(TEXTS[:4] + BAD_UTF8[:1]):
    put("stories-%d" % i, [1, ADD_SPECIAL | 1, ADD_BOS | 0, LITERAL | 1, ADD_SPECIAL | (3 << 5) | 1][i], st, t)

# BERT vocab.txt: the special tokens, the first 1000 "normal" entries, and the words the texts use
vocab = open(os.path.join(EX, "bert-tiny-emotion/vocab.txt"), encoding="utf-8").read().split("\n")
keep_words = set("hello world don ' t you think it s 2024 ? , ! i feel really happy today : ) cafe naive "
                 "end tabs and new ##lines multiple spaces super ##cal ##if ##rag ##ilis ##tic ##ex ##pia "
                 "##li ##dos ##ious 123 ##45 . 14 ##15 ##9 1 000 $ { var } # hash @ user a - b _ c / d \\ e "
                 "once upon a time there was little girl named lily".split())
small = [w for i, w in enumerate(vocab)
         if w and (i == 0 or 100 <= i <= 103 or 999 <= i < 1300 or w in keep_words
                   or (w.startswith("##") and len(w) == 3 and i < 30000))]
vtxt = ("\n".join(small) + "\n").encode()
for i, t in enumerate([TEXTS[0], TEXTS[3], TEXTS[4], TEXTS[6], BAD_UTF8[0]]):
    put("bert-vocab-%d" % i, [2, 2 | ADD_SPECIAL, 3 | ADD_SPECIAL, 2 | ADD_SPECIAL | (4 << 5), 0][i], vtxt, t)

# BERT tokenizer.json with the same trimmed vocabulary
bj = json.load(open(os.path.join(EX, "bert-tiny-emotion/tokenizer.json"), encoding="utf-8"))
bj["model"]["vocab"] = {w: i for i, w in enumerate(vocab) if w in set(small)}
bjs = dump(bj)
for i, t in enumerate([TEXTS[2], TEXTS[3], TEXTS[5]]):
    put("bert-json-%d" % i, [1 | ADD_SPECIAL, 1 | ADD_SPECIAL | LITERAL, 0][i], bjs, t)

# Llama 3: byte-level BPE, trimmed to the 256 single-byte symbols + the first 300 tokens
lj = json.load(open(os.path.join(EX, "llama3-tokenizer/tokenizer.json"), encoding="utf-8"))
v = lj["model"]["vocab"]
byte_syms = set()
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + list(range(ord("\u00ae"), ord("\u00ff") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
byte_syms = {chr(c) for c in cs}
keep = {t: i for t, i in v.items() if i < 300 or t in byte_syms}
merges = []
for mline in lj["model"]["merges"][:20000]:
    a, b = mline.split(" ") if isinstance(mline, str) else mline
    if a in keep and b in keep and (a + b) in keep:
        merges.append(mline)
lj["model"]["vocab"] = keep
lj["model"]["merges"] = merges
lj["added_tokens"] = lj["added_tokens"][:12]
ljs = dump(lj)
for i, t in enumerate([TEXTS[0], TEXTS[3], TEXTS[4], TEXTS[5], BAD_UTF8[0]]):
    put("llama3-%d" % i, [1 | ADD_BOS, 1, 1 | ADD_BOS | LITERAL, 1 | (2 << 5), 0][i], ljs, t)

# GPT-2 style: the same trimmed vocabulary with the GPT-2 regex and no ignore_merges
g = json.loads(ljs)
g["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
g["model"]["ignore_merges"] = False
g["post_processor"] = None
put("gpt2-0", 1, dump(g), TEXTS[0] + " " + TEXTS[5])
# a minimal hand-written tokenizer.json per family (small inputs mutate best)
mini_wp = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                     "max_input_chars_per_word": 100,
                     "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "a": 4, "b": 5, "##a": 6, "##b": 7, "ab": 8, ",": 9}},
           "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
           "pre_tokenizer": {"type": "BertPreTokenizer"},
           "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                              "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]}, "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
           "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
           "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}, {"id": 1, "content": "[UNK]", "special": True},
                            {"id": 2, "content": "[CLS]", "special": True}, {"id": 3, "content": "[SEP]", "special": True}]}
put("mini-wordpiece", 1 | ADD_SPECIAL, dump(mini_wp), "ab aab, BA [SEP] \u00e1b")
mini_sp = {"model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                     "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "<0xC3>": 4, "<0xA9>": 5, "\u2581": 6, "a": 7, "b": 8, "\u2581a": 9, "ab": 10},
                     "merges": ["\u2581 a", "a b"]},
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
           "pre_tokenizer": None,
           "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
           "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True}, {"id": 2, "content": "</s>", "special": True}]}
put("mini-sentencepiece", 1 | ADD_SPECIAL, dump(mini_sp), "ab A \u00e9 zz</s>")
put("mini-vocab", 2 | ADD_SPECIAL, b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n##a\n##b\nab\n,\n", "ab aab, BA [MASK] \u00e1b")
