/**
 * `DIR/summary.json`: the statistics of a comparison, computed from its run folders. The schema is
 * the `ComparisonSummary` type below; the report's "Summary fields" section describes it in prose.
 */
import { join } from 'node:path';
import type { MetricsRow } from '../train/metrics.js';
import { type Algo, type ComparisonPlan, type ComparisonRecord, planComparison } from './plan.js';
import { inspectRun, type RunState, readRunMetrics, readWorkerRecord } from './runFolder.js';
import {
  type AlgoStats,
  algoStats,
  type HeadToHead,
  headToHead,
  type PerSeedStepsToTarget,
  rowsWithComputedKl,
  type SeedRun,
  type StepsToTarget,
} from './stats.js';
import { type Setting, type SweepAxis, type SweepValue, withoutKeys } from './sweep.js';

/** Fraction of GRPO's improvement that defines the steps-to-target target. */
export const TARGET_FRACTION = 0.9;

/** Definitions of the summary's statistics, stored in summary.json and printed in the report. */
export const DEFINITIONS = {
  eval_curve:
    'evaluation reward (mean over the held-out prompts, one sample each) by step; step 0 is the starting policy. ' +
    'Seeds are aligned on the steps all of them evaluated; mean and sample std (n - 1) over seeds per step.',
  final_eval_reward:
    'evaluation reward at the last step; mean and sample std over seeds (eval_gold likewise for tasks with a gold reward).',
  auc_eval_reward:
    'area under the evaluation curve by the trapezoid rule over step, divided by the step span: the time-averaged ' +
    'evaluation reward, in reward units. mean = AUC of the seed-averaged curve; std over the per-seed AUCs.',
  final_kl:
    'KL to the reference as the trainer logs it (the k3 estimate, aggregated like the loss: per token, averaged per ' +
    'sequence under loss_type grpo), averaged over the last 10 training steps of each ' +
    'run; mean and sample std over seeds. What the reward gain cost in divergence from the starting policy.',
  kl_curve:
    'KL to the reference as the trainer logs it, by training step; mean and sample std over seeds at the steps all seeds logged.',
  reward_std:
    'mean per-group sample std of the training rewards before (raw) and after (adjusted) the reward transform, ' +
    'averaged over training steps, then over seeds. For GRPO both are the same.',
  steps_to_target:
    "target = v0 + 0.9 (vL - v0) on GRPO's seed-averaged evaluation curve (v0 its first, vL its last value); " +
    "each algorithm's steps = the first evaluation step at which its seed-averaged curve is >= target (no " +
    'interpolation; resolution = eval_every); ratio = grpovi / grpo. All null if GRPO did not improve; grpovi ' +
    'and ratio null if GRPOVI never reached the target.',
  steps_to_target_per_seed:
    "the same per seed (GRPO's target from that seed's own curve, both algorithms on that seed); ratio spread over " +
    'the seeds where it exists: mean, sample std, median and quartiles (type-7 quantiles).',
  paired:
    'per seed, GRPOVI minus GRPO (runs of one seed share the initial policy and the prompt order); mean, sample std ' +
    'and the count of seeds where each algorithm is ahead.',
  best_lr:
    'among settings that differ only in the learning rate, each algorithm at the learning rate with the highest ' +
    'AUC of its seed-averaged evaluation reward curve (ties: the smaller learning rate); steps to target and paired ' +
    'differences are computed between the two best-learning-rate runs.',
} as const;

/** One run folder's contribution. */
export interface RunSummary {
  seed: number;
  /** Relative to the comparison folder. */
  dir: string;
  /** Wall time of the run's worker processes (startup, evaluation and checkpoints included); null if unknown. */
  wall_seconds: number | null;
  /** Sum of the training steps' `step_seconds`. */
  train_seconds: number;
  backend: string | null;
}

export interface AlgoSummary extends AlgoStats {
  runs: RunSummary[];
}

/** GRPO and GRPOVI side by side; fields comparing the two are null unless both algorithms have runs. */
export interface Comparison {
  algorithms: Partial<Record<Algo, AlgoSummary>>;
  steps_to_target: StepsToTarget;
  steps_to_target_per_seed: PerSeedStepsToTarget | null;
  steps_to_target_gold: StepsToTarget | null;
  paired: HeadToHead['paired'] | null;
}

export interface SettingSummary extends Comparison {
  /** The folder name: `default`, or `key=value,...`. */
  label: string;
  overrides: Record<string, SweepValue>;
}

export interface BestLearningRate {
  learning_rate: number;
  setting: string;
  /** Every learning rate of the group with this algorithm's AUC there. */
  auc_by_learning_rate: Array<{ learning_rate: number; setting: string; auc: number }>;
}

export interface BestLrSummary extends Comparison {
  /** The settings' common part without the learning rate (`default` when only the learning rate is swept). */
  label: string;
  criterion: string;
  learning_rates: number[];
  best: Partial<Record<Algo, BestLearningRate>>;
}

export interface MissingRun {
  setting: string;
  algo: Algo;
  seed: number;
  dir: string;
  state: RunState;
}

export interface ComparisonSummary {
  format: 'grpovi-comparison-summary';
  version: 1;
  task: string;
  steps: number;
  seeds: number[];
  algos: Algo[];
  sweep: SweepAxis[];
  has_gold: boolean;
  target_fraction: number;
  definitions: typeof DEFINITIONS;
  /**
   * The comparison to read first: the only setting, or with a learning-rate sweep and no other swept
   * field, the best-learning-rate comparison; null when there are several of either.
   */
  headline: (Comparison & { kind: 'setting' | 'best_lr'; label: string }) | null;
  settings: SettingSummary[];
  /** One entry per group of settings that differ only in the learning rate (empty without an lr sweep). */
  best_lr: BestLrSummary[];
  /** Planned runs that have not finished; they are left out of the statistics. */
  missing_runs: MissingRun[];
  time: {
    /** Sum of the finished runs' wall times. */
    runs_wall_seconds: number;
    /** Sum of the wall times of the `compare` invocations that finished. */
    invocations_wall_seconds: number;
  };
  generated_at: string;
}

interface Cell {
  runs: SeedRun[];
  summary: AlgoSummary;
}

function sumStepSeconds(rows: readonly MetricsRow[]): number {
  let total = 0;
  for (const row of rows) if (typeof row.step_seconds === 'number') total += row.step_seconds;
  return total;
}

function compareCells(cells: Partial<Record<Algo, Cell>>): Comparison {
  const algorithms: Partial<Record<Algo, AlgoSummary>> = {};
  for (const [algo, cell] of Object.entries(cells) as [Algo, Cell][]) algorithms[algo] = cell.summary;
  const grpo = cells.grpo;
  const grpovi = cells.grpovi;
  if (!grpo || !grpovi) {
    return {
      algorithms,
      steps_to_target: { target: null, grpo: null, grpovi: null, ratio: null },
      steps_to_target_per_seed: null,
      steps_to_target_gold: null,
      paired: null,
    };
  }
  const h2h = headToHead(grpo.runs, grpovi.runs, grpo.summary, grpovi.summary);
  return { algorithms, ...h2h };
}

function bestLrGroups(
  settings: readonly Setting[],
  cells: Map<string, Partial<Record<Algo, Cell>>>,
  record: ComparisonRecord,
): BestLrSummary[] {
  const lrAxis = record.sweep.find((axis) => axis.key === 'learning_rate');
  if (!lrAxis) return [];
  const groups = new Map<string, Setting[]>();
  for (const setting of settings) {
    const label = withoutKeys(setting, ['learning_rate'], record.sweep).label;
    groups.set(label, [...(groups.get(label) ?? []), setting]);
  }
  return [...groups.entries()].map(([label, members]) => {
    const byLr = [...members].sort(
      (a, b) => Number(a.overrides.learning_rate) - Number(b.overrides.learning_rate),
    );
    const best: Partial<Record<Algo, BestLearningRate>> = {};
    const chosen: Partial<Record<Algo, Cell>> = {};
    for (const algo of record.algos) {
      const candidates = byLr.flatMap((setting) => {
        const cell = cells.get(setting.label)?.[algo];
        return cell ? [{ setting, cell, auc: cell.summary.auc_eval_reward.mean }] : [];
      });
      if (candidates.length === 0) continue;
      let winner = candidates[0];
      for (const candidate of candidates) if (candidate.auc > winner.auc) winner = candidate;
      best[algo] = {
        learning_rate: Number(winner.setting.overrides.learning_rate),
        setting: winner.setting.label,
        auc_by_learning_rate: candidates.map((c) => ({
          learning_rate: Number(c.setting.overrides.learning_rate),
          setting: c.setting.label,
          auc: c.auc,
        })),
      };
      chosen[algo] = winner.cell;
    }
    return {
      label,
      criterion: DEFINITIONS.best_lr,
      learning_rates: byLr.map((s) => Number(s.overrides.learning_rate)),
      best,
      ...compareCells(chosen),
    };
  });
}

/** Computes the summary from the run folders under `dir`; unfinished runs are listed as missing. */
export function buildSummary(
  dir: string,
  record: ComparisonRecord,
  plan: ComparisonPlan = planComparison(record),
): ComparisonSummary {
  const runData = new Map<string, { rows: MetricsRow[]; summary: RunSummary } | { state: RunState }>();
  for (const run of plan.runs) {
    const runDir = join(dir, run.relDir);
    const { state } = inspectRun(runDir, record.steps);
    if (state !== 'finished') {
      runData.set(run.relDir, { state });
      continue;
    }
    const rows = rowsWithComputedKl(readRunMetrics(runDir), run.config);
    const worker = readWorkerRecord(runDir);
    runData.set(run.relDir, {
      rows,
      summary: {
        seed: run.seed,
        dir: run.relDir,
        wall_seconds: worker?.wall_seconds ?? null,
        train_seconds: sumStepSeconds(rows),
        backend: worker?.backend ?? null,
      },
    });
  }

  const missing: MissingRun[] = [];
  const cells = new Map<string, Partial<Record<Algo, Cell>>>();
  const settings: SettingSummary[] = plan.settings.map((setting) => {
    const algoCells: Partial<Record<Algo, Cell>> = {};
    for (const algo of record.algos) {
      const runs: SeedRun[] = [];
      const summaries: RunSummary[] = [];
      for (const seed of record.seeds) {
        const run = plan.cell(setting.label, algo, seed);
        const data = runData.get(run.relDir)!;
        if ('state' in data) {
          missing.push({ setting: setting.label, algo, seed, dir: run.relDir, state: data.state });
          continue;
        }
        runs.push({ seed, rows: data.rows });
        summaries.push(data.summary);
      }
      if (runs.length > 0) algoCells[algo] = { runs, summary: { ...algoStats(runs), runs: summaries } };
    }
    cells.set(setting.label, algoCells);
    return { label: setting.label, overrides: setting.overrides, ...compareCells(algoCells) };
  });
  const bestLr = bestLrGroups(plan.settings, cells, record);

  let headline: ComparisonSummary['headline'] = null;
  if (settings.length === 1) {
    const { label, overrides: _overrides, ...comparison } = settings[0];
    headline = { kind: 'setting', label, ...comparison };
  } else if (bestLr.length === 1) {
    const { label, criterion: _c, learning_rates: _l, best: _b, ...comparison } = bestLr[0];
    headline = { kind: 'best_lr', label, ...comparison };
  }

  const hasGold = settings.some((s) => Object.values(s.algorithms).some((a) => a?.eval_gold_curve != null));
  let runsWall = 0;
  for (const data of runData.values()) if ('summary' in data) runsWall += data.summary.wall_seconds ?? 0;
  let invocationsWall = 0;
  for (const inv of record.invocations) invocationsWall += inv.wall_seconds ?? 0;
  return {
    format: 'grpovi-comparison-summary',
    version: 1,
    task: record.task,
    steps: record.steps,
    seeds: [...record.seeds],
    algos: [...record.algos],
    sweep: record.sweep,
    has_gold: hasGold,
    target_fraction: TARGET_FRACTION,
    definitions: DEFINITIONS,
    headline,
    settings,
    best_lr: bestLr,
    missing_runs: missing,
    time: { runs_wall_seconds: runsWall, invocations_wall_seconds: invocationsWall },
    generated_at: new Date().toISOString(),
  };
}
