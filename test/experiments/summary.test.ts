import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderComparison } from '../../src/experiments/compare.js';
import { ComparisonError } from '../../src/experiments/errors.js';
import {
  type Algo,
  type ComparisonRecord,
  planComparison,
  writeComparisonRecord,
} from '../../src/experiments/plan.js';
import { inspectRun } from '../../src/experiments/runFolder.js';
import type { ComparisonSummary } from '../../src/experiments/summary.js';
import { parseSweeps } from '../../src/experiments/sweep.js';
import type { MetricsRow } from '../../src/train/metrics.js';

/** Hand-made evaluation curves (steps 0, 2, 4) per learning rate and algorithm; AUCs in the comments. */
const CURVES: Record<string, Record<Algo, [number, number, number]>> = {
  'lr=1e-3': { grpo: [0.2, 0.5, 0.6], grpovi: [0.2, 0.3, 0.4] }, // AUC 0.45 and 0.30
  'lr=3e-3': { grpo: [0.2, 0.3, 0.6], grpovi: [0.2, 0.6, 0.7] }, // AUC 0.35 and 0.525
};

function metricsRows(curve: [number, number, number], algo: Algo, last: number): MetricsRow[] {
  // The gold reward trails the reward model's by 0.1 throughout.
  const rows: MetricsRow[] = [{ step: 0, eval_reward: curve[0], eval_gold: curve[0] - 0.1 }];
  for (let step = 1; step <= last; step++) {
    const row: MetricsRow = {
      step,
      reward_std: 0.1,
      adjusted_reward_std: algo === 'grpovi' ? 0.3 : 0.1,
      step_seconds: 0.5,
    };
    if (step === 2) Object.assign(row, { eval_reward: curve[1], eval_gold: curve[1] - 0.1 });
    if (step === 4) Object.assign(row, { eval_reward: curve[2], eval_gold: curve[2] - 0.1 });
    rows.push(row);
  }
  return rows;
}

function writeRun(dir: string, rows: MetricsRow[], checkpointStep: number | null): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  if (checkpointStep !== null) {
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    writeFileSync(
      join(dir, 'checkpoints', 'latest.json'),
      JSON.stringify({ checkpoint: `step-${checkpointStep}`, step: checkpointStep }),
    );
  }
  writeFileSync(
    join(dir, 'worker.json'),
    JSON.stringify({ wall_seconds: 3, sessions: 1, backend: 'cpu', finished: true, updated_at: '' }),
  );
}

let root = '';
let summary: ComparisonSummary;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-summary-'));
  const record: ComparisonRecord = {
    format: 'grpovi-comparison',
    version: 1,
    task: 'toy',
    steps: 4,
    base_config: { task: 'toy', steps: 4, eval_every: 2 },
    config_file: null,
    sweep: parseSweeps(['lr=1e-3,3e-3']),
    algos: ['grpo', 'grpovi'],
    seeds: [0, 1],
    command: 'grpovi compare --task toy --sweep lr=1e-3,3e-3',
    invocations: [],
  };
  writeComparisonRecord(root, record);
  for (const run of planComparison(record).runs) {
    const curve = CURVES[run.setting.label][run.algo];
    // GRPOVI at lr 1e-3, seed 1 stopped at step 2: it must be left out and listed as missing.
    const partial = run.relDir === 'lr=1e-3/grpovi/seed-1';
    writeRun(join(root, run.relDir), metricsRows(curve, run.algo, partial ? 2 : 4), partial ? 2 : 4);
  }
  summary = (await renderComparison(root)).summary;
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('buildSummary on hand-made run folders', () => {
  it('computes each setting’s statistics and steps to target (hand-computed)', () => {
    expect(summary.settings.map((s) => s.label)).toEqual(['lr=1e-3', 'lr=3e-3']);
    const [slow, fast] = summary.settings;
    expect(slow.algorithms.grpo!.auc_eval_reward.mean).toBeCloseTo(0.45, 12);
    expect(slow.algorithms.grpovi!.seeds).toEqual([0]);
    // lr 1e-3: GRPO target 0.2 + 0.9 * 0.4 = 0.56 at step 4; GRPOVI peaks at 0.4: never.
    expect(slow.steps_to_target).toMatchObject({ grpo: 4, grpovi: null, ratio: null });
    expect(slow.steps_to_target.target).toBeCloseTo(0.56, 12);
    // lr 3e-3: GRPO 0.56 at step 4, GRPOVI 0.6 at step 2.
    expect(fast.steps_to_target).toMatchObject({ grpo: 4, grpovi: 2, ratio: 0.5 });
    expect(fast.algorithms.grpovi!.reward_std).toEqual({
      raw: expect.closeTo(0.1, 12),
      adjusted: expect.closeTo(0.3, 12),
    });
    // Gold: the same curves shifted by -0.1, so the same steps; final gold of GRPO at 3e-3 is 0.5.
    expect(summary.has_gold).toBe(true);
    expect(fast.steps_to_target_gold).toMatchObject({ grpo: 4, grpovi: 2, ratio: 0.5 });
    expect(fast.algorithms.grpo!.final_eval_gold!.mean).toBeCloseTo(0.5, 12);
    expect(fast.algorithms.grpo!.runs.map((r) => r.dir)).toEqual([
      'lr=3e-3/grpo/seed-0',
      'lr=3e-3/grpo/seed-1',
    ]);
    expect(fast.algorithms.grpo!.runs[0]).toMatchObject({
      wall_seconds: 3,
      train_seconds: 2,
      backend: 'cpu',
    });
  });

  it('reports each algorithm at its own best learning rate (highest AUC)', () => {
    expect(summary.best_lr).toHaveLength(1);
    const group = summary.best_lr[0];
    expect(group.label).toBe('default');
    expect(group.learning_rates).toEqual([1e-3, 3e-3]);
    expect(group.best.grpo).toMatchObject({ learning_rate: 1e-3, setting: 'lr=1e-3' });
    expect(group.best.grpovi).toMatchObject({ learning_rate: 3e-3, setting: 'lr=3e-3' });
    expect(group.best.grpovi!.auc_by_learning_rate.map((a) => a.auc)).toEqual([
      expect.closeTo(0.3, 12),
      expect.closeTo(0.525, 12),
    ]);
    // GRPO at 1e-3 (target 0.56, step 4) against GRPOVI at 3e-3 (0.6 at step 2).
    expect(group.steps_to_target).toMatchObject({ grpo: 4, grpovi: 2, ratio: 0.5 });
    expect(group.algorithms.grpo!.auc_eval_reward.mean).toBeCloseTo(0.45, 12);
    expect(group.algorithms.grpovi!.auc_eval_reward.mean).toBeCloseTo(0.525, 12);
    expect(group.steps_to_target_per_seed!.seeds.map((s) => s.ratio)).toEqual([0.5, 0.5]);
    expect(summary.headline).toMatchObject({
      kind: 'best_lr',
      label: 'default',
      steps_to_target: { ratio: 0.5 },
    });
  });

  it('lists unfinished runs as missing', () => {
    expect(summary.missing_runs).toEqual([
      { setting: 'lr=1e-3', algo: 'grpovi', seed: 1, dir: 'lr=1e-3/grpovi/seed-1', state: 'resume' },
    ]);
  });

  it('writes summary.json, plots and a report with the best-lr section', () => {
    expect(
      JSON.parse(readFileSync(join(root, 'summary.json'), 'utf8')).best_lr[0].best.grpo.learning_rate,
    ).toBe(1e-3);
    const report = readFileSync(join(root, 'report.md'), 'utf8');
    for (const name of ['eval_reward', 'reward_std', 'best_lr_eval_reward']) {
      expect(statSync(join(root, `${name}.svg`)).size).toBeGreaterThan(2000);
      expect(
        readFileSync(join(root, `${name}.png`))
          .subarray(1, 4)
          .toString(),
      ).toBe('PNG');
    }
    for (const name of ['eval_gold', 'best_lr_eval_gold']) {
      expect(
        readFileSync(join(root, `${name}.png`))
          .subarray(1, 4)
          .toString(),
      ).toBe('PNG');
    }
    expect(report).toContain('| final gold reward |');
    expect(report).toContain('![eval_gold](eval_gold.png)');
    expect(report).toContain('Each algorithm at its own best learning rate');
    expect(report).toContain('| default | grpo | 1e-3 |');
    expect(report).toContain('![best_lr_eval_reward](best_lr_eval_reward.png)');
    expect(report).toMatch(/## Missing runs[\s\S]*lr=1e-3\/grpovi\/seed-1/);
    expect(report).toMatch(/## Conclusion[\s\S]*ratio 0\.50/);
  });
});

describe('inspectRun', () => {
  it('tells new, restart, resume and finished folders apart', () => {
    const dir = join(root, 'inspect');
    expect(inspectRun(dir, 4).state).toBe('new');
    mkdirSync(dir);
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":0,"eval_reward":0.1}\n');
    expect(inspectRun(dir, 4).state).toBe('restart');
    writeRun(dir, metricsRows([0.1, 0.2, 0.3], 'grpo', 2), 2);
    expect(inspectRun(dir, 4)).toEqual({ state: 'resume', step: 2 });
    writeRun(dir, metricsRows([0.1, 0.2, 0.3], 'grpo', 4), 4);
    expect(inspectRun(dir, 4)).toEqual({ state: 'finished', step: 4 });
  });
});

describe('renderComparison', () => {
  it('refuses a folder without a comparison', async () => {
    await expect(renderComparison(join(root, 'nothing-here'))).rejects.toThrow(ComparisonError);
  });
});
