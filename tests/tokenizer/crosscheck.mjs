// crosscheck.mjs - compare sq's C tokenizers (through tokdump) with @huggingface/tokenizers
// (JS, an independent implementation) on real data and on generated tricky strings.
//
// usage: node tests/tokenizer/crosscheck.mjs TOKDUMP_BINARY [--quick]
// Runs from anywhere; paths are relative to the repository root. Exits 1 on any mismatch.
// Prints one line per data set and ends with "N passed, N failed" (counted per string).
import { Tokenizer } from "@huggingface/tokenizers";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TOKDUMP = process.argv[2];
const QUICK = process.argv.includes("--quick");
if (!TOKDUMP) {
  console.error("usage: node crosscheck.mjs TOKDUMP_BINARY [--quick]");
  process.exit(2);
}

const P = (p) => path.join(ROOT, p);
const TOK = {
  llama3: "examples/llama3-tokenizer",
  stories: "examples/stories260K",
  bert: "examples/bert-tiny-emotion",
};

const cache = new Map();
// dir: an examples/ folder, or the path of a tokenizer.json written by this script
function jsTokenizer(dir) {
  if (!cache.has(dir)) {
    const file = dir.endsWith(".json") ? dir : P(`${dir}/tokenizer.json`);
    const tj = JSON.parse(fs.readFileSync(file, "utf8"));
    const tc = dir.endsWith(".json") ? {} : JSON.parse(fs.readFileSync(P(`${dir}/tokenizer_config.json`), "utf8"));
    cache.set(dir, new Tokenizer(tj, tc));
  }
  return cache.get(dir);
}

function runTokdump(args) {
  const res = spawnSync(TOKDUMP, args, { maxBuffer: 1 << 30, encoding: "utf8" });
  if (res.status !== 0) {
    console.error(res.stderr);
    throw new Error(`tokdump ${args.join(" ")} failed (status ${res.status})`);
  }
  const m = res.stderr.match(/load ([0-9.]+) s, .*encode seconds ([0-9.]+)/);
  return { out: res.stdout.split("\n").slice(0, -1), load: m ? Number(m[1]) : NaN, enc: m ? Number(m[2]) : NaN };
}

// The strings tokdump reads from an input file, in the same order.
function readStrings(file, mode) {
  const data = fs.readFileSync(file, "utf8");
  if (mode === "--whole") return [data];
  if (mode === "--lines") return data.match(/[^\n]*\n|[^\n]+$/g) ?? [];
  return data.split("\n").filter((l) => l.length > 0).map((l) => JSON.parse(l).text);
}

let passed = 0;
let failed = 0;
const summary = [];

function check(name, dir, tokFile, input, mode) {
  const strings = readStrings(input, mode);
  const tok = jsTokenizer(dir);
  const c = runTokdump([mode, tokFile, input]);
  const t0 = process.hrtime.bigint();
  const js = strings.map((s) => tok.encode(s, { add_special_tokens: true }).ids);
  const jsMs = Number(process.hrtime.bigint() - t0) / 1e6;
  let ok = 0;
  let bad = 0;
  let nIds = 0;
  if (c.out.length !== strings.length) {
    console.log(`  ${name}: tokdump printed ${c.out.length} lines for ${strings.length} strings`);
    failed += strings.length;
    summary.push(`${name}: LINE COUNT MISMATCH`);
    return;
  }
  for (let i = 0; i < strings.length; i++) {
    const mine = c.out[i] === "" ? [] : c.out[i].split(" ").map(Number);
    nIds += js[i].length;
    if (mine.length === js[i].length && mine.every((x, k) => x === js[i][k])) {
      ok++;
    } else {
      bad++;
      if (bad <= 5) {
        let k = 0;
        while (k < mine.length && mine[k] === js[i][k]) k++;
        console.log(`  MISMATCH ${name} #${i}: ${JSON.stringify(strings[i].slice(0, 300))}`);
        console.log(`    first difference at id ${k}: C  ${JSON.stringify(mine.slice(Math.max(0, k - 3), k + 8))}`);
        console.log(`                               JS ${JSON.stringify(js[i].slice(Math.max(0, k - 3), k + 8))}`);
        console.log(`    JS tokens ${JSON.stringify(js[i].slice(Math.max(0, k - 3), k + 8).map((x) => tok.id_to_token(x)))}`);
      }
    }
  }
  passed += ok;
  failed += bad;
  const line = `${name}: ${ok}/${strings.length} strings identical (${nIds} ids); encode time C ${(c.enc * 1000).toFixed(0)} ms (load ${(c.load * 1000).toFixed(0)} ms), JS ${jsMs.toFixed(0)} ms`;
  console.log(line);
  summary.push(line);
}

function checkDecode(name, dir, tokFile, input, mode, stream) {
  const strings = readStrings(input, mode);
  const tok = jsTokenizer(dir);
  const c = runTokdump([mode, stream ? "--stream" : "--decode", tokFile, input]);
  let ok = 0;
  let bad = 0;
  let bom = 0;
  for (let i = 0; i < strings.length; i++) {
    const ids = tok.encode(strings[i], { add_special_tokens: true }).ids;
    const js = ids.length ? tok.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }) : "";
    const mine = JSON.parse(c.out[i]);
    if (mine === js) ok++;
    else if (mine.replaceAll("\ufeff", "") === js.replaceAll("\ufeff", "")) {
      // JS's ByteFallback decodes byte runs with new TextDecoder(), which drops a leading
      // U+FEFF (BOM) of each run; HF's Rust ByteFallback (and sq) keep it.
      ok++;
      bom++;
    } else {
      bad++;
      if (bad <= 5) console.log(`  DECODE MISMATCH ${name} #${i}:\n    C  ${JSON.stringify(mine.slice(0, 200))}\n    JS ${JSON.stringify(js.slice(0, 200))}`);
    }
  }
  passed += ok;
  failed += bad;
  const note = bom ? ` (${bom} of them differ only by a U+FEFF that JS's TextDecoder drops)` : "";
  const line = `${name}: ${ok}/${strings.length} decoded strings identical${note}`;
  console.log(line);
  summary.push(line);
}

// ---- generated tricky strings (deterministic) ----
function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Pieces the generator glues together. Avoided on purpose (known, documented
// differences between HF implementations, see core/tokenizers/tokenizer.h notes):
// unassigned code points, supplementary-plane CJK (JS's BertNormalizer misses them),
// "'" + U+017F (Oniguruma case folding), U+0000.
const PIECES = [
  "the", "The", "THE", " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \n ", "\r", "a", "b", "hello", "World",
  "don't", "I'm", "we'll", "they're", "you've", "it'S", "'LL", "'d", "'", "''", "\"", "...", "!!", "?", ",", ".",
  "-", "--", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "@", "#", "$", "%", "^", "&", "*", "_", "+", "=",
  "|", "~", "`", ";", ":", "0", "1", "12", "123", "1234", "12345678", "3.14", "1,000", "²", "½", "٣", "Ⅻ",
  "é", "è", "ñ", "Å", "ß", "ẞ", "naïve", "café", "ÉCOLE", "Ångström", "e\u0301", "a\u0308\u0323", "\u0301",
  "İstanbul", "ΣΊΣΥΦΟΣ", "Σ", "ὈΔΥΣΣΕΎΣ", "ς", "Привет", "МИР", "日本語", "中文", "测试", "，", "。", "！",
  "カタカナ", "ひらがな", "한국어", "텍스트", "ᄀ", "ﾊﾝｶｸ", "Ｆｕｌｌ", "ﬁ", "Ǆ", "ǅ", "K", "Å", "㎏",
  "\u00a0", "\u2009", "\u3000", "\u2028", "\u2029", "\u200b", "\u200d", "\u00ad", "\ufeff", "\u0085", "\u000b", "\u000c",
  "\u001f", "\u007f", "\u0001", "\ufffd", "\ue000", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "𝔘𝔫𝔦", "𐍈", "★", "→", "∑", "€", "£",
  "مرحبا", "שָׁלוֹם", "नमस्ते", "ภาษาไทย", "ᏣᎳᎩ", "<s>", "</s>", "<unk>", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "[PAD]",
  "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|start_header_id|>", "<|reserved_special_token_5|>",
  "<|begin_of_text", "[cls]", "<S>", "▁", "▁▁", "Ġ", "##ing", "<0x0A>", "supercalifragilisticexpialidocious",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "antidisestablishmentarianism", "https://example.com/a?b=c&d=e", "user@example.org", "C++", "x86_64", "3rd",
];

function generate(seed, count) {
  const rnd = mulberry32(seed);
  const out = [""];
  for (let i = 1; i < count; i++) {
    const n = 1 + Math.floor(rnd() * (rnd() < 0.1 ? 80 : 16));
    let s = "";
    for (let k = 0; k < n; k++) s += PIECES[Math.floor(rnd() * PIECES.length)];
    out.push(s);
  }
  return out;
}

// Strings of random code points assigned in the Unicode version of our tables (Debian's
// DerivedAge.txt, so characters newer than them are left out), with spaces and ASCII
// mixed in. Surrogates, noncharacters, U+0000, planes 2+ (supplementary CJK, private use)
// excluded.
function generateCodePoints(seed, count) {
  const ageFile = "/usr/share/unicode/DerivedAge.txt";
  if (!fs.existsSync(ageFile)) return null;
  const ranges = [];
  for (const line of fs.readFileSync(ageFile, "utf8").split("\n")) {
    const m = line.match(/^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;/);
    if (!m) continue;
    const lo = parseInt(m[1], 16);
    const hi = m[2] ? parseInt(m[2], 16) : lo;
    if (hi >= 0x20000 || (lo >= 0xd800 && hi <= 0xdfff) || hi === 0) continue;
    ranges.push([Math.max(lo, 1), hi]);
  }
  const rnd = mulberry32(seed);
  const out = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rnd() * 24);
    let s = "";
    for (let k = 0; k < n; k++) {
      const r = rnd();
      if (r < 0.15) s += " ";
      else if (r < 0.25) s += "abcdefgXYZ019'!.,\n"[Math.floor(rnd() * 18)];
      else {
        const [lo, hi] = ranges[Math.floor(rnd() * ranges.length)];
        const cp = lo + Math.floor(rnd() * (hi - lo + 1));
        // noncharacters are listed in DerivedAge but are unassigned (Cn): Python's and sq's
        // BERT clean_text drop every C* character, JS keeps Cn
        if ((cp & 0xfffe) === 0xfffe || (cp >= 0xfdd0 && cp <= 0xfdef)) continue;
        s += String.fromCodePoint(cp);
      }
    }
    out.push(s.replaceAll("'\u017f", "' \u017f"));
  }
  return out;
}

// ---- run ----
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sq-tokcheck-"));
try {
  const tricky = path.join(tmp, "tricky.jsonl");
  fs.writeFileSync(tricky, generate(12345, QUICK ? 300 : 3000).map((s) => JSON.stringify({ text: s })).join("\n") + "\n");

  const cps = generateCodePoints(777, QUICK ? 200 : 2000);
  const cpsFile = path.join(tmp, "codepoints.jsonl");
  if (cps) fs.writeFileSync(cpsFile, cps.map((s) => JSON.stringify({ text: s })).join("\n") + "\n");
  else console.log("(no /usr/share/unicode/DerivedAge.txt: random code point strings skipped)");

  // Variants of the Llama 3 file for code paths the three example files do not use:
  // (1) post_processor Sequence[ByteLevel, TemplateProcessing(BOS)] as in Meta's own
  //     Llama 3.x tokenizer.json; (2) GPT-2 style: ByteLevel pre-tokenizer with its own
  //     regex and add_prefix_space, no ignore_merges, BOS and EOS around the text.
  const l3 = JSON.parse(fs.readFileSync(P(`${TOK.llama3}/tokenizer.json`), "utf8"));
  const bosTok = { id: "<|begin_of_text|>", ids: [128000], tokens: ["<|begin_of_text|>"] };
  const eosTok = { id: "<|end_of_text|>", ids: [128001], tokens: ["<|end_of_text|>"] };
  l3.post_processor = {
    type: "Sequence",
    processors: [
      { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      { type: "TemplateProcessing", single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [], special_tokens: { "<|begin_of_text|>": bosTok } },
    ],
  };
  const l3template = path.join(tmp, "llama3-template.json");
  fs.writeFileSync(l3template, JSON.stringify(l3));
  l3.pre_tokenizer = { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
  l3.model.ignore_merges = false;
  l3.post_processor = { type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|end_of_text|>", type_id: 0 } }],
    pair: [], special_tokens: { "<|begin_of_text|>": bosTok, "<|end_of_text|>": eosTok } };
  const gpt2style = path.join(tmp, "gpt2-style.json");
  fs.writeFileSync(gpt2style, JSON.stringify(l3));
  // RoBERTa's layout: ByteLevel without a prefix space, RobertaProcessing (<s> A </s>)
  const rob = JSON.parse(JSON.stringify(l3));
  rob.pre_tokenizer = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  rob.post_processor = { type: "RobertaProcessing", sep: ["<|end_of_text|>", eosTok.ids[0]], cls: ["<|begin_of_text|>", bosTok.ids[0]], trim_offsets: true, add_prefix_space: false };
  const robertaStyle = path.join(tmp, "roberta-style.json");
  fs.writeFileSync(robertaStyle, JSON.stringify(rob));
  // The JS ByteLevel pre-tokenizer uses JavaScript's \s (U+FEFF yes, U+0085 no), HF's Rust
  // and sq use Unicode White_Space (the reverse): keep both out of its test strings.
  const trickyWs = path.join(tmp, "tricky-gpt2.jsonl");
  fs.writeFileSync(trickyWs, generate(4242, QUICK ? 300 : 3000).map((s) => JSON.stringify({ text: s.replace(/[\ufeff\u0085]/g, "x") })).join("\n") + "\n");

  const wiki = P("data/wikitext2/wikitext-2-raw-test.txt");
  const emotion = P("data/emotion/test.jsonl");
  const stories = P("data/tinystories/tinystories-valid-first1000.jsonl");

  check("llama3 wikitext-2 test, line by line", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), wiki, "--lines");
  if (!QUICK) check("llama3 wikitext-2 test, whole file as one string", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), wiki, "--whole");
  check("llama3 tricky strings", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), tricky, "--jsonl");
  check("llama3 + TemplateProcessing(BOS) tricky strings", l3template, l3template, tricky, "--jsonl");
  check("gpt2-style ByteLevel(add_prefix_space, regex) tricky strings", gpt2style, gpt2style, trickyWs, "--jsonl");
  check("gpt2-style ByteLevel(add_prefix_space, regex) emotion test", gpt2style, gpt2style, P("data/emotion/test.jsonl"), "--jsonl");
  check("roberta-style ByteLevel + RobertaProcessing tricky strings", robertaStyle, robertaStyle, trickyWs, "--jsonl");
  check("roberta-style ByteLevel + RobertaProcessing emotion test", robertaStyle, robertaStyle, P("data/emotion/test.jsonl"), "--jsonl");
  check("bert tokenizer.json emotion test", TOK.bert, P(`${TOK.bert}/tokenizer.json`), emotion, "--jsonl");
  check("bert vocab.txt emotion test", TOK.bert, P(`${TOK.bert}/vocab.txt`), emotion, "--jsonl");
  check("bert tokenizer.json tricky strings", TOK.bert, P(`${TOK.bert}/tokenizer.json`), tricky, "--jsonl");
  check("bert vocab.txt tricky strings", TOK.bert, P(`${TOK.bert}/vocab.txt`), tricky, "--jsonl");
  check("stories260K tinystories valid 1000", TOK.stories, P(`${TOK.stories}/tokenizer.json`), stories, "--jsonl");
  check("stories260K tricky strings", TOK.stories, P(`${TOK.stories}/tokenizer.json`), tricky, "--jsonl");

  if (cps) {
    for (const [name, dir, file] of [["llama3", TOK.llama3, "tokenizer.json"], ["bert", TOK.bert, "tokenizer.json"],
                                     ["bert vocab.txt", TOK.bert, "vocab.txt"], ["stories260K", TOK.stories, "tokenizer.json"]])
      check(`${name} random code points`, dir, P(`${dir}/${file}`), cpsFile, "--jsonl");
    checkDecode("llama3 streaming decode random code points", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), cpsFile, "--jsonl", true);
    checkDecode("stories260K streaming decode random code points", TOK.stories, P(`${TOK.stories}/tokenizer.json`), cpsFile, "--jsonl", true);
  }

  checkDecode("gpt2-style streaming decode tricky", gpt2style, gpt2style, trickyWs, "--jsonl", true);
  checkDecode("llama3 decode wikitext lines", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), wiki, "--lines", false);
  checkDecode("llama3 streaming decode tricky", TOK.llama3, P(`${TOK.llama3}/tokenizer.json`), tricky, "--jsonl", true);
  checkDecode("stories260K decode tinystories", TOK.stories, P(`${TOK.stories}/tokenizer.json`), stories, "--jsonl", false);
  checkDecode("stories260K streaming decode tricky", TOK.stories, P(`${TOK.stories}/tokenizer.json`), tricky, "--jsonl", true);
  checkDecode("bert decode emotion", TOK.bert, P(`${TOK.bert}/tokenizer.json`), emotion, "--jsonl", false);
  checkDecode("bert streaming decode tricky", TOK.bert, P(`${TOK.bert}/tokenizer.json`), tricky, "--jsonl", true);
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
