import fc from 'fast-check';
import {
  adjustGroups,
  adjustRewards,
  adjustRewardsBruteForce,
  compareWithReference,
  rewardVariance,
  weightedMean,
} from 'grpovi';
import { describe, expect, it } from 'vitest';
import { binaryExponent, powerOfTwo, scaleWeights } from '../../src/adjust/weights.js';

// The solver's answer depends on the weights only up to a positive factor. Raw sequence
// probabilities used as weights are as small as 5e-324, and large weights overflow their sum, so the
// solver, the brute-force reference and the variances scale the weights themselves. These tests scale
// random groups across the whole double range and compare with the same group given as shares of 1.

const SMALLEST_SUBNORMAL = 5e-324; // 2^-1074
const LARGEST = Number.MAX_VALUE;

/** 2^k by repeated halving or doubling from 1: exact, and independent of the bit tricks under test. */
function slowPowerOfTwo(k: number): number {
  let x = 1;
  for (let i = 0; i < Math.abs(k); i++) x = k < 0 ? x / 2 : x * 2;
  return x;
}

/** Each weight over the total, computed in extended steps so that no weight scale breaks it. */
function shares(weights: number[]): number[] {
  const largest = Math.max(...weights);
  const relative = weights.map((p) => p / largest);
  const total = relative.reduce((s, p) => s + p, 0);
  return relative.map((p) => p / total);
}

interface Group {
  rewards: number[];
  weights: number[];
  min: number;
  max: number;
}

/** Groups with ties, endpoints, zero weights and weights spread over up to 18 orders of magnitude. */
const groupArb: fc.Arbitrary<Group> = fc
  .record({
    n: fc.integer({ min: 1, max: 24 }),
    poolSize: fc.integer({ min: 1, max: 24 }),
    range: fc.constantFrom({ min: 0, max: 1 }, { min: -1, max: 1 }, { min: -3.5, max: 120 }),
  })
  .chain(({ n, poolSize, range }) =>
    fc.record({
      pool: fc.array(fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })), {
        minLength: poolSize,
        maxLength: poolSize,
      }),
      picks: fc.array(fc.nat(poolSize - 1), { minLength: n, maxLength: n }),
      weights: fc.array(
        fc.oneof(
          { weight: 1, arbitrary: fc.constant(0) },
          { weight: 1, arbitrary: fc.constant(1) },
          {
            weight: 4,
            arbitrary: fc
              .record({
                mantissa: fc.double({ min: 1, max: 10, noNaN: true }),
                exponent: fc.integer({ min: -9, max: 9 }),
              })
              .map(({ mantissa, exponent }) => mantissa * 10 ** exponent),
          },
        ),
        { minLength: n, maxLength: n },
      ),
      range: fc.constant(range),
    }),
  )
  .map(({ pool, picks, weights, range }) => ({
    rewards: picks.map((k) => range.min + (range.max - range.min) * pool[k]),
    weights: weights.some((p) => p > 0) ? weights : [1, ...weights.slice(1)],
    ...range,
  }));

/** The answer for the same group with its weights as shares of 1 must match within rounding. */
function expectSameAsShares(group: Group, scaled: number[], answer: ArrayLike<number>): void {
  const q = shares(scaled);
  const reference = adjustRewardsBruteForce(group.rewards, { ...group, weights: q });
  const normalized = adjustRewards(group.rewards, { ...group, weights: q });
  const span = group.max - group.min;
  for (let i = 0; i < group.rewards.length; i++) {
    if (q[i] === 0) continue;
    // A weight that is a tiny share of the total has an ill-conditioned value (see solver.test.ts).
    const tolerance = span * (1e-9 + 1e-11 / q[i]);
    expect(Math.abs(answer[i] - reference[i])).toBeLessThanOrEqual(tolerance);
    expect(Math.abs(answer[i] - normalized[i])).toBeLessThanOrEqual(tolerance);
  }
}

describe('powers of two and exponents', () => {
  it('powerOfTwo(k) is exactly 2^k and binaryExponent inverts it for every k in [-1074, 1023]', () => {
    for (let k = -1074; k <= 1023; k++) {
      const x = slowPowerOfTwo(k);
      expect(powerOfTwo(k)).toBe(x);
      expect(binaryExponent(x)).toBe(k);
      // Just below the next power of two the exponent is still k (for subnormals: x plus lower bits).
      const below = k < 1023 ? slowPowerOfTwo(k + 1) * (1 - Number.EPSILON / 2) : LARGEST;
      if (below > x && below < slowPowerOfTwo(k + 1)) expect(binaryExponent(below)).toBe(k);
    }
  });

  it('scaleWeights brings the largest weight into [1, 2) at every scale', () => {
    for (const largest of [SMALLEST_SUBNORMAL, 3e-320, 1e-300, 0.7, 1, 1.999, 2, 1e300, LARGEST]) {
      const scaled = scaleWeights([largest / 2, largest, 0]);
      expect(scaled[1]).toBeGreaterThanOrEqual(1);
      expect(scaled[1]).toBeLessThan(2);
      expect(scaled[2]).toBe(0);
    }
  });
});

describe('the weighted solver at every weight scale', () => {
  const rewards = [0.1, 0.5, 0.9, 0.3];
  // Uniform: tau = 1.8, so 0.9 goes to 1, 0.5 takes the remaining 0.8, the rest go to 0.
  const uniformAnswer = [0, 0.8, 1, 0];

  it('four equal weights of 5e-324 give the uniform answer (before the fix: [0, 0, 1, 0])', () => {
    for (const w of [SMALLEST_SUBNORMAL, 1e-310, 1e-300, 1, 1e300, LARGEST]) {
      const weights = [w, w, w, w];
      const options = { min: 0, max: 1, weights };
      for (const answer of [
        adjustRewards(rewards, options),
        adjustGroups(rewards, 4, options),
        adjustRewardsBruteForce(rewards, options),
      ]) {
        uniformAnswer.forEach((z, i) => expect(answer[i]).toBeCloseTo(z, 14));
      }
      expect(rewardVariance(rewards, weights)).toBeCloseTo(rewardVariance(rewards), 15);
      expect(weightedMean(uniformAnswer, weights)).toBeCloseTo(weightedMean(uniformAnswer), 15);
    }
  });

  it('the verifier rejects the old wrong answer at 5e-324 and accepts the right one', () => {
    const w = SMALLEST_SUBNORMAL;
    const problem = { rewards, weights: [w, w, w, w], min: 0, max: 1 };
    expect(compareWithReference(problem, [0, 0, 1, 0])).toMatch(/^objective .* differs from the brute-force/);
    expect(compareWithReference(problem, uniformAnswer)).toBeNull();
    // Weights whose sum overflows: the old code answered [1, 1, 1, 1], which is not even feasible.
    const huge = { ...problem, weights: [LARGEST, LARGEST, LARGEST, LARGEST] };
    expect(compareWithReference(huge, [1, 1, 1, 1])).not.toBeNull();
    expect(compareWithReference(huge, uniformAnswer)).toBeNull();
  });

  it('mixed scales: a weight of 1e300 next to ones of 5e-324 carries the whole mean', () => {
    // The tiny weights are 1e-624 of the total: the answer is that of weights [1, 0, 0, 0] up to rounding.
    const weights = [1e300, SMALLEST_SUBNORMAL, SMALLEST_SUBNORMAL, SMALLEST_SUBNORMAL];
    const options = { min: 0, max: 1, weights };
    const expected = adjustRewards(rewards, { min: 0, max: 1, weights: [1, 0, 0, 0] });
    expect(Array.from(adjustRewards(rewards, options))).toEqual(Array.from(expected));
    expect(compareWithReference({ rewards, ...options }, adjustRewards(rewards, options))).toBeNull();
  });

  it('scaling by any power of two that keeps the weights exact changes no bit of any answer', () => {
    fc.assert(
      fc.property(groupArb, fc.double({ min: 0, max: 1, noNaN: true }), (group, where) => {
        const positive = group.weights.filter((p) => p > 0);
        // Every k in [low, high] keeps each weight a normal number (so exact) and finite.
        const low = -1022 - Math.min(...positive.map(binaryExponent));
        const high = 1023 - Math.max(...positive.map(binaryExponent));
        const k = Math.round(low + (high - low) * where);
        // 2^k itself may overflow or be subnormal: multiply by two halves, each exact here.
        const half = Math.trunc(k / 2);
        const scaled = group.weights.map((p) => p * slowPowerOfTwo(half) * slowPowerOfTwo(k - half));
        const options = { min: group.min, max: group.max };
        const base = Array.from(adjustRewards(group.rewards, { ...options, weights: group.weights }));
        expect(Array.from(adjustRewards(group.rewards, { ...options, weights: scaled }))).toEqual(base);
        expect(
          Array.from(adjustGroups(group.rewards, group.rewards.length, { ...options, weights: scaled })),
        ).toEqual(base);
        expect(Array.from(adjustRewardsBruteForce(group.rewards, { ...options, weights: scaled }))).toEqual(
          Array.from(adjustRewardsBruteForce(group.rewards, { ...options, weights: group.weights })),
        );
        expect(rewardVariance(base, scaled)).toBe(rewardVariance(base, group.weights));
      }),
      { numRuns: 400, seed: 1011 },
    );
  });

  it('any scale from 5e-324 to 1e300 gives the answer of the weights as shares of 1', () => {
    // The factor puts the largest weight anywhere from the smallest subnormal to 1e300; the smaller
    // weights may round or vanish on the way, and the reference gets the weights as they arrive.
    fc.assert(
      fc.property(groupArb, fc.double({ min: -323.3, max: 300, noNaN: true }), (group, logTarget) => {
        const largest = Math.max(...group.weights);
        const scaled = group.weights.map((p) => (p / largest) * 10 ** logTarget);
        fc.pre(scaled.some((p) => p > 0));
        const options = { min: group.min, max: group.max, weights: scaled };
        const answer = adjustRewards(group.rewards, options);
        expectSameAsShares(group, scaled, answer);
        expect(compareWithReference({ rewards: group.rewards, ...options }, answer)).toBeNull();
        // The brute force is just as indifferent to the scale.
        expectSameAsShares(group, scaled, adjustRewardsBruteForce(group.rewards, options));
      }),
      { numRuns: 400, seed: 1012 },
    );
  });

  it('weights near the largest double, whose sum overflows, give the answer of the shares', () => {
    fc.assert(
      fc.property(groupArb, fc.double({ min: 0.5, max: 1, noNaN: true }), (group, top) => {
        const largest = Math.max(...group.weights);
        const scaled = group.weights.map((p) => (p / largest) * top * LARGEST);
        const answer = adjustRewards(group.rewards, { min: group.min, max: group.max, weights: scaled });
        expectSameAsShares(group, scaled, answer);
        expect(Number.isFinite(rewardVariance(answer, scaled))).toBe(true);
      }),
      { numRuns: 200, seed: 1013 },
    );
  });

  it('rewards and range scaled by a power of two up to the largest doubles: the answer scales exactly', () => {
    // Power-of-two scaling is exact, so z(2^k r; 2^k m, 2^k M) = 2^k z(r; m, M) bit for bit, as long as
    // nothing overflows; before the fix a span near 1.8e308 overflowed span * (tau - S) and clamped to max.
    fc.assert(
      fc.property(groupArb, fc.integer({ min: 0, max: 3 }), fc.boolean(), (group, down, weighted) => {
        // The largest power of two that keeps the range and its width finite, or a little less.
        const widest = Math.max(Math.abs(group.min), Math.abs(group.max), group.max - group.min);
        const scale = slowPowerOfTwo(1023 - binaryExponent(widest) - down);
        const small = { min: group.min, max: group.max, ...(weighted ? { weights: group.weights } : {}) };
        const big = {
          min: group.min * scale,
          max: group.max * scale,
          ...(weighted ? { weights: group.weights } : {}),
        };
        const expected = Array.from(adjustRewards(group.rewards, small), (z) => z * scale);
        expect(
          Array.from(
            adjustRewards(
              group.rewards.map((r) => r * scale),
              big,
            ),
          ),
        ).toEqual(expected);
      }),
      { numRuns: 300, seed: 1018 },
    );
  });

  it('five tied rewards at the threshold with a span of 2^1023 (the product span * 2.5 overflows)', () => {
    // tau = 3.5: the top block takes 1, the tied block shares 2.5 over 5, so it stays at half the span.
    const top = slowPowerOfTwo(1023);
    const rewards = [top / 2, top / 2, top / 2, top / 2, top / 2, top];
    expect(Array.from(adjustRewards(rewards, { min: 0, max: top }))).toEqual(rewards);
    expect(Array.from(adjustRewards(rewards, { min: 0, max: top, weights: [1, 1, 1, 1, 1, 1] }))).toEqual(
      rewards,
    );
  });

  it('a range whose width overflows a double is refused, naming max', () => {
    expect(() => adjustRewards([0, 1], { min: -1e308, max: 1e308 })).toThrow(
      'max is too far from min = -1e+308: max - min overflows a 64-bit float (1e+308)',
    );
  });
});
