/**
 * Facts of the theory the experiments lean on, checked directly:
 * - with the group std scale, GRPO's advantages do not change under a positive affine map of a
 *   group's rewards (apart from the epsilon added to the std);
 * - with groups of two and the group scale, GRPO and GRPOVI give the same advantages.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { groupAdvantages, hasZeroStd, sampleStd } from '../../src/grpo/advantages.js';
import { transformRewards } from '../../src/grpo/rewardTransform.js';

const groupOf = (size: number) =>
  fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: size, maxLength: size });

describe('group-scaled advantages under a positive affine map a r + b', () => {
  it('are unchanged with eps = 0, up to rounding', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }).chain(groupOf),
        fc.double({ min: 1e-3, max: 1e3, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        (rewards, a, b) => {
          fc.pre(sampleStd(rewards) > 1e-6);
          const mapped = rewards.map((r) => a * r + b);
          // A map that squeezes the group below the zero-std tolerance gives exact zeros instead (next test).
          fc.pre(!hasZeroStd(mapped));
          const before = groupAdvantages(rewards, rewards.length, { scale: 'group', eps: 0 });
          const after = groupAdvantages(mapped, rewards.length, { scale: 'group', eps: 0 });
          for (let i = 0; i < rewards.length; i++) expect(Math.abs(after[i] - before[i])).toBeLessThan(1e-6);
        },
      ),
    );
  });

  it('with eps > 0 differ exactly by the epsilon term: A(ar+b) - A(r) = (r - mean) eps (a - 1) / ((a s + eps)(s + eps))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }).chain(groupOf),
        fc.double({ min: 1e-2, max: 1e2, noNaN: true }),
        fc.double({ min: -10, max: 10, noNaN: true }),
        fc.constantFrom(1e-4, 1e-2),
        (rewards, a, b, eps) => {
          const n = rewards.length;
          fc.pre(!hasZeroStd(rewards) && !hasZeroStd(rewards.map((r) => a * r + b)));
          const before = groupAdvantages(rewards, n, { scale: 'group', eps });
          const after = groupAdvantages(
            rewards.map((r) => a * r + b),
            n,
            { scale: 'group', eps },
          );
          const s = sampleStd(rewards);
          const mean = rewards.reduce((t, r) => t + r, 0) / n;
          for (let i = 0; i < n; i++) {
            const predicted = ((rewards[i] - mean) * eps * (a - 1)) / ((a * s + eps) * (s + eps));
            expect(after[i] - before[i]).toBeCloseTo(predicted, 6);
          }
        },
      ),
    );
  });

  it('a group whose mapped std falls within the zero-std tolerance gets exact zero advantages', () => {
    const rewards = [0.2, 0.6, 0.9, 0.4];
    const squeezed = rewards.map((r) => 1e-9 * r + 0.5);
    expect(hasZeroStd(squeezed)).toBe(true);
    expect(Array.from(groupAdvantages(squeezed, 4, { scale: 'group', eps: 0 }))).toEqual([0, 0, 0, 0]);
    expect(groupAdvantages(rewards, 4, { scale: 'group', eps: 0 }).every((v) => v !== 0)).toBe(true);
  });

  it('without the std scale (none) the advantages scale by a: the map is not neutral there', () => {
    const rewards = [0.2, 0.5, 0.9, 0.4];
    const before = groupAdvantages(rewards, 4, { scale: 'none', eps: 1e-4 });
    const after = groupAdvantages(
      rewards.map((r) => 0.1 * r + 0.45),
      4,
      { scale: 'none', eps: 1e-4 },
    );
    for (let i = 0; i < 4; i++) expect(after[i]).toBeCloseTo(0.1 * before[i], 14);
  });
});

describe('groups of two with the group std scale', () => {
  it('GRPO and GRPOVI give identical advantages with eps = 0, for any weights', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((groups) =>
          fc.record({
            rewards: fc.array(
              fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.5, 1)),
              {
                minLength: 2 * groups,
                maxLength: 2 * groups,
              },
            ),
            logWeights: fc.array(fc.double({ min: -30, max: 0, noNaN: true }), {
              minLength: 2 * groups,
              maxLength: 2 * groups,
            }),
          }),
        ),
        fc.constantFrom('uniform', 'probability'),
        ({ rewards, logWeights }, weights) => {
          const raw = Float64Array.from(rewards);
          // A gap of a few ulps leaves GRPO's own advantages at the mercy of rounding in the mean.
          for (let i = 0; i < raw.length; i += 2) {
            const gap = Math.abs(raw[i] - raw[i + 1]);
            fc.pre(gap === 0 || gap > 1e-9);
          }
          const adjusted = transformRewards(raw, {
            kind: 'variance-increase',
            groupSize: 2,
            range: [0, 1],
            weights: weights as 'uniform' | 'probability',
            refLogProbs: logWeights,
          });
          const grpo = groupAdvantages(raw, 2, { scale: 'group', eps: 0 });
          const grpovi = groupAdvantages(adjusted, 2, { scale: 'group', eps: 0 });
          for (let i = 0; i < raw.length; i++) {
            // Two distinct values give +-1/sqrt(2) whatever their gap; equal ones give 0 (0/0 is NaN for both).
            if (Number.isNaN(grpo[i])) expect(grpovi[i]).toBeNaN();
            else expect(grpovi[i]).toBeCloseTo(grpo[i], 9);
          }
        },
      ),
    );
  });

  it('with eps > 0 they differ only through eps: both tend to +-1/sqrt(2), and GRPOVI is the closer', () => {
    const raw = Float64Array.from([0.52, 0.48, 0.3, 0.9, 0.5, 0.5]);
    const eps = 1e-4;
    const adjusted = transformRewards(raw, { kind: 'variance-increase', groupSize: 2, range: [0, 1] });
    const grpo = groupAdvantages(raw, 2, { scale: 'group', eps });
    const grpovi = groupAdvantages(adjusted, 2, { scale: 'group', eps });
    for (let i = 0; i < 4; i++) {
      const limit = Math.sign(grpo[i]) / Math.SQRT2;
      expect(Math.sign(grpovi[i])).toBe(Math.sign(grpo[i]));
      // |A| = (d/2) / (d/sqrt(2) + eps) for a gap d: within eps*sqrt(2)/d of the limit, relatively.
      const gap = Math.abs(raw[i] - raw[i ^ 1]);
      expect(Math.abs(grpo[i] - limit)).toBeLessThan(((eps * Math.SQRT2) / gap) * Math.abs(limit));
      expect(Math.abs(grpovi[i] - limit)).toBeLessThanOrEqual(Math.abs(grpo[i] - limit));
    }
    expect([grpo[4], grpo[5], grpovi[4], grpovi[5]]).toEqual([0, 0, 0, 0]);
  });
});
