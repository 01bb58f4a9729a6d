import type { AdjustOptions } from './solver.js';
import { checkRange, checkRewards, checkWeights, type NumberArray } from './validate.js';

// A vertex is accepted when it misses the mean by at most this fraction of the total weight.
const FEASIBILITY_TOLERANCE = 1e-12;

/**
 * Each weight's share of the group's total, sum 1 (uniform when absent). Dividing by the largest
 * weight first keeps weights of any scale, 5e-324 to 1.7e308, clear of underflow and of an infinite
 * sum. (Deliberately not the fast solver's power-of-two scaling, so that the two stay independent.)
 */
export function weightShares(weights: NumberArray | undefined, n: number): Float64Array {
  const shares = new Float64Array(n);
  if (weights === undefined) return shares.fill(1 / n);
  let largest = 0;
  for (let i = 0; i < n; i++) largest = Math.max(largest, weights[i]);
  let total = 0;
  for (let i = 0; i < n; i++) {
    shares[i] = weights[i] / largest;
    total += shares[i];
  }
  for (let i = 0; i < n; i++) shares[i] /= total;
  return shares;
}

/**
 * Reference solver for tests and `grpovi adjust --verify`: enumerates every extreme point of the
 * feasible set (top blocks at max, one run of blocks at a common value, the rest at min) and keeps
 * the one with the largest weighted second moment. O(n^2) candidates; it does not assume the
 * optimum's middle run is a single block, which is what the fast solver relies on.
 */
export function adjustRewardsBruteForce(rewards: NumberArray, options: AdjustOptions): Float64Array {
  const { min, max, weights } = options;
  checkRange(min, max);
  checkRewards(rewards, min, max);
  if (weights !== undefined) checkWeights(weights, rewards.length);
  const n = rewards.length;
  const shares = weightShares(weights, n);
  const weightOf = (i: number): number => shares[i];
  const span = max - min;

  // Distinct values, largest first, with their total weight.
  const values = [...new Set(Array.from(rewards))].sort((a, b) => b - a);
  const blockOf = new Map(values.map((v, b) => [v, b]));
  const blockWeight = new Array<number>(values.length).fill(0);
  let total = 0;
  let tau = 0;
  for (let i = 0; i < n; i++) {
    blockWeight[blockOf.get(rewards[i])!] += weightOf(i);
    total += weightOf(i);
    tau += (weightOf(i) * (rewards[i] - min)) / span;
  }
  const prefix = [0];
  for (const w of blockWeight) prefix.push(prefix[prefix.length - 1] + w);

  // Normalized coordinates u in [0, 1]: blocks < top at 1, blocks in [top, end) at `middle`, rest at 0.
  let best = { objective: -Infinity, top: 0, end: 0, middle: 0 };
  const K = values.length;
  for (let top = 0; top <= K; top++) {
    for (let end = top; end <= K; end++) {
      const middleWeight = prefix[end] - prefix[top];
      let middle = 0;
      if (middleWeight > 0) {
        middle = (tau - prefix[top]) / middleWeight;
        if (middle < -FEASIBILITY_TOLERANCE || middle > 1 + FEASIBILITY_TOLERANCE) continue;
        middle = Math.min(1, Math.max(0, middle));
      } else if (Math.abs(prefix[top] - tau) > FEASIBILITY_TOLERANCE * total) {
        continue;
      }
      const objective = prefix[top] + middle * middle * middleWeight;
      if (objective > best.objective) best = { objective, top, end, middle };
    }
  }

  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = blockOf.get(rewards[i])!;
    const u = b < best.top ? 1 : b < best.end ? best.middle : 0;
    out[i] = u === 1 ? max : u === 0 ? min : min + span * u;
  }
  return out;
}
