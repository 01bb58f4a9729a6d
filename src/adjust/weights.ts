/**
 * Weight scaling. The model's answer depends on the weights only up to a positive factor, but raw
 * weights span the whole double range: a sequence probability is easily 1e-300 (its products with
 * rewards underflow to 0) and a few weights near 1e308 overflow their sum. Multiplying every weight of
 * a group by the power of two that brings the largest into [1, 2) fixes both without changing any
 * answer: such a product is exact for every weight that stays a normal number, so weights that are
 * already moderate give bit for bit the answers they gave before, and a group scaled by any power of
 * two gives the same answer.
 */

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);
// The word holding the sign, the exponent and the top of the mantissa.
const HIGH_WORD = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const SMALLEST_NORMAL = 2.2250738585072014e-308; // 2^-1022
const TWO_TO_64 = 18446744073709551616;

/** The exponent e with 2^e <= x < 2^(e+1), for a finite x > 0, subnormal numbers included. */
export function binaryExponent(x: number): number {
  if (x < SMALLEST_NORMAL) return binaryExponent(x * TWO_TO_64) - 64;
  FLOAT[0] = x;
  return ((WORDS[HIGH_WORD] >>> 20) & 0x7ff) - 1023;
}

/** 2^k exactly, for an integer k in [-1074, 1023], built from its bits. */
export function powerOfTwo(k: number): number {
  if (k < -1022) return powerOfTwo(k + 64) / TWO_TO_64;
  WORDS[HIGH_WORD] = (k + 1023) << 20;
  WORDS[1 - HIGH_WORD] = 0;
  return FLOAT[0];
}

/**
 * The two factors, each a power of two, whose product brings `largest` (a finite weight > 0) into
 * [1, 2). Multiply by the first, then the second. Scaling down takes one factor (the second is 1), so
 * each weight is rounded once; scaling up past 2^1023 takes two, neither of which can round.
 */
export function weightScale(largest: number): [number, number] {
  const shift = -binaryExponent(largest);
  if (shift <= 1023) return [powerOfTwo(shift), 1];
  return [powerOfTwo(537), powerOfTwo(shift - 537)];
}

/**
 * The weights `weights[start..start+n)` times the power of two that brings the largest into [1, 2),
 * written to `out[0..n)`. The weights must be finite and non-negative with at least one positive.
 */
export function scaleWeightsInto(
  weights: ArrayLike<number>,
  start: number,
  n: number,
  out: Float64Array,
): void {
  let largest = 0;
  for (let i = start; i < start + n; i++) if (weights[i] > largest) largest = weights[i];
  const [first, second] = weightScale(largest);
  for (let k = 0; k < n; k++) out[k] = weights[start + k] * first * second;
}

/** The weights of a group times the power of two that brings the largest into [1, 2); see above. */
export function scaleWeights(weights: ArrayLike<number>): Float64Array {
  const out = new Float64Array(weights.length);
  scaleWeightsInto(weights, 0, weights.length, out);
  return out;
}
