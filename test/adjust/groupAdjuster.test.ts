import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { adjustRewards, GroupAdjuster } from '../../src/adjust/index.js';

// GroupAdjuster reuses scratch memory across groups; a group solved after larger or differently
// weighted ones must come out bit for bit as adjustRewards computes it alone.
describe('GroupAdjuster', () => {
  it('gives adjustRewards’ answer on a sequence of groups of changing sizes and weighting', () => {
    const groupArb = fc.integer({ min: 1, max: 80 }).chain((n) =>
      fc.record({
        rewards: fc.array(fc.oneof(fc.constant(0.5), fc.double({ min: 0, max: 1, noNaN: true })), {
          minLength: n,
          maxLength: n,
        }),
        weights: fc.option(
          fc.array(fc.double({ min: 0.01, max: 100, noNaN: true }), { minLength: n, maxLength: n }),
          {
            nil: undefined,
          },
        ),
      }),
    );
    fc.assert(
      fc.property(fc.array(groupArb, { minLength: 1, maxLength: 12 }), (groups) => {
        const adjuster = new GroupAdjuster();
        for (const { rewards, weights } of groups) {
          const options = weights === undefined ? { min: 0, max: 1 } : { min: 0, max: 1, weights };
          expect(Array.from(adjuster.adjust(rewards, options))).toEqual(
            Array.from(adjustRewards(rewards, options)),
          );
        }
      }),
      { numRuns: 300, seed: 1017 },
    );
  });

  it('checks its input as adjustRewards does', () => {
    const adjuster = new GroupAdjuster();
    expect(() => adjuster.adjust([0.5, 2], { min: 0, max: 1 })).toThrow(
      'rewards[1] is outside the range [0, 1] (2)',
    );
    expect(() => adjuster.adjust([0.5], { min: 0, max: 1, weights: [0] })).toThrow(
      'weights are all zero ([0])',
    );
  });
});
