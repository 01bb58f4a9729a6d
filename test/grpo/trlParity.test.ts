import { describe, expect, it } from 'vitest';
import {
  ADVANTAGE_SCALES,
  fracRewardZeroStd,
  groupAdvantages,
  hasZeroStd,
  sampleStd,
} from '../../src/grpo/advantages.js';
import {
  grpoObjective,
  IMPORTANCE_SAMPLING_LEVELS,
  LOSS_TYPES,
  type ObjectiveOptions,
  maskTokens,
} from '../../src/grpo/objective.js';
import { Rng } from '../../src/util/rng.js';
import { type TrlArgs, type TrlMicrobatch, trlAdvantages, trlMicrobatchLoss } from './trlReference.js';

/** Rewards in groups of `G`: some groups flat at values whose mean is inexact in binary (0.1, 1/3, ...). */
function rewardsWithFlatGroups(rng: Rng, groups: number, G: number): number[] {
  const flat = [0.1, 1 / 3, 0.7, 2.3e5 / 7, 0];
  const out: number[] = [];
  for (let g = 0; g < groups; g++) {
    const value = flat[rng.int(flat.length)];
    const isFlat = rng.uniform() < 0.4;
    for (let i = 0; i < G; i++) out.push(isFlat ? value : rng.uniform() * 3 - 1);
  }
  return out;
}

describe('advantages and reward statistics against TRL (_generate_and_score_completions)', () => {
  for (const scale of ADVANTAGE_SCALES) {
    it(`match TRL's formula, with exact zeros for flat groups (scale ${scale})`, () => {
      const rng = new Rng(scale.length);
      let flatGroups = 0;
      for (let trial = 0; trial < 50; trial++) {
        const G = 2 + rng.int(7);
        const rewards = rewardsWithFlatGroups(rng, 1 + rng.int(6), G);
        const ours = groupAdvantages(rewards, G, { scale, eps: 1e-4 });
        const trl = trlAdvantages(rewards, G, scale);
        for (let start = 0; start < rewards.length; start += G) {
          const flat = rewards.slice(start, start + G).every((r) => r === rewards[start]);
          for (let i = start; i < start + G; i++) {
            if (flat) {
              // TRL leaves rounding noise here (up to ~1e-8); grpovi gives exactly 0.
              expect(Object.is(ours[i], 0)).toBe(true);
              expect(Math.abs(trl.advantages[i])).toBeLessThan(1e-6);
            } else {
              expect(Math.abs(ours[i] - trl.advantages[i])).toBeLessThan(
                1e-9 * Math.max(1, Math.abs(ours[i])),
              );
            }
          }
          if (flat) flatGroups++;
        }
        if (Math.max(...rewards.map(Math.abs)) <= 1) {
          // Same zero-std test as TRL's isclose(std, 0) for rewards of magnitude up to 1.
          expect(fracRewardZeroStd(rewards, G, scale)).toBe(trl.fracRewardZeroStd);
        }
        expect(Math.abs(sampleStd(rewards) - trl.rewardStd)).toBeLessThan(1e-12 * Math.max(1, trl.rewardStd));
      }
      expect(flatGroups).toBeGreaterThan(10);
    });
  }

  it('count a group as flat up to the documented tolerance, relative to the rewards’ magnitude', () => {
    expect(hasZeroStd([0.1, 0.1, 0.1])).toBe(true);
    expect(hasZeroStd([1e9, 1e9 + 1e-7, 1e9])).toBe(true);
    expect(hasZeroStd([0.5, 0.5 + 1e-6, 0.5])).toBe(false);
    expect(hasZeroStd([1e9, 1e9 + 1, 1e9])).toBe(false);
  });

  it('frac_reward_zero_std under the batch scale is whether the whole batch is flat, as in TRL', () => {
    const mixed = [0.2, 0.2, 0.1, 0.9];
    expect(fracRewardZeroStd(mixed, 2, 'batch')).toBe(trlAdvantages(mixed, 2, 'batch').fracRewardZeroStd);
    expect(fracRewardZeroStd(mixed, 2, 'batch')).toBe(0);
    expect(fracRewardZeroStd(mixed, 2, 'group')).toBe(0.5);
    expect(fracRewardZeroStd([0.4, 0.4, 0.4, 0.4], 2, 'batch')).toBe(1);
  });
});

function randomBatch(rng: Rng, rows: number, length: number, zeroRows = 0) {
  const n = rows * length;
  const logProbs = Float64Array.from({ length: n }, () => -3 * rng.uniform());
  // Ratios both inside the clip range and far outside it, on both sides.
  const oldLogProbs = logProbs.map(
    (lp) => lp + (rng.uniform() < 0.5 ? 0.05 : 0.7) * (rng.uniform() < 0.5 ? -1 : 1),
  );
  const refLogProbs = logProbs.map((lp) => lp + rng.normal() * 0.3);
  const advantages = Float64Array.from({ length: rows }, (_, b) => (b < zeroRows ? 0 : rng.normal()));
  const mask = new Float64Array(n);
  for (let b = 0; b < rows; b++) {
    // Some rows fully masked, as mask_truncated_completions leaves them.
    const len = rng.uniform() < 0.15 ? 0 : 1 + rng.int(length);
    for (let t = 0; t < len; t++) mask[b * length + t] = 1;
  }
  return { rows, length, logProbs, oldLogProbs, refLogProbs, advantages, mask };
}

function toTrl(batch: ReturnType<typeof randomBatch>): TrlMicrobatch {
  const rowsOf = (values: Float64Array) =>
    Array.from({ length: batch.rows }, (_, b) =>
      Array.from(values.subarray(b * batch.length, (b + 1) * batch.length)),
    );
  return {
    perTokenLogps: rowsOf(batch.logProbs),
    oldPerTokenLogps: rowsOf(batch.oldLogProbs),
    refPerTokenLogps: rowsOf(batch.refLogProbs),
    advantages: Array.from(batch.advantages),
    completionMask: rowsOf(batch.mask),
  };
}

describe('grpoObjective against TRL (_compute_loss)', () => {
  for (const lossType of LOSS_TYPES) {
    for (const level of IMPORTANCE_SAMPLING_LEVELS) {
      for (const delta of [undefined, 1.5]) {
        it(`loss, KL and clip ratios agree: loss_type ${lossType}, importance_sampling_level ${level}, delta ${delta}`, () => {
          const rng = new Rng(lossType.length * 7 + level.length + (delta ? 1 : 0));
          let sawClip = 0;
          for (let trial = 0; trial < 40; trial++) {
            const rows = 1 + rng.int(8);
            // At least 2 tokens: with one, TRL's global_masked_mean takes the [B, 1] branch and ignores the mask.
            const batch = randomBatch(rng, rows, 2 + rng.int(6), rng.int(2));
            const options: ObjectiveOptions = {
              epsilon: 0.2,
              epsilonHigh: rng.uniform() < 0.5 ? 0.2 : 0.28,
              beta: rng.uniform() < 0.5 ? 0 : 0.04,
              lossType,
              maxCompletionLength: 8,
              importanceSamplingLevel: level,
              delta,
            };
            const accumulationSteps = 1 + rng.int(4);
            const batchTokens = maskTokens(batch.mask) + rng.int(20);
            const args: TrlArgs = {
              loss_type: lossType,
              beta: options.beta,
              epsilon: options.epsilon,
              epsilon_high: options.epsilonHigh,
              delta,
              importance_sampling_level: level,
              max_completion_length: 8,
            };
            const ours = grpoObjective(batch, options, { batchTokens, accumulationSteps });
            const trl = trlMicrobatchLoss(toTrl(batch), args, {
              currentGradientAccumulationSteps: accumulationSteps,
              numItemsInBatch: batchTokens,
            });
            expect(Math.abs(ours.loss - trl.loss)).toBeLessThan(1e-12 * Math.max(1, Math.abs(trl.loss)));
            expect(ours.clipLow).toBeCloseTo(trl.clipLow, 14);
            expect(ours.clipHigh).toBeCloseTo(trl.clipHigh, 14);
            expect(ours.clipFraction).toBeCloseTo(trl.clipRegion, 14);
            if (trl.kl !== undefined) expect(ours.kl).toBeCloseTo(trl.kl, 12);
            if (trl.clipRegion > 0) sawClip++;
          }
          expect(sawClip).toBeGreaterThan(5);
        });
      }
    }
  }

  it('zero advantages are never counted as clipped, while TRL-like rounding noise would be', () => {
    const rng = new Rng(5);
    const batch = randomBatch(rng, 6, 5, 6);
    const options: ObjectiveOptions = {
      epsilon: 0.2,
      epsilonHigh: 0.2,
      beta: 0,
      lossType: 'dapo',
      maxCompletionLength: 5,
    };
    const exact = grpoObjective(batch, options);
    expect(exact.clipFraction).toBe(0);
    expect(exact.loss).toBe(0);
    const noisy = grpoObjective(
      { ...batch, advantages: batch.advantages.map((_, i) => (i % 2 ? 1e-12 : -1e-12)) },
      options,
    );
    expect(noisy.clipFraction).toBeGreaterThan(0.05);
  });
});
