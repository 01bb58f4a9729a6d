import {
  adjustGroups,
  adjustRewards,
  adjustRewardsBruteForce,
  type NumberArray,
  RewardInputError,
  rewardVariance,
  weightedMean,
} from 'grpovi';
import { describe, expect, it } from 'vitest';

/** Runs `action`, expects a RewardInputError and returns it. */
function rewardError(action: () => unknown): RewardInputError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(RewardInputError);
    return error as RewardInputError;
  }
  throw new Error('expected a RewardInputError, but nothing was thrown');
}

interface Case {
  name: string;
  rewards: NumberArray;
  min: number;
  max: number;
  weights?: NumberArray;
  /** The exact message: field, problem and the bad value in parentheses. */
  message: string;
  field: string;
}

const cases: Case[] = [
  {
    name: 'empty group',
    rewards: [],
    min: 0,
    max: 1,
    message: 'rewards must not be empty ([])',
    field: 'rewards',
  },
  {
    name: 'NaN reward',
    rewards: [0.5, Number.NaN],
    min: 0,
    max: 1,
    message: 'rewards[1] is not a finite number (NaN)',
    field: 'rewards[1]',
  },
  {
    name: 'infinite reward',
    rewards: [Number.POSITIVE_INFINITY, 0.5],
    min: 0,
    max: 1,
    message: 'rewards[0] is not a finite number (Infinity)',
    field: 'rewards[0]',
  },
  {
    name: 'string reward',
    rewards: [0.5, '0.7' as unknown as number],
    min: 0,
    max: 1,
    message: 'rewards[1] is not a finite number ("0.7")',
    field: 'rewards[1]',
  },
  {
    name: 'reward above the range',
    rewards: [0.2, 0.4, 0.6, 1.5],
    min: 0,
    max: 1,
    message: 'rewards[3] is outside the range [0, 1] (1.5)',
    field: 'rewards[3]',
  },
  {
    name: 'reward below the range',
    rewards: [-0.25, 0.4],
    min: 0,
    max: 1,
    message: 'rewards[0] is outside the range [0, 1] (-0.25)',
    field: 'rewards[0]',
  },
  {
    name: 'min above max',
    rewards: [0.5],
    min: 2,
    max: 1,
    message: 'min must be less than max = 1 (2)',
    field: 'min',
  },
  {
    name: 'min equal to max',
    rewards: [1],
    min: 1,
    max: 1,
    message: 'min must be less than max = 1 (1)',
    field: 'min',
  },
  {
    name: 'NaN min',
    rewards: [0.5],
    min: Number.NaN,
    max: 1,
    message: 'min must be a finite number (NaN)',
    field: 'min',
  },
  {
    name: 'infinite max',
    rewards: [0.5],
    min: 0,
    max: Number.POSITIVE_INFINITY,
    message: 'max must be a finite number (Infinity)',
    field: 'max',
  },
  {
    name: 'weights too short',
    rewards: [0.1, 0.2, 0.3],
    min: 0,
    max: 1,
    weights: [1, 1],
    message: 'weights must have one weight per reward (3), got length (2)',
    field: 'weights',
  },
  {
    name: 'negative weight',
    rewards: [0.1, 0.2, 0.3],
    min: 0,
    max: 1,
    weights: [1, -0.5, 1],
    message: 'weights[1] is negative (-0.5)',
    field: 'weights[1]',
  },
  {
    name: 'NaN weight',
    rewards: [0.1, 0.2, 0.3],
    min: 0,
    max: 1,
    weights: [1, 1, Number.NaN],
    message: 'weights[2] is not a finite number (NaN)',
    field: 'weights[2]',
  },
  {
    name: 'infinite weight',
    rewards: [0.1, 0.2],
    min: 0,
    max: 1,
    weights: [Number.POSITIVE_INFINITY, 1],
    message: 'weights[0] is not a finite number (Infinity)',
    field: 'weights[0]',
  },
  {
    name: 'all weights zero',
    rewards: [0.1, 0.2, 0.3],
    min: 0,
    max: 1,
    weights: [0, 0, 0],
    message: 'weights are all zero ([0,0,0])',
    field: 'weights',
  },
];

describe('RewardInputError for every bad input', () => {
  for (const c of cases) {
    it(`${c.name}: adjustRewards and the brute force both reject it, naming the value`, () => {
      const options = { min: c.min, max: c.max, weights: c.weights };
      for (const solve of [adjustRewards, adjustRewardsBruteForce]) {
        const error = rewardError(() => solve(c.rewards, options));
        expect(error.message).toBe(c.message);
        expect(error.field).toBe(c.field);
      }
    });
  }

  it('adjustGroups checks the flat rewards like adjustRewards does, with flat indices', () => {
    const error = rewardError(() => adjustGroups([0.1, 0.2, 0.3, 1.2], 2, { min: 0, max: 1 }));
    expect(error.message).toBe('rewards[3] is outside the range [0, 1] (1.2)');
  });

  it('adjustGroups checks typed arrays too, with the same messages', () => {
    const bad: Array<[Float64Array | Float32Array, string]> = [
      [Float64Array.from([0.1, 0.2, 0.3, Number.NaN]), 'rewards[3] is not a finite number (NaN)'],
      [
        Float64Array.from([0.1, Number.NEGATIVE_INFINITY, 0.3, 0.4]),
        'rewards[1] is not a finite number (-Infinity)',
      ],
      [Float64Array.from([0.1, 0.2, 1.5, 0.4]), 'rewards[2] is outside the range [0, 1] (1.5)'],
      [Float32Array.from([0.5, 0.25, 0.5, -2]), 'rewards[3] is outside the range [0, 1] (-2)'],
    ];
    for (const [flat, message] of bad) {
      expect(rewardError(() => adjustGroups(flat, 2, { min: 0, max: 1 })).message).toBe(message);
      expect(
        rewardError(() => adjustGroups(flat, 4, { min: 0, max: 1, weights: [1, 1, 1, 1] })).message,
      ).toBe(message);
      expect(rewardError(() => adjustRewards(flat, { min: 0, max: 1 })).message).toBe(message);
    }
  });

  it('adjustGroups reports a bad reward before a bad group size', () => {
    for (const flat of [[0.1, 2, 0.3], Float64Array.from([0.1, 2, 0.3])]) {
      expect(rewardError(() => adjustGroups(flat, 2, { min: 0, max: 1 })).message).toBe(
        'rewards[1] is outside the range [0, 1] (2)',
      );
    }
    expect(rewardError(() => adjustGroups(new Float64Array(0), 2, { min: 0, max: 1 })).message).toBe(
      'rewards must not be empty ([])',
    );
  });

  it('adjustGroups: groupSize that does not divide the length', () => {
    const error = rewardError(() => adjustGroups([0.1, 0.2, 0.3, 0.4, 0.5], 2, { min: 0, max: 1 }));
    expect(error.message).toBe('groupSize must divide the number of rewards (5) (2)');
    expect(error.field).toBe('groupSize');
    expect(error.value).toBe(2);
  });

  it('adjustGroups: groupSize that is not a positive integer', () => {
    for (const bad of [0, -2, 1.5, Number.NaN]) {
      const error = rewardError(() => adjustGroups([0.1, 0.2], bad, { min: 0, max: 1 }));
      expect(error.message).toBe(`groupSize must be a positive integer (${bad})`);
    }
  });

  it('adjustGroups: one group whose weights are all zero is named by its span', () => {
    const error = rewardError(() =>
      adjustGroups([0.1, 0.2, 0.3, 0.4], 2, { min: 0, max: 1, weights: [1, 2, 0, 0] }),
    );
    expect(error.message).toBe('weights[2..3] are all zero ([0,0])');
  });

  it('adjustGroups: weights of the wrong length', () => {
    const error = rewardError(() =>
      adjustGroups([0.1, 0.2, 0.3, 0.4], 2, { min: 0, max: 1, weights: [1, 1] }),
    );
    expect(error.message).toBe('weights must have one weight per reward (4), got length (2)');
  });

  it('weightedMean and rewardVariance reject empty input and bad weights', () => {
    expect(rewardError(() => weightedMean([])).message).toBe('rewards must not be empty ([])');
    expect(rewardError(() => rewardVariance([0.1, 0.2], [0, 0])).message).toBe(
      'weights are all zero ([0,0])',
    );
  });

  it('long bad values are shortened in the message', () => {
    const weights = new Array<number>(100).fill(0);
    const error = rewardError(() =>
      adjustRewards(new Array<number>(100).fill(0.5), { min: 0, max: 1, weights }),
    );
    expect(error.message.length).toBeLessThan(140);
    expect(error.message).toMatch(/^weights are all zero \(\[0,0,0,.*\.\.\.\)$/);
  });
});
