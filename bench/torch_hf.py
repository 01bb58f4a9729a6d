"""One GRPO step of a Hugging Face-shaped model in plain PyTorch: the twin `npm run bench:torch-hf` times grpovi against.

Run by Debian's /usr/bin/python3 (python3-torch, python3-numpy). The models are GPT-2 and Llama
written from their transformers definitions in a few lines each (no transformers import), on the
weights grpovi wrote (model.safetensors with transformers' names and layouts, config.json):
  gpt2   learned positions, LayerNorm, Conv1D weights [in, out], the tanh GELU (gelu_new, here
         F.gelu(approximate="tanh")), tied output;
  llama  RoPE (rotate-half), RMSNorm, grouped-query attention (repeat_kv as expand + reshape, no
         copy until the product), SiLU-gated MLP, tied or separate output.

One step, the same work as grpovi's side (bench/torchHf.ts), rows = prompts x completions, every
prompt of the same length (no padding), every row drawing all its new tokens:
  sampling   KV-cached: the prompts in one pass, then one decode step per new token but the last,
             each row drawing from softmax(logits) with one uniform and the inverse cumulative sum;
  reference  the frozen reference model's log-probs of the completion tokens (inference mode);
  update     the policy's log-probs, GRPO loss (clipped ratio against the current log-probs, eps 0.2,
             plus 0.04 x the k3 KL to the reference, per-row token mean, mean over rows), backward,
             global-norm clip at 1, torch.optim.AdamW (betas 0.9/0.99, eps 1e-8, wd 0);
  step       the three together.
With --lora FILE (a PEFT adapter_model.safetensors grpovi wrote beside the weights): LoRA as PEFT
computes it, in plain PyTorch (no peft): each adapted projection adds (x A^T) B^T * alpha / r with
A [r, in] and B [out, r] read from the file, the base frozen (requires_grad False), the reference
pass the same model with the adapters off (PEFT's disable_adapter()), AdamW and the clip over the
adapter matrices only.
Prints JSON: wall ms and process CPU ms per phase of each timed step, peak RSS (ru_maxrss), and with --check DIR the
largest |logit - grpovi's logit| on the batch grpovi wrote there (exit 1 beyond 1e-3; with --lora
against grpovi's logits with the adapters on, lora_logits.f32).
"""

import argparse
import json
import math
import os
import resource
import struct
import sys
import time

LOGITS_TOLERANCE = 1e-3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="folder with config.json and model.safetensors")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lora", help="a PEFT adapter_model.safetensors to train instead of every weight")
    parser.add_argument("--lora-alpha", type=float, default=8.0)
    parser.add_argument("--check", help="folder with check.json and grpovi's logits (see bench/torchHf.ts)")
    return parser.parse_args()


ARGS = parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_length].decode("utf-8"))
    base = 8 + header_length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry["dtype"] != "F32":
            raise ValueError(f"{path}: tensor {name} is {entry['dtype']}, only F32 is read here")
        start, end = entry["data_offsets"]
        array = np.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=base + start)
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]).copy())
    return tensors


class Cache:
    def __init__(self, depth):
        self.k = [None] * depth
        self.v = [None] * depth

    def extend(self, layer, k, v):
        """k, v [B, kv heads, T, d] appended along T."""
        if self.k[layer] is not None:
            k = torch.cat([self.k[layer], k], 2)
            v = torch.cat([self.v[layer], v], 2)
        self.k[layer], self.v[layer] = k, v
        return k, v


class Decoder:
    def __init__(self, config, tensors, trainable):
        self.family = config["model_type"]
        self.p = {name: t.clone().requires_grad_(trainable) for name, t in tensors.items()}
        if self.family == "gpt2":
            self.width, self.heads, self.depth = config["n_embd"], config["n_head"], config["n_layer"]
            self.kv_heads = self.heads
            self.eps = config.get("layer_norm_epsilon", 1e-5)
        else:
            self.width, self.heads = config["hidden_size"], config["num_attention_heads"]
            self.depth = config["num_hidden_layers"]
            self.kv_heads = config.get("num_key_value_heads", self.heads)
            self.eps = config.get("rms_norm_eps", 1e-6)
            d = self.width // self.heads
            theta = config.get("rope_theta", 10000.0)
            self.inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        self.head_width = self.width // self.heads
        self.table = self.p["wte.weight" if self.family == "gpt2" else "embed_tokens.weight"]
        self.out = self.p.get("lm_head.weight", self.table)
        self.lora = {}  # module name -> (A [r, in], B [out, r])
        self.lora_scale = 0.0
        self.adapters_on = True

    def attach_lora(self, tensors, alpha):
        """PEFT-keyed adapter tensors (base_model.model.<transformers path>.lora_A/B.weight), trainable."""
        prefix = "base_model.model.transformer." if self.family == "gpt2" else "base_model.model.model."
        for key, a in tensors.items():
            if not key.endswith(".lora_A.weight"):
                continue
            module = key[len(prefix) : -len(".lora_A.weight")]
            b = tensors[key.replace(".lora_A.", ".lora_B.")]
            self.lora[module] = (a.clone().requires_grad_(True), b.clone().requires_grad_(True))
        r = next(iter(self.lora.values()))[0].shape[0]
        self.lora_scale = alpha / r

    def parameters(self):
        if self.lora:
            return [m for pair in self.lora.values() for m in pair]
        return list(self.p.values())

    def adapted(self, x2d, y2d, name):
        """y + (x A^T) B^T * scale for an adapted module while adapters are on."""
        pair = self.lora.get(name) if self.adapters_on else None
        if pair is None:
            return y2d
        return y2d + torch.matmul(torch.matmul(x2d, pair[0].t()), pair[1].t()) * self.lora_scale

    def norm(self, x, name):
        if self.family == "gpt2":
            return F.layer_norm(x, (self.width,), self.p[f"{name}.weight"], self.p[f"{name}.bias"], self.eps)
        variance = x.pow(2).mean(-1, keepdim=True)
        return x * torch.rsqrt(variance + self.eps) * self.p[f"{name}.weight"]

    def conv1d(self, x, name):
        x2d = x.reshape(-1, x.shape[-1])
        y2d = torch.addmm(self.p[f"{name}.bias"], x2d, self.p[f"{name}.weight"])
        return self.adapted(x2d, y2d, name).reshape(*x.shape[:-1], -1)

    def linear(self, x, name):
        y = F.linear(x, self.p[f"{name}.weight"], self.p.get(f"{name}.bias"))
        if not self.lora:
            return y
        x2d = x.reshape(-1, x.shape[-1])
        return self.adapted(x2d, y.reshape(-1, y.shape[-1]), name).reshape(*y.shape)

    def rope(self, x, cos, sin):
        half = x.shape[-1] // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    def attention(self, x, layer, positions, cache):
        B, T, _ = x.shape
        d = self.head_width
        if self.family == "gpt2":
            q, k, v = self.conv1d(x, f"h.{layer}.attn.c_attn").split(self.width, -1)
        else:
            a = f"layers.{layer}.self_attn"
            q, k, v = (self.linear(x, f"{a}.{n}_proj") for n in "qkv")
        q = q.reshape(B, T, self.heads, d).transpose(1, 2)
        k = k.reshape(B, T, self.kv_heads, d).transpose(1, 2)
        v = v.reshape(B, T, self.kv_heads, d).transpose(1, 2)
        if self.family != "gpt2":
            freqs = positions.float().unsqueeze(-1) * self.inv_freq
            angles = torch.cat([freqs, freqs], -1).unsqueeze(1)  # [B, 1, T, d]
            cos, sin = angles.cos(), angles.sin()
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        S = k.shape[2]
        if self.kv_heads != self.heads:
            repeat = self.heads // self.kv_heads
            k = k[:, :, None].expand(B, self.kv_heads, repeat, S, d).reshape(B, self.heads, S, d)
            v = v[:, :, None].expand(B, self.kv_heads, repeat, S, d).reshape(B, self.heads, S, d)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d)
        if T > 1:
            causal = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            scores = scores.masked_fill(~causal, float("-inf"))
        mixed = torch.matmul(torch.softmax(scores, -1), v).transpose(1, 2).reshape(B, T, self.width)
        if self.family == "gpt2":
            return self.conv1d(mixed, f"h.{layer}.attn.c_proj")
        return self.linear(mixed, f"layers.{layer}.self_attn.o_proj")

    def mlp(self, x, layer):
        if self.family == "gpt2":
            m = f"h.{layer}.mlp"
            return self.conv1d(F.gelu(self.conv1d(x, f"{m}.c_fc"), approximate="tanh"), f"{m}.c_proj")
        m = f"layers.{layer}.mlp"
        return self.linear(F.silu(self.linear(x, f"{m}.gate_proj")) * self.linear(x, f"{m}.up_proj"), f"{m}.down_proj")

    def hidden(self, ids, positions, cache=None):
        x = F.embedding(ids, self.table)
        if self.family == "gpt2":
            x = x + F.embedding(positions, self.p["wpe.weight"])
        for layer in range(self.depth):
            if self.family == "gpt2":
                x = x + self.attention(self.norm(x, f"h.{layer}.ln_1"), layer, positions, cache)
                x = x + self.mlp(self.norm(x, f"h.{layer}.ln_2"), layer)
            else:
                x = x + self.attention(self.norm(x, f"layers.{layer}.input_layernorm"), layer, positions, cache)
                x = x + self.mlp(self.norm(x, f"layers.{layer}.post_attention_layernorm"), layer)
        return self.norm(x, "ln_f" if self.family == "gpt2" else "norm")

    def logits(self, hidden):
        return torch.matmul(hidden, self.out.t())


def positions_of(rows, start, length):
    return torch.arange(start, start + length).unsqueeze(0).expand(rows, length)


def sample(policy, prompts, new_tokens, generator):
    rows, width = prompts.shape
    cache = Cache(policy.depth)
    hidden = policy.hidden(prompts, positions_of(rows, 0, width), cache)[:, -1]
    tokens = torch.empty(rows, new_tokens, dtype=torch.int64)
    log_probs = torch.empty(rows, new_tokens)
    for step in range(new_tokens):
        probs = torch.softmax(policy.logits(hidden), -1)
        cumulative = probs.cumsum(-1)
        u = torch.rand(rows, 1, generator=generator) * cumulative[:, -1:]
        token = torch.searchsorted(cumulative, u, right=True).clamp_(max=probs.shape[1] - 1)
        tokens[:, step] = token[:, 0]
        log_probs[:, step] = torch.log(probs.gather(1, token))[:, 0]
        if step == new_tokens - 1:
            break
        hidden = policy.hidden(token, positions_of(rows, width + step, 1), cache)[:, -1]
    return tokens, log_probs


def token_log_probs(model, prompts, completions):
    """Log-probs [B, new] of the completion tokens given prompt + completion[:-1]."""
    rows, width = prompts.shape
    ids = torch.cat([prompts, completions[:, :-1]], 1)
    hidden = model.hidden(ids, positions_of(rows, 0, ids.shape[1]))
    logits = model.logits(hidden[:, width - 1 :])
    return torch.log_softmax(logits, -1).gather(2, completions.unsqueeze(2))[:, :, 0]


def grpo_loss(log_probs, ref_log_probs, advantages, epsilon=0.2, beta=0.04):
    ratio = torch.exp(log_probs - log_probs.detach())
    adv = advantages.unsqueeze(1)
    per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    d = ref_log_probs - log_probs
    per_token = per_token + beta * (torch.exp(d) - d - 1)
    return per_token.mean(1).mean()


def even_token_advantages(completions, group):
    """The stand-in reward of grpovi's side (the fraction of even token ids), group-normalized."""
    rewards = (completions % 2 == 0).double().mean(1).reshape(-1, group)
    std = rewards.std(1, keepdim=True)
    out = torch.where(std > 0, (rewards - rewards.mean(1, keepdim=True)) / (std + 1e-4), torch.zeros_like(rewards))
    return out.reshape(-1).float()


def check(folder, config, tensors, adapter=None):
    with open(os.path.join(folder, "check.json"), encoding="utf-8") as f:
        spec = json.load(f)
    ids = torch.tensor(spec["ids"], dtype=torch.int64)
    model = Decoder(config, tensors, trainable=False)
    if adapter is not None:
        model.attach_lora(adapter, ARGS.lora_alpha)
    with torch.inference_mode():
        logits = model.logits(model.hidden(ids, positions_of(ids.shape[0], 0, ids.shape[1])))
    file = "lora_logits.f32" if adapter is not None else "logits.f32"
    theirs = torch.from_numpy(np.fromfile(os.path.join(folder, file), dtype="<f4").reshape(logits.shape))
    out = {
        "rows": ids.shape[0],
        "positions": ids.shape[1],
        "max_abs_logit": logits.abs().max().item(),
        "logits_max_abs_diff": (theirs - logits).abs().max().item(),
    }
    if adapter is not None:
        # How far the adapters move the logits: the agreement above is only meaningful well above it.
        model.adapters_on = False
        with torch.inference_mode():
            base = model.logits(model.hidden(ids, positions_of(ids.shape[0], 0, ids.shape[1])))
        out["adapter_max_abs_effect"] = (logits - base).abs().max().item()
    return out


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main():
    torch.set_num_threads(ARGS.threads)
    with open(os.path.join(ARGS.model, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors = read_safetensors(os.path.join(ARGS.model, "model.safetensors"))
    adapter = read_safetensors(ARGS.lora) if ARGS.lora else None
    checked = None
    if ARGS.check:
        checked = check(ARGS.check, config, tensors, adapter)
        if not checked["logits_max_abs_diff"] <= LOGITS_TOLERANCE:
            json.dump({"check": checked}, sys.stdout)
            print(f"\ntorch_hf.py: FAILED: logits differ from grpovi's by {checked['logits_max_abs_diff']:.3g}", file=sys.stderr)
            sys.exit(1)
    if adapter is None:
        policy = Decoder(config, tensors, trainable=True)
        reference = Decoder(config, tensors, trainable=False)
    else:
        # The frozen base carries the adapters; the reference is the same model with them off.
        policy = Decoder(config, tensors, trainable=False)
        policy.attach_lora(adapter, ARGS.lora_alpha)
        reference = None
    del tensors
    optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-5, betas=(0.9, 0.99), eps=1e-8, weight_decay=0)
    generator = torch.Generator().manual_seed(ARGS.seed)
    vocab = policy.table.shape[0]
    distinct = torch.randint(0, vocab, (ARGS.prompts, ARGS.prompt_tokens), generator=generator)
    prompts = distinct.repeat_interleave(ARGS.generations, 0)
    phases = ("sampling", "reference", "update")
    times = {name: [] for name in (*phases, "step")}
    cpu_times = {name: [] for name in (*phases, "step")}
    for step in range(ARGS.warmup + ARGS.steps):
        marks = [(time.perf_counter(), time.process_time())]
        with torch.inference_mode():
            completions, _ = sample(policy, prompts, ARGS.new_tokens, generator)
        completions = completions.clone()
        marks.append((time.perf_counter(), time.process_time()))
        with torch.inference_mode():
            if reference is None:
                policy.adapters_on = False
                ref = token_log_probs(policy, prompts, completions)
                policy.adapters_on = True
            else:
                ref = token_log_probs(reference, prompts, completions)
        ref = ref.clone()
        marks.append((time.perf_counter(), time.process_time()))
        advantages = even_token_advantages(completions, ARGS.generations)
        optimizer.zero_grad(set_to_none=True)
        loss = grpo_loss(token_log_probs(policy, prompts, completions), ref, advantages)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        optimizer.step()
        marks.append((time.perf_counter(), time.process_time()))
        if step < ARGS.warmup:
            continue
        for clock, record in ((0, times), (1, cpu_times)):
            for k, name in enumerate(phases):
                record[name].append(1e3 * (marks[k + 1][clock] - marks[k][clock]))
            record["step"].append(1e3 * (marks[-1][clock] - marks[0][clock]))
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "ms": times,
        "cpu_ms": cpu_times,
        "median_ms": {name: median(v) for name, v in times.items()},
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "parameters": sum(p.numel() for p in policy.parameters()),
        "base_parameters": sum(p.numel() for p in policy.p.values()),
    }
    if policy.lora:
        out["lora_targets"] = sorted({name.rsplit(".", 1)[-1] for name in policy.lora})
    if checked is not None:
        out["check"] = checked
    json.dump(out, sys.stdout)
    print()


main()
