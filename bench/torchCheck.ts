/**
 * The PyTorch side of `npm run bench:torch` (bench/torch_step.py) and the agreement check between it
 * and grpovi: grpovi writes a batch with its outputs on it, the script recomputes them with its own
 * model (written independently in PyTorch) and reports the differences.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { type ActiveBackend, selectBackend } from '../src/nn/backends/backend.js';
import { readFloats } from '../src/nn/ops/layers.js';
import { completionInput } from '../src/nn/generation/logProbs.js';
import { loadModelDir } from '../src/nn/weights/modelDir.js';
import { loadPolicyFolder } from '../src/nn/weights/policyFolder.js';
import type { PolicyModel } from '../src/nn/models/policyModel.js';
import { minibatchGradients, scoreLogProbs } from '../src/nn/training/policyUpdate.js';
import { RewardModel } from '../src/nn/models/rewardModel.js';
import { buildSequenceInput } from '../src/nn/models/sequenceBatch.js';
import { ASSET } from '../src/tasks/assets.js';
import { Rng } from '../src/util/rng.js';
import { randomPrompts, taskObjective } from './rlPhases.js';

export const TORCH_SCRIPT = fileURLToPath(new URL('./torch_step.py', import.meta.url));
/** The Python that runs it: GRPOVI_TORCH_PYTHON, else Debian's (the pyenv python3 on PATH has no torch). */
export const DEFAULT_TORCH_PYTHON = process.env.GRPOVI_TORCH_PYTHON || '/usr/bin/python3';

/** torch's version when `python` imports torch and numpy, else undefined. */
export function torchVersion(python: string): string | undefined {
  const probe = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

/** The shipped sentiment policy and reward model, read once (tensors are made per backend). */
export interface SentimentModels {
  padId: number;
  vocabSize: number;
  /** The reward model's `scoreOffset`: rewards are sigmoid(score - offset). */
  scoreOffset: number;
  /** A trainable policy and the reward model on the current backend; `dispose` frees both. */
  create(): { policy: PolicyModel; rewardModel: RewardModel; dispose: () => void };
}

export function sentimentModels(): SentimentModels {
  const source = loadPolicyFolder(ASSET.sentimentPolicy);
  const rewardFiles = loadModelDir(ASSET.sentimentRewardModel, 'reward-model');
  const offset = rewardFiles.info.scoreOffset;
  return {
    padId: source.tokenizer.padId,
    vocabSize: source.tokenizer.vocabSize,
    scoreOffset: typeof offset === 'number' ? offset : 0,
    create() {
      const policy = source.create({ trainable: true });
      const rewardModel = RewardModel.fromTensors(
        rewardFiles.config,
        rewardFiles.tensors,
        `${ASSET.sentimentRewardModel}/model.safetensors`,
      );
      return {
        policy,
        rewardModel,
        dispose: () => {
          policy.dispose();
          rewardModel.dispose();
        },
      };
    },
  };
}

/** Prompt lengths of the agreement batch: left padding of 0 to 4 tokens. */
const CHECK_PROMPT_LENGTHS = [5, 4, 3, 5, 2, 5, 1, 4];
const CHECK_NEW_TOKENS = 16;

interface CheckEntry {
  backend: ActiveBackend;
  logits: string;
  scores: number[];
  loss: number;
  gradNorm: number;
}

/**
 * Writes the agreement batch and grpovi's outputs on it into `dir`, for torch_step.py --check:
 * check.json (prompts, completions, advantages, reference log-probs; per backend the reward scores
 * and the GRPO loss and the norm of its gradient, summed in float64) and one float32 file per backend with the
 * policy's logits at every position of prompt + completion, [rows, positions, vocab].
 */
export async function writeCheck(
  dir: string,
  models: SentimentModels,
  backends: readonly ActiveBackend[],
  blasThreads: number,
): Promise<void> {
  const { padId, vocabSize } = models;
  const rng = Rng.derive(20240611, 'torch-check');
  const prompts = randomPrompts(rng, CHECK_PROMPT_LENGTHS.length, 5, vocabSize).map((p, i) =>
    p.slice(0, CHECK_PROMPT_LENGTHS[i]),
  );
  const completions = randomPrompts(rng, prompts.length, CHECK_NEW_TOKENS, vocabSize);
  const advantages = Float32Array.from(prompts, () => rng.normal());
  const noise = Float32Array.from({ length: prompts.length * CHECK_NEW_TOKENS }, () => 0.3 * rng.normal());
  const flat = Int32Array.from(completions.flat());
  const batch = {
    prompts,
    completions: flat,
    mask: new Float32Array(flat.length).fill(1),
    length: CHECK_NEW_TOKENS,
  };
  let refLogProbs: Float32Array | undefined;
  const entries: CheckEntry[] = [];
  for (const backend of backends) {
    await selectBackend(backend, { blasThreads });
    const { policy, rewardModel, dispose } = models.create();
    try {
      const full = buildSequenceInput(prompts, flat, CHECK_NEW_TOKENS, padId);
      const logits = readFloats(() => policy.logits(policy.forward(full).hidden));
      const scores = rewardModel.score(
        prompts.map((p, i) => [...p, ...completions[i]]),
        padId,
      );
      const input = completionInput(batch, padId);
      // Reference log-probs near the policy's (the first backend's, shared by all): a KL term of a few tenths.
      if (refLogProbs === undefined) {
        const own = scoreLogProbs(policy, batch, input, { temperature: 1 }).logProbs;
        refLogProbs = own.map((x, i) => x + noise[i]);
      }
      const { value, grads } = minibatchGradients(
        policy,
        { batch, input, refLogProbs, advantages },
        taskObjective(CHECK_NEW_TOKENS),
        { temperature: 1, entropy: true },
      );
      const loss = value.dataSync()[0];
      // Summed in float64 here: AdamW's own norm sums float32 squares, off by about 1e-5 relative.
      let squares = 0;
      for (const g of Object.values(grads)) for (const x of g.dataSync()) squares += x * x;
      const gradNorm = Math.sqrt(squares);
      tf.dispose([value, ...Object.values(grads)]);
      const file = `logits-${backend}.f32`;
      writeFileSync(join(dir, file), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
      entries.push({ backend, logits: file, scores: Array.from(scores), loss, gradNorm });
    } finally {
      dispose();
    }
  }
  const spec = {
    prompts,
    completions,
    advantages: Array.from(advantages),
    refLogProbs: Array.from(refLogProbs ?? []),
    backends: entries,
  };
  writeFileSync(join(dir, 'check.json'), `${JSON.stringify(spec)}\n`);
}

/** What torch_step.py --check reports. */
export interface TorchCheck {
  rows: number;
  positions: number;
  max_abs_logit: number;
  torch_cached_vs_full_max_abs_diff: number;
  loss: number;
  grad_norm: number;
  backends: {
    backend: ActiveBackend;
    logits_max_abs_diff: number;
    scores_max_abs_diff: number;
    loss_abs_diff: number;
    grad_norm_rel_diff: number;
  }[];
}

/** The script's arguments for one run: timing options and, when given, the check folder. */
export function torchArgs(options: {
  threads: number;
  steps: number;
  warmup: number;
  seed: number;
  checkDir?: string;
  checkOnly?: boolean;
}): string[] {
  return [
    TORCH_SCRIPT,
    '--threads',
    String(options.threads),
    '--steps',
    String(options.steps),
    '--warmup',
    String(options.warmup),
    '--seed',
    String(options.seed),
    ...(options.checkDir ? ['--check', options.checkDir] : []),
    ...(options.checkOnly ? ['--check-only'] : []),
  ];
}

/** Runs the script; its exit status, stdout (JSON) and stderr. */
export function runTorchScript(
  python: string,
  args: string[],
): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(python, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
