import { checkGroupSize, checkRange, checkRewards, checkWeights, type NumberArray } from './validate.js';

/** The reward range and optional non-negative weights (uniform when absent). */
export interface AdjustOptions {
  /** Lower end of the reward model's range. */
  min: number;
  /** Upper end of the reward model's range; must exceed `min`. */
  max: number;
  /** One non-negative weight per reward, not all zero; uniform when absent. */
  weights?: NumberArray;
}

// Up to this group size an insertion sort beats the native sort (whose call costs more than it saves).
const INSERTION_SORT_LIMIT = 32;

/** Scratch memory for one group size, reused across groups so that `adjustGroups` allocates nothing per group. */
class Workspace {
  /** The group's rewards, sorted ascending. */
  readonly values: Float64Array;
  /** The weights, permuted along with `values` (weighted groups only). */
  readonly weights: Float64Array;
  /** A sorting permutation (large weighted groups only). */
  readonly order: Int32Array;

  constructor(size: number, weighted: boolean) {
    this.values = new Float64Array(size);
    this.weights = new Float64Array(weighted ? size : 0);
    this.order = new Int32Array(weighted && size > INSERTION_SORT_LIMIT ? size : 0);
  }
}

/** Sorts `values[0..n)` ascending in place. */
function insertionSort(values: Float64Array, n: number): void {
  for (let k = 1; k < n; k++) {
    const key = values[k];
    let i = k - 1;
    while (i >= 0 && values[i] > key) {
      values[i + 1] = values[i];
      i--;
    }
    values[i + 1] = key;
  }
}

/** Sorts `values[0..n)` ascending and permutes `weights[0..n)` along with it. */
function insertionSortPairs(values: Float64Array, weights: Float64Array, n: number): void {
  for (let k = 1; k < n; k++) {
    const key = values[k];
    const weight = weights[k];
    let i = k - 1;
    while (i >= 0 && values[i] > key) {
      values[i + 1] = values[i];
      weights[i + 1] = weights[i];
      i--;
    }
    values[i + 1] = key;
    weights[i + 1] = weight;
  }
}

/**
 * Writes the answer for one group: rewards above `threshold` go to max, rewards equal to it to `t`,
 * the rest to min. Every reward with the same value gets the same answer, so ties stay tied.
 */
function writeAnswer(
  rewards: NumberArray,
  start: number,
  n: number,
  threshold: number,
  t: number,
  min: number,
  max: number,
  out: Float64Array,
): void {
  for (let i = start; i < start + n; i++) {
    const r = rewards[i];
    out[i] = r > threshold ? max : r < threshold ? min : t;
  }
}

/**
 * Moves the k-th smallest of `values[0..n)` to index k, smaller-or-equal values before it and
 * greater-or-equal after (Hoare's selection, pivot at k). Expected O(n); after more partition rounds
 * than a balanced run needs it sorts instead, which bounds the worst case by O(n log n).
 */
function selectKth(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  let rounds = 0;
  const roundLimit = 2 * (32 - Math.clz32(n));
  while (lo < hi) {
    if (++rounds > roundLimit) {
      values.subarray(lo, hi + 1).sort();
      return values[k];
    }
    const pivot = values[k];
    let i = lo;
    let j = hi;
    do {
      while (values[i] < pivot) i++;
      while (pivot < values[j]) j--;
      if (i <= j) {
        const swap = values[i];
        values[i] = values[j];
        values[j] = swap;
        i++;
        j--;
      }
    } while (i <= j);
    if (j < k) lo = i;
    if (k < i) hi = j;
  }
  return values[k];
}

/**
 * Solves one group `rewards[start..start+n)` with uniform weights into `out`; inputs already validated.
 *
 * With unit weights the prefix sums S_j are counts, so the threshold block (the first, from the top,
 * whose count would push the mass at max past tau) is the block holding the floor(tau)-th largest
 * reward (0-based). A selection finds that reward without sorting the group.
 */
function solveUniform(
  rewards: NumberArray,
  start: number,
  n: number,
  min: number,
  max: number,
  out: Float64Array,
  ws: Workspace,
): void {
  const values = ws.values;
  const span = max - min;
  // tau = sum (r_i - min) / (max - min): the mass that must sit at max. Rewards at max add exactly 1
  // and rewards at min exactly 0, so binary rewards give an integer tau and come back unchanged.
  let tau = 0;
  for (let k = 0; k < n; k++) {
    const r = rewards[start + k];
    values[k] = r;
    tau += (r - min) / span;
  }
  // In ascending order the floor(tau)-th largest sits at n - 1 - floor(tau). tau <= n up to rounding;
  // at n only the last block is left and t clamps to max.
  let index = n - 1 - Math.floor(tau);
  if (index < 0) index = 0;
  const threshold = selectKth(values, n, index);
  let above = 0;
  let equal = 0;
  for (let k = 0; k < n; k++) {
    const r = values[k];
    above += r > threshold ? 1 : 0;
    equal += r === threshold ? 1 : 0;
  }
  if (equal === n) {
    // All rewards equal: the input is the only feasible point.
    for (let i = start; i < start + n; i++) out[i] = rewards[i];
    return;
  }
  let t = min + (span * (tau - above)) / equal;
  if (t < min) t = min;
  else if (t > max) t = max;
  writeAnswer(rewards, start, n, threshold, t, min, max, out);
}

/**
 * Solves one weighted group `rewards[start..start+n)` into `out`; inputs already validated.
 *
 * In block coordinates (distinct rewards, largest first) the optimum puts the first blocks at max,
 * one threshold block in between and the rest at min; `tau` is the weight that must sit at max.
 */
function solveWeighted(
  rewards: NumberArray,
  weights: NumberArray,
  start: number,
  n: number,
  min: number,
  max: number,
  out: Float64Array,
  ws: Workspace,
): void {
  const { values, weights: sortedWeights, order } = ws;
  if (n > INSERTION_SORT_LIMIT) {
    for (let k = 0; k < n; k++) order[k] = k;
    order.sort((a, b) => rewards[start + a] - rewards[start + b]);
    for (let k = 0; k < n; k++) {
      values[k] = rewards[start + order[k]];
      sortedWeights[k] = weights[start + order[k]];
    }
  } else {
    for (let k = 0; k < n; k++) {
      values[k] = rewards[start + k];
      sortedWeights[k] = weights[start + k];
    }
    insertionSortPairs(values, sortedWeights, n);
  }
  if (values[0] === values[n - 1]) {
    for (let i = start; i < start + n; i++) out[i] = rewards[i];
    return;
  }
  const span = max - min;

  // tau = sum over blocks (largest first) of the block's mass sum p_i (r_i - min) / (max - min).
  // A block's weight and mass are summed in the same order, so a block at max has mass equal to its
  // weight bit for bit, and binary rewards come back unchanged.
  let tau = 0;
  for (let high = n; high > 0; ) {
    const value = values[high - 1];
    const u = (value - min) / span;
    let mass = 0;
    while (high > 0 && values[high - 1] === value) {
      mass += sortedWeights[high - 1] * u;
      high--;
    }
    tau += mass;
  }

  // The threshold block is the first whose weight would push the weight at max past tau.
  let above = 0;
  let threshold = Number.NEGATIVE_INFINITY;
  let t = max;
  for (let high = n; high > 0; ) {
    const value = values[high - 1];
    let weight = 0;
    while (high > 0 && values[high - 1] === value) {
      weight += sortedWeights[high - 1];
      high--;
    }
    if (above + weight > tau) {
      threshold = value;
      t = min + (span * (tau - above)) / weight;
      if (t < min) t = min;
      else if (t > max) t = max;
      break;
    }
    above += weight;
  }
  // No threshold block (every block fits under tau): everything goes to max, as -Infinity is below all.
  writeAnswer(rewards, start, n, threshold, t, min, max, out);
}

function solveGroup(
  rewards: NumberArray,
  weights: NumberArray | undefined,
  start: number,
  n: number,
  min: number,
  max: number,
  out: Float64Array,
  ws: Workspace,
): void {
  if (weights === undefined) solveUniform(rewards, start, n, min, max, out, ws);
  else solveWeighted(rewards, weights, start, n, min, max, out, ws);
}

/**
 * Adjusts one group's rewards to the largest weighted variance that keeps the weighted mean,
 * the order (ties stay tied) and the range `[min, max]`. Exact global optimum, O(n log n).
 *
 * @example adjustRewards([0.9, 0.7, 0.6, 0.6, 0.2], { min: 0, max: 1 }) // [1, 1, 0.5, 0.5, 0]
 */
export function adjustRewards(rewards: NumberArray, options: AdjustOptions): Float64Array {
  const { min, max, weights } = options;
  checkRange(min, max);
  checkRewards(rewards, min, max);
  if (weights !== undefined) checkWeights(weights, rewards.length);
  const out = new Float64Array(rewards.length);
  solveGroup(rewards, weights, 0, rewards.length, min, max, out, new Workspace(rewards.length, weights !== undefined));
  return out;
}

/**
 * Adjusts every contiguous group of `groupSize` rewards in `flat` independently (see `adjustRewards`).
 * `weights`, when given, is flat and aligned with `flat`. Allocates only the result and one scratch space.
 */
export function adjustGroups(flat: NumberArray, groupSize: number, options: AdjustOptions): Float64Array {
  const { min, max, weights } = options;
  checkRange(min, max);
  checkRewards(flat, min, max);
  checkGroupSize(groupSize, flat.length);
  if (weights !== undefined) checkWeights(weights, flat.length, groupSize);
  const out = new Float64Array(flat.length);
  const ws = new Workspace(groupSize, weights !== undefined);
  for (let start = 0; start < flat.length; start += groupSize) {
    solveGroup(flat, weights, start, groupSize, min, max, out, ws);
  }
  return out;
}
