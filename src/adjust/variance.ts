import { RewardInputError } from './errors.js';
import { checkWeights, type NumberArray } from './validate.js';

/** Weighted mean sum p_i r_i / sum p_i (uniform weights when absent). */
export function weightedMean(values: NumberArray, weights?: NumberArray): number {
  if (values.length === 0) throw new RewardInputError('rewards', 'must not be empty', []);
  if (weights !== undefined) checkWeights(weights, values.length);
  let total = 0;
  let mass = 0;
  for (let i = 0; i < values.length; i++) {
    const p = weights === undefined ? 1 : weights[i];
    total += p;
    mass += p * values[i];
  }
  return mass / total;
}

/** Weighted population variance sum p_i (r_i - mean)^2 / sum p_i, computed in two passes. */
export function rewardVariance(rewards: NumberArray, weights?: NumberArray): number {
  const mean = weightedMean(rewards, weights);
  let total = 0;
  let sum = 0;
  for (let i = 0; i < rewards.length; i++) {
    const p = weights === undefined ? 1 : weights[i];
    const d = rewards[i] - mean;
    total += p;
    sum += p * d * d;
  }
  return sum / total;
}
