/**
 * `DIR/report.md`: the results table, the plots, the exact command and config, the machine and the
 * time taken, and a closing note with the steps-to-target ratio and its spread over seeds. Pure:
 * builds text from the summary and the comparison record.
 */
import type { MachineInfo } from './machine.js';
import type { Algo, ComparisonRecord } from './plan.js';
import type { SampleRow } from '../train/samples.js';
import type { RenderedPlot } from './render.js';
import {
  KL_NOT_COMPUTED,
  type MeanStd,
  type PairedDifference,
  type Spread,
  type StepsToTarget,
} from './stats.js';
import type { AlgoSummary, Comparison, ComparisonSummary } from './summary.js';
import { formatSweepValue } from './sweep.js';

export function formatNumber(value: number | null | undefined, digits = 3): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value.toFixed(digits);
}

function formatMeanStd(stat: MeanStd | null, digits = 3): string {
  if (stat === null) return '–';
  return stat.std === null
    ? `${formatNumber(stat.mean, digits)} (1 seed)`
    : `${formatNumber(stat.mean, digits)} ± ${formatNumber(stat.std, digits)}`;
}

function formatSeconds(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

/** The steps-to-target cell: a step, or what happened instead. */
function stepsToTargetCell(comparison: Comparison, algo: Algo, steps: number): string {
  const stt = comparison.steps_to_target;
  if (!comparison.algorithms.grpo || !comparison.algorithms.grpovi) return 'needs both algorithms';
  if (stt.target === null) return 'no target (GRPO did not improve)';
  const reached = algo === 'grpo' ? stt.grpo : stt.grpovi;
  return reached === null ? `not reached in ${steps} steps` : String(reached);
}

/** "Target 0.412 (90% of GRPO's improvement): GRPOVI reached it at step 20, GRPO at step 40: ratio 0.50." and its variants. */
function targetSentence(stt: StepsToTarget, steps: number, curves: string): string {
  if (stt.target === null)
    return `GRPO did not improve on its starting value (${curves}), so there is no target to reach.`;
  const head = `Target ${formatNumber(stt.target)} (90% of GRPO's improvement, ${curves})`;
  if (stt.grpo === null) return `${head}: GRPO did not reach it within ${steps} steps.`;
  if (stt.grpovi === null)
    return `${head}: GRPO reached it at step ${stt.grpo}; GRPOVI did not reach it within ${steps} steps.`;
  return `${head}: GRPOVI reached it at step ${stt.grpovi}, GRPO at step ${stt.grpo}: ratio ${formatNumber(stt.ratio, 2)}.`;
}

function algoRow(
  first: string[],
  summary: AlgoSummary,
  comparison: Comparison,
  algo: Algo,
  hasGold: boolean,
  steps: number,
): string[] {
  return [
    ...first,
    String(summary.seeds.length),
    formatMeanStd(summary.final_eval_reward),
    ...(hasGold ? [formatMeanStd(summary.final_eval_gold)] : []),
    formatMeanStd(summary.auc_eval_reward),
    formatMeanStd(summary.final_kl),
    formatNumber(summary.reward_std.raw),
    formatNumber(summary.reward_std.adjusted),
    stepsToTargetCell(comparison, algo, steps),
  ];
}

function algoHeader(first: string[], hasGold: boolean): string[] {
  return [
    ...first,
    'seeds',
    'final eval reward',
    ...(hasGold ? ['final gold reward'] : []),
    'AUC (mean eval reward)',
    'final KL',
    'reward std raw',
    'reward std adjusted',
    'steps to target',
  ];
}

function describeSpread(spread: Spread | null): string {
  if (spread === null)
    return 'no seed has one (on every seed GRPO did not improve or GRPOVI did not reach the target)';
  const std = spread.std === null ? '' : ` ± ${formatNumber(spread.std, 2)}`;
  return (
    `median ${formatNumber(spread.median, 2)} (IQR ${formatNumber(spread.q1, 2)}–${formatNumber(spread.q3, 2)}), ` +
    `mean ${formatNumber(spread.mean, 2)}${std}, range ${formatNumber(spread.min, 2)}–${formatNumber(spread.max, 2)} over ${spread.n} seed${spread.n === 1 ? '' : 's'}`
  );
}

function describePaired(name: string, paired: PairedDifference | null): string | null {
  if (paired === null || paired.mean === null) return null;
  const std = paired.std === null ? '' : ` ± ${formatNumber(paired.std)}`;
  return `${name}, GRPOVI − GRPO per seed: ${paired.mean >= 0 ? '+' : ''}${formatNumber(paired.mean)}${std}; GRPOVI ahead on ${paired.grpovi_better} of ${plural(paired.seeds.length, 'seed')} (GRPO ahead on ${paired.grpo_better}, ties ${paired.ties}).`;
}

/** Sentences on steps to target (seed-averaged and per seed) and the paired differences. */
export function headToHeadNotes(comparison: Comparison, steps: number): string[] {
  if (!comparison.algorithms.grpo || !comparison.algorithms.grpovi)
    return ['GRPO and GRPOVI do not both have finished runs here; nothing to compare.'];
  const notes: string[] = [];
  const stt = comparison.steps_to_target;
  const perSeed = comparison.steps_to_target_per_seed;
  notes.push(targetSentence(stt, steps, 'seed-averaged evaluation reward'));
  if (perSeed !== null) {
    let line = `Per seed, ratio GRPOVI/GRPO: ${describeSpread(perSeed.ratio)}`;
    const caveats: string[] = [];
    if (perSeed.grpo_no_improvement > 0)
      caveats.push(`GRPO did not improve on ${perSeed.grpo_no_improvement}`);
    if (perSeed.grpovi_never_reached > 0)
      caveats.push(`GRPOVI did not reach its seed's target on ${perSeed.grpovi_never_reached}`);
    if (caveats.length > 0) line += `; ${caveats.join(', ')} of ${perSeed.seeds.length} seeds`;
    notes.push(`${line}.`);
  }
  if (comparison.steps_to_target_gold) {
    notes.push(
      `On the gold reward: ${lowerFirst(targetSentence(comparison.steps_to_target_gold, steps, 'seed-averaged gold reward'))}`,
    );
  }
  const paired = comparison.paired;
  for (const line of [
    describePaired('Final evaluation reward', paired?.final_eval_reward ?? null),
    describePaired('AUC', paired?.auc_eval_reward ?? null),
    describePaired('Final gold reward', paired?.final_eval_gold ?? null),
  ]) {
    if (line !== null) notes.push(line);
  }
  return notes;
}

/** The results table(s) of every setting, and of the best learning rates, in Markdown. */
export function resultsTables(summary: ComparisonSummary): string {
  const parts: string[] = [];
  const multi = summary.settings.length > 1;
  const rows: string[][] = [];
  for (const setting of summary.settings) {
    for (const algo of summary.algos) {
      const stats = setting.algorithms[algo];
      if (stats)
        rows.push(
          algoRow(
            multi ? [setting.label, algo] : [algo],
            stats,
            setting,
            algo,
            summary.has_gold,
            summary.steps,
          ),
        );
    }
  }
  parts.push(table(algoHeader(multi ? ['setting', 'algorithm'] : ['algorithm'], summary.has_gold), rows));
  if (summary.best_lr.length > 0) {
    const bestRows: string[][] = [];
    for (const group of summary.best_lr) {
      for (const algo of summary.algos) {
        const stats = group.algorithms[algo];
        const best = group.best[algo];
        if (!stats || !best) continue;
        bestRows.push(
          algoRow(
            [group.label, algo, formatSweepValue(best.learning_rate)],
            stats,
            group,
            algo,
            summary.has_gold,
            summary.steps,
          ),
        );
      }
    }
    parts.push(
      `Each algorithm at its own best learning rate:\n\n${table(algoHeader(['group', 'algorithm', 'best lr'], summary.has_gold), bestRows)}`,
    );
  }
  return parts.join('\n\n');
}

/** Held-out completions of one run at its first and last evaluation (from its samples.jsonl). */
export interface RunSamples {
  setting: string;
  algo: Algo;
  seed: number;
  first: readonly SampleRow[];
  last: readonly SampleRow[];
}

/** Samples shown per evaluation in the report. */
const REPORT_SAMPLES = 3;

function samplesSection(samples: readonly RunSamples[]): string[] {
  const out: string[] = ['## Samples', ''];
  out.push(
    'Held-out completions at the first and the last evaluation (the first prompts of `samples.jsonl`), one run per algorithm:',
    '',
  );
  const cell = (text: string) =>
    text.replaceAll('|', '\\|').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('\n', ' ');
  for (const run of samples) {
    const rows: string[][] = [];
    for (const sample of [...run.first.slice(0, REPORT_SAMPLES), ...run.last.slice(0, REPORT_SAMPLES)]) {
      rows.push([
        String(sample.step),
        cell(sample.prompt),
        cell(sample.completion),
        formatNumber(sample.reward),
      ]);
    }
    if (rows.length === 0) continue;
    out.push(
      `**${run.algo}**, ${run.setting}, seed ${run.seed}:`,
      '',
      table(['step', 'prompt', 'completion', 'reward'], rows),
      '',
    );
  }
  return out;
}

export interface ReportInput {
  summary: ComparisonSummary;
  record: ComparisonRecord;
  plots: readonly RenderedPlot[];
  /** Where the report lives relative to the folder (for the run-folder links). */
  machine: MachineInfo | null;
  /** A few held-out completions per algorithm at the first and last evaluation. */
  samples?: readonly RunSamples[];
}

function closingNote(summary: ComparisonSummary): string[] {
  const lines: string[] = [];
  if (summary.headline) {
    const where =
      summary.headline.kind === 'best_lr'
        ? 'each algorithm at its best learning rate'
        : `setting ${summary.headline.label}`;
    lines.push(
      `For ${where} on ${summary.task} (${summary.steps} steps, ${plural(summary.seeds.length, 'seed')}):`,
      '',
    );
    for (const note of headToHeadNotes(summary.headline, summary.steps)) lines.push(`- ${note}`);
  } else {
    for (const group of summary.best_lr.length > 0 ? summary.best_lr : summary.settings) {
      const label =
        summary.best_lr.length > 0 ? `${group.label} (each at its best learning rate)` : group.label;
      lines.push(`- **${label}**: ${headToHeadNotes(group, summary.steps).join(' ')}`);
    }
  }
  if (summary.missing_runs.length > 0) {
    lines.push(
      '',
      `${summary.missing_runs.length} planned run(s) have not finished and are left out; rerun the compare command to finish them.`,
    );
  }
  return lines;
}

/** The paragraph that says what the report's numbers are, before any of them. */
function howToRead(summary: ComparisonSummary): string[] {
  const percent = Math.round(summary.target_fraction * 100);
  return [
    '## How to read this report',
    '',
    'Every run trains the same starting policy with the same seeds and prompts; GRPO and GRPOVI differ only in the reward transform. ' +
      '**Evaluation reward** is the mean reward of the held-out evaluation prompts (one sample each, `eval_prompts` of them), measured every ' +
      '`eval_every` steps; step 0 is the starting policy. Curves and tables average it over seeds (± is the sample std over seeds). ' +
      (summary.has_gold
        ? '**Gold reward** is the true objective of the task, measured on the same evaluation samples; the reward the runs train on is a learned proxy of it. '
        : '') +
      `**Target** is the reward at which GRPO has made ${percent}% of the improvement its seed-averaged evaluation curve shows from step 0 to the last step (the dashed line on the reward plot). ` +
      "**Steps to target** is each algorithm's first evaluation step with its seed-averaged curve at or above the target (measured steps only, so the resolution is `eval_every`). " +
      "**Ratio** is GRPOVI's steps divided by GRPO's: below 1 means GRPOVI got there in fewer steps, e.g. 0.5 in half. " +
      '**AUC** is the time-averaged evaluation reward (area under the curve over the step span), and **final KL** the divergence from the starting policy over the last training steps: what the reward cost ' +
      `(– where it was not computed: ${KL_NOT_COMPUTED} unless log_kl is set).`,
    '',
  ];
}

/** The report's Markdown. */
export function buildReport(input: ReportInput): string {
  const { summary, record, plots, machine } = input;
  const out: string[] = [];
  const sweepText =
    summary.sweep.length === 0
      ? 'none'
      : summary.sweep.map((a) => `${a.key} = ${a.values.map(formatSweepValue).join(', ')}`).join('; ');
  out.push(
    `# GRPO vs GRPOVI on ${summary.task}`,
    '',
    `${summary.steps} steps, seeds ${summary.seeds.join(', ')}, algorithms ${summary.algos.join(', ')}, sweep: ${sweepText}. Generated ${summary.generated_at}.`,
    '',
    ...howToRead(summary),
    '## Command',
    '',
    '```sh',
    record.command,
    '```',
  );
  if (record.invocations.length > 1) {
    out.push('', 'Earlier invocations on this folder (finished runs were kept, not rerun):', '');
    for (const inv of record.invocations.slice(0, -1))
      out.push(`- \`${inv.command}\` (${inv.started_at}, ${inv.outcome})`);
  }

  out.push('', '## Results', '', resultsTables(summary), '');
  if (summary.settings.length > 1) {
    for (const setting of summary.settings) {
      out.push(`**${setting.label}**: ${headToHeadNotes(setting, summary.steps).join(' ')}`, '');
    }
  }
  for (const group of summary.best_lr) {
    const choices = summary.algos
      .map((algo) => {
        const best = group.best[algo];
        if (!best) return null;
        const aucs = best.auc_by_learning_rate
          .map((a) => `${formatSweepValue(a.learning_rate)}: ${formatNumber(a.auc)}`)
          .join(', ');
        return `${algo} best at lr ${formatSweepValue(best.learning_rate)} (AUC by lr: ${aucs})`;
      })
      .filter((c): c is string => c !== null);
    out.push(
      `**Best learning rate, ${group.label}**: ${choices.join('; ')}. ${headToHeadNotes(group, summary.steps).join(' ')}`,
      '',
    );
  }

  if (input.samples !== undefined && input.samples.length > 0) out.push(...samplesSection(input.samples));

  out.push('## Plots', '');
  for (const plot of plots) {
    out.push(`![${plot.name}](${plot.png ?? plot.svg})`, '', `${plot.caption} ([SVG](${plot.svg}))`, '');
  }

  out.push(
    '## Configuration',
    '',
    `Every run uses this resolved config (task defaults < ${record.config_file ? `\`${record.config_file}\`` : 'no --config file'} < flags), ` +
      "with its own `seed` and `algo` and the setting's swept fields. Runs of one seed share the initial policy and the prompt order; GRPO and GRPOVI differ only in the reward transform. " +
      'GRPO runs do not depend on GRPOVI-only fields (grpovi_weights), so one GRPO run serves every value of them. Each run folder holds its exact config in `run.json`.',
    '',
    '```json',
    JSON.stringify(
      { ...record.base_config, sweep: record.sweep, algos: record.algos, seeds: record.seeds },
      null,
      2,
    ),
    '```',
    '',
  );

  const backends = new Set<string>();
  const runRows: string[][] = [];
  for (const setting of summary.settings) {
    for (const algo of summary.algos) {
      for (const run of setting.algorithms[algo]?.runs ?? []) {
        if (run.backend) backends.add(run.backend);
        runRows.push([
          setting.label,
          algo,
          String(run.seed),
          `\`${run.dir}\``,
          formatSeconds(run.wall_seconds),
          formatSeconds(run.train_seconds),
        ]);
      }
    }
  }
  out.push('## Machine', '');
  if (machine) {
    out.push(
      `- OS: ${machine.os}`,
      `- CPU: ${machine.cpu_model} × ${machine.cpu_count}`,
      `- Memory: ${machine.memory_gb} GB`,
      `- Node: ${machine.node}`,
    );
  } else {
    out.push('- not recorded');
  }
  out.push(`- TF.js backend: ${backends.size > 0 ? [...backends].join(', ') : 'unknown'}`, '');

  const jobs = record.invocations.at(-1)?.jobs ?? 1;
  out.push(
    '## Time',
    '',
    `- Comparison wall time (sum over \`compare\` invocations): ${formatSeconds(summary.time.invocations_wall_seconds)}, with up to ${jobs} run(s) in parallel.`,
    `- Sum of the runs' wall times: ${formatSeconds(summary.time.runs_wall_seconds)} (a GRPO run shared by several settings counted once); the table lists each setting's runs.`,
    '',
    table(['setting', 'algorithm', 'seed', 'folder', 'wall time', 'training steps'], runRows),
    '',
  );
  if (summary.missing_runs.length > 0) {
    out.push(
      '## Missing runs',
      '',
      table(
        ['setting', 'algorithm', 'seed', 'folder', 'state'],
        summary.missing_runs.map((m) => [m.setting, m.algo, String(m.seed), `\`${m.dir}\``, m.state]),
      ),
      '',
    );
  }

  out.push(
    '## Summary fields',
    '',
    '`summary.json` holds, per setting (`settings[]`, each with `label` and `overrides`) and per group of settings that differ only in the learning rate (`best_lr[]`), ' +
      'a comparison: `algorithms.<algo>` with `final_eval_reward`, `final_eval_gold`, `auc_eval_reward`, `auc_eval_gold`, `final_kl` ({mean, std, n}), ' +
      '`eval_curve` / `eval_gold_curve` ([{step, mean, std, n}]), `reward_std` ({raw, adjusted}), `reward_std_curve`, `per_seed` and `runs`; ' +
      '`steps_to_target` ({target, grpo, grpovi, ratio}), `steps_to_target_per_seed`, `steps_to_target_gold` and `paired`. ' +
      '`headline` repeats the comparison to read first (the only setting, or the only best-learning-rate group). Definitions:',
    '',
  );
  for (const [name, text] of Object.entries(summary.definitions)) out.push(`- \`${name}\`: ${text}`);
  out.push('', '## Conclusion', '', ...closingNote(summary), '');
  return out.join('\n');
}

/** What `compare` and `report` print: the results table and the closing note. */
export function consoleSummary(summary: ComparisonSummary): string {
  return [resultsTables(summary), '', ...closingNote(summary)].join('\n');
}
