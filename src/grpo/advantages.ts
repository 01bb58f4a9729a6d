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

/** Mean of each contiguous group's sample std (the `reward_std` diagnostic). */
export function meanGroupStd(values: ArrayLike<number>, groupSize: number): number {
  let total = 0;
  const groups = values.length / groupSize;
  for (let g = 0; g < groups; g++) total += sampleStd(values, g * groupSize, (g + 1) * groupSize);
  return total / groups;
}

/** Advantages for rewards laid out as contiguous groups of `groupSize` completions of the same prompt. */
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
    const std = options.scale === 'group' ? sampleStd(rewards, start, end) : batchStd;
    const divisor = options.scale === 'none' ? 1 : std + options.eps;
    for (let i = start; i < end; i++) out[i] = (rewards[i] - mean) / divisor;
  }
  return out;
}
