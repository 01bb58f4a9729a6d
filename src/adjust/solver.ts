import { checkGroupSize, checkRange, checkRewards, checkWeights, type NumberArray } from './validate.js';
import { weightScale } from './weights.js';

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
  /** Uniform groups: partitions of the group's rewards. Weighted groups: the rewards sorted ascending. */
  readonly values: Float64Array;
  /** Uniform groups: the second buffer the partition rounds alternate with. */
  readonly spare: Float64Array;
  /** Uniform groups: the answers [min, t, max], indexed by a reward's comparison with the threshold. */
  readonly answers: Float64Array;
  /** Weighted groups: the weights, permuted along with `values`. */
  readonly weights: Float64Array;
  /** Large weighted groups: a sorting permutation. */
  readonly order: Int32Array;

  /** The largest group it can hold; it serves any group up to this size. */
  readonly capacity: number;

  constructor(size: number, weighted: boolean) {
    this.capacity = size;
    this.values = new Float64Array(size);
    this.spare = new Float64Array(weighted ? 0 : size);
    this.answers = new Float64Array(3);
    this.weights = new Float64Array(weighted ? size : 0);
    this.order = new Int32Array(weighted && size > INSERTION_SORT_LIMIT ? size : 0);
  }
}

/**
 * span * part / whole, the threshold block's distance from min. Multiplying first keeps the rounding
 * the answers have always had; when the product overflows (a span near the largest double) dividing
 * first gives the same value to rounding, since part / whole is at most 1 up to rounding.
 */
function thresholdOffset(span: number, part: number, whole: number): number {
  const product = span * part;
  return Number.isFinite(product) ? product / whole : span * (part / whole);
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
 * Solves one group `rewards[start..start+n)` with uniform weights into `out`.
 *
 * With unit weights the prefix sums S_j are counts, so the threshold block (the first, from the top,
 * whose count would push the mass at max past tau) is the block holding the floor(tau)-th largest
 * reward. A selection finds it in expected O(n) without sorting: each round splits the candidates
 * into those below, equal to and above a pivot, so the sorted positions [lo, hi) of the candidates
 * are known, and ends when the wanted position falls among the pivot's copies. The rounds are
 * branch-free (comparisons become 0/1 increments), which matters more than the operation count
 * for the small groups of GRPO; the first round also copies the rewards and sums tau.
 *
 * Returns 1 when some reward is not in [min, max] (NaN included), for the caller to report; the
 * answer is then meaningless. Callers that pass plain arrays check the types beforehand.
 */
function solveUniform(
  rewards: NumberArray,
  start: number,
  n: number,
  min: number,
  max: number,
  out: Float64Array,
  ws: Workspace,
): number {
  const span = max - min;
  let source = ws.values;
  let target = ws.spare;

  // Round 1, straight from the input. Below-pivot values fill target[lo..) from the left, above-pivot
  // values target[..hi) from the right; both are written every time and the cursors move by 0 or 1.
  // Copies of the pivot are not stored: they are the gap between the cursors.
  let pivot = rewards[start + (n >> 1)];
  let below = 0;
  let above = n;
  let tau = 0;
  let outside = 0;
  for (let i = start; i < start + n; i++) {
    const r = rewards[i];
    // tau = sum (r_i - min) / (max - min), the mass that must sit at max. Rewards at max add exactly 1
    // and rewards at min exactly 0, so binary rewards give an integer tau and come back unchanged.
    tau += (r - min) / span;
    outside |= 1 ^ (+(r >= min) & +(r <= max));
    target[below] = r;
    target[above - 1] = r;
    below += +(r < pivot);
    above -= +(r > pivot);
  }

  // In ascending order the floor(tau)-th largest sits at position n - 1 - floor(tau). tau <= n up to
  // rounding; at n only the lowest block is left and t clamps to max. The clamp also keeps k a valid
  // position when a reward outside the range (about to be reported) makes tau anything at all.
  let k = n - 1 - Math.floor(tau);
  if (!(k >= 0)) k = 0;
  else if (k > n - 1) k = n - 1;

  // Sorted positions [lo, hi) hold the remaining candidates; [below, above) the pivot's copies.
  let lo = 0;
  let hi = n;
  const roundLimit = 2 * (32 - Math.clz32(n));
  for (let round = 1; !(k >= below && k < above); round++) {
    if (k < below) hi = below;
    else lo = above;
    const swap = source;
    source = target;
    target = swap;
    if (round >= roundLimit) {
      // Too many unbalanced rounds: sort what is left, which bounds the worst case by O(n log n).
      const rest = source.subarray(lo, hi).sort();
      pivot = rest[k - lo];
      below = lo;
      while (below < k && source[below] !== pivot) below++;
      above = k + 1;
      while (above < hi && source[above] === pivot) above++;
      break;
    }
    pivot = source[(lo + hi) >> 1];
    below = lo;
    above = hi;
    for (let i = lo; i < hi; i++) {
      const r = source[i];
      target[below] = r;
      target[above - 1] = r;
      below += +(r < pivot);
      above -= +(r > pivot);
    }
  }

  const equal = above - below;
  if (equal === n) {
    // All rewards equal: the input is the only feasible point.
    for (let i = start; i < start + n; i++) out[i] = rewards[i];
    return outside;
  }
  // Every copy of the threshold value is among the pivot's copies, everything above them is above it.
  let t = min + thresholdOffset(span, tau - (n - above), equal);
  if (t < min) t = min;
  else if (t > max) t = max;
  const answers = ws.answers;
  answers[0] = min;
  answers[1] = t;
  answers[2] = max;
  for (let i = start; i < start + n; i++) {
    const r = rewards[i];
    out[i] = answers[+(r > pivot) + +(r >= pivot)];
  }
  return outside;
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
  // The answer depends on the weights only up to a factor: scale them so the largest is in [1, 2),
  // so that tiny weights (1e-300, 5e-324) do not underflow in the masses and huge ones do not
  // overflow their sum. Powers of two scale exactly, so moderate weights are unchanged in effect.
  let largest = 0;
  for (let i = start; i < start + n; i++) if (weights[i] > largest) largest = weights[i];
  const [first, second] = weightScale(largest);
  if (n > INSERTION_SORT_LIMIT) {
    for (let k = 0; k < n; k++) order[k] = k;
    order.subarray(0, n).sort((a, b) => rewards[start + a] - rewards[start + b]);
    for (let k = 0; k < n; k++) {
      values[k] = rewards[start + order[k]];
      sortedWeights[k] = weights[start + order[k]] * first * second;
    }
  } else {
    for (let k = 0; k < n; k++) {
      values[k] = rewards[start + k];
      sortedWeights[k] = weights[start + k] * first * second;
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
  for (let high = n; high > 0;) {
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
  for (let high = n; high > 0;) {
    const value = values[high - 1];
    let weight = 0;
    while (high > 0 && values[high - 1] === value) {
      weight += sortedWeights[high - 1];
      high--;
    }
    if (above + weight > tau) {
      threshold = value;
      t = min + thresholdOffset(span, tau - above, weight);
      if (t < min) t = min;
      else if (t > max) t = max;
      break;
    }
    above += weight;
  }
  // No threshold block (every block fits under tau): everything goes to max, as -Infinity is below all.
  writeAnswer(rewards, start, n, threshold, t, min, max, out);
}

/**
 * Adjusts one group's rewards to the largest weighted variance that keeps the weighted mean,
 * the order (ties stay tied) and the range `[min, max]`. Exact global optimum: O(n) expected for
 * uniform weights, O(n log n) with weights.
 *
 * @example adjustRewards([0.9, 0.7, 0.6, 0.6, 0.2], { min: 0, max: 1 }) // [1, 1, 0.5, 0.5, 0]
 */
export function adjustRewards(rewards: NumberArray, options: AdjustOptions): Float64Array {
  return solveChecked(rewards, options, (n, weighted) => new Workspace(n, weighted));
}

/** Checks one group and solves it with scratch memory from `workspaceFor`, into `out` or a new array. */
function solveChecked(
  rewards: NumberArray,
  options: AdjustOptions,
  workspaceFor: (n: number, weighted: boolean) => Workspace,
  into?: Float64Array,
): Float64Array {
  const { min, max, weights } = options;
  checkRange(min, max);
  checkRewards(rewards, min, max);
  if (weights !== undefined) checkWeights(weights, rewards.length);
  const n = rewards.length;
  const out = into ?? new Float64Array(n);
  const ws = workspaceFor(n, weights !== undefined);
  if (weights === undefined) solveUniform(rewards, 0, n, min, max, out, ws);
  else solveWeighted(rewards, weights, 0, n, min, max, out, ws);
  return out;
}

/**
 * `adjustRewards` for many separate groups one after another (of any sizes, with or without weights),
 * reusing its scratch memory: for a caller that receives groups one at a time, like `grpovi adjust`
 * reading lines. The scratch grows to the largest group seen.
 */
export class GroupAdjuster {
  private uniform = new Workspace(0, false);
  private weighted = new Workspace(0, true);
  private readonly workspaceFor = (n: number, weighted: boolean): Workspace => {
    if (weighted) {
      if (this.weighted.capacity < n) this.weighted = new Workspace(n, true);
      return this.weighted;
    }
    if (this.uniform.capacity < n) this.uniform = new Workspace(n, false);
    return this.uniform;
  };

  /** The same answer as `adjustRewards(rewards, options)`. */
  adjust(rewards: NumberArray, options: AdjustOptions): Float64Array {
    return solveChecked(rewards, options, this.workspaceFor);
  }

  /** `adjust` writing the answer to `out[0..rewards.length)` instead of a new array (for hot loops). */
  adjustInto(rewards: NumberArray, options: AdjustOptions, out: Float64Array): void {
    if (out.length < rewards.length) throw new RangeError('adjustInto: out is shorter than rewards');
    solveChecked(rewards, options, this.workspaceFor, out);
  }
}

/** Typed arrays of floats hold only numbers, so range checks alone validate them. */
function holdsOnlyNumbers(values: NumberArray): boolean {
  return values instanceof Float64Array || values instanceof Float32Array;
}

/**
 * Adjusts every contiguous group of `groupSize` rewards in `flat` independently (see `adjustRewards`).
 * `weights`, when given, is flat and aligned with `flat`. Allocates only the result and one scratch space.
 */
export function adjustGroups(flat: NumberArray, groupSize: number, options: AdjustOptions): Float64Array {
  const { min, max, weights } = options;
  checkRange(min, max);
  // For float arrays without weights the range check rides along with the solve (a pass fewer over
  // memory); a failure then reruns the full check for its message.
  const checkWhileSolving = weights === undefined && holdsOnlyNumbers(flat) && flat.length > 0;
  if (!checkWhileSolving) checkRewards(flat, min, max);
  try {
    checkGroupSize(groupSize, flat.length);
  } catch (error) {
    // Bad rewards are reported before a bad group size, whichever way they are checked.
    checkRewards(flat, min, max);
    throw error;
  }
  if (weights !== undefined) checkWeights(weights, flat.length, groupSize);
  const out = new Float64Array(flat.length);
  const ws = new Workspace(groupSize, weights !== undefined);
  if (weights === undefined) {
    let outside = 0;
    for (let start = 0; start < flat.length; start += groupSize) {
      outside |= solveUniform(flat, start, groupSize, min, max, out, ws);
    }
    if (outside !== 0) {
      checkRewards(flat, min, max);
      throw new Error('unreachable: a reward outside the range passed checkRewards');
    }
  } else {
    for (let start = 0; start < flat.length; start += groupSize) {
      solveWeighted(flat, weights, start, groupSize, min, max, out, ws);
    }
  }
  return out;
}
