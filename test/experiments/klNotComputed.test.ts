import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderComparison } from '../../src/experiments/compare.js';
import { type ComparisonRecord, planComparison, writeComparisonRecord } from '../../src/experiments/plan.js';
import { consoleSummary } from '../../src/experiments/report.js';
import { writeRunReport } from '../../src/experiments/runReportFile.js';
import { readRunView } from '../../src/experiments/runView.js';
import { klComputed, rowsWithComputedKl } from '../../src/experiments/stats.js';
import type { ComparisonSummary } from '../../src/experiments/summary.js';
import type { MetricsRow } from '../../src/train/metrics.js';
import { formatStepLine, TrainProgress } from '../../src/train/progress.js';
import { CLI_BIN, runNode } from '../cli/cliBin.js';

/**
 * At beta 0 (without log_kl) the trainer keeps no reference policy and logs `kl` 0: that is "not
 * computed", and every place that shows the final KL says so ("–") instead of printing 0.000.
 */

/** The cells of the table's "final KL" column, by row. */
function finalKlColumn(table: string): string[] {
  // The first table of the text: its consecutive "|" lines.
  const all = table.split('\n');
  const start = all.findIndex((l) => l.startsWith('|'));
  const end = all.findIndex((l, i) => i > start && !l.startsWith('|'));
  const lines = all.slice(start, end < 0 ? undefined : end);
  const header = lines[0].split('|').map((c) => c.trim());
  const column = header.indexOf('final KL');
  expect(column).toBeGreaterThan(0);
  return lines.slice(2).map((l) => l.split('|').map((c) => c.trim())[column]);
}

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-kl-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('whether a run computed its KL', () => {
  it('follows the reference policy: beta > 0, log_kl, or GRPOVI weights that read it', () => {
    expect(klComputed({ beta: 0 })).toBe(false);
    expect(klComputed({ beta: 0.04 })).toBe(true);
    expect(klComputed({ beta: 0, log_kl: true })).toBe(true);
    expect(klComputed({ beta: 0, algo: 'grpovi', grpovi_weights: 'importance' })).toBe(true);
    expect(klComputed({ beta: 0, algo: 'grpo', grpovi_weights: 'importance' })).toBe(false);
    // No config found: nothing to say it was not computed.
    expect(klComputed({})).toBe(true);
    const zeros: MetricsRow[] = [
      { step: 0, eval_reward: 0.1 },
      { step: 1, kl: 0, loss: 0.5 },
    ];
    expect(rowsWithComputedKl(zeros, { beta: 0 })).toEqual([
      { step: 0, eval_reward: 0.1 },
      { step: 1, loss: 0.5 },
    ]);
    expect(rowsWithComputedKl(zeros, { beta: 0.04 })).toEqual(zeros);
    // A measured (nonzero) KL is kept whatever the config says.
    const measured = [{ step: 1, kl: 0.002 }];
    expect(rowsWithComputedKl(measured, { beta: 0 })).toEqual(measured);
  });

  it('a progress line leaves the placeholder out', () => {
    const row: MetricsRow = { step: 3, reward_mean: 0.5, kl: 0 };
    expect(formatStepLine(row, 10)).toContain('kl 0.000');
    let written = '';
    const stream = {
      write(chunk: string) {
        written += chunk;
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const progress = new TrainProgress({ stream, bar: false, logEvery: 1, klComputed: false });
    progress.onStep(row, 10);
    expect(written).toMatch(/^step 3\/10 {2}reward 0\.500( {2}[\d.]+ s\/step)?\n$/);
  });
});

describe('a comparison at beta 0', () => {
  async function comparison(
    name: string,
    beta: number,
  ): Promise<{ dir: string; summary: ComparisonSummary }> {
    const dir = join(root, name);
    const record: ComparisonRecord = {
      format: 'grpovi-comparison',
      version: 1,
      task: 'toy',
      steps: 4,
      base_config: { task: 'toy', steps: 4, eval_every: 2, beta },
      config_file: null,
      sweep: [],
      algos: ['grpo', 'grpovi'],
      seeds: [0, 1],
      command: 'grpovi compare --task toy',
      invocations: [],
    };
    mkdirSync(dir, { recursive: true });
    writeComparisonRecord(dir, record);
    for (const run of planComparison(record).runs) {
      const runDir = join(dir, run.relDir);
      mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
      // As the trainer logs a run without a reference: kl 0 on every training step.
      const rows: MetricsRow[] = [{ step: 0, eval_reward: 0.2 }];
      for (let step = 1; step <= 4; step++)
        rows.push({
          step,
          reward_std: 0.1,
          adjusted_reward_std: 0.2,
          kl: 0,
          ...(step % 2 === 0 ? { eval_reward: 0.2 + 0.05 * step + 0.01 * run.seed } : {}),
        });
      writeFileSync(join(runDir, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      writeFileSync(join(runDir, 'checkpoints', 'latest.json'), JSON.stringify({ step: 4 }));
    }
    return { dir, summary: (await renderComparison(dir)).summary };
  }

  it('shows "–" for final KL in the table, the report and summary.json; at beta > 0 a KL of 0 is shown', async () => {
    const { dir, summary } = await comparison('beta0', 0);
    const setting = summary.settings[0];
    for (const algo of ['grpo', 'grpovi'] as const) {
      expect(setting.algorithms[algo]?.final_kl).toBeNull();
      expect(setting.algorithms[algo]?.per_seed.map((s) => s.final_kl)).toEqual([null, null]);
      expect(setting.algorithms[algo]?.kl_curve).toEqual([]);
    }
    expect(finalKlColumn(consoleSummary(summary))).toEqual(['–', '–']);
    const report = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(finalKlColumn(report.slice(report.indexOf('| algorithm')))).toEqual(['–', '–']);
    expect(report).toContain('– where it was not computed: beta 0, so no reference policy is kept');
    const json = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as {
      settings: { algorithms: Record<string, { final_kl: unknown }> }[];
    };
    expect(json.settings[0].algorithms.grpo.final_kl).toBeNull();
    // The same rows from runs that computed a KL: 0 is a measurement and is shown.
    const computed = await comparison('beta004', 0.04);
    expect(finalKlColumn(consoleSummary(computed.summary))).toEqual(['0.000 ± 0.000', '0.000 ± 0.000']);
  }, 120_000);
});

describe('a run trained at beta 0', () => {
  it('logs kl 0, prints no KL while training, and its report says the KL was not computed', async () => {
    const out = join(root, 'toy-beta0');
    const r = await runNode([
      CLI_BIN,
      'train',
      '--task',
      'toy',
      '--steps',
      '2',
      '--eval-every',
      '1',
      '--beta',
      '0',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as MetricsRow);
    // The premise: the trainer writes the placeholder 0.
    expect(rows.filter((row) => row.step > 0).map((row) => row.kl)).toEqual([0, 0]);
    const stepLines = r.stderr.split('\n').filter((l) => l.startsWith('step '));
    expect(stepLines.length).toBeGreaterThan(0);
    for (const line of stepLines) expect(line).not.toContain('kl');
    // The run's view (the dashboard and the run report read it) has no KL.
    expect(readRunView(out).rows.some((row) => row.kl !== undefined)).toBe(false);
    const report = readFileSync((await writeRunReport(out)).reportPath, 'utf8');
    expect(report).toContain('KL to the reference not computed (beta 0, so no reference policy is kept).');
  }, 120_000);
});
