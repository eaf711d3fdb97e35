// check.js - will this model run here? Every tensor the architecture reads, with the shape
// config.json implies, and a tokenizer: the same list core/models/bert.c and llama.c load
// (a missing one there is "tensor '...' is missing" only after the run is asked for).
//
//   checkModel(kind, config, tensors, texts) -> {runs, missing, wrong, tokenizer, config,
//                                               expected, present, sentence}
// tensors: [{name, dtype, shape}] (the inspect() layers); texts: {tokenizer_json, vocab_txt}
// (truthy when given, or present in a quantized file's metadata).

const FLOAT = new Set(["F32", "F16", "BF16", "F64"]);

function cfgInt(config, key, dflt, problems) {
  const v = config?.[key];
  if (v === undefined || v === null) {
    if (dflt === undefined) problems.push(`config.json has no "${key}"`);
    return dflt;
  }
  if (!Number.isInteger(v) || v < 1) {
    problems.push(`config.json's "${key}" is not a positive whole number`);
    return undefined;
  }
  return v;
}

/* The tensors a BERT sequence classifier reads: [{name, shape, optional}] (shape null:
 * any 2-D, as the classifier's label count comes from its rows). */
function bertTensors(c, names, problems) {
  const H = cfgInt(c, "hidden_size", undefined, problems), L = cfgInt(c, "num_hidden_layers", undefined, problems);
  const I = cfgInt(c, "intermediate_size", undefined, problems), P = cfgInt(c, "max_position_embeddings", undefined, problems);
  const V = cfgInt(c, "vocab_size", undefined, problems), T = cfgInt(c, "type_vocab_size", 2, problems);
  cfgInt(c, "num_attention_heads", undefined, problems);
  if ([H, L, I, P, V, T].some((x) => x === undefined)) return null;
  // "bert." prefix, as bert.c: unless only the unprefixed embeddings are there
  const pre = !names.has("bert.embeddings.word_embeddings.weight") && names.has("embeddings.word_embeddings.weight") ? "" : "bert.";
  const out = [];
  const add = (name, shape) => out.push({ name: pre + name, shape });
  const lin = (name, rows, cols) => { add(`${name}.weight`, [rows, cols]); add(`${name}.bias`, [rows]); };
  add("embeddings.word_embeddings.weight", [V, H]);
  add("embeddings.position_embeddings.weight", [P, H]);
  add("embeddings.token_type_embeddings.weight", [T, H]);
  add("embeddings.LayerNorm.weight", [H]);
  add("embeddings.LayerNorm.bias", [H]);
  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}.`;
    lin(`${p}attention.self.query`, H, H);
    lin(`${p}attention.self.key`, H, H);
    lin(`${p}attention.self.value`, H, H);
    lin(`${p}attention.output.dense`, H, H);
    lin(`${p}intermediate.dense`, I, H);
    lin(`${p}output.dense`, H, I);
    for (const n of ["attention.output.LayerNorm", "output.LayerNorm"]) { add(`${p}${n}.weight`, [H]); add(`${p}${n}.bias`, [H]); }
  }
  lin("pooler.dense", H, H);
  out.push({ name: "classifier.weight", shape: [null, H] }, { name: "classifier.bias", shape: [null] });
  return out;
}

/* The tensors a Llama causal LM reads. */
function llamaTensors(c, names, problems) {
  const D = cfgInt(c, "hidden_size", undefined, problems), F = cfgInt(c, "intermediate_size", undefined, problems);
  const L = cfgInt(c, "num_hidden_layers", undefined, problems), NH = cfgInt(c, "num_attention_heads", undefined, problems);
  const V = cfgInt(c, "vocab_size", undefined, problems);
  if ([D, F, L, NH, V].some((x) => x === undefined)) return null;
  const KV = cfgInt(c, "num_key_value_heads", NH, problems);
  const HD = cfgInt(c, "head_dim", Math.floor(D / NH), problems);
  if (KV === undefined || HD === undefined) return null;
  const qd = NH * HD, kvd = KV * HD;
  const out = [{ name: "model.embed_tokens.weight", shape: [V, D] }, { name: "model.norm.weight", shape: [D] }];
  const lin = (p, n, rows, cols, bias) => {
    out.push({ name: `${p}${n}.weight`, shape: [rows, cols] });
    if (bias) out.push({ name: `${p}${n}.bias`, shape: [rows] });
  };
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    out.push({ name: `${p}input_layernorm.weight`, shape: [D] }, { name: `${p}post_attention_layernorm.weight`, shape: [D] });
    // Qwen2: biases on q/k/v (never o); Llama and Mistral: attention_bias for all four
    const ab = c.attention_bias === true, qkvb = ab || c.model_type === "qwen2", mb = c.mlp_bias === true;
    lin(p, "self_attn.q_proj", qd, D, qkvb);
    lin(p, "self_attn.k_proj", kvd, D, qkvb);
    lin(p, "self_attn.v_proj", kvd, D, qkvb);
    lin(p, "self_attn.o_proj", D, qd, ab && c.model_type !== "qwen2");
    lin(p, "mlp.gate_proj", F, D, mb);
    lin(p, "mlp.up_proj", F, D, mb);
    lin(p, "mlp.down_proj", D, F, mb);
  }
  // the LM head: its own tensor unless the embeddings are tied (absent and not untied: tied)
  if (c.tie_word_embeddings === false || names.has("lm_head.weight")) out.push({ name: "lm_head.weight", shape: [V, D] });
  return out;
}

const shapeText = (s) => `[${s.map((d) => (d === null ? "…" : d)).join(", ")}]`;

export function checkModel(kind, config, tensors, texts = {}) {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const names = new Set(byName.keys());
  const cfgProblems = [];
  const want = kind === "bert" ? bertTensors(config, names, cfgProblems) : kind === "llama" ? llamaTensors(config, names, cfgProblems) : null;
  const missing = [], wrong = [];
  for (const w of want || []) {
    const t = byName.get(w.name);
    if (!t) { missing.push(w.name); continue; }
    const ok = FLOAT.has(t.dtype) && t.shape.length === w.shape.length && w.shape.every((d, i) => d === null || d === t.shape[i]);
    if (!ok) wrong.push(`${w.name} is ${t.dtype} ${shapeText(t.shape)}, not ${shapeText(w.shape)}`);
  }
  const tokenizer = texts.tokenizer_json ? "tokenizer.json" : texts.vocab_txt ? "vocab.txt" : null;
  const runs = !!kind && !!want && !cfgProblems.length && !missing.length && !wrong.length && !!tokenizer;
  // one sentence saying what is missing
  const parts = [];
  if (cfgProblems.length) parts.push(cfgProblems.join("; "));
  if (missing.length) {
    const of = want ? ` of the ${want.length} it needs` : "";
    parts.push(`${missing.length} tensor${missing.length === 1 ? " is" : "s are"} missing${of} (${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", …" : ""})`);
  }
  if (wrong.length) parts.push(`${wrong.length} tensor${wrong.length === 1 ? " has" : "s have"} another shape than config.json implies (${wrong.slice(0, 2).join("; ")}${wrong.length > 2 ? "; …" : ""})`);
  if (!tokenizer) parts.push("there is no tokenizer (tokenizer.json or vocab.txt)");
  const sentence = parts.length ? `${parts.join("; ")}.`.replace(/^./, (c) => c.toUpperCase()) : "";
  return { runs, missing, wrong, tokenizer, config: cfgProblems, expected: want ? want.length : 0,
           present: want ? want.length - missing.length : 0, sentence };
}

/* "model-00001-of-00004.safetensors" -> {index: 1, count: 4}, else null. */
export function shardOf(name) {
  const m = /-(\d{3,})-of-(\d{3,})\.safetensors$/i.exec(name);
  return m ? { index: Number(m[1]), count: Number(m[2]) } : null;
}
