import { RewardInputError } from './errors.js';

/** Numbers as the solver accepts them: plain arrays or typed arrays. */
export type NumberArray = ArrayLike<number>;

/** Checks a reward range: finite bounds with min < max. */
export function checkRange(min: number, max: number): void {
  if (typeof min !== 'number' || !Number.isFinite(min)) {
    throw new RewardInputError('min', 'must be a finite number', min);
  }
  if (typeof max !== 'number' || !Number.isFinite(max)) {
    throw new RewardInputError('max', 'must be a finite number', max);
  }
  if (!(min < max)) throw new RewardInputError('min', `must be less than max = ${max}`, min);
  // The solver works in units of max - min, which must itself be a double.
  if (!Number.isFinite(max - min)) {
    throw new RewardInputError(
      'max',
      `is too far from min = ${min}: max - min overflows a 64-bit float`,
      max,
    );
  }
}

/** Checks every reward is a finite number inside [min, max]. `offset` names entries of a flat array. */
export function checkRewards(rewards: NumberArray, min: number, max: number): void {
  if (rewards.length === 0) throw new RewardInputError('rewards', 'must not be empty', []);
  for (let i = 0; i < rewards.length; i++) {
    const r = rewards[i];
    if (typeof r !== 'number' || !Number.isFinite(r)) {
      throw new RewardInputError(`rewards[${i}]`, 'is not a finite number', r);
    }
    if (r < min || r > max) {
      throw new RewardInputError(`rewards[${i}]`, `is outside the range [${min}, ${max}]`, r);
    }
  }
}

/**
 * Checks weights: the right length, finite and non-negative, and not all zero within any group
 * of `groupSize` consecutive entries (the whole array when groupSize is the length).
 */
export function checkWeights(weights: NumberArray, length: number, groupSize: number = length): void {
  if (weights.length !== length) {
    throw new RewardInputError(
      'weights',
      `must have one weight per reward (${length}), got length`,
      weights.length,
    );
  }
  for (let start = 0; start < length; start += groupSize) {
    let anyPositive = false;
    for (let i = start; i < start + groupSize; i++) {
      const p = weights[i];
      if (typeof p !== 'number' || !Number.isFinite(p)) {
        throw new RewardInputError(`weights[${i}]`, 'is not a finite number', p);
      }
      if (p < 0) throw new RewardInputError(`weights[${i}]`, 'is negative', p);
      if (p > 0) anyPositive = true;
    }
    if (!anyPositive) {
      const field = groupSize === length ? 'weights' : `weights[${start}..${start + groupSize - 1}]`;
      throw new RewardInputError(
        field,
        'are all zero',
        Array.from({ length: groupSize }, (_, k) => weights[start + k]),
      );
    }
  }
}

/** Checks that `groupSize` is a positive integer dividing `length`. */
export function checkGroupSize(groupSize: number, length: number): void {
  if (!Number.isInteger(groupSize) || groupSize < 1) {
    throw new RewardInputError('groupSize', 'must be a positive integer', groupSize);
  }
  if (length % groupSize !== 0) {
    throw new RewardInputError('groupSize', `must divide the number of rewards (${length})`, groupSize);
  }
}
