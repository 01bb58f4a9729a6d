/**
 * Group-relative advantages: each completion's reward minus its group's mean, divided by a scale.
 * Free of TF.js so that it can be used alone.
 */

/** `group`: divide by the group's std (GRPO); `batch`: by the whole batch's std; `none`: no division (Dr. GRPO). */
export type AdvantageScale = 'group' | 'batch' | 'none';
export const ADVANTAGE_SCALES: readonly AdvantageScale[] = ['group', 'batch', 'none'];

export interface AdvantageOptions {
  scale: AdvantageScale;
  /** Added to the std before dividing, so that a group of equal rewards gives zero advantages, not NaN. */
  eps: number;
}

/** Sample standard deviation (n - 1 in the denominator, as torch.std); 0 for a single value. */
export function sampleStd(values: ArrayLike<number>, start = 0, end = values.length): number {
  const n = end - start;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = start; i < end; i++) mean += values[i];
  mean /= n;
  let sum = 0;
  for (let i = start; i < end; i++) sum += (values[i] - mean) ** 2;
  return Math.sqrt(sum / (n - 1));
}

/**
 * A group counts as having zero reward std when its sample std is at most
 * `ZERO_STD_ATOL + ZERO_STD_RTOL * max |reward|`: equal rewards up to floating-point rounding. TRL's
 * test, `torch.isclose(std, 0)`, is the absolute 1e-8 alone; the relative part only matters for
 * rewards far above 1e4 in magnitude, where rounding alone leaves a std above 1e-8.
 */
export const ZERO_STD_ATOL = 1e-8;
export const ZERO_STD_RTOL = 1e-12;

/** Whether values[start, end) have zero std up to the tolerance above. */
export function hasZeroStd(values: ArrayLike<number>, start = 0, end = values.length): boolean {
  let scale = 0;
  for (let i = start; i < end; i++) scale = Math.max(scale, Math.abs(values[i]));
  return sampleStd(values, start, end) <= ZERO_STD_ATOL + ZERO_STD_RTOL * scale;
}

/**
 * TRL's `frac_reward_zero_std` (`_generate_and_score_completions`): the fraction of completions whose
 * advantage divisor is zero, i.e. of completions in zero-std groups for the `group` and `none`
 * scales, and 1 or 0 for the `batch` scale (whether the whole batch's std is zero).
 */
export function fracRewardZeroStd(
  rewards: ArrayLike<number>,
  groupSize: number,
  scale: AdvantageScale,
): number {
  if (rewards.length === 0) return 0;
  if (scale === 'batch') return hasZeroStd(rewards) ? 1 : 0;
  let zero = 0;
  for (let start = 0; start < rewards.length; start += groupSize) {
    if (hasZeroStd(rewards, start, start + groupSize)) zero += groupSize;
  }
  return zero / rewards.length;
}

/** Mean of each contiguous group's sample std (the `reward_std_group` diagnostic; TRL's `reward_std` is the batch std). */
export function meanGroupStd(values: ArrayLike<number>, groupSize: number): number {
  let total = 0;
  const groups = values.length / groupSize;
  for (let g = 0; g < groups; g++) total += sampleStd(values, g * groupSize, (g + 1) * groupSize);
  return total / groups;
}

/**
 * Advantages for rewards laid out as contiguous groups of `groupSize` completions of the same prompt
 * (TRL's `_generate_and_score_completions`), exactly 0 for the groups `hasZeroStd` finds flat.
 */
export function groupAdvantages(
  rewards: ArrayLike<number>,
  groupSize: number,
  options: AdvantageOptions,
): Float64Array {
  const n = rewards.length;
  if (!Number.isInteger(groupSize) || groupSize < 1 || n % groupSize !== 0) {
    throw new RangeError(`groupSize must be a positive integer dividing ${n} rewards (${groupSize})`);
  }
  const out = new Float64Array(n);
  const batchStd = options.scale === 'batch' ? sampleStd(rewards) : 0;
  for (let start = 0; start < n; start += groupSize) {
    const end = start + groupSize;
    let mean = 0;
    for (let i = start; i < end; i++) mean += rewards[i];
    mean /= groupSize;
    // A group without reward spread carries no signal: exactly 0, not rounding noise of either sign
    // that the clip statistics would count.
    if (hasZeroStd(rewards, start, end)) continue;
    const std = options.scale === 'group' ? sampleStd(rewards, start, end) : batchStd;
    const divisor = options.scale === 'none' ? 1 : std + options.eps;
    for (let i = start; i < end; i++) out[i] = (rewards[i] - mean) / divisor;
  }
  return out;
}
