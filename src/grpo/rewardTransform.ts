import { adjustGroups } from '../adjust/index.js';

/**
 * The only place GRPO and GRPOVI differ: GRPO uses the rewards as they are; GRPOVI replaces each
 * group's rewards by the adjusted rewards of largest variance (see src/adjust).
 */
export type RewardTransformKind = 'none' | 'variance-increase';

/**
 * Weights of the group mean the adjustment keeps: `uniform`; `importance`, self-normalized
 * pi_ref/pi_old (the sample estimate of the mean under the reference policy); `probability`,
 * pi_ref(y|x) normalized within the group.
 */
export type AdjustmentWeights = 'uniform' | 'importance' | 'probability';
export const ADJUSTMENT_WEIGHTS: readonly AdjustmentWeights[] = ['uniform', 'importance', 'probability'];

export interface RewardTransformOptions {
  kind: RewardTransformKind;
  groupSize: number;
  /** Reward range; required for `variance-increase`. */
  range?: readonly [number, number];
  weights?: AdjustmentWeights;
  /** Sequence log-probabilities under the reference policy (needed by `importance` and `probability`). */
  refLogProbs?: ArrayLike<number>;
  /** Sequence log-probabilities under the sampling policy (needed by `importance`). */
  oldLogProbs?: ArrayLike<number>;
}

/** Per-group softmax of log-weights, computed stably (log-sum-exp) so tiny probabilities do not underflow to all zeros. */
export function groupSoftmax(logWeights: ArrayLike<number>, groupSize: number): Float64Array {
  const out = new Float64Array(logWeights.length);
  for (let start = 0; start < logWeights.length; start += groupSize) {
    let max = -Infinity;
    for (let i = start; i < start + groupSize; i++) max = Math.max(max, logWeights[i]);
    let total = 0;
    for (let i = start; i < start + groupSize; i++) {
      out[i] = Math.exp(logWeights[i] - max);
      total += out[i];
    }
    for (let i = start; i < start + groupSize; i++) out[i] /= total;
  }
  return out;
}

/** The mean weights for the adjustment, or undefined for uniform. */
export function adjustmentWeights(options: RewardTransformOptions): Float64Array | undefined {
  const mode = options.weights ?? 'uniform';
  if (mode === 'uniform') return undefined;
  const ref = options.refLogProbs;
  if (ref === undefined) throw new Error(`${mode} weights need the reference policy's log-probabilities`);
  if (mode === 'probability') return groupSoftmax(ref, options.groupSize);
  const old = options.oldLogProbs;
  if (old === undefined) throw new Error("importance weights need the sampling policy's log-probabilities");
  return groupSoftmax(
    Float64Array.from(ref, (r, i) => r - old[i]),
    options.groupSize,
  );
}

/** Applies the reward transform to rewards laid out as contiguous groups. */
export function transformRewards(rewards: Float64Array, options: RewardTransformOptions): Float64Array {
  if (options.kind === 'none') return rewards;
  if (options.range === undefined) throw new Error('the variance-increase transform needs a reward range');
  const [min, max] = options.range;
  return adjustGroups(rewards, options.groupSize, { min, max, weights: adjustmentWeights(options) });
}
