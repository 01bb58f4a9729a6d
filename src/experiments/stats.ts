/**
 * Statistics of GRPO-vs-GRPOVI comparisons, computed from the rows of `metrics.jsonl`.
 * Pure functions: no TF.js, no file system.
 *
 * Definitions (the report repeats them):
 * - Evaluation curve of a run: its rows that carry `eval_reward` (or `eval_gold`), by step; step 0 is
 *   the starting policy. Runs of one algorithm are aligned on the steps that every run evaluated.
 * - Seed-averaged curve: per aligned step, the mean over seeds and the sample std (n - 1; null for one seed).
 * - Final evaluation reward: the value at the last aligned step (the last training step).
 * - Area under the evaluation curve (AUC): trapezoid rule over step divided by the step span, i.e. the
 *   time-averaged evaluation reward over the run, in reward units (one point: its value).
 * - Reward std before/after adjustment: each training row's mean per-group std (`reward_std_group`,
 *   or `reward_std` in older runs; `adjusted_reward_std`), averaged over steps, then over seeds.
 * - Steps to target: see `stepsToTarget`.
 */
import type { TrainingSize } from '../train/limits.js';
import { needsReference } from '../train/referencePolicy.js';
import type { MetricsRow } from '../train/metrics.js';

export type EvalField = 'eval_reward' | 'eval_gold';

export interface CurvePoint {
  step: number;
  value: number;
}

/** One step of a seed-averaged curve. */
export interface BandPoint {
  step: number;
  mean: number;
  /** Sample std over seeds; null with a single seed. */
  std: number | null;
  n: number;
}

export interface MeanStd {
  mean: number;
  /** Sample std (n - 1); null when n < 2. */
  std: number | null;
  n: number;
}

/** Tolerance for "the curve reaches the target", so that a value equal up to rounding counts. */
const REACH_TOLERANCE = 1e-12;

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new Error('mean of no values');
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (n - 1 in the denominator); null for fewer than two values. */
export function sampleStd(values: readonly number[]): number | null {
  if (values.length < 2) return null;
  const m = mean(values);
  let sum = 0;
  for (const v of values) sum += (v - m) ** 2;
  return Math.sqrt(sum / (values.length - 1));
}

export function meanStd(values: readonly number[]): MeanStd {
  return { mean: mean(values), std: sampleStd(values), n: values.length };
}

/** A run's evaluation curve: the rows carrying a finite `field`, sorted by step (the last row wins a step). */
export function evalCurve(rows: readonly MetricsRow[], field: EvalField = 'eval_reward'): CurvePoint[] {
  const byStep = new Map<number, number>();
  for (const row of rows) {
    const value = row[field];
    if (typeof value === 'number' && Number.isFinite(value)) byStep.set(row.step, value);
  }
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, value]) => ({ step, value }));
}

/** A run's KL to the reference by training step (the rows that logged a finite `kl`). */
export function klCurve(rows: readonly MetricsRow[]): CurvePoint[] {
  const byStep = new Map<number, number>();
  for (const row of rows)
    if (typeof row.kl === 'number' && Number.isFinite(row.kl)) byStep.set(row.step, row.kl);
  return [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([step, value]) => ({ step, value }));
}

/** The steps present in every curve, ascending, with each curve's values at them. */
export function alignCurves(curves: readonly (readonly CurvePoint[])[]): {
  steps: number[];
  values: number[][];
} {
  if (curves.length === 0) return { steps: [], values: [] };
  const maps = curves.map((curve) => new Map(curve.map((p) => [p.step, p.value])));
  const steps = [...maps[0].keys()].filter((step) => maps.every((m) => m.has(step))).sort((a, b) => a - b);
  return { steps, values: maps.map((m) => steps.map((step) => m.get(step)!)) };
}

/** Mean and sample std over seeds at every step all seeds share. */
export function seedAveragedCurve(curves: readonly (readonly CurvePoint[])[]): BandPoint[] {
  const { steps, values } = alignCurves(curves);
  return steps.map((step, i) => {
    const atStep = values.map((v) => v[i]);
    return { step, mean: mean(atStep), std: sampleStd(atStep), n: atStep.length };
  });
}

/** The mean line of a seed-averaged curve. */
export function meanLine(band: readonly BandPoint[]): CurvePoint[] {
  return band.map((p) => ({ step: p.step, value: p.mean }));
}

/**
 * Area under a curve by the trapezoid rule over step, divided by the step span (last - first step):
 * the time-averaged value, comparable across runs of any length. A single point gives its value.
 */
export function areaUnderCurve(curve: readonly CurvePoint[]): number {
  if (curve.length === 0) throw new Error('area under an empty curve');
  if (curve.length === 1) return curve[0].value;
  let area = 0;
  for (let i = 1; i < curve.length; i++) {
    area += ((curve[i].value + curve[i - 1].value) / 2) * (curve[i].step - curve[i - 1].step);
  }
  const span = curve[curve.length - 1].step - curve[0].step;
  return span > 0 ? area / span : curve[curve.length - 1].value;
}

/** First step at which the curve is at or above `target` (up to rounding); null if it never is. */
export function firstStepReaching(curve: readonly CurvePoint[], target: number): number | null {
  const slack = REACH_TOLERANCE * Math.max(1, Math.abs(target));
  for (const p of curve) if (p.value >= target - slack) return p.step;
  return null;
}

export interface StepsToTarget {
  /** Reward at which GRPO has gained `fraction` of the improvement it has by its last step; null if it never improved. */
  target: number | null;
  grpo: number | null;
  grpovi: number | null;
  /** grpovi / grpo; null when either is null. */
  ratio: number | null;
}

/**
 * Steps each algorithm needs to reach GRPO's 90% point. With GRPO's curve running from v0 (its first
 * evaluation, the starting policy at step 0) to vL (its last), the improvement is vL - v0 and the
 * target v0 + 0.9 (vL - v0). Each algorithm's steps are the first evaluation step at which its curve
 * is at or above the target (no interpolation between evaluations, so the answer is a step that was
 * measured). If GRPO did not improve (vL <= v0) there is no target and every field is null; if GRPOVI
 * never reaches the target its steps and the ratio are null.
 */
export function stepsToTarget(
  grpo: readonly CurvePoint[] | undefined,
  grpovi: readonly CurvePoint[] | undefined,
  fraction = 0.9,
): StepsToTarget {
  const none: StepsToTarget = { target: null, grpo: null, grpovi: null, ratio: null };
  if (grpo === undefined || grpo.length < 2) return none;
  const start = grpo[0].value;
  const improvement = grpo[grpo.length - 1].value - start;
  if (!(improvement > 0)) return none;
  const target = start + fraction * improvement;
  const grpoSteps = firstStepReaching(grpo, target);
  const grpoviSteps = grpovi === undefined ? null : firstStepReaching(grpovi, target);
  const ratio = grpoSteps !== null && grpoviSteps !== null && grpoSteps > 0 ? grpoviSteps / grpoSteps : null;
  return { target, grpo: grpoSteps, grpovi: grpoviSteps, ratio };
}

/** Linear-interpolation quantile (type 7, as numpy's default) of sorted values. */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  const position = (sorted.length - 1) * p;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
}

/** How a per-seed quantity spreads over seeds. */
export interface Spread {
  n: number;
  mean: number;
  std: number | null;
  median: number;
  /** First and third quartiles (type-7 quantiles); their difference is the IQR. */
  q1: number;
  q3: number;
  min: number;
  max: number;
}

export function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    mean: mean(sorted),
    std: sampleStd(sorted),
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  };
}

export interface SeedCurve {
  seed: number;
  curve: readonly CurvePoint[];
}

export interface PerSeedStepsToTarget {
  /** Each seed's own steps to target: GRPO's target from that seed's GRPO curve, both algorithms on that seed. */
  seeds: Array<StepsToTarget & { seed: number }>;
  /** Spread of the per-seed ratios that exist. */
  ratio: Spread | null;
  /** Seeds whose GRPO run did not improve (no target). */
  grpo_no_improvement: number;
  /** Seeds with a target that GRPOVI never reached. */
  grpovi_never_reached: number;
}

/** `stepsToTarget` per seed (seeds present in both algorithms), with the spread of the ratios. */
export function perSeedStepsToTarget(
  grpo: readonly SeedCurve[],
  grpovi: readonly SeedCurve[],
  fraction = 0.9,
): PerSeedStepsToTarget {
  const grpoviBySeed = new Map(grpovi.map((s) => [s.seed, s.curve]));
  const seeds = grpo
    .filter((s) => grpoviBySeed.has(s.seed))
    .sort((a, b) => a.seed - b.seed)
    .map((s) => ({ seed: s.seed, ...stepsToTarget(s.curve, grpoviBySeed.get(s.seed), fraction) }));
  const ratios = seeds.flatMap((s) => (s.ratio === null ? [] : [s.ratio]));
  return {
    seeds,
    ratio: spread(ratios),
    grpo_no_improvement: seeds.filter((s) => s.target === null).length,
    grpovi_never_reached: seeds.filter((s) => s.target !== null && s.grpovi === null).length,
  };
}

/** Per seed, GRPOVI's value minus GRPO's, over the seeds both have (runs of one seed share init and prompt order). */
export interface PairedDifference {
  seeds: number[];
  differences: number[];
  mean: number | null;
  std: number | null;
  /** Seeds where GRPOVI's value is larger, smaller, equal. */
  grpovi_better: number;
  grpo_better: number;
  ties: number;
}

export function pairedDifference(
  grpo: ReadonlyMap<number, number>,
  grpovi: ReadonlyMap<number, number>,
): PairedDifference {
  const seeds = [...grpo.keys()].filter((seed) => grpovi.has(seed)).sort((a, b) => a - b);
  const differences = seeds.map((seed) => grpovi.get(seed)! - grpo.get(seed)!);
  return {
    seeds,
    differences,
    mean: differences.length > 0 ? mean(differences) : null,
    std: sampleStd(differences),
    grpovi_better: differences.filter((d) => d > 0).length,
    grpo_better: differences.filter((d) => d < 0).length,
    ties: differences.filter((d) => d === 0).length,
  };
}

/** One run's metrics with its seed. */
export interface SeedRun {
  seed: number;
  rows: readonly MetricsRow[];
}

/** One seed's summary numbers. */
export interface SeedStats {
  seed: number;
  final_eval_reward: number;
  final_eval_gold: number | null;
  auc_eval_reward: number;
  auc_eval_gold: number | null;
  /** Mean over training steps of the per-group reward std, before and after the reward transform. */
  reward_std: number | null;
  adjusted_reward_std: number | null;
  /** Mean KL to the reference over the last FINAL_KL_STEPS training steps; null if none logged it. */
  final_kl: number | null;
}

export interface RewardStdPoint {
  step: number;
  /** Mean over seeds of the mean per-group std of the raw rewards at this step. */
  raw: number;
  /** The same after the reward transform (equal to `raw` for GRPO). */
  adjusted: number;
}

/** Everything the summary reports about one algorithm under one setting. */
export interface AlgoStats {
  seeds: number[];
  final_eval_reward: MeanStd;
  final_eval_gold: MeanStd | null;
  /** `mean` is the AUC of the seed-averaged curve (= the mean of the per-seed AUCs); `std` is over seeds. */
  auc_eval_reward: MeanStd;
  auc_eval_gold: MeanStd | null;
  /** What the reward cost in divergence from the reference: per-seed `final_kl`, mean and std; null if not logged. */
  final_kl: MeanStd | null;
  eval_curve: BandPoint[];
  eval_gold_curve: BandPoint[] | null;
  /** Mean per-group reward std, averaged over steps and seeds. */
  reward_std: { raw: number | null; adjusted: number | null };
  reward_std_curve: RewardStdPoint[];
  /** KL to the reference by training step: mean and sample std over seeds at the steps all logged. */
  kl_curve: BandPoint[];
  per_seed: SeedStats[];
}

/**
 * A row's mean per-group reward std: `reward_std_group`, or `reward_std` in runs from before TRL
 * parity, when that name held the group std (since then `reward_std` is the whole batch's std).
 */
export function groupRewardStd(row: MetricsRow): number | undefined {
  return row.reward_std_group ?? row.reward_std;
}

function meanOfField(
  rows: readonly MetricsRow[],
  field: 'reward_std_group' | 'adjusted_reward_std',
): number | null {
  const values = rows.flatMap((row) => {
    const v = field === 'reward_std_group' ? groupRewardStd(row) : row[field];
    return typeof v === 'number' && Number.isFinite(v) ? [v] : [];
  });
  return values.length > 0 ? mean(values) : null;
}

/**
 * Whether a run computed its KL to the reference, from its resolved config: at beta 0 without
 * log_kl (and without GRPOVI weights that read the reference) the trainer keeps no reference and
 * logs `kl` 0, which means "not computed", not "no divergence". A config without `beta` (none
 * found) counts as computed.
 */
export function klComputed(config: Readonly<Record<string, unknown>> | TrainingSize): boolean {
  const c = config as Record<string, unknown>;
  if (typeof c.beta !== 'number') return true;
  return needsReference(config as TrainingSize);
}

/** Why a run has no KL, in the words tables and reports use. */
export const KL_NOT_COMPUTED = 'beta 0, so no reference policy is kept';

/**
 * A run's rows with `kl` left out when the run did not compute it, so that every table, report, plot
 * and page shows it as not computed ("–") rather than as a KL of 0: its config keeps no reference
 * (`klComputed`) and every logged `kl` is the trainer's placeholder 0 (a nonzero one was measured,
 * whatever the config says).
 */
export function rowsWithComputedKl<R extends MetricsRow>(
  rows: R[],
  config: Readonly<Record<string, unknown>> | TrainingSize,
): R[] {
  if (klComputed(config) || rows.some((row) => row.kl !== undefined && row.kl !== 0)) return rows;
  return rows.map(({ kl: _kl, ...rest }) => rest as R);
}

/** How many of the last training steps `final_kl` averages (one step's KL is noisy). */
export const FINAL_KL_STEPS = 10;

/** Mean of the logged per-token KL to the reference over a run's last FINAL_KL_STEPS training steps. */
export function finalKl(rows: readonly MetricsRow[]): number | null {
  const values = rows.flatMap((row) =>
    typeof row.kl === 'number' && Number.isFinite(row.kl) ? [row.kl] : [],
  );
  return values.length > 0 ? mean(values.slice(-FINAL_KL_STEPS)) : null;
}

/** Mean per-group reward std (raw and adjusted) per training step, averaged over the runs that logged it. */
export function rewardStdCurve(runs: readonly SeedRun[]): RewardStdPoint[] {
  const byStep = new Map<number, { raw: number[]; adjusted: number[] }>();
  for (const run of runs) {
    for (const row of run.rows) {
      const raw = groupRewardStd(row);
      if (typeof raw !== 'number' || typeof row.adjusted_reward_std !== 'number') continue;
      let entry = byStep.get(row.step);
      if (!entry) {
        entry = { raw: [], adjusted: [] };
        byStep.set(row.step, entry);
      }
      entry.raw.push(raw);
      entry.adjusted.push(row.adjusted_reward_std);
    }
  }
  return [...byStep.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([step, { raw, adjusted }]) => ({ step, raw: mean(raw), adjusted: mean(adjusted) }));
}

function aligned(curves: readonly CurvePoint[][]): CurvePoint[][] {
  const { steps, values } = alignCurves(curves);
  return values.map((v) => v.map((value, i) => ({ step: steps[i], value })));
}

/**
 * The statistics of one algorithm's runs (one per seed). Every run needs evaluation rows; gold
 * statistics appear only when every run logged `eval_gold`.
 */
export function algoStats(runs: readonly SeedRun[]): AlgoStats {
  if (runs.length === 0) throw new Error('no runs to summarize');
  const sorted = [...runs].sort((a, b) => a.seed - b.seed);
  const rewardCurves = aligned(sorted.map((run) => evalCurve(run.rows, 'eval_reward')));
  if (rewardCurves[0].length === 0) {
    throw new Error(`seeds ${sorted.map((r) => r.seed).join(', ')} share no evaluation step (eval_reward)`);
  }
  const goldRaw = sorted.map((run) => evalCurve(run.rows, 'eval_gold'));
  const hasGold = goldRaw.every((curve) => curve.length > 0);
  const goldCurves = hasGold ? aligned(goldRaw) : null;
  const withGold = goldCurves !== null && goldCurves[0].length > 0;

  const perSeed: SeedStats[] = sorted.map((run, i) => ({
    seed: run.seed,
    final_eval_reward: rewardCurves[i][rewardCurves[i].length - 1].value,
    final_eval_gold: withGold ? goldCurves[i][goldCurves[i].length - 1].value : null,
    auc_eval_reward: areaUnderCurve(rewardCurves[i]),
    auc_eval_gold: withGold ? areaUnderCurve(goldCurves[i]) : null,
    reward_std: meanOfField(run.rows, 'reward_std_group'),
    adjusted_reward_std: meanOfField(run.rows, 'adjusted_reward_std'),
    final_kl: finalKl(run.rows),
  }));
  const present = (values: (number | null)[]): number[] => values.flatMap((v) => (v === null ? [] : [v]));
  const raw = present(perSeed.map((s) => s.reward_std));
  const adjusted = present(perSeed.map((s) => s.adjusted_reward_std));
  const kls = present(perSeed.map((s) => s.final_kl));
  return {
    seeds: sorted.map((run) => run.seed),
    final_eval_reward: meanStd(perSeed.map((s) => s.final_eval_reward)),
    final_eval_gold: withGold ? meanStd(present(perSeed.map((s) => s.final_eval_gold))) : null,
    auc_eval_reward: meanStd(perSeed.map((s) => s.auc_eval_reward)),
    auc_eval_gold: withGold ? meanStd(present(perSeed.map((s) => s.auc_eval_gold))) : null,
    final_kl: kls.length === perSeed.length ? meanStd(kls) : null,
    eval_curve: seedAveragedCurve(rewardCurves),
    eval_gold_curve: withGold ? seedAveragedCurve(goldCurves) : null,
    reward_std: {
      raw: raw.length > 0 ? mean(raw) : null,
      adjusted: adjusted.length > 0 ? mean(adjusted) : null,
    },
    reward_std_curve: rewardStdCurve(sorted),
    kl_curve: seedAveragedCurve(sorted.map((run) => klCurve(run.rows))),
    per_seed: perSeed,
  };
}

/** How GRPOVI compares with GRPO under one setting (or each at its best learning rate). */
export interface HeadToHead {
  steps_to_target: StepsToTarget;
  steps_to_target_per_seed: PerSeedStepsToTarget;
  /** Steps to target on the gold reward, for tasks that have one; null otherwise. */
  steps_to_target_gold: StepsToTarget | null;
  paired: {
    final_eval_reward: PairedDifference;
    auc_eval_reward: PairedDifference;
    final_eval_gold: PairedDifference | null;
    auc_eval_gold: PairedDifference | null;
  };
}

function bySeed(stats: AlgoStats, pick: (s: SeedStats) => number | null): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of stats.per_seed) {
    const v = pick(s);
    if (v !== null) out.set(s.seed, v);
  }
  return out;
}

/** Steps to target (seed-averaged and per seed) and paired per-seed differences of GRPOVI against GRPO. */
export function headToHead(
  grpoRuns: readonly SeedRun[],
  grpoviRuns: readonly SeedRun[],
  grpo: AlgoStats = algoStats(grpoRuns),
  grpovi: AlgoStats = algoStats(grpoviRuns),
): HeadToHead {
  const seedCurves = (runs: readonly SeedRun[], field: EvalField): SeedCurve[] =>
    runs.map((run) => ({ seed: run.seed, curve: evalCurve(run.rows, field) }));
  const gold = grpo.eval_gold_curve !== null && grpovi.eval_gold_curve !== null;
  return {
    steps_to_target: stepsToTarget(meanLine(grpo.eval_curve), meanLine(grpovi.eval_curve)),
    steps_to_target_per_seed: perSeedStepsToTarget(
      seedCurves(grpoRuns, 'eval_reward'),
      seedCurves(grpoviRuns, 'eval_reward'),
    ),
    steps_to_target_gold: gold
      ? stepsToTarget(meanLine(grpo.eval_gold_curve!), meanLine(grpovi.eval_gold_curve!))
      : null,
    paired: {
      final_eval_reward: pairedDifference(
        bySeed(grpo, (s) => s.final_eval_reward),
        bySeed(grpovi, (s) => s.final_eval_reward),
      ),
      auc_eval_reward: pairedDifference(
        bySeed(grpo, (s) => s.auc_eval_reward),
        bySeed(grpovi, (s) => s.auc_eval_reward),
      ),
      final_eval_gold: gold
        ? pairedDifference(
            bySeed(grpo, (s) => s.final_eval_gold),
            bySeed(grpovi, (s) => s.final_eval_gold),
          )
        : null,
      auc_eval_gold: gold
        ? pairedDifference(
            bySeed(grpo, (s) => s.auc_eval_gold),
            bySeed(grpovi, (s) => s.auc_eval_gold),
          )
        : null,
    },
  };
}
