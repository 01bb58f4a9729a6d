import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  algoStats,
  alignCurves,
  areaUnderCurve,
  type CurvePoint,
  evalCurve,
  firstStepReaching,
  headToHead,
  pairedDifference,
  perSeedStepsToTarget,
  quantile,
  type SeedRun,
  finalKl,
  seedAveragedCurve,
  spread,
  stepsToTarget,
} from '../../src/experiments/stats.js';
import type { MetricsRow } from '../../src/train/metrics.js';

const curve = (steps: number[], values: number[]): CurvePoint[] =>
  steps.map((step, i) => ({ step, value: values[i] }));

/** Metrics rows of a run: eval at the given steps (step 0 = start), training rows 1..last with the given stds. */
function rows(
  evals: Record<number, number>,
  last: number,
  std: (step: number) => [number, number],
  gold?: Record<number, number>,
): MetricsRow[] {
  const out: MetricsRow[] = [];
  for (let step = 0; step <= last; step++) {
    const row: MetricsRow = { step };
    if (step > 0) {
      const [raw, adjusted] = std(step);
      row.reward_std = raw;
      row.adjusted_reward_std = adjusted;
      row.reward_mean = 0.5;
    }
    if (step in evals) row.eval_reward = evals[step];
    if (gold && step in gold) row.eval_gold = gold[step];
    if (step === 0 && !(0 in evals)) continue;
    out.push(row);
  }
  return out;
}

describe('stepsToTarget', () => {
  it('finds the first evaluation step at or above 90% of GRPO’s improvement (hand-computed)', () => {
    // GRPO: 0.2 -> 0.6, improvement 0.4, target 0.2 + 0.36 = 0.56: first reached at step 4 (0.6).
    const grpo = curve([0, 2, 4, 6], [0.2, 0.4, 0.6, 0.6]);
    // GRPOVI: 0.58 >= 0.56 already at step 2.
    const grpovi = curve([0, 2, 4, 6], [0.2, 0.58, 0.7, 0.7]);
    const result = stepsToTarget(grpo, grpovi);
    expect(result.target).toBeCloseTo(0.56, 12);
    expect(result.grpo).toBe(4);
    expect(result.grpovi).toBe(2);
    expect(result.ratio).toBe(0.5);
  });

  it('uses the improvement up to the last step, even when the curve peaked earlier', () => {
    // Peak 0.9 at step 2, last 0.5: improvement 0.4 from 0.1, target 0.46, first reached at step 2.
    const result = stepsToTarget(curve([0, 2, 4], [0.1, 0.9, 0.5]), curve([0, 2, 4], [0.1, 0.3, 0.47]));
    expect(result.target).toBeCloseTo(0.46, 12);
    expect(result.grpo).toBe(2);
    expect(result.grpovi).toBe(4);
    expect(result.ratio).toBe(2);
  });

  it('is all null when GRPO does not improve', () => {
    const flat = stepsToTarget(curve([0, 5, 10], [0.3, 0.2, 0.3]), curve([0, 5, 10], [0.3, 0.8, 0.9]));
    expect(flat).toEqual({ target: null, grpo: null, grpovi: null, ratio: null });
    const worse = stepsToTarget(curve([0, 5], [0.5, 0.4]), curve([0, 5], [0.5, 0.9]));
    expect(worse).toEqual({ target: null, grpo: null, grpovi: null, ratio: null });
    expect(stepsToTarget(curve([0], [0.5]), curve([0], [0.5])).target).toBeNull();
  });

  it('gives null steps and ratio when GRPOVI never reaches the target', () => {
    const result = stepsToTarget(curve([0, 5, 10], [0, 0.5, 1]), curve([0, 5, 10], [0, 0.4, 0.89]));
    expect(result.target).toBeCloseTo(0.9, 12);
    expect(result.grpo).toBe(10);
    expect(result.grpovi).toBeNull();
    expect(result.ratio).toBeNull();
    expect(stepsToTarget(curve([0, 5, 10], [0, 0.5, 1]), undefined).grpovi).toBeNull();
  });

  it('counts a value equal to the target up to rounding as reaching it', () => {
    // 0.2 + 0.9 * (0.8 - 0.2) evaluates to 0.7400000000000002 in floating point; 0.74 must count.
    const target = 0.2 + 0.9 * (0.8 - 0.2);
    expect(target).toBeGreaterThan(0.74);
    expect(firstStepReaching(curve([0, 3, 6], [0.2, 0.74, 0.8]), target)).toBe(3);
    expect(
      stepsToTarget(curve([0, 3, 6], [0.2, 0.74, 0.8]), curve([0, 3, 6], [0.2, 0.5, 0.74])),
    ).toMatchObject({ grpo: 3, grpovi: 6, ratio: 2 });
    expect(firstStepReaching(curve([0, 3], [0.1, 0.99]), 1)).toBeNull();
  });
});

describe('curves over seeds', () => {
  it('takes mean and sample std per step (hand-computed)', () => {
    const band = seedAveragedCurve([curve([0, 2], [0.2, 0.4]), curve([0, 2], [0.4, 0.8])]);
    expect(band.map((p) => p.step)).toEqual([0, 2]);
    expect(band[0].mean).toBeCloseTo(0.3, 12);
    expect(band[1].mean).toBeCloseTo(0.6, 12);
    // Sample std of {a, b} is |a - b| / sqrt(2).
    expect(band[0].std).toBeCloseTo(0.2 / Math.SQRT2, 12);
    expect(band[1].std).toBeCloseTo(0.4 / Math.SQRT2, 12);
    expect(band[1].n).toBe(2);
    const three = seedAveragedCurve([curve([1], [1]), curve([1], [2]), curve([1], [6])]);
    // mean 3, deviations -2, -1, 3: sum of squares 14, / 2 = 7.
    expect(three[0].std).toBeCloseTo(Math.sqrt(7), 12);
  });

  it('has no std for a single seed', () => {
    expect(seedAveragedCurve([curve([0, 1], [0.1, 0.2])])[1]).toEqual({
      step: 1,
      mean: 0.2,
      std: null,
      n: 1,
    });
  });

  it('aligns on the steps every seed evaluated', () => {
    const { steps, values } = alignCurves([curve([0, 2, 4, 6], [1, 2, 3, 4]), curve([0, 4, 6], [5, 6, 7])]);
    expect(steps).toEqual([0, 4, 6]);
    expect(values).toEqual([
      [1, 3, 4],
      [5, 6, 7],
    ]);
  });

  it('reads evaluation points from metrics rows, step 0 included and training-only rows skipped', () => {
    const metrics = rows({ 0: 0.1, 2: 0.3, 4: 0.5 }, 4, () => [0.2, 0.2]);
    expect(evalCurve(metrics)).toEqual(curve([0, 2, 4], [0.1, 0.3, 0.5]));
    expect(evalCurve(metrics, 'eval_gold')).toEqual([]);
  });
});

describe('areaUnderCurve', () => {
  it('is the trapezoid area divided by the step span (hand-computed)', () => {
    // (0.2 + 0.4) / 2 * 2 + (0.4 + 0.6) / 2 * 4 = 0.6 + 2.0 = 2.6, over 6 steps.
    expect(areaUnderCurve(curve([0, 2, 6], [0.2, 0.4, 0.6]))).toBeCloseTo(2.6 / 6, 12);
    expect(areaUnderCurve(curve([3], [0.7]))).toBe(0.7);
  });

  it('of a constant curve is the constant, and lies between the min and max', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 2, maxLength: 12 }),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 12, maxLength: 12 }),
        (steps, values) => {
          steps.sort((a, b) => a - b);
          const c = curve(steps, values.slice(0, steps.length));
          const area = areaUnderCurve(c);
          const vs = c.map((p) => p.value);
          expect(area).toBeGreaterThanOrEqual(Math.min(...vs) - 1e-12);
          expect(area).toBeLessThanOrEqual(Math.max(...vs) + 1e-12);
          expect(areaUnderCurve(c.map((p) => ({ step: p.step, value: 0.25 })))).toBeCloseTo(0.25, 12);
        },
      ),
    );
  });

  it('of the seed-averaged curve equals the mean of the per-seed areas', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 4, maxLength: 4 }), {
          minLength: 1,
          maxLength: 5,
        }),
        (seeds) => {
          const steps = [0, 1, 3, 7];
          const curves = seeds.map((values) => curve(steps, values));
          const meanCurve = seedAveragedCurve(curves).map((p) => ({ step: p.step, value: p.mean }));
          const perSeed = curves.map(areaUnderCurve);
          expect(areaUnderCurve(meanCurve)).toBeCloseTo(
            perSeed.reduce((a, b) => a + b, 0) / perSeed.length,
            10,
          );
        },
      ),
    );
  });
});

describe('spread and quantiles', () => {
  it('gives type-7 quartiles (hand-computed)', () => {
    const s = spread([2, 0.5, 1])!;
    expect(s.median).toBe(1);
    expect(s.q1).toBeCloseTo(0.75, 12);
    expect(s.q3).toBeCloseTo(1.5, 12);
    expect(s.mean).toBeCloseTo(3.5 / 3, 12);
    expect(s.min).toBe(0.5);
    expect(s.max).toBe(2);
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(spread([])).toBeNull();
    expect(spread([4])).toEqual({ n: 1, mean: 4, std: null, median: 4, q1: 4, q3: 4, min: 4, max: 4 });
  });
});

describe('per-seed steps to target', () => {
  it('uses each seed’s own GRPO target and reports the ratio spread and the null cases', () => {
    const steps = [0, 2, 4, 6, 8];
    const grpo = [
      { seed: 0, curve: curve(steps, [0, 0.5, 1, 1, 1]) }, // target 0.9 at step 4
      { seed: 1, curve: curve(steps, [0, 0.2, 0.4, 0.6, 1]) }, // target 0.9 at step 8
      { seed: 2, curve: curve(steps, [0.5, 0.4, 0.5, 0.3, 0.5]) }, // no improvement
      { seed: 3, curve: curve(steps, [0, 1, 1, 1, 1]) }, // target 0.9 at step 2
      { seed: 9, curve: curve(steps, [0, 1, 1, 1, 1]) }, // no GRPOVI run: left out
    ];
    const grpovi = [
      { seed: 0, curve: curve(steps, [0, 0.95, 1, 1, 1]) }, // 2 -> ratio 0.5
      { seed: 1, curve: curve(steps, [0, 0.5, 0.9, 1, 1]) }, // 4 -> ratio 0.5
      { seed: 2, curve: curve(steps, [0.5, 0.9, 1, 1, 1]) },
      { seed: 3, curve: curve(steps, [0, 0.5, 0.8, 0.85, 0.89]) }, // never
    ];
    const result = perSeedStepsToTarget(grpo, grpovi);
    expect(result.seeds.map((s) => s.seed)).toEqual([0, 1, 2, 3]);
    expect(result.seeds.map((s) => s.ratio)).toEqual([0.5, 0.5, null, null]);
    expect(result.seeds[1]).toMatchObject({ grpo: 8, grpovi: 4 });
    expect(result.grpo_no_improvement).toBe(1);
    expect(result.grpovi_never_reached).toBe(1);
    expect(result.ratio).toMatchObject({ n: 2, median: 0.5, std: 0 });
  });
});

describe('pairedDifference', () => {
  it('pairs seeds present in both and counts signs', () => {
    const grpo = new Map([
      [0, 0.5],
      [1, 0.6],
      [2, 0.7],
      [5, 0.1],
    ]);
    const grpovi = new Map([
      [0, 0.6],
      [1, 0.6],
      [2, 0.4],
      [3, 0.9],
    ]);
    const d = pairedDifference(grpo, grpovi);
    expect(d.seeds).toEqual([0, 1, 2]);
    expect(d.differences[0]).toBeCloseTo(0.1, 12);
    expect(d.differences[2]).toBeCloseTo(-0.3, 12);
    expect(d.mean).toBeCloseTo(-0.2 / 3, 12);
    expect({ better: d.grpovi_better, worse: d.grpo_better, ties: d.ties }).toEqual({
      better: 1,
      worse: 1,
      ties: 1,
    });
    expect(pairedDifference(new Map(), grpovi)).toMatchObject({ mean: null, std: null, seeds: [] });
  });
});

describe('algoStats and headToHead on hand-made runs', () => {
  // Two seeds, 4 steps, eval every 2. GRPO's std is unchanged by its transform; GRPOVI's doubles.
  const grpoRuns: SeedRun[] = [
    {
      seed: 0,
      rows: rows({ 0: 0.2, 2: 0.4, 4: 0.6 }, 4, (s) => [0.1 * s, 0.1 * s], { 0: 0.1, 2: 0.2, 4: 0.3 }),
    },
    { seed: 1, rows: rows({ 0: 0.2, 2: 0.6, 4: 0.6 }, 4, () => [0.3, 0.3], { 0: 0.1, 2: 0.1, 4: 0.5 }) },
  ];
  const grpoviRuns: SeedRun[] = [
    {
      seed: 0,
      rows: rows({ 0: 0.2, 2: 0.6, 4: 0.8 }, 4, (s) => [0.1 * s, 0.2 * s], { 0: 0.1, 2: 0.3, 4: 0.4 }),
    },
    { seed: 1, rows: rows({ 0: 0.2, 2: 0.5, 4: 0.6 }, 4, () => [0.3, 0.6], { 0: 0.1, 2: 0.2, 4: 0.5 }) },
  ];

  it('summarizes final reward, AUC, curves and reward std (hand-computed)', () => {
    const grpo = algoStats(grpoRuns);
    expect(grpo.seeds).toEqual([0, 1]);
    expect(grpo.final_eval_reward.mean).toBeCloseTo(0.6, 12);
    expect(grpo.final_eval_reward.std).toBeCloseTo(0, 12);
    // Seed 0: ((0.2+0.4) + (0.4+0.6)) / 2 * 2 / 4 = 0.4; seed 1: ((0.2+0.6) + (0.6+0.6)) / 4 = 0.5.
    expect(grpo.per_seed.map((s) => s.auc_eval_reward)).toEqual([
      expect.closeTo(0.4, 12),
      expect.closeTo(0.5, 12),
    ]);
    expect(grpo.auc_eval_reward.mean).toBeCloseTo(0.45, 12);
    expect(grpo.auc_eval_reward.std).toBeCloseTo(0.1 / Math.SQRT2, 12);
    expect(grpo.eval_curve.map((p) => p.mean)).toEqual([
      expect.closeTo(0.2, 12),
      expect.closeTo(0.5, 12),
      expect.closeTo(0.6, 12),
    ]);
    // Seed 0 raw std: mean of 0.1..0.4 = 0.25; seed 1: 0.3; over seeds 0.275.
    expect(grpo.reward_std.raw).toBeCloseTo(0.275, 12);
    expect(grpo.reward_std.adjusted).toBeCloseTo(0.275, 12);
    expect(grpo.reward_std_curve[0]).toEqual({
      step: 1,
      raw: expect.closeTo(0.2, 12),
      adjusted: expect.closeTo(0.2, 12),
    });
    expect(grpo.final_eval_gold!.mean).toBeCloseTo(0.4, 12);
    expect(grpo.final_eval_gold!.std).toBeCloseTo(0.2 / Math.SQRT2, 12);

    const grpovi = algoStats(grpoviRuns);
    expect(grpovi.reward_std.raw).toBeCloseTo(0.275, 12);
    expect(grpovi.reward_std.adjusted).toBeCloseTo(0.55, 12);
  });

  it('compares the two: seed-averaged and per-seed steps to target, paired differences, gold', () => {
    const h = headToHead(grpoRuns, grpoviRuns);
    // GRPO mean curve 0.2, 0.5, 0.6: target 0.2 + 0.9 * 0.4 = 0.56, reached at 4. GRPOVI 0.2, 0.55, 0.7: at 4.
    expect(h.steps_to_target.target).toBeCloseTo(0.56, 12);
    expect(h.steps_to_target).toMatchObject({ grpo: 4, grpovi: 4, ratio: 1 });
    // Seed 0: GRPO target 0.56 at 4, GRPOVI at 2 (0.6) -> 0.5. Seed 1: GRPO 0.56 at 2, GRPOVI at 4 -> 2.
    expect(h.steps_to_target_per_seed.seeds.map((s) => s.ratio)).toEqual([0.5, 2]);
    expect(h.steps_to_target_per_seed.ratio!.median).toBeCloseTo(1.25, 12);
    expect(h.paired.final_eval_reward.differences).toEqual([expect.closeTo(0.2, 12), expect.closeTo(0, 12)]);
    expect(h.paired.final_eval_reward.grpovi_better).toBe(1);
    // Gold: GRPO mean 0.1, 0.15, 0.4: target 0.1 + 0.27 = 0.37 at 4; GRPOVI 0.1, 0.25, 0.45 at 4.
    expect(h.steps_to_target_gold).toMatchObject({ grpo: 4, grpovi: 4, ratio: 1 });
    expect(h.steps_to_target_gold!.target).toBeCloseTo(0.37, 12);
    expect(h.paired.final_eval_gold!.mean).toBeCloseTo(0.05, 12);
  });

  it('final_kl: the mean logged KL over the last 10 training steps, then mean and std over seeds', () => {
    // Seed 0 logs kl = step / 100 at steps 1..15: the last 10 are 0.06..0.15, mean 0.105.
    // Seed 1 logs 0.2 everywhere, and one non-finite value that must be skipped.
    const seed0 = rows({ 0: 0.1, 15: 0.2 }, 15, () => [0.1, 0.1]).map((row) =>
      row.step > 0 ? { ...row, kl: row.step / 100 } : row,
    );
    const seed1 = rows({ 0: 0.1, 15: 0.2 }, 15, () => [0.1, 0.1]).map((row) =>
      row.step > 0 ? { ...row, kl: row.step === 15 ? Number.NaN : 0.2 } : row,
    );
    expect(finalKl(seed0)).toBeCloseTo(0.105, 12);
    expect(finalKl(seed1)).toBeCloseTo(0.2, 12);
    expect(finalKl(rows({ 0: 0.1 }, 3, () => [0.1, 0.1]))).toBeNull();
    const stats = algoStats([
      { seed: 0, rows: seed0 },
      { seed: 1, rows: seed1 },
    ]);
    expect(stats.final_kl!.mean).toBeCloseTo(0.1525, 12);
    expect(stats.final_kl!.std).toBeCloseTo(0.095 / Math.SQRT2, 12);
    // A seed that never logged KL leaves the statistic out rather than averaging fewer seeds.
    expect(
      algoStats([
        { seed: 0, rows: seed0 },
        { seed: 1, rows: rows({ 0: 0.1, 15: 0.2 }, 15, () => [0.1, 0.1]) },
      ]).final_kl,
    ).toBeNull();
  });

  it('refuses runs without evaluations', () => {
    expect(() => algoStats([{ seed: 0, rows: [{ step: 1, reward_std: 0.1 }] }])).toThrow(/evaluation/);
  });
});

describe('group reward std across the TRL rename', () => {
  it('reads reward_std_group in new runs (reward_std is then the batch std) and reward_std in old ones', () => {
    const old = rows({ 0: 0.2, 2: 0.4 }, 2, (s) => [0.1 * s, 0.3 * s]);
    const renamed = old.map((row) => {
      if (row.reward_std === undefined) return row;
      // New runs: the group std under its new name, and TRL's batch std (here deliberately different).
      return { ...row, reward_std_group: row.reward_std, reward_std: 9 };
    });
    const a = algoStats([{ seed: 0, rows: old }]);
    const b = algoStats([{ seed: 0, rows: renamed }]);
    expect(a.reward_std.raw).toBeCloseTo(0.15, 12);
    expect(b.reward_std).toEqual(a.reward_std);
    expect(b.reward_std_curve).toEqual(a.reward_std_curve);
  });
});
