import fc from 'fast-check';
import { adjustGroups, adjustRewards, adjustRewardsBruteForce, rewardVariance, weightedMean } from 'grpovi';
import { describe, expect, it } from 'vitest';

// ---------------------------------------------------------------------------------------------
// Independent checks. Each one restates a constraint or fact of the model (DESIGN.md section 2)
// directly, without the solver's block structure, and returns a description of the first
// violation (or null) so that a failing property says what went wrong.
// ---------------------------------------------------------------------------------------------

interface Group {
  rewards: number[];
  weights?: number[];
  min: number;
  max: number;
}

const weightAt = (g: Group, i: number): number => (g.weights === undefined ? 1 : g.weights[i]);

/**
 * Spacing of doubles near the range: no answer can be closer than this to the exact one. It matters for
 * narrow ranges far from zero (e.g. [1e4, 1e4 + 1e-6]), where it is a visible fraction of the span.
 */
const gridOf = (g: Group): number => Number.EPSILON * Math.max(Math.abs(g.min), Math.abs(g.max));

/** Neumaier-compensated sum, so the checks do not inherit the rounding of a naive loop. */
function accurateSum(terms: number[]): number {
  let sum = 0;
  let compensation = 0;
  for (const x of terms) {
    const t = sum + x;
    compensation += Math.abs(sum) >= Math.abs(x) ? sum - t + x : x - t + sum;
    sum = t;
  }
  return sum + compensation;
}

function mean(g: Group, values: ArrayLike<number>): number {
  const mass = accurateSum(g.rewards.map((_, i) => weightAt(g, i) * values[i]));
  return mass / accurateSum(g.rewards.map((_, i) => weightAt(g, i)));
}

function variance(g: Group, values: ArrayLike<number>): number {
  const m = mean(g, values);
  const sum = accurateSum(g.rewards.map((_, i) => weightAt(g, i) * (values[i] - m) ** 2));
  return sum / accurateSum(g.rewards.map((_, i) => weightAt(g, i)));
}

/** The objective sum p_i u_i^2 in range units u = (z - min) / (max - min), divided by sum p_i: in [0, 1]. */
function normalizedObjective(g: Group, values: ArrayLike<number>): number {
  const span = g.max - g.min;
  const total = accurateSum(g.rewards.map((_, i) => weightAt(g, i)));
  return accurateSum(g.rewards.map((_, i) => weightAt(g, i) * ((values[i] - g.min) / span) ** 2)) / total;
}

function checkBounds(g: Group, z: ArrayLike<number>): string | null {
  if (z.length !== g.rewards.length) return `length ${z.length}, expected ${g.rewards.length}`;
  for (let i = 0; i < z.length; i++) {
    if (!(z[i] >= g.min && z[i] <= g.max)) return `z[${i}] = ${z[i]} is outside [${g.min}, ${g.max}]`;
  }
  return null;
}

function checkMean(g: Group, z: ArrayLike<number>): string | null {
  const before = mean(g, g.rewards);
  const after = mean(g, z);
  const scale = Math.max(Math.abs(g.min), Math.abs(g.max));
  if (Math.abs(after - before) > 1e-12 * scale) return `mean ${after} differs from ${before}`;
  return null;
}

function checkOrder(g: Group, z: ArrayLike<number>): string | null {
  for (let i = 0; i < z.length; i++) {
    for (let j = 0; j < z.length; j++) {
      if (g.rewards[i] > g.rewards[j] && z[i] < z[j]) {
        return `rewards[${i}] > rewards[${j}] but z[${i}] = ${z[i]} < z[${j}] = ${z[j]}`;
      }
    }
  }
  return null;
}

function checkTies(g: Group, z: ArrayLike<number>): string | null {
  for (let i = 0; i < z.length; i++) {
    for (let j = i + 1; j < z.length; j++) {
      if (g.rewards[i] === g.rewards[j] && z[i] !== z[j]) {
        return `rewards[${i}] = rewards[${j}] but z[${i}] = ${z[i]} != z[${j}] = ${z[j]}`;
      }
    }
  }
  return null;
}

function checkVarianceNotLower(g: Group, z: ArrayLike<number>): string | null {
  const before = variance(g, g.rewards);
  const after = variance(g, z);
  const span = g.max - g.min;
  // Rounding each answer to the grid can move the variance by about 2 * span * grid.
  if (after < before - (1e-12 * span * span + 4 * span * gridOf(g)))
    return `variance fell from ${before} to ${after}`;
  return null;
}

function checkMatchesReference(g: Group, z: ArrayLike<number>): string | null {
  const reference = adjustRewardsBruteForce(g.rewards, g);
  const ours = normalizedObjective(g, z);
  const best = normalizedObjective(g, reference);
  const span = g.max - g.min;
  if (Math.abs(ours - best) > 1e-10 + (4 * gridOf(g)) / span) return `objective ${ours}, brute force ${best}`;
  // The optimum is unique on entries of positive weight. Where the weight is a tiny share of the total,
  // the threshold value is ill-conditioned (an error of eps * total in the mass moves it by eps * total / p_i).
  const total = accurateSum(g.rewards.map((_, i) => weightAt(g, i)));
  for (let i = 0; i < z.length; i++) {
    const p = weightAt(g, i);
    if (p === 0) continue;
    const tolerance = span * (1e-9 + (1e-11 * total) / p) + 4 * gridOf(g);
    if (Math.abs(z[i] - reference[i]) > tolerance) return `z[${i}] = ${z[i]}, brute force ${reference[i]}`;
  }
  return null;
}

const ALL_CHECKS = {
  checkBounds,
  checkMean,
  checkOrder,
  checkTies,
  checkVarianceNotLower,
  checkMatchesReference,
};

function violations(g: Group, z: ArrayLike<number>): string[] {
  const found: string[] = [];
  for (const [name, check] of Object.entries(ALL_CHECKS)) {
    const problem = check(g, z);
    if (problem !== null) found.push(`${name}: ${problem}`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// Random groups: ties (values drawn from a small pool), endpoints, zero weights, weights over
// many orders of magnitude, n from 1 to 64, narrow and wide ranges far from and around zero.
// ---------------------------------------------------------------------------------------------

const rangeArb: fc.Arbitrary<{ min: number; max: number }> = fc.oneof(
  fc.constant({ min: 0, max: 1 }),
  fc.constant({ min: -1, max: 1 }),
  fc
    .record({
      min: fc.double({ min: -1e4, max: 1e4, noNaN: true, noDefaultInfinity: true }),
      exponent: fc.integer({ min: -6, max: 6 }),
    })
    .map(({ min, exponent }) => ({ min, max: min + 10 ** exponent }))
    .filter(({ min, max }) => min < max),
);

/** A point of the range in unit coordinates, with the endpoints common. */
const unitArb = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 1, arbitrary: fc.constant(1) },
  { weight: 4, arbitrary: fc.double({ min: 0, max: 1, noNaN: true }) },
);

const weightArb = fc.oneof(
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
);

function toReward(u: number, min: number, max: number): number {
  if (u === 0) return min;
  if (u === 1) return max;
  return Math.min(max, Math.max(min, min + (max - min) * u));
}

const groupArb: fc.Arbitrary<Group> = fc
  .record({
    n: fc.integer({ min: 1, max: 64 }),
    poolSize: fc.integer({ min: 1, max: 64 }),
    range: rangeArb,
    weighted: fc.boolean(),
  })
  .chain(({ n, poolSize, range, weighted }) =>
    fc
      .record({
        pool: fc.array(unitArb, { minLength: poolSize, maxLength: poolSize }),
        picks: fc.array(fc.nat(poolSize - 1), { minLength: n, maxLength: n }),
        weights: weighted
          ? fc
              .array(weightArb, { minLength: n, maxLength: n })
              .map((w) => (w.some((p) => p > 0) ? w : [1, ...w.slice(1)]))
          : fc.constant(undefined),
      })
      .map(({ pool, picks, weights }): Group => {
        const rewards = picks.map((k) => toReward(pool[k], range.min, range.max));
        return weights === undefined ? { rewards, ...range } : { rewards, weights, ...range };
      }),
  );

const NUM_RUNS = 1500;

describe('adjustRewards on random groups', () => {
  it('satisfies every constraint and matches the brute-force optimum', () => {
    fc.assert(
      fc.property(groupArb, (g) => {
        const z = adjustRewards(g.rewards, g);
        expect(violations(g, z).join('\n')).toBe('');
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('is never beaten by a random feasible point', () => {
    // Random monotone points in unit coordinates, pulled towards all-min or all-max until the mean fits:
    // every such point is feasible, so none may have a larger objective than the solver's answer.
    fc.assert(
      fc.property(
        groupArb,
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 64, maxLength: 64 }),
        (g, raw) => {
          const span = g.max - g.min;
          const n = g.rewards.length;
          const values = [...new Set(g.rewards)].sort((a, b) => b - a);
          const levels = raw.slice(0, values.length).sort((a, b) => b - a);
          const levelOf = new Map(values.map((v, k) => [v, levels[k]]));
          const u = g.rewards.map((r) => levelOf.get(r)!);
          const target = accurateSum(g.rewards.map((r, i) => (weightAt(g, i) * (r - g.min)) / span));
          const current = accurateSum(u.map((x, i) => weightAt(g, i) * x));
          const total = accurateSum(u.map((_, i) => weightAt(g, i)));
          const point =
            current >= target
              ? u.map((x) => (current === 0 ? 0 : (x * target) / current))
              : u.map((x) => 1 - ((1 - x) * (total - target)) / (total - current));
          const z = adjustRewards(g.rewards, g);
          const zUnit = Array.from(z, (x) => (x - g.min) / span);
          const objective = (v: number[]): number =>
            accurateSum(v.map((x, i) => weightAt(g, i) * x * x)) / total;
          expect(objective(point)).toBeLessThanOrEqual(objective(zUnit) + 1e-10);
          expect(point.length).toBe(n);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('leaves binary rewards unchanged', () => {
    fc.assert(
      fc.property(
        rangeArb,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 64 }),
        fc.option(
          fc.array(fc.double({ min: 1e-6, max: 1e6, noNaN: true }), { minLength: 64, maxLength: 64 }),
        ),
        ({ min, max }, bits, rawWeights) => {
          const rewards = bits.map((b) => (b ? max : min));
          const weights = rawWeights === null ? undefined : rawWeights.slice(0, rewards.length);
          // `+ 0` turns -0 into 0: a bound of -0 may come back as 0, which is the same reward.
          expect(Array.from(adjustRewards(rewards, { min, max, weights }), (x) => x + 0)).toEqual(
            rewards.map((x) => x + 0),
          );
        },
      ),
    );
  });

  it('leaves all-equal rewards unchanged', () => {
    fc.assert(
      fc.property(
        rangeArb,
        unitArb,
        fc.integer({ min: 1, max: 64 }),
        fc.boolean(),
        ({ min, max }, u, n, weighted) => {
          const rewards = new Array<number>(n).fill(toReward(u, min, max));
          const weights = weighted ? rewards.map((_, i) => 1 + i) : undefined;
          expect(Array.from(adjustRewards(rewards, { min, max, weights }), (x) => x + 0)).toEqual(
            rewards.map((x) => x + 0),
          );
        },
      ),
    );
  });

  it('permutes its output when the input is permuted', () => {
    fc.assert(
      fc.property(groupArb, fc.array(fc.nat(), { minLength: 64, maxLength: 64 }), (g, keys) => {
        const n = g.rewards.length;
        const perm = Array.from({ length: n }, (_, i) => i).sort((a, b) => keys[a] - keys[b] || a - b);
        const permuted: Group = {
          ...g,
          rewards: perm.map((i) => g.rewards[i]),
          weights: g.weights === undefined ? undefined : perm.map((i) => g.weights![i]),
        };
        const z = adjustRewards(g.rewards, g);
        const zp = adjustRewards(permuted.rewards, permuted);
        // Sums run in another order, so the answers agree up to rounding: tau moves by a few ulps, and
        // the threshold value by that much over its share of the weight. Zero-weight entries are free.
        const total = g.rewards.reduce((s, _, i) => s + weightAt(g, i), 0);
        const span = g.max - g.min;
        for (let j = 0; j < n; j++) {
          const p = weightAt(permuted, j);
          if (p === 0) continue;
          const tolerance = span * (1e-13 + (1e-13 * total) / p) + 4 * gridOf(g);
          expect(Math.abs(zp[j] - z[perm[j]])).toBeLessThanOrEqual(tolerance);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('commutes with affine maps of rewards and range, including order-reversing ones', () => {
    fc.assert(
      fc.property(
        groupArb,
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        fc.boolean(),
        fc.double({ min: -1e3, max: 1e3, noNaN: true }),
        (g, magnitude, flip, shift) => {
          const scale = flip ? -magnitude : magnitude;
          const map = (x: number): number => scale * x + shift;
          const [min, max] = flip ? [map(g.max), map(g.min)] : [map(g.min), map(g.max)];
          fc.pre(min < max);
          const mapped: Group = { ...g, rewards: g.rewards.map(map), min, max };
          // Mapped rewards can round a hair outside the mapped range; the map itself is then not representable.
          fc.pre(mapped.rewards.every((r) => r >= min && r <= max));
          const z = adjustRewards(g.rewards, g);
          const zm = adjustRewards(mapped.rewards, mapped);
          const total = g.rewards.reduce((s, _, i) => s + weightAt(g, i), 0);
          const span = max - min;
          for (let i = 0; i < z.length; i++) {
            const p = weightAt(g, i);
            if (p === 0) continue;
            const tolerance = span * (1e-9 + (1e-11 * total) / p) + 4 * (gridOf(g) + gridOf(mapped));
            expect(Math.abs(zm[i] - map(z[i]))).toBeLessThanOrEqual(tolerance);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('adjustRewards on every order of small groups', () => {
  function* permutations(items: number[], from = 0): Generator<number[]> {
    if (from === items.length) {
      yield items.slice();
      return;
    }
    for (let i = from; i < items.length; i++) {
      [items[from], items[i]] = [items[i], items[from]];
      yield* permutations(items, from + 1);
      [items[from], items[i]] = [items[i], items[from]];
    }
  }

  // Every arrangement of 7 values reaches every path of an order-dependent algorithm (pivot choices,
  // unbalanced rounds) that a group of this size can take; the values put the threshold high, low,
  // in the middle and on a tie.
  const bases = [
    [0.05, 0.1, 0.3, 0.45, 0.6, 0.8, 0.95],
    [0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.1],
    [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.99],
    [0.2, 0.2, 0.5, 0.5, 0.5, 0.9, 0.9],
  ];
  for (const base of bases) {
    it(`all 5040 orders of [${base.join(', ')}]`, () => {
      for (const rewards of permutations([...base])) {
        const g: Group = { rewards, min: 0, max: 1 };
        const found = violations(g, adjustRewards(rewards, g));
        if (found.length > 0) expect(`${JSON.stringify(rewards)}: ${found.join('; ')}`).toBe('');
      }
    });
  }
});

describe('adjustRewards on orders that defeat a middle pivot', () => {
  /**
   * Places `descending` so that the middle element of what is left (in input order) is always the
   * largest: a selection that pivots on the middle candidate then removes one candidate per round,
   * and the uniform solver has to fall back to sorting. Any other selection must still be exact here.
   */
  function middlePivotWorstCase(descending: number[]): number[] {
    const positions = descending.map((_, i) => i);
    const rewards = new Array<number>(descending.length);
    for (const value of descending) {
      const [position] = positions.splice(positions.length >> 1, 1);
      rewards[position] = value;
    }
    return rewards;
  }

  for (const n of [12, 16, 24, 33, 64]) {
    it(`n = ${n}: threshold at several depths, with and without ties among the last candidates`, () => {
      const topCount = Math.ceil(n / 2);
      for (const bottomLevel of [0.02, 0.2, 0.45]) {
        for (const [tiedHigh, tiedLow] of [
          [0, 0],
          [3, 0],
          [0, 4],
          [2, 3],
        ]) {
          // The top half is just below 1 and removed first; the bottom half decides where the threshold
          // falls. Ties sit at the upper end of the bottom half (where the threshold lands for small
          // bottom levels) and at its lower end.
          const top = Array.from({ length: topCount }, (_, i) => 0.999 - i * 1e-4);
          const count = n - topCount;
          const bottom = Array.from({ length: count }, (_, i) =>
            i < tiedHigh
              ? bottomLevel
              : i >= count - tiedLow
                ? bottomLevel / 4
                : bottomLevel * (1 - (i + 1) / (2 * count)),
          );
          const rewards = middlePivotWorstCase([...top, ...bottom]);
          const g: Group = { rewards, min: 0, max: 1 };
          expect(violations(g, adjustRewards(rewards, g)).join('\n')).toBe('');
        }
      }
    });
  }
});

describe('adjustGroups', () => {
  it('equals adjustRewards applied to each group', () => {
    const flatArb = fc
      .record({
        groupSize: fc.integer({ min: 1, max: 16 }),
        groups: fc.integer({ min: 1, max: 6 }),
        weighted: fc.boolean(),
      })
      .chain(({ groupSize, groups, weighted }) =>
        fc.record({
          groupSize: fc.constant(groupSize),
          entries: fc.array(fc.tuple(unitArb, weightArb), {
            minLength: groupSize * groups,
            maxLength: groupSize * groups,
          }),
          weighted: fc.constant(weighted),
        }),
      );
    fc.assert(
      fc.property(flatArb, ({ groupSize, entries, weighted }) => {
        const n = entries.length;
        const flat = entries.map(([u]) => u);
        // The first weight of each group is at least 1, so no group has all weights zero.
        const weights = weighted ? entries.map(([, p], i) => (i % groupSize === 0 ? p + 1 : p)) : undefined;
        const out = adjustGroups(flat, groupSize, { min: 0, max: 1, weights });
        for (let start = 0; start < n; start += groupSize) {
          const one = adjustRewards(flat.slice(start, start + groupSize), {
            min: 0,
            max: 1,
            weights: weights?.slice(start, start + groupSize),
          });
          expect(Array.from(out.subarray(start, start + groupSize))).toEqual(Array.from(one));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('accepts typed arrays and returns a fresh Float64Array without touching the input', () => {
    const flat = Float64Array.from([0.2, 0.4, 0.6, 0.8, 0.1, 0.9]);
    const copy = Float64Array.from(flat);
    const out = adjustGroups(flat, 3, { min: 0, max: 1, weights: new Float32Array([1, 1, 1, 1, 1, 1]) });
    expect(out).toBeInstanceOf(Float64Array);
    expect(out).not.toBe(flat);
    expect(flat).toEqual(copy);
    expect(out[0]).toBe(0);
    expect(out[2]).toBe(1);
  });
});

function expectClose(actual: ArrayLike<number>, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i], 14);
}

describe('hand-computed examples', () => {
  it('[0.9, 0.7, 0.6, 0.6, 0.2] in [0, 1] -> [1, 1, 0.5, 0.5, 0]', () => {
    // Mean 0.6, so 3 units of mass at the top: 0.9 and 0.7 take 2, the tied pair shares the third.
    const z = adjustRewards([0.9, 0.7, 0.6, 0.6, 0.2], { min: 0, max: 1 });
    expectClose(z, [1, 1, 0.5, 0.5, 0]);
    expect(z[2]).toBe(z[3]);
  });

  it('weights [1, 2, 1] on [0.8, 0.5, 0.2]: mean 0.5, variance 0.045 -> 0.125', () => {
    const g = { rewards: [0.8, 0.5, 0.2], weights: [1, 2, 1], min: 0, max: 1 };
    const z = adjustRewards(g.rewards, g);
    expectClose(z, [1, 0.5, 0]);
    expect(rewardVariance(g.rewards, g.weights)).toBeCloseTo(0.045, 14);
    expect(rewardVariance(z, g.weights)).toBeCloseTo(0.125, 14);
    expect(weightedMean(z, g.weights)).toBeCloseTo(0.5, 14);
  });

  it('range [-1, 1]: [0, 0.5, -0.5, 0.2] -> [-0.8, 1, -1, 1]', () => {
    // Unit coordinates 0.5, 0.75, 0.25, 0.6 sum to 2.1: two at the top, 0.1 left for the reward 0.
    const z = adjustRewards([0, 0.5, -0.5, 0.2], { min: -1, max: 1 });
    expectClose(z, [-0.8, 1, -1, 1]);
  });

  it('a zero-weight entry keeps the order but carries no mass', () => {
    const g = { rewards: [0.9, 0.5, 0.1], weights: [1, 0, 1], min: 0, max: 1 };
    const z = adjustRewards(g.rewards, g);
    expect(z[0]).toBe(1);
    expect(z[2]).toBe(0);
    expect(z[1]).toBeGreaterThanOrEqual(0);
    expect(z[1]).toBeLessThanOrEqual(1);
  });

  it('a single reward comes back as it is', () => {
    expect(Array.from(adjustRewards([0.3], { min: 0, max: 1 }))).toEqual([0.3]);
  });

  it('large groups (beyond the small-group sort) agree with the reference', () => {
    const n = 300;
    const rewards = Array.from({ length: n }, (_, i) => ((i * 7919) % 101) / 100);
    const weights = Array.from({ length: n }, (_, i) => 1 + ((i * 31) % 5));
    const g = { rewards, weights, min: 0, max: 1 };
    expect(violations(g, adjustRewards(rewards, g))).toEqual([]);
    const uniform = { rewards, min: 0, max: 1 };
    expect(violations(uniform, adjustRewards(rewards, uniform))).toEqual([]);
  });
});

describe('the checks themselves', () => {
  // Each check must be able to fail: feed it an answer that breaks exactly its constraint.
  const g: Group = { rewards: [0.9, 0.7, 0.6, 0.6, 0.2], min: 0, max: 1 };
  const good = [1, 1, 0.5, 0.5, 0];
  it('accept the known optimum', () => {
    expect(violations(g, good)).toEqual([]);
  });
  it('reject broken answers', () => {
    expect(checkBounds(g, [1.1, 1, 0.4, 0.4, 0])).not.toBeNull();
    expect(checkMean(g, [1, 1, 0.5, 0.5, 0.01])).not.toBeNull();
    expect(checkOrder(g, [1, 1, 0.5, 0.5, 0.6])).not.toBeNull();
    expect(checkTies(g, [1, 1, 0.6, 0.4, 0])).not.toBeNull();
    expect(checkVarianceNotLower(g, [0.6, 0.6, 0.6, 0.6, 0.6])).not.toBeNull();
    // Feasible and tie-preserving, but not the optimum.
    expect(checkMatchesReference(g, [1, 0.75, 0.625, 0.625, 0])).not.toBeNull();
  });
});
