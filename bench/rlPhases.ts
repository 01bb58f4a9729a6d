/**
 * The four phases of one RL step at a fixed shape, as the benchmarks time them (bench/train.ts,
 * bench/torchStep.ts): KV-cached sampling, the reference model's scoring of the completions, a reward
 * model on prompt + completion, and the policy update (forward, GRPO loss, backward, AdamW).
 */
import { type CompletionBatch, completionInput } from '../src/nn/generation/logProbs.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs, type UpdateResult } from '../src/nn/training/policyUpdate.js';
import type { PolicyModel } from '../src/nn/models/policyModel.js';
import type { RewardModel } from '../src/nn/models/rewardModel.js';
import { type Generation, generate } from '../src/nn/generation/sampler.js';
import type { SequenceInput } from '../src/nn/models/sequenceBatch.js';
import type { Rng } from '../src/util/rng.js';

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A Markdown table with right-aligned cells. */
export function printTable(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((h) => `${'-'.repeat(Math.max(h.length + 1, 3))}:`).join('|')}|`);
  for (const row of rows)
    console.log(`| ${row.map((cell, k) => cell.padStart(header[k].length)).join(' | ')} |`);
}

/** Prompts of `length` ids in [3, vocab): never pad (0), EOS (1) or unk (2). */
export function randomPrompts(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => 3 + rng.int(vocab - 3)));
}

/** The GRPO objective of the built-in tasks: clip 0.2, KL weight 0.04, per-row token means. */
export function taskObjective(maxCompletionLength: number) {
  return {
    epsilon: 0.2,
    epsilonHigh: 0.2,
    beta: 0.04,
    lossType: 'grpo' as const,
    maxCompletionLength,
  };
}

/** AdamW as the trainer builds it from the default config: betas 0.9/0.99, eps 1e-8, no weight decay, clip at 1. */
export function trainerAdamW(model: Pick<PolicyModel, 'variables'>): AdamW {
  return new AdamW(model.variables(), {
    beta1: 0.9,
    beta2: 0.99,
    epsilon: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
  });
}

export interface RlModels {
  policy: PolicyModel;
  reference: PolicyModel;
  rewardModel: RewardModel;
  optimizer: AdamW;
}

/** A sampled batch with the model input that scores it (and that the update reads). */
export interface ScoredInputs {
  batch: CompletionBatch;
  input: SequenceInput;
}

/**
 * The phases on `prompts` with `newTokens` per completion. Sampling uses an EOS id outside the
 * vocabulary, so every row samples all `newTokens` tokens and every run does the same work.
 */
export function rlPhases(
  models: RlModels,
  prompts: number[][],
  options: { newTokens: number; rng: Rng; padId?: number; learningRate?: number },
) {
  const padId = options.padId ?? 0;
  const sampling = { maxNewTokens: options.newTokens, eosId: -1, padId, rng: options.rng, temperature: 1 };
  const objective = taskObjective(options.newTokens);
  return {
    sample: (): Generation => generate(models.policy, prompts, sampling),
    /** The batch of a generation and its model input (what scoring and the update read). */
    inputs(generation: Generation): ScoredInputs {
      const batch = {
        prompts,
        completions: generation.tokens,
        mask: generation.mask,
        length: generation.length,
      };
      return { batch, input: completionInput(batch, padId) };
    },
    /** Prompt + completion per row, as the reward model reads them. */
    rewardInputs(generation: Generation): number[][] {
      return prompts.map((p, r) => [
        ...p,
        ...Array.from(generation.tokens.subarray(r * generation.length, (r + 1) * generation.length)),
      ]);
    },
    score: (scored: ScoredInputs): Float32Array =>
      scoreLogProbs(models.reference, scored.batch, scored.input, { temperature: 1 }).logProbs,
    reward: (sequences: number[][]): Float32Array => models.rewardModel.score(sequences, padId),
    update: (
      scored: ScoredInputs,
      refLogProbs: Float32Array,
      advantages: Float32Array,
      entropy = false,
    ): UpdateResult =>
      policyGradientStep(models.policy, models.optimizer, { ...scored, refLogProbs, advantages }, objective, {
        temperature: 1,
        learningRate: options.learningRate ?? 1e-5,
        entropy,
      }),
  };
}
