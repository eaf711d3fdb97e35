#!/usr/bin/env python3
"""Model directories whose config.json / tokenizer is wrong, for classify/eval/generate/
perplexity: each must be refused with exit 2 and one line on stderr.
Usage: make_bad_configs.py OUTDIR   (writes OUTDIR/<case>/ model directories)"""
import json, os, shutil, sys

out = sys.argv[1]
BERT = "examples/bert-tiny-emotion"
STORIES = "examples/stories260K"

def make(name, src, config=None, drop=(), extra=None, tokenizer=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(src, "model.safetensors")), os.path.join(d, "model.safetensors"))
    for f in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        if f in drop or not os.path.exists(os.path.join(src, f)):
            continue
        if f == "tokenizer.json" and tokenizer is not None:
            open(os.path.join(d, f), "w").write(tokenizer)
            continue
        os.symlink(os.path.abspath(os.path.join(src, f)), os.path.join(d, f))
    if "config.json" in drop:
        return
    cfg = json.load(open(os.path.join(src, "config.json")))
    if config:
        config(cfg)
    text = cfg if isinstance(cfg, str) else json.dumps(cfg)
    open(os.path.join(d, "config.json"), "w").write(extra if extra is not None else text)

def setk(k, v):
    return lambda c: c.__setitem__(k, v)

def delk(k):
    return lambda c: c.pop(k)

# BERT (classify / eval)
make("bert_no_config", BERT, drop=("config.json",))
make("bert_config_not_json", BERT, extra="{not json")
make("bert_config_array", BERT, extra="[1, 2]")
make("bert_hidden_mismatch", BERT, config=setk("hidden_size", 256))
make("bert_layers_too_many", BERT, config=setk("num_hidden_layers", 3))
make("bert_heads_not_dividing", BERT, config=setk("num_attention_heads", 3))
make("bert_intermediate_mismatch", BERT, config=setk("intermediate_size", 1024))
make("bert_vocab_mismatch", BERT, config=setk("vocab_size", 1000))
make("bert_missing_hidden", BERT, config=delk("hidden_size"))
make("bert_hidden_string", BERT, config=setk("hidden_size", "128"))
make("bert_unsupported_arch", BERT, config=lambda c: c.update(architectures=["GPT2LMHeadModel"], model_type="gpt2"))
make("bert_no_tokenizer", BERT, drop=("vocab.txt", "tokenizer.json"))
make("bert_huge_layers", BERT, config=setk("num_hidden_layers", 10**9))
make("bert_negative_heads", BERT, config=setk("num_attention_heads", -2))
# Llama (generate / perplexity)
make("llama_no_config", STORIES, drop=("config.json",))
make("llama_hidden_mismatch", STORIES, config=setk("hidden_size", 128))
make("llama_kv_heads_not_dividing", STORIES, config=setk("num_key_value_heads", 3))
make("llama_layers_too_many", STORIES, config=setk("num_hidden_layers", 6))
make("llama_ffn_mismatch", STORIES, config=setk("intermediate_size", 100))
make("llama_vocab_mismatch", STORIES, config=setk("vocab_size", 1000))
make("llama_missing_heads", STORIES, config=delk("num_attention_heads"))
make("llama_zero_heads", STORIES, config=setk("num_attention_heads", 0))
make("llama_bad_rope_scaling", STORIES, config=setk("rope_scaling", {"rope_type": "llama3", "factor": "x"}))
make("llama_unknown_rope_type", STORIES, config=setk("rope_scaling", {"rope_type": "yarn", "factor": 4.0}))
make("llama_unsupported_arch", STORIES, config=lambda c: c.update(architectures=["GPTNeoXForCausalLM"], model_type="gpt_neox"))
make("llama_arch_contradicts_type", STORIES, config=lambda c: c.update(architectures=["Qwen2ForCausalLM"], model_type="mistral"))
make("llama_no_tokenizer", STORIES, drop=("tokenizer.json",))
make("llama_tokenizer_not_json", STORIES, tokenizer="{oops")
make("llama_tokenizer_no_model", STORIES, tokenizer=json.dumps({"version": "1.0"}))
make("llama_huge_ctx", STORIES, config=setk("max_position_embeddings", 10**12))
