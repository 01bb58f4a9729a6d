/**
 * Vega-Lite specifications of the curves of one or several training runs (pure): rewards, KL,
 * entropy, completion length, gradient norm and the raw against adjusted reward std. `grpovi report
 * RUN` renders them to SVG; the dashboard sends the same specs to the browser, and the playground
 * page imports this module itself (it and its imports must stay free of Node: test/playground checks).
 */
import type { MetricsRow } from '../train/metrics.js';
import { type PlotSpec, SCHEMA, STEP_AXIS, type VegaLiteSpec } from './vegaLiteBase.js';
import { groupRewardStd } from './stats.js';

/** One run's metrics under the label its curves carry. */
export interface RunSeries {
  label: string;
  /** `grpo` or `grpovi` (GRPOVI runs also get the adjusted reward std curve). */
  algo: string;
  rows: readonly MetricsRow[];
}

/** One curve of a chart: what it is called and how to read it off a row. */
interface Curve {
  kind: string;
  value: (row: MetricsRow) => number | undefined;
  /** Only for runs of these algorithms (all when absent). */
  algos?: readonly string[];
}

interface ChartDef {
  name: string;
  title: string;
  yTitle: string;
  caption: string;
  curves: readonly Curve[];
}

const field =
  (name: keyof MetricsRow) =>
  (row: MetricsRow): number | undefined => {
    const v = row[name];
    return typeof v === 'number' ? v : undefined;
  };

const WIDTH = 420;
const HEIGHT = 220;
/** Above this many points a series is drawn without point marks. */
const MAX_POINTS_MARKED = 60;

/** The charts of a run, in the order reports and the dashboard show them. */
export const RUN_CHARTS: readonly ChartDef[] = [
  {
    name: 'reward',
    title: 'reward',
    yTitle: 'reward',
    caption:
      'Training reward (mean over the step’s completions, weighted sum of the reward functions), evaluation reward (mean over the held-out prompts, one sample each) and, for tasks that have one, the gold reward of the evaluation samples, by step.',
    curves: [
      { kind: 'training', value: field('reward_mean') },
      { kind: 'evaluation', value: field('eval_reward') },
      { kind: 'gold (evaluation)', value: field('eval_gold') },
    ],
  },
  {
    name: 'kl',
    title: 'KL to the reference policy',
    yTitle: 'KL (k3, per token)',
    caption:
      'KL divergence to the reference (starting) policy as the trainer logs it (k3 estimate), by step.',
    curves: [{ kind: 'kl', value: field('kl') }],
  },
  {
    name: 'entropy',
    title: 'policy entropy',
    yTitle: 'entropy (nats per token)',
    caption: 'Mean per-token entropy of the policy on the sampled completions, by step.',
    curves: [{ kind: 'entropy', value: field('entropy') }],
  },
  {
    name: 'completion_length',
    title: 'completion length',
    yTitle: 'tokens',
    caption: 'Mean completion length in tokens, of the training samples and of the evaluation samples.',
    curves: [
      { kind: 'training', value: field('completion_length') },
      { kind: 'evaluation', value: field('eval_completion_length') },
    ],
  },
  {
    name: 'grad_norm',
    title: 'gradient norm',
    yTitle: 'gradient norm (before clipping)',
    caption: 'Global gradient norm before clipping, mean over the step’s updates.',
    curves: [{ kind: 'grad_norm', value: field('grad_norm') }],
  },
  {
    name: 'reward_std',
    title: 'per-group reward std, raw vs adjusted',
    yTitle: 'mean per-group reward std',
    caption:
      'Mean over the step’s prompt groups of the std of their rewards: raw, and for GRPOVI after the variance-increasing adjustment (adjusted). For GRPO the two are the same, so only raw is drawn.',
    curves: [
      { kind: 'raw', value: groupRewardStd },
      { kind: 'adjusted', value: field('adjusted_reward_std'), algos: ['grpovi'] },
    ],
  },
];

interface Point {
  run: string;
  kind: string;
  step: number;
  value: number;
}

/** The chart's data: one point per run, curve and step that logged a finite value. */
export function chartValues(chart: ChartDef, runs: readonly RunSeries[]): Point[] {
  const points: Point[] = [];
  for (const run of runs) {
    for (const curve of chart.curves) {
      if (curve.algos && !curve.algos.includes(run.algo)) continue;
      for (const row of run.rows) {
        const value = curve.value(row);
        if (value !== undefined && Number.isFinite(value))
          points.push({ run: run.label, kind: curve.kind, step: row.step, value });
      }
    }
  }
  return points;
}

function chartSpec(chart: ChartDef, values: Point[], runCount: number, title: string): VegaLiteSpec {
  const kinds = [...new Set(values.map((p) => p.kind))];
  const perSeries = new Map<string, number>();
  for (const p of values)
    perSeries.set(`${p.run}\u0000${p.kind}`, (perSeries.get(`${p.run}\u0000${p.kind}`) ?? 0) + 1);
  const marked = Math.max(0, ...perSeries.values()) <= MAX_POINTS_MARKED;
  // One run: a colour per curve. Several runs: a colour per run and a dash pattern per curve.
  const encoding: Record<string, unknown> = {
    x: STEP_AXIS,
    y: { field: 'value', type: 'quantitative', title: chart.yTitle, scale: { zero: false } },
    tooltip: [
      { field: 'run', type: 'nominal' },
      { field: 'kind', type: 'nominal', title: 'curve' },
      { field: 'step', type: 'quantitative' },
      { field: 'value', type: 'quantitative', format: '.4g' },
    ],
  };
  if (runCount <= 1) {
    encoding.color = { field: 'kind', type: 'nominal', title: 'curve', sort: kinds };
  } else {
    encoding.color = { field: 'run', type: 'nominal', title: 'run' };
    if (kinds.length > 1)
      encoding.strokeDash = {
        field: 'kind',
        type: 'nominal',
        title: 'curve',
        sort: kinds,
        legend: { symbolType: 'stroke', symbolStrokeColor: '#555' },
      };
    encoding.detail = { field: 'kind' };
  }
  return {
    $schema: SCHEMA,
    title,
    width: WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: 'line', strokeWidth: 1.8, point: marked },
    encoding,
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

/** The charts of `runs` that have data; `titlePrefix` (e.g. the task) starts every title. */
export function runPlots(runs: readonly RunSeries[], titlePrefix = ''): PlotSpec[] {
  const plots: PlotSpec[] = [];
  for (const chart of RUN_CHARTS) {
    const values = chartValues(chart, runs);
    if (values.length === 0) continue;
    const title = titlePrefix ? `${titlePrefix}: ${chart.title}` : chart.title;
    plots.push({
      name: chart.name,
      caption: chart.caption,
      spec: chartSpec(chart, values, runs.length, title),
    });
  }
  return plots;
}
