"""One sentiment RL step of grpovi, done by PyTorch: the reference the README compares grpovi with.

Run by Debian's /usr/bin/python3 (python3-torch, python3-numpy); `npm run bench:torch` runs it
next to grpovi and prints both. The model is grpovi's GPT (src/nn/models/gpt.ts) written again in
PyTorch, layer for layer: token and learned position embeddings, pre-LayerNorm blocks (eps 1e-5),
causal self-attention with scores scaled by 1/sqrt(head width) and an additive mask (-1e9), the GELU
in its sigmoid form x * sigmoid(1.702 x), a final LayerNorm and an output layer tied to the token
embedding. The shipped weights are read from model.json + model.safetensors by hand. Attention
with several queries is two torch.matmul calls; a decode step's single query uses products and
sums instead, which this torch runs faster than its bmm on 256 tiny matrices.

One step, as grpovi's trainer runs it on the sentiment task (GRPO, beta 0.04, loss "grpo"):
  sampling  8 prompts x 8 completions = 64 rows, KV-cached: the prompts in one pass, then 15 decode
            steps, each row drawing all 16 tokens from softmax(logits) (temperature 1) with one
            uniform and the inverse cumulative sum, as grpovi does (--multinomial: torch.multinomial);
            no row stops at EOS, so the work is fixed, as in grpovi's benchmark;
  scoring   the reference model's forward pass on prompt + completion, log-probs of the 16
            completion tokens (only the predicting positions go through the output layer);
  reward    the reward model on prompt + completion, its score at the last position (the last
            block computes queries and MLP for that position only, as grpovi's does);
  update    the policy's forward pass, log-probs and (a diagnostic, no gradient) entropies, the GRPO
            loss (clipped ratio against the current log-probs, eps 0.2, plus 0.04 times the k3 KL to
            the reference, per-row token mean, then the mean over rows), backward, the global
            gradient-norm clip at 1, one torch.optim.AdamW step (betas 0.9/0.99, eps 1e-8, wd 0).

Times are wall milliseconds (time.perf_counter) per phase and per step; the JSON on stdout holds
them for the --steps steps after --warmup steps, with their medians, and the process CPU time of
the same intervals (time.process_time). --check DIR compares this model with grpovi
on the batch grpovi wrote there (see bench/torchCheck.ts) and exits 1 when the logits differ by more
than 1e-3.
"""

import argparse
import json
import os
import struct
import sys
import time

MASKED = -1e9
LOGITS_TOLERANCE = 1e-3


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    assets = os.path.join(here, "..", "assets")
    parser.add_argument("--policy", default=os.path.join(assets, "sentiment-policy"))
    parser.add_argument("--reward-model", default=os.path.join(assets, "sentiment-reward-model"))
    parser.add_argument("--threads", type=int, default=1, help="intra-op and BLAS threads (default 1)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--prompt-length", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--multinomial", action="store_true", help="sample with torch.multinomial")
    parser.add_argument("--check", help="folder with check.json written by bench/torchCheck.ts")
    parser.add_argument("--check-only", action="store_true", help="with --check: compare, print, do not time")
    args = parser.parse_args()
    if args.threads < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--threads and --steps must be >= 1, --warmup >= 0")
    return args


ARGS = parse_args()
# OpenBLAS (which this torch calls for its products) reads its thread count when it loads.
os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.threads)
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


# ---------------------------------------------------------------------------------------------
# Model files


def read_safetensors(path):
    """name -> float32 array, from the format's 8-byte little-endian header length, JSON header, data."""
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
        count = (end - start) // 4
        array = np.frombuffer(data, dtype="<f4", count=count, offset=base + start)
        tensors[name] = array.reshape(entry["shape"]).astype(np.float32)
    return tensors


def load_model_dir(folder, kind):
    with open(os.path.join(folder, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("kind") != kind:
        raise ValueError(f"{folder}/model.json holds a {meta.get('kind')}, a {kind} is needed")
    return meta, read_safetensors(os.path.join(folder, "model.safetensors"))


# ---------------------------------------------------------------------------------------------
# Inputs: left-padded prompts followed by completion tokens, as grpovi's sequenceBatch.ts lays them out


def sequence_input(prompts, following, pad_id):
    """ids, positions [B, T] and the additive attention mask [B, 1, T, T] for left-padded rows.

    A query attends to the keys at or before it that are not left padding; a padding query
    attends to itself only, so that every softmax row is finite.
    """
    rows = len(prompts)
    width, pads = pad_counts(prompts)
    length = width + following.shape[1]
    pad = np.asarray(pads).reshape(rows, 1)
    ids = np.full((rows, length), pad_id, dtype=np.int64)
    for b, prompt in enumerate(prompts):
        ids[b, pads[b] : width] = prompt
    ids[:, width:] = following
    index = np.arange(length)
    positions = np.maximum(0, index - pad)
    query = index.reshape(1, length, 1)
    key = index.reshape(1, 1, length)
    padded = pad.reshape(rows, 1, 1)
    allowed = np.where(query < padded, key == query, (key >= padded) & (key <= query))
    bias = np.where(allowed, np.float32(0), np.float32(MASKED)).astype(np.float32)
    return torch.from_numpy(ids), torch.from_numpy(positions), torch.from_numpy(bias.reshape(rows, 1, length, length))


def pad_counts(prompts):
    width = max(len(p) for p in prompts)
    return width, [width - len(p) for p in prompts]


# ---------------------------------------------------------------------------------------------
# The model


class KvCache:
    """Keys and values of every layer, [B, heads, context, head width], written in place."""

    def __init__(self, config, rows):
        shape = (rows, config["heads"], config["contextLength"], config["width"] // config["heads"])
        self.keys = [torch.zeros(shape) for _ in range(config["depth"])]
        self.values = [torch.zeros(shape) for _ in range(config["depth"])]
        self.filled = 0


class Gpt:
    """grpovi's GPT; dense weights kept as nn.Linear keeps them ([out, in]), for F.linear."""

    def __init__(self, config, tensors, trainable):
        self.config = config
        self.heads = config["heads"]
        self.width = config["width"]
        self.params = {}
        for name, array in tensors.items():
            if name.startswith("score."):
                continue
            value = torch.from_numpy(array.copy())
            if name.endswith(".weight") and value.dim() == 2:
                value = value.t().contiguous()  # grpovi stores x @ W, [in, out]
            self.params[name] = value.requires_grad_(trainable)

    def parameters(self):
        return list(self.params.values())

    def dense(self, x, name):
        return F.linear(x, self.params[f"{name}.weight"], self.params[f"{name}.bias"])

    def norm(self, x, name):
        return F.layer_norm(x, (self.width,), self.params[f"{name}.weight"], self.params[f"{name}.bias"], 1e-5)

    def attention(self, x, layer, bias, cache, last_only):
        rows, length, _ = x.shape
        head_width = self.width // self.heads
        qkv = self.dense(x, f"h.{layer}.attn.c_attn")
        q, k, v = (
            part.reshape(rows, length, self.heads, head_width).transpose(1, 2) for part in qkv.split(self.width, -1)
        )
        if cache is not None:
            start = cache.filled
            cache.keys[layer][:, :, start : start + length] = k
            cache.values[layer][:, :, start : start + length] = v
            k = cache.keys[layer][:, :, : start + length]
            v = cache.values[layer][:, :, : start + length]
        if last_only:
            q = q[:, :, -1:]
            bias = bias[:, :, -1:]
        q = q * (1 / head_width**0.5)
        if q.shape[2] == 1:
            # One query (a decode step): products and sums beat this torch's bmm on 256 tiny matrices
            # (about 0.2 against 1 ms a call at 20 keys, measured on one thread).
            scores = (q * k).sum(-1).unsqueeze(2) + bias
            mixed = (torch.softmax(scores, -1).transpose(-1, -2) * v).sum(2, keepdim=True)
        else:
            scores = torch.matmul(q, k.transpose(-1, -2)) + bias
            mixed = torch.matmul(torch.softmax(scores, -1), v)
        mixed = mixed.transpose(1, 2).reshape(rows, q.shape[2], self.width)
        return self.dense(mixed, f"h.{layer}.attn.c_proj")

    def hidden(self, ids, positions, bias, cache=None, last_only=False):
        """Final hidden states [B, T, width] (or [B, 1, width] of the last position with last_only)."""
        x = F.embedding(ids, self.params["wte"]) + F.embedding(positions, self.params["wpe"])
        depth = self.config["depth"]
        for layer in range(depth):
            last_block = last_only and layer == depth - 1
            attended = self.attention(self.norm(x, f"h.{layer}.ln_1"), layer, bias, cache, last_block)
            if last_block:
                x = x[:, -1:]
            x = x + attended
            inner = self.dense(self.norm(x, f"h.{layer}.ln_2"), f"h.{layer}.mlp.c_fc")
            inner = inner * torch.sigmoid(1.702 * inner)
            x = x + self.dense(inner, f"h.{layer}.mlp.c_proj")
        if cache is not None:
            cache.filled += ids.shape[1]
        return self.norm(x, "ln_f")

    def logits(self, hidden):
        return torch.matmul(hidden, self.params["wte"].t())


class RewardModel:
    def __init__(self, config, tensors):
        self.body = Gpt(config, tensors, trainable=False)
        self.weight = torch.from_numpy(tensors["score.weight"].copy())
        self.bias = torch.from_numpy(tensors["score.bias"].copy())

    def scores(self, ids, positions, bias):
        last = self.body.hidden(ids, positions, bias, last_only=True)[:, 0]
        return (last @ self.weight + self.bias)[:, 0]


# ---------------------------------------------------------------------------------------------
# The phases


def decode_masks(rows, context, pads):
    """Masks [B, 1, 1, context] of the decode steps (sliced to the keys so far): every cached key but the row's left padding."""
    key = np.arange(context).reshape(1, context)
    masked = key < np.asarray(pads).reshape(rows, 1)
    bias = np.where(masked, np.float32(MASKED), np.float32(0)).astype(np.float32)
    return torch.from_numpy(bias.reshape(rows, 1, 1, context))


def draw(probs, generator):
    """One token per row from probs [B, vocab], [B, 1]: by default one uniform per row and the
    inverse of the cumulative sum, as grpovi's sampler draws (tokenSampling.ts); with --multinomial,
    torch.multinomial, which in this torch draws an exponential for every entry of the vocabulary."""
    if ARGS.multinomial:
        return torch.multinomial(probs, 1, generator=generator)
    cumulative = probs.cumsum(-1)
    u = torch.rand(probs.shape[0], 1, generator=generator) * cumulative[:, -1:]
    return torch.searchsorted(cumulative, u, right=True).clamp_(max=probs.shape[1] - 1)


def sample(policy, prompts, new_tokens, pad_id, generator):
    """KV-cached multinomial sampling of new_tokens per row: tokens and their log-probs [B, new]."""
    rows = len(prompts)
    width, pads = pad_counts(prompts)
    lengths = torch.tensor([len(p) for p in prompts])
    tokens = torch.empty(rows, new_tokens, dtype=torch.int64)
    log_probs = torch.empty(rows, new_tokens)
    cache = KvCache(policy.config, rows)
    ids, positions, bias = sequence_input(prompts, np.zeros((rows, 0), dtype=np.int64), pad_id)
    hidden = policy.hidden(ids, positions, bias, cache)[:, -1]
    masks = decode_masks(rows, policy.config["contextLength"], pads)
    for step in range(new_tokens):
        probs = torch.softmax(policy.logits(hidden), -1)
        token = draw(probs, generator)
        tokens[:, step] = token[:, 0]
        log_probs[:, step] = torch.log(probs.gather(1, token))[:, 0]
        if step == new_tokens - 1:
            break
        bias = masks[..., : width + step + 1]
        hidden = policy.hidden(token, (lengths + step).reshape(rows, 1), bias, cache)[:, -1]
    return tokens, log_probs


def completion_input(prompts, completions, pad_id):
    """The input that predicts every completion token: the prompt, then all completion tokens but the last."""
    return sequence_input(prompts, completions[:, :-1].numpy(), pad_id)


def completion_logits(model, prompts, completions, inputs):
    """Logits [B, L, vocab] at the positions that predict the completion tokens."""
    width = max(len(p) for p in prompts)
    hidden = model.hidden(*inputs)
    return model.logits(hidden[:, width - 1 : width - 1 + completions.shape[1]])


def token_log_probs(model, prompts, completions, inputs):
    log_softmax = torch.log_softmax(completion_logits(model, prompts, completions, inputs), -1)
    return log_softmax.gather(2, completions.unsqueeze(2))[:, :, 0], log_softmax


def reward_input(prompts, completions, pad_id):
    return sequence_input(prompts, completions.numpy(), pad_id)


def group_advantages(rewards, group_size, eps=1e-4):
    """(r - group mean) / (group sample std + eps), 0 for a group without spread."""
    grouped = rewards.reshape(-1, group_size).double()
    std = grouped.std(1, keepdim=True)
    out = (grouped - grouped.mean(1, keepdim=True)) / (std + eps)
    return torch.where(std > 0, out, torch.zeros_like(out)).reshape(-1).float()


def grpo_loss(log_probs, ref_log_probs, advantages, mask, epsilon=0.2, beta=0.04):
    """Token-level clipped surrogate (old log-probs = the current ones) + beta * k3 KL, loss type grpo."""
    ratio = torch.exp(log_probs - log_probs.detach())
    adv = advantages.unsqueeze(1)
    per_token = -torch.minimum(ratio * adv, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * adv)
    d = ref_log_probs - log_probs
    per_token = per_token + beta * (torch.exp(d) - d - 1)
    return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def update(policy, optimizer, prompts, completions, inputs, ref_log_probs, advantages):
    optimizer.zero_grad(set_to_none=True)
    log_probs, log_softmax = token_log_probs(policy, prompts, completions, inputs)
    with torch.no_grad():
        entropy = -(torch.exp(log_softmax) * log_softmax).sum(-1)  # a diagnostic, as grpovi's trainer logs
    mask = torch.ones_like(log_probs)
    loss = grpo_loss(log_probs, ref_log_probs, advantages, mask)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
    optimizer.step()
    return loss.item(), grad_norm.item(), entropy


# ---------------------------------------------------------------------------------------------
# Check against grpovi


def read_floats(path, shape):
    return torch.from_numpy(np.fromfile(path, dtype="<f4").reshape(shape))


def check(check_dir, policy_dir, reward_dir, pad_id):
    """Compares this model with grpovi's outputs on grpovi's batch; returns a JSON-ready summary."""
    with open(os.path.join(check_dir, "check.json"), encoding="utf-8") as f:
        spec = json.load(f)
    prompts = spec["prompts"]
    completions = torch.tensor(spec["completions"], dtype=torch.int64)
    rows, new = completions.shape
    meta, tensors = load_model_dir(policy_dir, "policy")
    rm_meta, rm_tensors = load_model_dir(reward_dir, "reward-model")
    policy = Gpt(meta["config"], tensors, trainable=True)
    reward_model = RewardModel(rm_meta["config"], rm_tensors)
    full = sequence_input(prompts, completions.numpy(), pad_id)
    with torch.no_grad():
        logits = policy.logits(policy.hidden(*full))
        scores = reward_model.scores(*full)
        # This script's own KV-cached path against its full forward pass, teacher-forced on the same tokens.
        width, pads = pad_counts(prompts)
        lengths = torch.tensor([len(p) for p in prompts])
        cache = KvCache(policy.config, rows)
        prefill = sequence_input(prompts, np.zeros((rows, 0), dtype=np.int64), pad_id)
        cached = [policy.logits(policy.hidden(*prefill, cache)[:, -1])]
        masks = decode_masks(rows, policy.config["contextLength"], pads)
        for step in range(new):
            token = completions[:, step : step + 1]
            bias = masks[..., : width + step + 1]
            cached.append(policy.logits(policy.hidden(token, (lengths + step).reshape(rows, 1), bias, cache)[:, -1]))
        cached = torch.stack(cached, 1)
    cache_diff = (cached - logits[:, width - 1 :]).abs().max().item()
    # The update's loss and gradient norm on the same batch, advantages and reference log-probs.
    inputs = completion_input(prompts, completions, pad_id)
    log_probs, _ = token_log_probs(policy, prompts, completions, inputs)
    ref = torch.tensor(spec["refLogProbs"], dtype=torch.float32).reshape(rows, new)
    advantages = torch.tensor(spec["advantages"], dtype=torch.float32)
    loss = grpo_loss(log_probs, ref, advantages, torch.ones_like(log_probs))
    loss.backward()
    grad_norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in policy.parameters())).item()
    results = []
    for entry in spec["backends"]:
        theirs = read_floats(os.path.join(check_dir, entry["logits"]), logits.shape)
        results.append(
            {
                "backend": entry["backend"],
                "logits_max_abs_diff": (theirs - logits).abs().max().item(),
                "scores_max_abs_diff": (torch.tensor(entry["scores"]) - scores).abs().max().item(),
                "loss_abs_diff": abs(entry["loss"] - loss.item()),
                "grad_norm_rel_diff": abs(entry["gradNorm"] - grad_norm) / grad_norm,
            }
        )
    return {
        "rows": rows,
        "positions": logits.shape[1],
        "max_abs_logit": logits.abs().max().item(),
        "torch_cached_vs_full_max_abs_diff": cache_diff,
        "loss": loss.item(),
        "grad_norm": grad_norm,
        "backends": results,
    }


# ---------------------------------------------------------------------------------------------


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main():
    torch.set_num_threads(ARGS.threads)
    torch.manual_seed(ARGS.seed)
    meta, tensors = load_model_dir(ARGS.policy, "policy")
    rm_meta, rm_tensors = load_model_dir(ARGS.reward_model, "reward-model")
    vocab = meta["tokenizer"]["vocab"]
    pad_id = vocab.index("<pad>")
    config = meta["config"]
    checked = None
    if ARGS.check:
        checked = check(ARGS.check, ARGS.policy, ARGS.reward_model, pad_id)
        worst = max(r["logits_max_abs_diff"] for r in checked["backends"])
        worst_scores = max(r["scores_max_abs_diff"] for r in checked["backends"])
        if not worst <= LOGITS_TOLERANCE or not worst_scores <= LOGITS_TOLERANCE:
            json.dump({"check": checked}, sys.stdout)
            print(
                f"\ntorch_step.py: FAILED: the logits differ from grpovi's by up to {worst:.3g} and the reward "
                f"scores by {worst_scores:.3g} (tolerance {LOGITS_TOLERANCE}): not the same model",
                file=sys.stderr,
            )
            sys.exit(1)
        if ARGS.check_only:
            json.dump({"torch": torch.__version__, "threads": torch.get_num_threads(), "check": checked}, sys.stdout)
            print()
            return

    policy = Gpt(config, tensors, trainable=True)
    reference = Gpt(config, tensors, trainable=False)
    reward_model = RewardModel(rm_meta["config"], rm_tensors)
    offset = rm_meta.get("info", {}).get("scoreOffset", 0.0)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=3e-4, betas=(0.9, 0.99), eps=1e-8, weight_decay=0)
    generator = torch.Generator().manual_seed(ARGS.seed)
    # Prompts: random ids that are not <pad>, <eos> or <unk>, each repeated for its group.
    distinct = torch.randint(3, config["vocabSize"], (ARGS.prompts, ARGS.prompt_length), generator=generator)
    prompts = [row.tolist() for row in distinct for _ in range(ARGS.generations)]

    phases = ("sampling", "scoring", "reward", "update")
    times = {name: [] for name in (*phases, "step")}
    cpu_times = {name: [] for name in (*phases, "step")}
    losses = []
    for step in range(ARGS.warmup + ARGS.steps):
        marks = [(time.perf_counter(), time.process_time())]
        with torch.inference_mode():
            completions, _ = sample(policy, prompts, ARGS.new_tokens, pad_id, generator)
        # Made outside inference mode: the update's backward pass saves the token ids.
        completions = completions.clone()
        marks.append((time.perf_counter(), time.process_time()))
        inputs = completion_input(prompts, completions, pad_id)
        with torch.inference_mode():
            ref_log_probs, _ = token_log_probs(reference, prompts, completions, inputs)
        marks.append((time.perf_counter(), time.process_time()))
        with torch.inference_mode():
            rewards = torch.sigmoid(reward_model.scores(*reward_input(prompts, completions, pad_id)) - offset)
        advantages = group_advantages(rewards.clone(), ARGS.generations)
        marks.append((time.perf_counter(), time.process_time()))
        loss, _, _ = update(policy, optimizer, prompts, completions, inputs, ref_log_probs.clone(), advantages)
        marks.append((time.perf_counter(), time.process_time()))
        losses.append(loss)
        if step < ARGS.warmup:
            continue
        for clock, record in ((0, times), (1, cpu_times)):
            for k, name in enumerate(phases):
                record[name].append(1e3 * (marks[k + 1][clock] - marks[k][clock]))
            record["step"].append(1e3 * (marks[-1][clock] - marks[0][clock]))

    out = {
        "torch": torch.__version__,
        "numpy": np.__version__,
        "threads": torch.get_num_threads(),
        "steps": ARGS.steps,
        "warmup": ARGS.warmup,
        "rows": len(prompts),
        "prompt_length": ARGS.prompt_length,
        "new_tokens": ARGS.new_tokens,
        "median_ms": {name: median(values) for name, values in times.items()},
        "ms": times,
        "cpu_ms": cpu_times,
        "losses": losses,
    }
    if checked is not None:
        out["check"] = checked
    json.dump(out, sys.stdout)
    print()


main()
