// sq-infer-api.js - inference on top of sq-core-api.js (C side: wasm/infer_bindings.c).
//
// Copied to build/web/ beside sq-core-api.js by `make web`.
//
//   import { loadSqCore, blobReader } from "./sq-core-api.js";
//   import { BertClassifier, LlamaGenerator } from "./sq-infer-api.js";
//   const model = sq.openModel({ ...blobReader(file), texts, name });   // original or quantized
//   const bert = BertClassifier.open(model);        // reads the network once
//   bert.classify("i am so happy")                   // {labels, label, label_id, probs, logits, tokens}
//   const llm = LlamaGenerator.open(model, { ctx: 512 });
//   llm.start("Once upon a time", { maxTokens: 64, temperature: 0, topP: 0.9, seed: 0 });
//   for (let s; !(s = llm.step()).done; ) out += s.piece;   // s = {piece, token, done}
//   // or: for (const piece of llm.generate(prompt, opts)) ...
//   bert.close(); llm.close(); model.close();
//
// The model (SqModel) must stay open while a classifier/generator made from it is in use
// only during open() (the network is copied into wasm memory then); close them all when
// done. Errors are SqError (code 2: bad input, e.g. a model of another architecture).
// Greedy generation (temperature 0) and seeded sampling give the tokens of `sq generate`.

import { SqError } from "./sq-core-api.js";

const enc = new TextEncoder();

function withText(core, text, fn) {
  const M = core.M;
  const b = enc.encode(String(text));
  const p = M._malloc(b.length + 1) >>> 0;
  if (!p) throw new SqError(1, "out of memory");
  const heap = core.heap(); // current even if a pthread grew the memory
  heap.set(b, p);
  heap[p + b.length] = 0;
  try {
    return fn(p, b.length);
  } finally {
    M._free(p);
  }
}

export class BertClassifier {
  constructor(core, h) { this.core = core; this.h = h; }

  /* Load the classifier (tokenizer + network) of an open SqModel. */
  static open(model) {
    model._check();
    const core = model.core;
    model.readCb.error = undefined;
    const h = core.M._sqw_bert_open(model.h) >>> 0;
    if (!h) core._fail(model.readCb);
    return new BertClassifier(core, h);
  }

  /* {labels, label, label_id, probs, logits, tokens} for one text. */
  classify(text) {
    if (!this.h) throw new Error("classifier is closed");
    return withText(this.core, text, (p, n) => JSON.parse(this.core._take(this.core.M._sqw_bert_classify(this.h, p, n))));
  }

  close() {
    if (this.h) this.core.M._sqw_bert_close(this.h);
    this.h = 0;
  }
}

export class LlamaGenerator {
  constructor(core, h) { this.core = core; this.h = h; }

  /* Load tokenizer + network; ctx: KV cache positions (0 = min(max_position_embeddings, 2048)). */
  static open(model, { ctx = 0 } = {}) {
    model._check();
    const core = model.core;
    model.readCb.error = undefined;
    const h = core.M._sqw_llama_open(model.h, ctx) >>> 0;
    if (!h) core._fail(model.readCb);
    return new LlamaGenerator(core, h);
  }

  /* Encode BOS + prompt and run it; returns the prompt's token count. */
  start(prompt, { maxTokens = 64, temperature = 0, topP = 0.9, seed = 0 } = {}) {
    if (!this.h) throw new Error("generator is closed");
    const n = withText(this.core, prompt, (p, len) =>
      this.core.M._sqw_llama_start(this.h, p, len, maxTokens, temperature, topP, seed));
    if (n < 0) this.core._fail();
    return n;
  }

  /* The next token: {piece, token, done}. */
  step() {
    if (!this.h) throw new Error("generator is closed");
    return JSON.parse(this.core._take(this.core.M._sqw_llama_step(this.h)));
  }

  /* Multiple choice (core/eval/arc.h): one JSONL data line scored by this model:
   * {id, answer, pred, pred_norm, prompt_ids, choices: [{label, loglik, continuation_ids}]}.
   * lineno only names the line in an error. */
  arc(line, lineno = 1) {
    if (!this.h) throw new Error("generator is closed");
    return withText(this.core, line, (p, n) => JSON.parse(this.core._take(this.core.M._sqw_llama_arc(this.h, p, n, lineno))));
  }

  /* Iterate over the generated text pieces. */
  *generate(prompt, opts) {
    this.start(prompt, opts);
    for (;;) {
      const s = this.step();
      if (s.piece) yield s.piece;
      if (s.done) return;
    }
  }

  close() {
    if (this.h) this.core.M._sqw_llama_close(this.h);
    this.h = 0;
  }
}
