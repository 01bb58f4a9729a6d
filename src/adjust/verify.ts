import { adjustRewardsBruteForce, weightShares } from './bruteForce.js';
import type { NumberArray } from './validate.js';

/** One group as the solver takes it. */
export interface AdjustProblem {
  rewards: NumberArray;
  weights?: NumberArray;
  min: number;
  max: number;
}

/**
 * Compares an answer with the brute-force reference; returns what differs, or null. This is what
 * `grpovi adjust --verify` runs on every line.
 *
 * The objective sum p_i z_i^2 is compared in range units u = (z - min) / (max - min) with the weights
 * as shares of their total (so weights of any scale, 5e-324 as well as 1e300, weigh the same): with
 * the mean fixed this orders answers exactly as the objective does, and it lies in [0, 1], so one
 * tolerance fits every range. The optimum is unique on entries of positive weight; there the answers
 * must agree to 1e-9 of the range, loosened for entries whose weight is a tiny share of the total
 * (their value is ill-conditioned) and near the float spacing of the range.
 */
export function compareWithReference(problem: AdjustProblem, adjusted: ArrayLike<number>): string | null {
  const { rewards, weights, min, max } = problem;
  const reference = adjustRewardsBruteForce(rewards, problem);
  const span = max - min;
  const grid = Number.EPSILON * Math.max(Math.abs(min), Math.abs(max));
  const shares = weightShares(weights, rewards.length);
  const objective = (z: ArrayLike<number>): number => {
    let sum = 0;
    for (let i = 0; i < z.length; i++) sum += shares[i] * ((z[i] - min) / span) ** 2;
    return sum;
  };
  const ours = objective(adjusted);
  const best = objective(reference);
  if (!(Math.abs(ours - best) <= 1e-10 + (4 * grid) / span)) {
    return `objective ${ours} differs from the brute-force optimum ${best}`;
  }
  for (let i = 0; i < rewards.length; i++) {
    const share = shares[i];
    if (share === 0) continue;
    const tolerance = span * (1e-9 + 1e-11 / share) + 4 * grid;
    if (!(Math.abs(adjusted[i] - reference[i]) <= tolerance)) {
      return `adjusted[${i}] is ${adjusted[i]}, the brute-force reference gives ${reference[i]}`;
    }
  }
  return null;
}
