/**
 * `RUN/report.md` of a single training run (pure: builds the Markdown from what the run folder
 * holds): the run's headline numbers, its plots, samples from the first and the last evaluation and
 * the resolved config.
 */
import type { MetricsRow } from '../train/metrics.js';
import type { RenderedPlot } from './render.js';
import { formatNumber } from './report.js';
import { firstAndLastSamples, type RunView, type SampleRow } from './runView.js';
import { evalCurve, FINAL_KL_STEPS, finalKl, KL_NOT_COMPUTED, klComputed } from './stats.js';

/** Samples shown per evaluation. */
export const SAMPLES_SHOWN = 8;

/** A table cell that keeps Markdown's table intact: no pipe, no line break, no raw HTML. */
export function markdownCell(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, '↵');
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function sampleTable(samples: readonly SampleRow[]): string {
  const names = [...new Set(samples.flatMap((s) => Object.keys(s.rewards)))].sort();
  const hasGold = samples.some((s) => typeof s.gold === 'number');
  const shown = samples.slice(0, SAMPLES_SHOWN);
  const rows = shown.map((s) => [
    markdownCell(s.prompt),
    markdownCell(s.completion),
    formatNumber(s.reward),
    ...names.map((name) => formatNumber(s.rewards[name])),
    ...(hasGold ? [formatNumber(s.gold)] : []),
  ]);
  const more =
    samples.length > shown.length
      ? `\n\n(${shown.length} of ${samples.length} samples of this step shown.)`
      : '';
  return table(['prompt', 'completion', 'reward', ...names, ...(hasGold ? ['gold'] : [])], rows) + more;
}

function trainingRows(rows: readonly MetricsRow[]): MetricsRow[] {
  return rows.filter((row) => typeof row.reward_mean === 'number');
}

/** The headline numbers as sentences. */
function headline(view: RunView): string[] {
  const lines: string[] = [];
  const curve = evalCurve(view.rows, 'eval_reward');
  if (curve.length > 0) {
    const first = curve[0];
    const last = curve[curve.length - 1];
    const best = curve.reduce((a, b) => (b.value > a.value ? b : a));
    lines.push(
      curve.length === 1
        ? `Evaluation reward ${formatNumber(first.value)} at step ${first.step} (one evaluation so far).`
        : `Evaluation reward ${formatNumber(first.value)} at step ${first.step}, ${formatNumber(last.value)} at step ${last.step} ` +
            `(${last.value >= first.value ? '+' : ''}${formatNumber(last.value - first.value)}); best ${formatNumber(best.value)} at step ${best.step}.`,
    );
  } else {
    lines.push('No evaluation has been logged (eval_every 0, or the run has not evaluated yet).');
  }
  const gold = evalCurve(view.rows, 'eval_gold');
  if (gold.length > 1) {
    lines.push(
      `Gold reward ${formatNumber(gold[0].value)} at step ${gold[0].step}, ${formatNumber(gold[gold.length - 1].value)} at step ${gold[gold.length - 1].step}.`,
    );
  }
  const training = trainingRows(view.rows);
  if (training.length > 0) {
    const lastTen = training.slice(-FINAL_KL_STEPS);
    const meanReward = lastTen.reduce((sum, row) => sum + (row.reward_mean ?? 0), 0) / lastTen.length;
    const kl = finalKl(view.rows);
    lines.push(
      `Over the last ${lastTen.length} training step${lastTen.length === 1 ? '' : 's'}: mean training reward ${formatNumber(meanReward)}` +
        (kl !== null
          ? `, mean KL to the reference ${formatNumber(kl, 4)}.`
          : klComputed(view.config)
            ? '.'
            : `, KL to the reference not computed (${KL_NOT_COMPUTED}).`),
    );
  }
  return lines;
}

function describeState(view: RunView, steps: number | null): string {
  const of = steps === null ? '' : ` of ${steps}`;
  switch (view.state) {
    case 'finished':
      return `finished: ${view.step}${of} steps`;
    case 'running':
      return `running: step ${view.step}${of} when this report was written`;
    case 'interrupted':
      return `stopped at step ${view.step}${of} (interrupted or failed; continue it with \`grpovi train --resume\`)`;
    case 'new':
      return 'no step logged yet';
  }
}

export interface RunReportInput {
  view: RunView;
  plots: readonly RenderedPlot[];
  generatedAt: string;
}

/** The report's Markdown. */
export function buildRunReport({ view, plots, generatedAt }: RunReportInput): string {
  const config = view.config;
  const steps = typeof config.steps === 'number' ? config.steps : null;
  const algo = typeof config.algo === 'string' ? config.algo.toUpperCase() : 'unknown algorithm';
  const task = typeof config.task === 'string' ? config.task : 'unknown task';
  const seed = typeof config.seed === 'number' ? `, seed ${config.seed}` : '';
  const out: string[] = [
    `# ${algo} on ${task}${seed}`,
    '',
    `Run ${describeState(view, steps)}. Generated ${generatedAt}.`,
    '',
    '## How to read this report',
    '',
    '- **Training reward** is the mean reward of the completions sampled for training at each step (the ' +
      'weighted sum of the reward functions, before any GRPOVI adjustment); it is noisy because every step ' +
      'draws new prompts.',
    '- **Evaluation reward** is the mean reward on the held-out evaluation prompts, one sample each, ' +
      'measured every `eval_every` steps; step 0 is the starting policy. It is the number to compare across runs.',
    '- **Gold reward** (tasks scored by a learned reward model) is the true objective measured on the same ' +
      'evaluation samples; the training reward is only its proxy.',
    '- **KL** is the divergence from the reference (starting) policy: what the reward gain cost. ' +
      '**Reward std** is the spread of the rewards within a prompt group, the learning signal of GRPO; ' +
      'GRPOVI raises it (adjusted) while keeping each group’s mean and order.',
    '',
    '## Summary',
    '',
    ...headline(view).map((line) => `- ${line}`),
    '',
  ];

  out.push('## Plots', '');
  if (plots.length === 0) out.push('No step has been logged yet.', '');
  for (const plot of plots)
    out.push(`![${plot.name}](${plot.png ?? plot.svg})`, '', `${plot.caption} ([SVG](${plot.svg}))`, '');

  out.push('## Samples', '');
  const { first, last } = firstAndLastSamples(view.samples);
  if (first === null) {
    out.push('The run folder has no samples.jsonl (or it is empty): no sample completions to show.', '');
  } else {
    out.push(`### First evaluation (step ${first.step})`, '', sampleTable(first.samples), '');
    if (last === null) out.push('Only one evaluation has logged samples so far.', '');
    else out.push(`### Last evaluation (step ${last.step})`, '', sampleTable(last.samples), '');
  }

  out.push(
    '## Configuration',
    '',
    'The resolved config of the run, as the trainer wrote it to `config.json` (global defaults < task defaults < --config file < flags):',
    '',
    '```json',
    JSON.stringify(config, null, 2),
    '```',
    '',
  );
  return out.join('\n');
}
