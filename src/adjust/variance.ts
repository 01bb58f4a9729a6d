import { RewardInputError } from './errors.js';
import { checkWeights, type NumberArray } from './validate.js';
import { weightScale } from './weights.js';

/**
 * Weights as the sums below use them: times the power of two that brings the largest into [1, 2),
 * so that weights of any scale neither underflow nor overflow (exact for moderate weights).
 */
function weightAccessor(weights: NumberArray | undefined): (i: number) => number {
  if (weights === undefined) return () => 1;
  let largest = 0;
  for (let i = 0; i < weights.length; i++) if (weights[i] > largest) largest = weights[i];
  const [first, second] = weightScale(largest);
  return (i) => weights[i] * first * second;
}

/** Weighted mean sum p_i r_i / sum p_i (uniform weights when absent). */
export function weightedMean(values: NumberArray, weights?: NumberArray): number {
  if (values.length === 0) throw new RewardInputError('rewards', 'must not be empty', []);
  if (weights !== undefined) checkWeights(weights, values.length);
  const weightOf = weightAccessor(weights);
  let total = 0;
  let mass = 0;
  for (let i = 0; i < values.length; i++) {
    const p = weightOf(i);
    total += p;
    mass += p * values[i];
  }
  return mass / total;
}

/** Weighted population variance sum p_i (r_i - mean)^2 / sum p_i, computed in two passes. */
export function rewardVariance(rewards: NumberArray, weights?: NumberArray): number {
  if (weights === undefined) return uniformVariance(rewards);
  const mean = weightedMean(rewards, weights);
  const weightOf = weightAccessor(weights);
  let total = 0;
  let sum = 0;
  for (let i = 0; i < rewards.length; i++) {
    const p = weightOf(i);
    const d = rewards[i] - mean;
    total += p;
    sum += p * d * d;
  }
  return sum / total;
}

/** rewardVariance without weights, in plain loops (it runs twice per line of `grpovi adjust`). */
function uniformVariance(rewards: NumberArray): number {
  const n = rewards.length;
  if (n === 0) throw new RewardInputError('rewards', 'must not be empty', []);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += rewards[i];
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const d = rewards[i] - mean;
    squares += d * d;
  }
  return squares / n;
}
