import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adjustGroups } from '../../src/adjust/index.js';
import { sampleStd } from '../../src/grpo/advantages.js';
import { blendGroups, transformRewards } from '../../src/grpo/rewardTransform.js';

/** Groups of rewards in [0, 1] with repeated values now and then (ties are where order constraints bite). */
const batch = fc
  .record({ groups: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 2, max: 7 }) })
  .chain(({ groups, size }) =>
    fc
      .array(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.25, 0.5, 1)), {
        minLength: groups * size,
        maxLength: groups * size,
      })
      .map((values) => ({ size, rewards: Float64Array.from(values) })),
  );

const variance = (r: ArrayLike<number>, start: number, end: number) => sampleStd(r, start, end) ** 2;

describe('grpovi_strength: (1 - L) r + L z', () => {
  it('L = 0 returns the raw rewards and L = 1 the adjusted ones, bit for bit', () => {
    fc.assert(
      fc.property(batch, ({ size, rewards }) => {
        const base = { kind: 'variance-increase' as const, groupSize: size, range: [0, 1] as const };
        const z = adjustGroups(rewards, size, { min: 0, max: 1 });
        expect(Array.from(transformRewards(rewards, { ...base, strength: 0 }))).toEqual(Array.from(rewards));
        expect(Array.from(transformRewards(rewards, { ...base, strength: 1 }))).toEqual(Array.from(z));
        expect(Array.from(transformRewards(rewards, base))).toEqual(Array.from(z));
      }),
    );
  });

  it('every blend is feasible: in range, same group mean, order kept, ties kept, variance between r and z', () => {
    fc.assert(
      fc.property(batch, fc.double({ min: 0, max: 1, noNaN: true }), ({ size, rewards }, strength) => {
        const z = adjustGroups(rewards, size, { min: 0, max: 1 });
        const out = transformRewards(rewards, {
          kind: 'variance-increase',
          groupSize: size,
          range: [0, 1],
          strength,
        });
        for (let start = 0; start < rewards.length; start += size) {
          const end = start + size;
          let meanIn = 0;
          let meanOut = 0;
          for (let i = start; i < end; i++) {
            expect(out[i]).toBeGreaterThanOrEqual(0);
            expect(out[i]).toBeLessThanOrEqual(1);
            meanIn += rewards[i] / size;
            meanOut += out[i] / size;
            for (let j = start; j < end; j++) {
              if (rewards[i] > rewards[j]) expect(out[i]).toBeGreaterThanOrEqual(out[j]);
              if (rewards[i] === rewards[j]) expect(out[i]).toBe(out[j]);
            }
          }
          expect(Math.abs(meanOut - meanIn)).toBeLessThan(1e-12);
          // Var((1-L) r + L z) lies between Var(r) and Var(z) because Var(z) >= Var(r) and Cov(r, z) >= Var(r).
          expect(variance(out, start, end)).toBeGreaterThanOrEqual(variance(rewards, start, end) - 1e-12);
          expect(variance(out, start, end)).toBeLessThanOrEqual(variance(z, start, end) + 1e-12);
        }
      }),
    );
  });

  it('is the straight line between r and z: the blend at L equals (1 - L) r + L z computed by hand', () => {
    const r = Float64Array.from([0.4, 0.5, 0.6, 0.5]);
    const z = adjustGroups(r, 4, { min: 0, max: 1 });
    const out = blendGroups(r, z, 4, { min: 0, max: 1, strength: 0.25 });
    for (let i = 0; i < 4; i++) expect(out[i]).toBeCloseTo(0.75 * r[i] + 0.25 * z[i], 15);
    expect(() =>
      transformRewards(r, { kind: 'variance-increase', groupSize: 4, range: [0, 1], strength: 1.5 }),
    ).toThrow(/strength must be in \[0, 1\] \(1\.5\)/);
  });
});

describe('grpovi_max_std: adjust only low-variance groups', () => {
  it('a group whose std is at least the threshold keeps its rewards; one below it is adjusted', () => {
    fc.assert(
      fc.property(batch, fc.double({ min: 0.01, max: 0.6, noNaN: true }), ({ size, rewards }, maxStd) => {
        const z = adjustGroups(rewards, size, { min: 0, max: 1 });
        const out = transformRewards(rewards, {
          kind: 'variance-increase',
          groupSize: size,
          range: [0, 1],
          maxStd,
        });
        for (let start = 0; start < rewards.length; start += size) {
          const expected = sampleStd(rewards, start, start + size) < maxStd ? z : rewards;
          expect(Array.from(out.subarray(start, start + size))).toEqual(
            Array.from(expected.subarray(start, start + size)),
          );
        }
      }),
    );
  });

  it('combines with the strength: only the adjusted groups are blended', () => {
    const r = Float64Array.from([0.49, 0.5, 0.51, 0, 1, 0.5]);
    const z = adjustGroups(r, 3, { min: 0, max: 1 });
    const out = transformRewards(r, {
      kind: 'variance-increase',
      groupSize: 3,
      range: [0, 1],
      strength: 0.5,
      maxStd: 0.1,
    });
    for (let i = 0; i < 3; i++) expect(out[i]).toBeCloseTo(0.5 * r[i] + 0.5 * z[i], 15);
    expect(Array.from(out.subarray(3))).toEqual([0, 1, 0.5]);
  });
});
