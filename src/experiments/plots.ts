/**
 * Vega-Lite specifications of a comparison's plots, as plain objects (rendered by render.ts).
 * One panel per setting (faceted when a sweep has several), one colour per algorithm.
 */
import type { Algo } from './plan.js';
import type { AlgoSummary, Comparison, ComparisonSummary } from './summary.js';
import { formatSweepValue } from './sweep.js';
import { type PlotSpec, SCHEMA, STEP_AXIS, type VegaLiteSpec } from './vegaLiteBase.js';

export { type PlotSpec, SCHEMA, STEP_AXIS, type VegaLiteSpec } from './vegaLiteBase.js';

/** One panel: a title and the algorithms' summaries to draw in it. */
interface Panel {
  title: string;
  series: Array<{ name: string; algo: Algo; summary: AlgoSummary }>;
  /** The steps-to-target targets on the evaluation reward and the gold reward; null without one. */
  target: { eval_reward: number | null; eval_gold: number | null };
}

const ALGO_COLORS: Record<Algo, string> = { grpo: '#4c78a8', grpovi: '#f58518' };
const PANEL_WIDTH = 360;
const PANEL_HEIGHT = 220;

function seriesOf(comparison: Comparison, suffix: (algo: Algo) => string = () => ''): Panel['series'] {
  return (Object.entries(comparison.algorithms) as [Algo, AlgoSummary][]).map(([algo, summary]) => ({
    name: `${algo}${suffix(algo)}`,
    algo,
    summary,
  }));
}

function colorScale(panels: readonly Panel[]): { domain: string[]; range: string[] } {
  const names = new Map<string, Algo>();
  for (const panel of panels) for (const s of panel.series) names.set(s.name, s.algo);
  const domain = [...names.keys()].sort();
  return { domain, range: domain.map((name) => ALGO_COLORS[names.get(name)!]) };
}

/** Wraps a layered chart in a facet over `panel` when there is more than one panel. */
function layout(
  panels: readonly Panel[],
  values: Record<string, unknown>[],
  title: string,
  layer: VegaLiteSpec[],
): VegaLiteSpec {
  const base = {
    $schema: SCHEMA,
    title,
    data: { values },
    config: { font: 'sans-serif', view: { stroke: '#ddd' }, legend: { symbolOpacity: 1 } },
  };
  const inner = { width: PANEL_WIDTH, height: PANEL_HEIGHT, layer };
  if (panels.length <= 1) return { ...base, ...inner };
  return {
    ...base,
    facet: { field: 'panel', type: 'nominal', sort: panels.map((p) => p.title), title: null },
    columns: panels.length === 4 ? 2 : Math.min(3, panels.length),
    spec: inner,
    resolve: { scale: { y: 'shared' } },
  };
}

function evalPlot(panels: readonly Panel[], field: 'eval_reward' | 'eval_gold', title: string): VegaLiteSpec {
  const values: Record<string, unknown>[] = [];
  for (const panel of panels) {
    for (const s of panel.series) {
      const curve = field === 'eval_reward' ? s.summary.eval_curve : s.summary.eval_gold_curve;
      for (const p of curve ?? []) {
        const std = p.std ?? 0;
        values.push({
          panel: panel.title,
          algo: s.name,
          step: p.step,
          mean: p.mean,
          lo: p.mean - std,
          hi: p.mean + std,
          n: p.n,
        });
      }
    }
  }
  const yTitle = field === 'eval_reward' ? 'evaluation reward' : 'evaluation gold reward';
  const color = { field: 'algo', type: 'nominal', title: 'algorithm', scale: colorScale(panels) };
  const x = STEP_AXIS;
  const curves = { filter: 'isValid(datum.mean)' };
  const targets: Record<string, unknown>[] = [];
  for (const panel of panels) {
    const target = panel.target[field];
    if (target !== null) targets.push({ panel: panel.title, target, label: `target ${target.toFixed(3)}` });
  }
  values.push(...targets);
  const targetLayers: VegaLiteSpec[] =
    targets.length === 0
      ? []
      : [
          {
            transform: [{ filter: 'isValid(datum.target)' }],
            mark: { type: 'rule', color: '#555', strokeDash: [4, 3] },
            encoding: { y: { field: 'target', type: 'quantitative' } },
          },
          {
            transform: [{ filter: 'isValid(datum.target)' }],
            mark: {
              type: 'text',
              align: 'left',
              baseline: 'bottom',
              dx: 3,
              dy: -2,
              color: '#555',
              fontSize: 10,
            },
            encoding: {
              y: { field: 'target', type: 'quantitative' },
              x: { value: 0 },
              text: { field: 'label' },
            },
          },
        ];
  return layout(panels, values, title, [
    {
      transform: [curves],
      mark: { type: 'area', opacity: 0.2 },
      encoding: {
        x,
        y: { field: 'lo', type: 'quantitative', title: yTitle, scale: { zero: false } },
        y2: { field: 'hi' },
        color,
      },
    },
    {
      transform: [curves],
      mark: { type: 'line', point: true, strokeWidth: 2 },
      encoding: { x, y: { field: 'mean', type: 'quantitative', title: yTitle }, color },
    },
    ...targetLayers,
  ]);
}

function klPlot(panels: readonly Panel[], title: string): VegaLiteSpec {
  const values: Record<string, unknown>[] = [];
  for (const panel of panels) {
    for (const s of panel.series) {
      for (const p of s.summary.kl_curve ?? []) {
        const std = p.std ?? 0;
        values.push({
          panel: panel.title,
          algo: s.name,
          step: p.step,
          mean: p.mean,
          lo: p.mean - std,
          hi: p.mean + std,
        });
      }
    }
  }
  const color = { field: 'algo', type: 'nominal', title: 'algorithm', scale: colorScale(panels) };
  return layout(panels, values, title, [
    {
      mark: { type: 'area', opacity: 0.2 },
      encoding: {
        x: STEP_AXIS,
        y: { field: 'lo', type: 'quantitative', title: 'KL to the reference' },
        y2: { field: 'hi' },
        color,
      },
    },
    {
      mark: { type: 'line', strokeWidth: 1.6 },
      encoding: { x: STEP_AXIS, y: { field: 'mean', type: 'quantitative' }, color },
    },
  ]);
}

function rewardStdPlot(panels: readonly Panel[], title: string): VegaLiteSpec {
  const values: Record<string, unknown>[] = [];
  for (const panel of panels) {
    for (const s of panel.series) {
      for (const p of s.summary.reward_std_curve) {
        values.push({ panel: panel.title, algo: s.name, step: p.step, kind: 'raw', value: p.raw });
        values.push({ panel: panel.title, algo: s.name, step: p.step, kind: 'adjusted', value: p.adjusted });
      }
    }
  }
  return layout(panels, values, title, [
    {
      mark: { type: 'line', strokeWidth: 1.6 },
      encoding: {
        x: STEP_AXIS,
        y: { field: 'value', type: 'quantitative', title: 'mean per-group reward std' },
        color: { field: 'algo', type: 'nominal', title: 'algorithm', scale: colorScale(panels) },
        strokeDash: {
          field: 'kind',
          type: 'nominal',
          title: 'rewards',
          scale: {
            domain: ['raw', 'adjusted'],
            range: [
              [1, 0],
              [5, 3],
            ],
          },
        },
        detail: { field: 'kind' },
      },
    },
  ]);
}

function targets(comparison: Comparison): Panel['target'] {
  return {
    eval_reward: comparison.steps_to_target.target,
    eval_gold: comparison.steps_to_target_gold?.target ?? null,
  };
}

function settingPanels(summary: ComparisonSummary): Panel[] {
  return summary.settings.map((setting) => ({
    title: setting.label,
    series: seriesOf(setting),
    target: targets(setting),
  }));
}

function bestLrPanels(summary: ComparisonSummary): Panel[] {
  return summary.best_lr.map((group) => ({
    title: group.label === 'default' ? 'each at its best learning rate' : group.label,
    target: targets(group),
    series: seriesOf(group, (algo) => {
      const best = group.best[algo];
      return best ? ` (lr=${formatSweepValue(best.learning_rate)})` : '';
    }),
  }));
}

/** Every plot of a comparison: evaluation reward (and gold), reward std, and the best-learning-rate view of an lr sweep. */
export function comparisonPlots(summary: ComparisonSummary): PlotSpec[] {
  const settings = settingPanels(summary);
  const seeds = `${summary.seeds.length} seed${summary.seeds.length === 1 ? '' : 's'}`;
  const plots: PlotSpec[] = [
    {
      name: 'eval_reward',
      caption: `Evaluation reward by step: mean over ${seeds} with a band of one std, per algorithm${settings.length > 1 ? ', one panel per setting' : ''}. The dashed line is the steps-to-target target (90% of GRPO's improvement), where GRPO improved.`,
      spec: evalPlot(
        settings,
        'eval_reward',
        `${summary.task}: evaluation reward (mean ± std over ${seeds})`,
      ),
    },
  ];
  if (summary.has_gold) {
    plots.push({
      name: 'eval_gold',
      caption: `Gold evaluation reward by step (mean ± std over ${seeds}); the dashed line is the target on GRPO's gold curve.`,
      spec: evalPlot(settings, 'eval_gold', `${summary.task}: gold reward (mean ± std over ${seeds})`),
    });
  }
  if (settings.some((panel) => panel.series.some((s) => (s.summary.kl_curve ?? []).length > 0))) {
    plots.push({
      name: 'kl',
      caption: `KL to the reference policy by training step (the k3 estimate the trainer logs): mean over ${seeds} with a band of one std. What the reward gain cost.`,
      spec: klPlot(settings, `${summary.task}: KL to the reference (mean ± std over ${seeds})`),
    });
  }
  plots.push({
    name: 'reward_std',
    caption:
      'Mean per-group std of the training rewards by step, raw (solid) and after the reward transform (dashed); mean over seeds.',
    spec: rewardStdPlot(settings, `${summary.task}: per-group reward std, raw vs adjusted`),
  });
  if (summary.best_lr.length > 0) {
    const panels = bestLrPanels(summary);
    plots.push({
      name: 'best_lr_eval_reward',
      caption: 'Evaluation reward of each algorithm at its own best learning rate (highest AUC).',
      spec: evalPlot(panels, 'eval_reward', `${summary.task}: each algorithm at its best learning rate`),
    });
    if (summary.has_gold) {
      plots.push({
        name: 'best_lr_eval_gold',
        caption: 'Gold evaluation reward of each algorithm at its own best learning rate.',
        spec: evalPlot(panels, 'eval_gold', `${summary.task}: gold reward at the best learning rates`),
      });
    }
  }
  return plots;
}
