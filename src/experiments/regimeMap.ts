/**
 * The reward-variance regime map: many comparison folders (one per regime: advantage scale, reward
 * temperature, beta) turned into one table and one reward-against-KL plot. Everything is on the
 * uncompressed reward scale (`eval_reward_raw` where a run logged it, else `eval_reward`), so that
 * regimes with different temperatures compare on one scale. Each algorithm is taken at its own best
 * learning rate (highest raw AUC), and the table says when that rate sits at the edge of the grid.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { TrainConfig } from '../train/config.js';
import type { MetricsRow } from '../train/metrics.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { type Algo, type ComparisonRecord, planComparison, readComparisonRecord } from './plan.js';
import type { PlotSpec, VegaLiteSpec } from './plots.js';
import { writePlots } from './render.js';
import { inspectRun, readRunMetrics } from './runFolder.js';
import {
  type AlgoStats,
  algoStats,
  evalCurve,
  headToHead,
  type MeanStd,
  meanStd,
  type PerSeedStepsToTarget,
  rowsWithComputedKl,
  type SeedRun,
  type StepsToTarget,
} from './stats.js';
import { formatSweepValue, withoutKeys } from './sweep.js';

/** Training steps whose logged KL is averaged into the KL at an evaluation step (one step's KL is noisy). */
export const KL_WINDOW = 5;

/** Definitions printed under the table and stored in regimes.json. */
export const REGIME_DEFINITIONS = {
  scale:
    'rewards on the uncompressed scale: eval_reward_raw (the learned reward at temperature 1) where the run logged it, else eval_reward',
  best_lr:
    'each algorithm at the learning rate with the highest AUC of its seed-averaged raw evaluation curve (ties: the smaller); ' +
    '"edge" marks a best rate at the smallest or largest of the grid (extend the grid there)',
  steps_to_target:
    "first evaluation step at which the seed-averaged raw curve reaches GRPO's v0 + 0.9 (vL - v0); ratio = GRPOVI / GRPO",
  kl_at_eval: `KL at an evaluation step = mean of the trainer's logged KL over the last ${KL_WINDOW} training steps up to it (0 at step 0)`,
  reward_at_equal_kl:
    "per seed, the raw evaluation reward where the run's KL curve (in step order) first reaches KL* = the smaller of the two " +
    "algorithms' mean final KL, linearly interpolated between evaluations; mean and std over the seeds that reach KL*",
} as const;

export interface KlPoint {
  step: number;
  kl: number;
  reward: number;
}

export interface RegimeAlgo {
  learning_rate: number;
  /** The best learning rate is the smallest or largest of the grid (and the grid has more than one). */
  lr_at_edge: boolean;
  learning_rates: number[];
  /** Every learning rate with a finished run: its raw AUC and how many seeds finished there. */
  auc_by_learning_rate: Array<{ learning_rate: number; auc: number; seeds: number }>;
  seeds: number[];
  final_reward: MeanStd;
  auc_reward: MeanStd;
  final_gold: MeanStd | null;
  final_kl: MeanStd | null;
  /** Seed-averaged (step, KL, raw reward) at every evaluation step. */
  reward_kl_curve: KlPoint[];
}

export interface RegimeCell {
  /** The comparison folder's name. */
  regime: string;
  /** The settings' common part without the learning rate (`default` when only lr is swept). */
  group: string;
  task: string;
  steps: number;
  algorithms: Partial<Record<Algo, RegimeAlgo>>;
  steps_to_target: StepsToTarget | null;
  steps_to_target_per_seed: PerSeedStepsToTarget | null;
  reward_at_equal_kl: { kl: number; grpo: MeanStd | null; grpovi: MeanStd | null } | null;
}

/** Rows with `eval_reward` replaced by the uncompressed reward where the run logged one. */
export function rawScaleRows(rows: readonly MetricsRow[]): MetricsRow[] {
  return rows.map((row) =>
    typeof row.eval_reward_raw === 'number' ? { ...row, eval_reward: row.eval_reward_raw } : row,
  );
}

/** The (step, KL, reward) points of one run's evaluations; KL averaged over KL_WINDOW steps. */
export function klCurve(rows: readonly MetricsRow[]): KlPoint[] {
  const kls = rows.flatMap((row) =>
    typeof row.kl === 'number' && Number.isFinite(row.kl) ? [{ step: row.step, kl: row.kl }] : [],
  );
  return evalCurve(rows).map(({ step, value }) => {
    const window = kls.filter((k) => k.step <= step && k.step > step - KL_WINDOW);
    const kl = step === 0 || window.length === 0 ? 0 : window.reduce((t, k) => t + k.kl, 0) / window.length;
    return { step, kl, reward: value };
  });
}

/** The reward where the curve (in step order) first reaches `kl`, linearly interpolated; null if it never does. */
export function rewardAtKl(curve: readonly KlPoint[], kl: number): number | null {
  if (curve.length === 0) return null;
  if (curve[0].kl >= kl) return curve[0].reward;
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1];
    const b = curve[i];
    if (b.kl >= kl) {
      const t = b.kl === a.kl ? 1 : (kl - a.kl) / (b.kl - a.kl);
      return a.reward + t * (b.reward - a.reward);
    }
  }
  return null;
}

function averageCurve(curves: readonly KlPoint[][]): KlPoint[] {
  const steps = curves[0].map((p) => p.step).filter((s) => curves.every((c) => c.some((p) => p.step === s)));
  return steps.map((step) => {
    const at = curves.map((c) => c.find((p) => p.step === step)!);
    return {
      step,
      kl: at.reduce((t, p) => t + p.kl, 0) / at.length,
      reward: at.reduce((t, p) => t + p.reward, 0) / at.length,
    };
  });
}

interface Candidate {
  learningRate: number;
  runs: SeedRun[];
  stats: AlgoStats;
}

function regimeAlgo(best: Candidate, candidates: readonly Candidate[]): RegimeAlgo {
  const { stats } = best;
  const grid = candidates.map((c) => c.learningRate);
  return {
    learning_rate: best.learningRate,
    lr_at_edge: grid.length > 1 && (best.learningRate === grid[0] || best.learningRate === grid.at(-1)),
    learning_rates: grid,
    auc_by_learning_rate: candidates.map((c) => ({
      learning_rate: c.learningRate,
      auc: c.stats.auc_eval_reward.mean,
      seeds: c.stats.seeds.length,
    })),
    seeds: stats.seeds,
    final_reward: stats.final_eval_reward,
    auc_reward: stats.auc_eval_reward,
    final_gold: stats.final_eval_gold,
    final_kl: stats.final_kl,
    reward_kl_curve: averageCurve(best.runs.map((run) => klCurve(run.rows))),
  };
}

/** The finished runs of one (setting, algorithm), on the raw scale; unfinished ones are left out. */
function finishedRuns(
  dir: string,
  record: ComparisonRecord,
  cells: Map<number, { relDir: string; config: TrainConfig }>,
): SeedRun[] {
  const runs: SeedRun[] = [];
  for (const [seed, { relDir, config }] of cells) {
    const runDir = join(dir, relDir);
    if (inspectRun(runDir, record.steps).state !== 'finished') continue;
    runs.push({ seed, rows: rowsWithComputedKl(rawScaleRows(readRunMetrics(runDir)), config) });
  }
  return runs;
}

interface BestRuns {
  group: string;
  /** Each algorithm's best-rate candidate, and what the table reports of it. */
  chosen: Partial<Record<Algo, Candidate>>;
  algorithms: Partial<Record<Algo, RegimeAlgo>>;
}

/** Per group of settings that differ only in the learning rate: each algorithm at its best rate. */
function bestRuns(dir: string, record: ComparisonRecord): BestRuns[] {
  const plan = planComparison(record);
  const groups = new Map<string, typeof plan.settings>();
  for (const setting of plan.settings) {
    const label = withoutKeys(setting, ['learning_rate'], record.sweep).label;
    groups.set(label, [...(groups.get(label) ?? []), setting]);
  }
  const result: BestRuns[] = [];
  for (const [group, settings] of groups) {
    const algorithms: Partial<Record<Algo, RegimeAlgo>> = {};
    const chosen: Partial<Record<Algo, Candidate>> = {};
    for (const algo of record.algos) {
      const candidates: Candidate[] = [];
      for (const setting of settings) {
        const cells = new Map(record.seeds.map((seed) => [seed, plan.cell(setting.label, algo, seed)]));
        const runs = finishedRuns(dir, record, cells);
        if (runs.length === 0) continue;
        const learningRate = Number(setting.overrides.learning_rate ?? record.base_config.learning_rate);
        candidates.push({ learningRate, runs, stats: algoStats(runs) });
      }
      if (candidates.length === 0) continue;
      candidates.sort((a, b) => a.learningRate - b.learningRate);
      let best = candidates[0];
      for (const c of candidates)
        if (c.stats.auc_eval_reward.mean > best.stats.auc_eval_reward.mean) best = c;
      chosen[algo] = best;
      algorithms[algo] = regimeAlgo(best, candidates);
    }
    result.push({ group, chosen, algorithms });
  }
  return result;
}

/** Mean and std over the runs that reach `kl` of the raw reward where each first reaches it; null if none does. */
export function meanRewardAtKl(runs: readonly SeedRun[], kl: number): MeanStd | null {
  const values = runs.flatMap((run) => {
    const v = rewardAtKl(klCurve(run.rows), kl);
    return v === null ? [] : [v];
  });
  return values.length > 0 ? meanStd(values) : null;
}

/** The cells of one comparison folder: one per group of settings that differ only in the learning rate. */
export function regimeCells(dir: string, record: ComparisonRecord = readComparisonRecord(dir)): RegimeCell[] {
  return bestRuns(dir, record).map(({ group, chosen, algorithms }) => {
    const { grpo, grpovi } = chosen;
    let h2h: ReturnType<typeof headToHead> | null = null;
    let equalKl: RegimeCell['reward_at_equal_kl'] = null;
    if (grpo && grpovi) {
      h2h = headToHead(grpo.runs, grpovi.runs, grpo.stats, grpovi.stats);
      const finals = [grpo.stats.final_kl, grpovi.stats.final_kl];
      // No KL logged (beta 0 without log_kl) leaves nothing to compare at.
      if (finals[0] !== null && finals[1] !== null && Math.min(finals[0].mean, finals[1].mean) > 0) {
        const kl = Math.min(finals[0].mean, finals[1].mean);
        equalKl = { kl, grpo: meanRewardAtKl(grpo.runs, kl), grpovi: meanRewardAtKl(grpovi.runs, kl) };
      }
    }
    return {
      regime: basename(dir),
      group,
      task: record.task,
      steps: record.steps,
      algorithms,
      steps_to_target: h2h?.steps_to_target ?? null,
      steps_to_target_per_seed: h2h?.steps_to_target_per_seed ?? null,
      reward_at_equal_kl: equalKl,
    };
  });
}

/** One (comparison folder, algorithm) to compare at equal KL with algorithms of other folders. */
export interface EqualKlPick {
  dir: string;
  algo: Algo;
}

export interface EqualKlRow {
  regime: string;
  algo: Algo;
  learning_rate: number;
  final_kl: MeanStd | null;
  /** Raw reward where each seed's KL curve first reaches the KL; null if no seed reaches it. */
  reward: MeanStd | null;
  /** Seeds at the best rate (the reward's n counts those that reach the KL). */
  seeds: number;
}

/**
 * Reward at one KL across comparison folders, each algorithm at its own best rate as in the table:
 * e.g. a GRPO-only cell with a rescaled beta against GRPOVI's cell. The KL defaults to the smallest
 * mean final KL of the picks (the table's KL*). A folder with more than one group of settings, or
 * without finished runs of the algorithm, is an error naming the folder.
 */
export function rewardAtEqualKl(
  picks: readonly EqualKlPick[],
  kl?: number,
): { kl: number; rows: EqualKlRow[] } {
  const chosen = picks.map(({ dir, algo }) => {
    const groups = bestRuns(dir, readComparisonRecord(dir));
    if (groups.length !== 1)
      throw new Error(
        `${dir}: holds ${groups.length} groups of settings besides the learning rate; pick a folder with one`,
      );
    const best = groups[0].chosen[algo];
    if (!best) throw new Error(`${dir}: no finished ${algo} runs`);
    return { dir, algo, best };
  });
  const defaultKl = () =>
    Math.min(
      ...chosen.map(({ dir, best }) => {
        if (best.stats.final_kl === null)
          throw new Error(`${dir}: the runs logged no KL (beta 0 without log_kl)`);
        return best.stats.final_kl.mean;
      }),
    );
  const at = kl ?? defaultKl();
  return {
    kl: at,
    rows: chosen.map(({ dir, algo, best }) => ({
      regime: basename(dir),
      algo,
      learning_rate: best.learningRate,
      final_kl: best.stats.final_kl,
      reward: meanRewardAtKl(best.runs, at),
      seeds: best.runs.length,
    })),
  };
}

function fmt(value: MeanStd | null | undefined, digits = 3): string {
  if (!value) return '–';
  return value.std === null
    ? value.mean.toFixed(digits)
    : `${value.mean.toFixed(digits)} ± ${value.std.toFixed(digits)}`;
}

function pair(cell: RegimeCell, pick: (a: RegimeAlgo) => string): string {
  const side = (algo: Algo) => {
    const a = cell.algorithms[algo];
    return a ? pick(a) : '–';
  };
  return `${side('grpo')} / ${side('grpovi')}`;
}

/** The regime table in Markdown, one row per cell, GRPO / GRPOVI side by side. */
export function regimeTable(cells: readonly RegimeCell[]): string {
  const header =
    '| regime | setting | seeds x steps | best lr GRPO / GRPOVI | steps to target GRPO / GRPOVI | ratio (per-seed median, range) | AUC GRPO / GRPOVI | final reward GRPO / GRPOVI | final gold GRPO / GRPOVI | final KL GRPO / GRPOVI | KL* | reward at KL* GRPO / GRPOVI |';
  const lines = [header, `|${'---|'.repeat(12)}`];
  for (const cell of cells) {
    const seeds = Math.max(...Object.values(cell.algorithms).map((a) => a?.seeds.length ?? 0));
    const stt = cell.steps_to_target;
    const perSeed = cell.steps_to_target_per_seed?.ratio ?? null;
    const ratio =
      stt?.ratio == null
        ? '–'
        : `**${stt.ratio.toFixed(2)}**${perSeed ? ` (${perSeed.median.toFixed(2)}, ${perSeed.min.toFixed(2)}–${perSeed.max.toFixed(2)})` : ''}`;
    const eq = cell.reward_at_equal_kl;
    lines.push(
      [
        '',
        cell.regime,
        cell.group,
        `${seeds} x ${cell.steps}`,
        pair(cell, (a) => `${formatSweepValue(a.learning_rate)}${a.lr_at_edge ? ' (edge)' : ''}`),
        stt?.target == null ? '–' : `${stt.grpo ?? '–'} / ${stt.grpovi ?? 'not reached'}`,
        ratio,
        pair(cell, (a) => fmt(a.auc_reward)),
        pair(cell, (a) => fmt(a.final_reward)),
        pair(cell, (a) => fmt(a.final_gold)),
        pair(cell, (a) => fmt(a.final_kl)),
        eq ? eq.kl.toFixed(3) : '–',
        eq ? `${fmt(eq.grpo)} / ${fmt(eq.grpovi)}` : '–',
        '',
      ]
        .join(' | ')
        .trim(),
    );
  }
  return lines.join('\n');
}

const COLORS: Record<Algo, string> = { grpo: '#4c78a8', grpovi: '#f58518' };

/** One panel per cell: seed-averaged raw evaluation reward against KL, one line per algorithm. */
export function regimePlot(cells: readonly RegimeCell[]): PlotSpec {
  const values: Record<string, unknown>[] = [];
  const panels: string[] = [];
  for (const cell of cells) {
    const panel = cell.group === 'default' ? cell.regime : `${cell.regime} (${cell.group})`;
    panels.push(panel);
    for (const [algo, a] of Object.entries(cell.algorithms) as [Algo, RegimeAlgo][]) {
      for (const p of a.reward_kl_curve)
        values.push({ panel, algo: `${algo} (lr=${formatSweepValue(a.learning_rate)})`, kind: algo, ...p });
    }
  }
  const kinds = [...new Set(values.map((v) => v.kind as Algo))].sort();
  const spec: VegaLiteSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Raw evaluation reward against KL to the reference, each algorithm at its best learning rate',
    data: { values },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
    facet: { field: 'panel', type: 'nominal', sort: panels, title: null },
    columns: Math.min(4, Math.max(1, panels.length)),
    spec: {
      width: 240,
      height: 170,
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: {
        x: { field: 'kl', type: 'quantitative', title: 'KL to the reference (per token)' },
        y: { field: 'reward', type: 'quantitative', title: 'raw evaluation reward', scale: { zero: false } },
        color: {
          field: 'kind',
          type: 'nominal',
          title: 'algorithm',
          scale: { domain: kinds, range: kinds.map((k) => COLORS[k]) },
        },
        detail: { field: 'algo' },
        order: { field: 'step' },
      },
    },
    resolve: { scale: { x: 'independent' } },
  };
  return {
    name: 'regimes_reward_vs_kl',
    caption: 'Raw evaluation reward against KL per regime (seed means at every evaluation)',
    spec,
  };
}

export interface RegimeMapFiles {
  cells: RegimeCell[];
  table: string;
  /** Paths written: regimes.md, regimes.json and the plot's SVG (and PNG). */
  files: string[];
}

/**
 * Writes OUT/regimes.md (the table and its definitions), OUT/regimes.json (the cells) and the
 * reward-against-KL plot from comparison folders; a folder that is not a comparison is an error.
 */
export async function writeRegimeMap(dirs: readonly string[], out: string): Promise<RegimeMapFiles> {
  const cells = dirs.flatMap((dir) => regimeCells(dir));
  const table = regimeTable(cells);
  mkdirSync(out, { recursive: true });
  const definitions = Object.entries(REGIME_DEFINITIONS).map(([key, text]) => `- \`${key}\`: ${text}`);
  const markdown = [
    '# Reward-variance regime map',
    '',
    `Generated from: ${dirs.map((d) => `\`${d}\``).join(', ')}.`,
    '',
    table,
    '',
    '![reward against KL](regimes_reward_vs_kl.svg)',
    '',
    ...definitions,
    '',
  ].join('\n');
  const md = join(out, 'regimes.md');
  const json = join(out, 'regimes.json');
  writeFileAtomic(md, markdown);
  writeFileAtomic(json, `${JSON.stringify({ definitions: REGIME_DEFINITIONS, cells }, null, 2)}\n`);
  const plots = await writePlots(out, [regimePlot(cells)]);
  const files = [md, json, ...plots.flatMap((p) => [p.svg, p.png].flatMap((f) => (f ? [join(out, f)] : [])))];
  return { cells, table, files };
}
