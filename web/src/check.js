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
  // the family as bert.c loads it: BERT, RoBERTa (prefix, head) and DistilBERT (its own names and keys)
  const fam = c.model_type === "distilbert" ? "distilbert" : c.model_type === "roberta" ? "roberta" : "bert";
  const distil = fam === "distilbert";
  const H = cfgInt(c, distil ? "dim" : "hidden_size", undefined, problems), L = cfgInt(c, distil ? "n_layers" : "num_hidden_layers", undefined, problems);
  const I = cfgInt(c, distil ? "hidden_dim" : "intermediate_size", undefined, problems), P = cfgInt(c, "max_position_embeddings", undefined, problems);
  const V = cfgInt(c, "vocab_size", undefined, problems), T = distil ? 0 : cfgInt(c, "type_vocab_size", 2, problems);
  cfgInt(c, distil ? "n_heads" : "num_attention_heads", undefined, problems);
  if ([H, L, I, P, V, T].some((x) => x === undefined)) return null;
  // "bert." (or "roberta.", "distilbert.") prefix, as bert.c: unless only the unprefixed embeddings are there
  const pre = !names.has(`${fam}.embeddings.word_embeddings.weight`) && names.has("embeddings.word_embeddings.weight") ? "" : `${fam}.`;
  const out = [];
  const add = (name, shape) => out.push({ name: pre + name, shape });
  const lin = (name, rows, cols, p = pre) => { out.push({ name: `${p}${name}.weight`, shape: [rows, cols] }, { name: `${p}${name}.bias`, shape: [rows] }); };
  add("embeddings.word_embeddings.weight", [V, H]);
  add("embeddings.position_embeddings.weight", [P, H]);
  if (!distil) add("embeddings.token_type_embeddings.weight", [T, H]);
  add("embeddings.LayerNorm.weight", [H]);
  add("embeddings.LayerNorm.bias", [H]);
  const N = distil
    ? ["transformer.layer", "attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "ffn.lin1", "ffn.lin2", "sa_layer_norm", "output_layer_norm"]
    : ["encoder.layer", "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense", "attention.output.LayerNorm", "output.LayerNorm"];
  for (let l = 0; l < L; l++) {
    const p = `${N[0]}.${l}.`;
    for (const n of N.slice(1, 5)) lin(`${p}${n}`, H, H);
    lin(`${p}${N[5]}`, I, H);
    lin(`${p}${N[6]}`, H, I);
    for (const n of N.slice(7)) { add(`${p}${n}.weight`, [H]); add(`${p}${n}.bias`, [H]); }
  }
  const head = fam === "roberta" ? "classifier.out_proj" : "classifier";
  if (fam === "roberta") lin("classifier.dense", H, H, "");
  else if (distil) lin("pre_classifier", H, H, "");
  else lin("pooler.dense", H, H);
  out.push({ name: `${head}.weight`, shape: [null, H] }, { name: `${head}.bias`, shape: [null] });
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
