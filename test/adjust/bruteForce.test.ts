import fc from 'fast-check';
import { adjustRewards, adjustRewardsBruteForce } from 'grpovi';
import { describe, expect, it } from 'vitest';

/**
 * An independent reference for the reference: generic vertex enumeration of the feasible polytope.
 *
 * In block coordinates u_1 >= ... >= u_K (distinct rewards, largest first, in units of the range) the
 * feasible set is {1 >= u_1, u_k >= u_(k+1), u_K >= 0, sum_k w_k u_k = tau}. A convex objective attains
 * its maximum at a vertex, and every vertex makes K - 1 of the K + 1 inequalities tight together with
 * the equality. Trying every choice of K - 1 tight inequalities and solving the K x K system finds all
 * vertices without using the "top, one run, bottom" structure the brute force is built on.
 */
function vertexEnumerationOptimum(rewards: number[], weights: number[], min: number, max: number): number {
  const span = max - min;
  const values = [...new Set(rewards)].sort((a, b) => b - a);
  const K = values.length;
  const w = values.map((v) => rewards.reduce((s, r, i) => (r === v ? s + weights[i] : s), 0));
  const total = w.reduce((s, x) => s + x, 0);
  const tau = rewards.reduce((s, r, i) => s + (weights[i] * (r - min)) / span, 0);

  // Inequality j as (row, bound) meaning row . u <= bound; tight means equal.
  const inequalities: Array<{ row: number[]; bound: number }> = [];
  const unit = (k: number, sign: number): number[] =>
    Array.from({ length: K }, (_, m) => (m === k ? sign : 0));
  inequalities.push({ row: unit(0, 1), bound: 1 });
  for (let k = 0; k + 1 < K; k++) {
    const row = unit(k + 1, 1);
    row[k] = -1;
    inequalities.push({ row, bound: 0 });
  }
  inequalities.push({ row: unit(K - 1, -1), bound: 0 });

  let best = -Infinity;
  for (const chosen of subsets(inequalities.length, K - 1)) {
    const rows = [...chosen.map((j) => inequalities[j].row), w];
    const rhs = [...chosen.map((j) => inequalities[j].bound), tau];
    const u = solveLinear(rows, rhs);
    if (u === null) continue;
    const feasible = inequalities.every(({ row, bound }) => dot(row, u) <= bound + 1e-12);
    if (!feasible) continue;
    best = Math.max(
      best,
      dot(
        w,
        u.map((x) => x * x),
      ) / total,
    );
  }
  return best;
}

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i], 0);
}

function subsets(n: number, size: number): number[][] {
  if (size === 0) return [[]];
  const out: number[][] = [];
  for (let first = 0; first <= n - size; first++) {
    for (const rest of subsets(n - first - 1, size - 1)) out.push([first, ...rest.map((j) => j + first + 1)]);
  }
  return out;
}

/** Gaussian elimination with partial pivoting; null when the system is singular. */
function solveLinear(rows: number[][], rhs: number[]): number[] | null {
  const n = rhs.length;
  const a = rows.map((row, i) => [...row, rhs[i]]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    if (Math.abs(a[pivot][col]) < 1e-12) return null;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const factor = a[r][col] / a[col][col];
      for (let c = col; c <= n; c++) a[r][c] -= factor * a[col][c];
    }
  }
  return a.map((row, i) => row[n] / row[i]);
}

function normalizedObjective(z: ArrayLike<number>, weights: number[], min: number, max: number): number {
  const total = weights.reduce((s, x) => s + x, 0);
  let sum = 0;
  for (let i = 0; i < z.length; i++) sum += weights[i] * ((z[i] - min) / (max - min)) ** 2;
  return sum / total;
}

const tinyGroupArb = fc
  .record({
    pool: fc.array(fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 0, max: 1, noNaN: true })), {
      minLength: 1,
      maxLength: 5,
    }),
    n: fc.integer({ min: 1, max: 6 }),
  })
  .chain(({ pool, n }) =>
    fc.record({
      rewards: fc.array(fc.constantFrom(...pool), { minLength: n, maxLength: n }),
      weights: fc
        .array(fc.oneof(fc.constant(0), fc.constant(1), fc.double({ min: 1e-3, max: 1e3, noNaN: true })), {
          minLength: n,
          maxLength: n,
        })
        .map((w) => (w.some((p) => p > 0) ? w : [1, ...w.slice(1)])),
    }),
  );

describe('adjustRewardsBruteForce', () => {
  it('finds the optimum that generic vertex enumeration finds, on tiny groups', () => {
    fc.assert(
      fc.property(tinyGroupArb, ({ rewards, weights }) => {
        const expected = vertexEnumerationOptimum(rewards, weights, 0, 1);
        const brute = adjustRewardsBruteForce(rewards, { min: 0, max: 1, weights });
        const fast = adjustRewards(rewards, { min: 0, max: 1, weights });
        expect(normalizedObjective(brute, weights, 0, 1)).toBeCloseTo(expected, 9);
        expect(normalizedObjective(fast, weights, 0, 1)).toBeCloseTo(expected, 9);
      }),
      { numRuns: 1000 },
    );
  });

  it('returns a feasible point: in range, same weighted mean, order and ties kept', () => {
    fc.assert(
      fc.property(tinyGroupArb, ({ rewards, weights }) => {
        const z = adjustRewardsBruteForce(rewards, { min: 0, max: 1, weights });
        const mass = (v: ArrayLike<number>): number => rewards.reduce((s, _, i) => s + weights[i] * v[i], 0);
        // The reference accepts extreme points that miss the mean by up to 1e-12 of the total weight.
        const total = weights.reduce((s, p) => s + p, 0);
        expect(Math.abs(mass(z) - mass(rewards))).toBeLessThanOrEqual(2e-12 * total);
        for (let i = 0; i < rewards.length; i++) {
          expect(z[i]).toBeGreaterThanOrEqual(0);
          expect(z[i]).toBeLessThanOrEqual(1);
          for (let j = 0; j < rewards.length; j++) {
            if (rewards[i] > rewards[j]) expect(z[i]).toBeGreaterThanOrEqual(z[j]);
            if (rewards[i] === rewards[j]) expect(z[i]).toBe(z[j]);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('the vertex enumeration itself: hand-computed optimum of a 3-block example', () => {
    // Blocks 0.8, 0.5, 0.2 with weights 1, 2, 1: tau = 2, optimum u = (1, 0.5, 0) with objective 1.5 / 4.
    expect(vertexEnumerationOptimum([0.8, 0.5, 0.2], [1, 2, 1], 0, 1)).toBeCloseTo(0.375, 12);
    // Uniform weights, tau = 1.5 over three blocks: (1, 0.5, 0) beats (0.75, 0.75, 0) and (1, 0.25, 0.25).
    expect(vertexEnumerationOptimum([0.9, 0.5, 0.1], [1, 1, 1], 0, 1)).toBeCloseTo(1.25 / 3, 12);
  });
});
