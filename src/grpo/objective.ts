/**
 * The GRPO objective in plain numbers: the definition the tensor implementation in `nn/grpoLoss.ts`
 * must match, and the source of the per-step diagnostics (KL, clip fraction).
 */

/** How token losses become one number: per-sequence mean then mean (GRPO), over all tokens (DAPO), or by a constant (Dr. GRPO). */
export type LossType = 'grpo' | 'token-mean' | 'constant';
export const LOSS_TYPES: readonly LossType[] = ['grpo', 'token-mean', 'constant'];

export interface ObjectiveOptions {
  /** Lower clip: the ratio is clipped below at 1 - epsilon. */
  epsilon: number;
  /** Upper clip: the ratio is clipped above at 1 + epsilonHigh. */
  epsilonHigh: number;
  /** Weight of the k3 KL penalty to the reference policy. */
  beta: number;
  lossType: LossType;
  /** The constant divisor per sequence for `constant` aggregation. */
  maxCompletionLength: number;
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
  /** Fraction of completion tokens whose clipped term is the active one. */
  clipFraction: number;
}

/** k3 estimator of KL(pi_theta || pi_ref) at one token: exp(d) - d - 1 with d = logp_ref - logp_theta. */
export function klK3(logProb: number, refLogProb: number): number {
  const d = refLogProb - logProb;
  return Math.exp(d) - d - 1;
}

/** Aggregates per-token values as `lossType` says. */
export function aggregateTokens(
  values: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  length: number,
  lossType: LossType,
  maxCompletionLength: number,
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
  if (lossType === 'grpo') return perSequence / rows;
  if (lossType === 'token-mean') return total / Math.max(tokens, 1);
  return total / (rows * maxCompletionLength);
}

/** The clipped-surrogate loss with k3 KL for one batch, with its diagnostics. */
export function grpoObjective(batch: ObjectiveBatch, options: ObjectiveOptions): ObjectiveValue {
  const { rows, length, logProbs, oldLogProbs, refLogProbs, advantages, mask } = batch;
  const lower = 1 - options.epsilon;
  const upper = 1 + options.epsilonHigh;
  const perToken = new Float64Array(rows * length);
  const kl = new Float64Array(rows * length);
  const clipped = new Float64Array(rows * length);
  for (let b = 0; b < rows; b++) {
    const a = advantages[b];
    for (let t = 0; t < length; t++) {
      const i = b * length + t;
      const ratio = Math.exp(logProbs[i] - oldLogProbs[i]);
      const unclipped = ratio * a;
      const clippedTerm = Math.min(Math.max(ratio, lower), upper) * a;
      clipped[i] = clippedTerm < unclipped ? 1 : 0;
      perToken[i] = -Math.min(unclipped, clippedTerm);
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
  return {
    loss: aggregateTokens(perToken, mask, rows, length, lossType, maxCompletionLength),
    kl: aggregateTokens(kl, mask, rows, length, 'token-mean', maxCompletionLength),
    clipFraction: aggregateTokens(clipped, mask, rows, length, 'token-mean', maxCompletionLength),
  };
}
