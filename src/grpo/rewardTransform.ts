import { adjustGroups } from '../adjust/index.js';
import { sampleStd } from './advantages.js';

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
  /**
   * How far to move toward the adjusted rewards: `(1 - strength) r + strength z`, in [0, 1]; default 1
   * (GRPOVI). Every blend is feasible: r and z both are, and the feasible set is convex.
   */
  strength?: number;
  /** Adjust only groups whose raw reward sample std is below this; the others keep their rewards. */
  maxStd?: number;
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
  const adjusted = adjustGroups(rewards, options.groupSize, {
    min,
    max,
    weights: adjustmentWeights(options),
  });
  const strength = options.strength ?? 1;
  if (!(strength >= 0 && strength <= 1)) throw new RangeError(`strength must be in [0, 1] (${strength})`);
  if (strength === 1 && options.maxStd === undefined) return adjusted;
  return blendGroups(rewards, adjusted, options.groupSize, { min, max, strength, maxStd: options.maxStd });
}

/**
 * Per group, `(1 - strength) r + strength z`, or `r` itself where the group's raw std is at least
 * `maxStd`. Strength 1 copies `z` and strength 0 copies `r` exactly (bit-identical to GRPOVI and
 * GRPO); a blend is clamped to the range, which only rounding can leave.
 */
export function blendGroups(
  rewards: ArrayLike<number>,
  adjusted: ArrayLike<number>,
  groupSize: number,
  options: { min: number; max: number; strength: number; maxStd?: number },
): Float64Array {
  const { min, max, strength, maxStd } = options;
  const out = new Float64Array(rewards.length);
  for (let start = 0; start < rewards.length; start += groupSize) {
    const end = start + groupSize;
    const adjust = maxStd === undefined || sampleStd(rewards, start, end) < maxStd;
    for (let i = start; i < end; i++) {
      const r = rewards[i];
      if (!adjust || strength === 0) out[i] = r;
      else if (strength === 1) out[i] = adjusted[i];
      else out[i] = Math.min(max, Math.max(min, (1 - strength) * r + strength * adjusted[i]));
    }
  }
  return out;
}
