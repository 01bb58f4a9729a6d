#!/usr/bin/env python3
"""Reference forward pass of Hugging Face GPT-2 / Llama / Qwen2 folders in NumPy (float64),
written from transformers' documented architecture, independent of grpovi's TypeScript code.

    python3 reference.py FOLDER --prompts '[[464, 3616], [40]]' --new-tokens 8 [--logits OUT.f32]

prints JSON {"greedy": [[ids...] per prompt], "scores": [...] (classifier heads)}; --logits writes the
logits of every prompt position (prompts one after another, float32 little-endian). With --torch,
also recomputes the logits with an independent PyTorch implementation and prints the largest gap.
"""
import argparse
import json
import math
import sys

import numpy as np

from hf_io import read_folder


def strip(tensors, prefix):
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in tensors.items()}


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def act(name, x):
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if name == "gelu":
        from math import erf
        return 0.5 * x * (1 + np.vectorize(erf)(x / math.sqrt(2)))
    if name == "quick_gelu":
        return x / (1 + np.exp(-1.702 * x))
    if name in ("silu", "swish"):
        return x / (1 + np.exp(-x))
    if name == "relu":
        return np.maximum(x, 0)
    raise ValueError(name)


def attend(q, k, v):
    """q [H, T, d], k/v [H, T, d]: causal softmax attention."""
    T = q.shape[1]
    scores = q @ k.transpose(0, 2, 1) / math.sqrt(q.shape[-1])
    scores = scores + np.triu(np.full((T, T), -np.inf), 1)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    return (scores / scores.sum(-1, keepdims=True)) @ v


def gpt2_hidden(c, t, ids):
    T, d, H = len(ids), c["n_embd"], c["n_head"]
    eps = c.get("layer_norm_epsilon", 1e-5)
    x = t["wte.weight"][ids] + t["wpe.weight"][:T]
    for l in range(c["n_layer"]):
        p = f"h.{l}."
        h = layer_norm(x, t[p + "ln_1.weight"], t[p + "ln_1.bias"], eps)
        qkv = h @ t[p + "attn.c_attn.weight"] + t[p + "attn.c_attn.bias"]  # Conv1D: [in, out]
        q, k, v = (m.reshape(T, H, d // H).transpose(1, 0, 2) for m in np.split(qkv, 3, axis=-1))
        o = attend(q, k, v).transpose(1, 0, 2).reshape(T, d)
        x = x + o @ t[p + "attn.c_proj.weight"] + t[p + "attn.c_proj.bias"]
        h = layer_norm(x, t[p + "ln_2.weight"], t[p + "ln_2.bias"], eps)
        f = act(c.get("activation_function", "gelu_new"), h @ t[p + "mlp.c_fc.weight"] + t[p + "mlp.c_fc.bias"])
        x = x + f @ t[p + "mlp.c_proj.weight"] + t[p + "mlp.c_proj.bias"]
    return layer_norm(x, t["ln_f.weight"], t["ln_f.bias"], eps)


def rope(x, theta):
    """x [H, T, d]; rotate_half convention: pairs (i, i + d/2)."""
    H, T, d = x.shape
    inv = theta ** (-np.arange(0, d, 2) / d)
    ang = np.arange(T)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, -1)
    sin = np.concatenate([np.sin(ang)] * 2, -1)
    rot = np.concatenate([-x[..., d // 2:], x[..., : d // 2]], -1)
    return x * cos + rot * sin


def llama_hidden(c, t, ids):
    T, d, H = len(ids), c["hidden_size"], c["num_attention_heads"]
    KV = c.get("num_key_value_heads", H)
    hd = c.get("head_dim") or d // H
    eps = c.get("rms_norm_eps", 1e-6)
    theta = c.get("rope_theta", 10000.0)
    lin = lambda x, name: x @ t[name + ".weight"].T + t.get(name + ".bias", 0)  # nn.Linear: [out, in]
    x = t["embed_tokens.weight"][ids]
    for l in range(c["num_hidden_layers"]):
        p = f"layers.{l}."
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = lin(h, p + "self_attn.q_proj").reshape(T, H, hd).transpose(1, 0, 2)
        k = lin(h, p + "self_attn.k_proj").reshape(T, KV, hd).transpose(1, 0, 2)
        v = lin(h, p + "self_attn.v_proj").reshape(T, KV, hd).transpose(1, 0, 2)
        q, k = rope(q, theta), rope(k, theta)
        k, v = np.repeat(k, H // KV, axis=0), np.repeat(v, H // KV, axis=0)
        o = attend(q, k, v).transpose(1, 0, 2).reshape(T, H * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        g = act(c.get("hidden_act", "silu"), lin(h, p + "mlp.gate_proj"))
        x = x + lin(g * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    return rms_norm(x, t["norm.weight"], eps)


class Model:
    def __init__(self, folder):
        self.config, raw = read_folder(folder)
        gpt2 = self.config["model_type"] == "gpt2"
        self.t = strip(raw, "transformer." if gpt2 else "model.")
        self.hidden = gpt2_hidden if gpt2 else llama_hidden
        tied = self.config.get("tie_word_embeddings", gpt2)
        embed = self.t["wte.weight" if gpt2 else "embed_tokens.weight"]
        self.head = embed if tied or "lm_head.weight" not in self.t else self.t["lm_head.weight"]

    def logits(self, ids):
        return self.hidden(self.config, self.t, np.array(ids)) @ self.head.T

    def greedy(self, ids, n, eos):
        ids = list(ids)
        out = []
        for _ in range(n):
            nxt = int(np.argmax(self.logits(ids)[-1]))
            out.append(nxt)
            ids.append(nxt)
            if nxt in eos:
                break
        return out

    def score(self, ids):
        """ForSequenceClassification: the score head at the last token (no padding here)."""
        return (self.hidden(self.config, self.t, np.array(ids))[-1] @ self.t["score.weight"].T).tolist()


def torch_logits(folder, ids):
    """The same model through PyTorch's own kernels (layer_norm, scaled_dot_product_attention, gelu)."""
    import torch
    import torch.nn.functional as F

    config, raw = read_folder(folder)
    gpt2 = config["model_type"] == "gpt2"
    t = {k: torch.tensor(v, dtype=torch.float64) for k, v in strip(raw, "transformer." if gpt2 else "model.").items()}
    x_ids = torch.tensor(ids)
    T = len(ids)
    causal = torch.ones(T, T, dtype=torch.bool).tril()

    def sdpa(q, k, v):
        scores = (q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])).masked_fill(~causal, float("-inf"))
        return torch.softmax(scores, -1) @ v

    acts = {"gelu_new": lambda x: F.gelu(x, approximate="tanh"), "gelu": F.gelu, "silu": F.silu,
            "quick_gelu": lambda x: x * torch.sigmoid(1.702 * x), "relu": F.relu}
    if gpt2:
        d, H, eps = config["n_embd"], config["n_head"], config.get("layer_norm_epsilon", 1e-5)
        x = F.embedding(x_ids, t["wte.weight"]) + t["wpe.weight"][:T]
        for l in range(config["n_layer"]):
            p = f"h.{l}."
            h = F.layer_norm(x, (d,), t[p + "ln_1.weight"], t[p + "ln_1.bias"], eps)
            q, k, v = torch.addmm(t[p + "attn.c_attn.bias"], h, t[p + "attn.c_attn.weight"]).split(d, -1)
            q, k, v = (m.view(T, H, -1).transpose(0, 1) for m in (q, k, v))
            o = sdpa(q, k, v).transpose(0, 1).reshape(T, d)
            x = x + torch.addmm(t[p + "attn.c_proj.bias"], o, t[p + "attn.c_proj.weight"])
            h = F.layer_norm(x, (d,), t[p + "ln_2.weight"], t[p + "ln_2.bias"], eps)
            f = acts[config.get("activation_function", "gelu_new")](torch.addmm(t[p + "mlp.c_fc.bias"], h, t[p + "mlp.c_fc.weight"]))
            x = x + torch.addmm(t[p + "mlp.c_proj.bias"], f, t[p + "mlp.c_proj.weight"])
        x = F.layer_norm(x, (d,), t["ln_f.weight"], t["ln_f.bias"], eps)
        head = t["wte.weight"] if config.get("tie_word_embeddings", True) else t["lm_head.weight"]
        return (x @ head.T).numpy()
    d, H = config["hidden_size"], config["num_attention_heads"]
    KV = config.get("num_key_value_heads", H)
    hd = config.get("head_dim") or d // H
    eps, theta = config.get("rms_norm_eps", 1e-6), config.get("rope_theta", 10000.0)
    lin = lambda x, n: F.linear(x, t[n + ".weight"], t.get(n + ".bias"))
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    emb = torch.cat([ang, ang], -1)

    def rot(m):
        m1, m2 = m[..., : hd // 2], m[..., hd // 2:]
        return m * emb.cos() + torch.cat([-m2, m1], -1) * emb.sin()

    def rms(m, w):
        return m * torch.rsqrt(m.pow(2).mean(-1, keepdim=True) + eps) * w

    x = F.embedding(x_ids, t["embed_tokens.weight"])
    for l in range(config["num_hidden_layers"]):
        p = f"layers.{l}."
        h = rms(x, t[p + "input_layernorm.weight"])
        q = rot(lin(h, p + "self_attn.q_proj").view(T, H, hd).transpose(0, 1))
        k = rot(lin(h, p + "self_attn.k_proj").view(T, KV, hd).transpose(0, 1))
        v = lin(h, p + "self_attn.v_proj").view(T, KV, hd).transpose(0, 1)
        k = k[:, None].expand(KV, H // KV, T, hd).reshape(H, T, hd)
        v = v[:, None].expand(KV, H // KV, T, hd).reshape(H, T, hd)
        o = sdpa(q, k, v).transpose(0, 1).reshape(T, H * hd)
        x = x + lin(o, p + "self_attn.o_proj")
        h = rms(x, t[p + "post_attention_layernorm.weight"])
        x = x + lin(acts[config.get("hidden_act", "silu")](lin(h, p + "mlp.gate_proj")) * lin(h, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, t["norm.weight"])
    head = t["embed_tokens.weight"] if config.get("tie_word_embeddings", False) else t["lm_head.weight"]
    return (x @ head.T).numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--prompts", required=True, help="JSON list of token-id lists")
    ap.add_argument("--new-tokens", type=int, default=8)
    ap.add_argument("--logits", help="write every prompt position's logits here (float32)")
    ap.add_argument("--torch", action="store_true", help="cross-check the logits with PyTorch")
    args = ap.parse_args()
    model = Model(args.folder)
    prompts = json.loads(args.prompts)
    out = {}
    if "score.weight" in model.t:
        out["scores"] = [model.score(p) for p in prompts]
    else:
        eos = model.config.get("eos_token_id")
        eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        out["greedy"] = [model.greedy(p, args.new_tokens, eos) for p in prompts]
        logits = [model.logits(p) for p in prompts]
        if args.logits:
            np.concatenate(logits).astype("<f4").tofile(args.logits)
        if args.torch:
            out["torch_max_abs_diff"] = max(float(np.abs(torch_logits(args.folder, p) - l).max()) for p, l in zip(prompts, logits))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
