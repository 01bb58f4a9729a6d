/**
 * The GRPO objective in plain numbers: the definition the tensor implementation in `nn/training/grpoLoss.ts`
 * must match, and the source of the per-step diagnostics (KL, clip ratios). The formulas follow
 * TRL's `GRPOTrainer._compute_loss` (trl/trainer/grpo_trainer.py); names follow its `GRPOConfig`.
 */

/**
 * How token losses become one number, under TRL's names:
 * - `grpo`: per-sequence mean over its tokens, then mean over sequences;
 * - `bnpo`: sum over the minibatch's tokens divided by the minibatch's token count;
 * - `dr_grpo`: sum over the tokens divided by rows x max_completion_length (Dr. GRPO);
 * - `dapo`: sum over the tokens divided by the token count of the whole generation batch.
 * With accumulation, `grpo`, `bnpo` and `dr_grpo` are also divided by the number of accumulated
 * minibatches (TRL divides by `current_gradient_accumulation_steps`); `dapo` is not.
 */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo'];

/**
 * grpovi's former names, still accepted in configs: `token-mean` was the token mean of the batch
 * (TRL's `dapo` when there is one minibatch, as in every shipped config), `constant` the Dr. GRPO divisor.
 */
export const LOSS_TYPE_ALIASES: Readonly<Record<string, LossType>> = {
  'token-mean': 'dapo',
  constant: 'dr_grpo',
};

/** `token`: one ratio per token (GRPO); `sequence`: one length-normalized ratio per sequence (GSPO). */
export type ImportanceSamplingLevel = 'token' | 'sequence';
export const IMPORTANCE_SAMPLING_LEVELS: readonly ImportanceSamplingLevel[] = ['token', 'sequence'];

export interface ObjectiveOptions {
  /** Lower clip: the ratio is clipped below at 1 - epsilon. */
  epsilon: number;
  /** Upper clip: the ratio is clipped above at 1 + epsilonHigh. */
  epsilonHigh: number;
  /** Weight of the k3 KL penalty to the reference policy. */
  beta: number;
  lossType: LossType;
  /** The constant divisor per sequence for `dr_grpo` aggregation. */
  maxCompletionLength: number;
  /** Token-level (default) or sequence-level (GSPO) importance ratio. */
  importanceSamplingLevel?: ImportanceSamplingLevel;
  /** Upper bound on the ratio of the unclipped term (TRL's `delta`, INTELLECT-2's two-sided clip). */
  delta?: number;
}

/**
 * Where a minibatch sits in its optimizer step. Absent, the minibatch is the whole generation batch
 * and the only one of its step.
 */
export interface LossNormalization {
  /** Completion tokens (mask sum) of the whole generation batch: the `dapo` divisor. */
  batchTokens: number;
  /** Minibatches accumulated into one optimizer step: the divisor of `grpo`, `bnpo`, `dr_grpo`. */
  accumulationSteps: number;
}

/** Per-token tensors of one batch, row-major [rows, length]. */
export interface ObjectiveBatch {
  rows: number;
  length: number;
  logProbs: ArrayLike<number>;
  oldLogProbs: ArrayLike<number>;
  /** Needed when beta > 0. */
  refLogProbs?: ArrayLike<number>;
  /** One advantage per row. */
  advantages: ArrayLike<number>;
  mask: ArrayLike<number>;
}

export interface ObjectiveValue {
  loss: number;
  /** Mean k3 KL per completion token. */
  kl: number;
  /** TRL's `clip_ratio/region_mean`: fraction of ratios clipped on the side their advantage's sign makes active. */
  clipFraction: number;
  /** TRL's `clip_ratio/low_mean`: ratio below 1 - epsilon with a negative advantage. */
  clipLow: number;
  /** TRL's `clip_ratio/high_mean`: ratio above 1 + epsilon_high with a positive advantage. */
  clipHigh: number;
}

/** k3 estimator of KL(pi_theta || pi_ref) at one token: exp(d) - d - 1 with d = logp_ref - logp_theta. */
export function klK3(logProb: number, refLogProb: number): number {
  const d = refLogProb - logProb;
  return Math.exp(d) - d - 1;
}

/** Completion tokens of a mask (its sum). */
export function maskTokens(mask: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i];
  return n;
}

/** Aggregates per-token values as `lossType` says (TRL's `_compute_loss`, the `loss_type` branches). */
export function aggregateTokens(
  values: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  length: number,
  lossType: LossType,
  maxCompletionLength: number,
  normalization?: LossNormalization,
): number {
  let total = 0;
  let tokens = 0;
  let perSequence = 0;
  for (let b = 0; b < rows; b++) {
    let rowTotal = 0;
    let rowTokens = 0;
    for (let t = 0; t < length; t++) {
      const m = mask[b * length + t];
      rowTotal += m * values[b * length + t];
      rowTokens += m;
    }
    total += rowTotal;
    tokens += rowTokens;
    perSequence += rowTotal / Math.max(rowTokens, 1);
  }
  const steps = normalization?.accumulationSteps ?? 1;
  if (lossType === 'grpo') return perSequence / rows / steps;
  if (lossType === 'bnpo') return total / Math.max(tokens, 1) / steps;
  if (lossType === 'dapo') return total / Math.max(normalization?.batchTokens ?? tokens, 1);
  return total / (rows * maxCompletionLength) / steps;
}

/**
 * The log importance weight of each row's tokens: per token (`token`), or for `sequence` (GSPO) the
 * row's masked mean log-ratio repeated over its tokens. [rows, length].
 */
export function logImportanceWeights(
  batch: Pick<ObjectiveBatch, 'rows' | 'length' | 'logProbs' | 'oldLogProbs' | 'mask'>,
  level: ImportanceSamplingLevel,
): Float64Array {
  const { rows, length, logProbs, oldLogProbs, mask } = batch;
  const out = new Float64Array(rows * length);
  for (let i = 0; i < rows * length; i++) out[i] = logProbs[i] - oldLogProbs[i];
  if (level === 'token') return out;
  for (let b = 0; b < rows; b++) {
    let sum = 0;
    let count = 0;
    for (let t = 0; t < length; t++) {
      sum += out[b * length + t] * mask[b * length + t];
      count += mask[b * length + t];
    }
    out.fill(sum / Math.max(count, 1), b * length, (b + 1) * length);
  }
  return out;
}

/** The clipped-surrogate loss with k3 KL for one batch, with its diagnostics. */
export function grpoObjective(
  batch: ObjectiveBatch,
  options: ObjectiveOptions,
  normalization?: LossNormalization,
): ObjectiveValue {
  const { rows, length, logProbs, refLogProbs, advantages, mask } = batch;
  const level = options.importanceSamplingLevel ?? 'token';
  const lower = 1 - options.epsilon;
  const upper = 1 + options.epsilonHigh;
  const logWeights = logImportanceWeights(batch, level);
  const perToken = new Float64Array(rows * length);
  const kl = new Float64Array(rows * length);
  const low = new Float64Array(rows * length);
  const high = new Float64Array(rows * length);
  for (let b = 0; b < rows; b++) {
    const a = advantages[b];
    for (let t = 0; t < length; t++) {
      const i = b * length + t;
      let ratio = Math.exp(logWeights[i]);
      const clippedTerm = Math.min(Math.max(ratio, lower), upper) * a;
      if (options.delta !== undefined) ratio = Math.min(ratio, options.delta);
      perToken[i] = -Math.min(ratio * a, clippedTerm);
      // As TRL, the clip statistics use the delta-bounded ratio, and a zero advantage is never clipped.
      low[i] = ratio < lower && a < 0 ? 1 : 0;
      high[i] = ratio > upper && a > 0 ? 1 : 0;
      if (options.beta > 0) {
        if (refLogProbs === undefined) throw new Error('refLogProbs are required when beta > 0');
        kl[i] = klK3(logProbs[i], refLogProbs[i]);
        perToken[i] += options.beta * kl[i];
      } else if (refLogProbs !== undefined) {
        kl[i] = klK3(logProbs[i], refLogProbs[i]);
      }
    }
  }
  const { lossType, maxCompletionLength } = options;
  const region = low.map((l, i) => (l === 1 || high[i] === 1 ? 1 : 0));
  // Diagnostics are plain token means of this minibatch (the `bnpo` aggregation without accumulation).
  const tokenMeanOf = (values: Float64Array) =>
    aggregateTokens(values, mask, rows, length, 'bnpo', maxCompletionLength);
  const clipMean = (values: Float64Array) =>
    level === 'sequence' ? sequenceMean(values, rows, length) : tokenMeanOf(values);
  return {
    loss: aggregateTokens(perToken, mask, rows, length, lossType, maxCompletionLength, normalization),
    kl: tokenMeanOf(kl),
    clipFraction: clipMean(region),
    clipLow: clipMean(low),
    clipHigh: clipMean(high),
  };
}

/** Mean over rows of a per-row value stored at each row's first token (TRL's `global_masked_mean` on [B, 1]). */
function sequenceMean(values: ArrayLike<number>, rows: number, length: number): number {
  let total = 0;
  for (let b = 0; b < rows; b++) total += values[b * length];
  return total / Math.max(rows, 1);
}
