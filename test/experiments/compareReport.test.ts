import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderComparison } from '../../src/experiments/compare.js';
import {
  type Algo,
  type ComparisonRecord,
  planComparison,
  writeComparisonRecord,
} from '../../src/experiments/plan.js';
import { comparisonPlots } from '../../src/experiments/plots.js';
import type { ComparisonSummary } from '../../src/experiments/summary.js';
import type { MetricsRow } from '../../src/train/metrics.js';

// A comparison whose GRPOVI never reaches GRPO's target, and one where GRPO does not improve:
// the report must say so in sentences, draw the target, and plot KL.
const EVAL: Record<string, Record<Algo, [number, number, number]>> = {
  improves: { grpo: [0.2, 0.5, 0.6], grpovi: [0.2, 0.25, 0.3] }, // target 0.2 + 0.9 * 0.4 = 0.56
  flat: { grpo: [0.4, 0.3, 0.4], grpovi: [0.4, 0.5, 0.6] },
};

function klOf(seed: number, algo: Algo, step: number): number {
  return 0.01 * step * (seed + 1) + (algo === 'grpovi' ? 0.005 : 0);
}

function rows(curve: [number, number, number], algo: Algo, seed: number): MetricsRow[] {
  const out: MetricsRow[] = [{ step: 0, eval_reward: curve[0] }];
  for (let step = 1; step <= 4; step++) {
    const row: MetricsRow = { step, reward_std: 0.1, adjusted_reward_std: 0.2, kl: klOf(seed, algo, step) };
    if (step % 2 === 0) row.eval_reward = curve[step / 2];
    out.push(row);
  }
  return out;
}

async function comparison(
  root: string,
  name: keyof typeof EVAL,
): Promise<{ dir: string; summary: ComparisonSummary }> {
  const dir = join(root, name);
  const record: ComparisonRecord = {
    format: 'grpovi-comparison',
    version: 1,
    task: 'toy',
    steps: 4,
    base_config: { task: 'toy', steps: 4, eval_every: 2 },
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
    const lines = rows(EVAL[name][run.algo], run.algo, run.seed).map((r) => `${JSON.stringify(r)}\n`);
    writeFileSync(join(runDir, 'metrics.jsonl'), lines.join(''));
    writeFileSync(join(runDir, 'checkpoints', 'latest.json'), JSON.stringify({ step: 4 }));
  }
  return { dir, summary: (await renderComparison(dir)).summary };
}

let root = '';
let improves: { dir: string; summary: ComparisonSummary };
let flat: { dir: string; summary: ComparisonSummary };
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-compare-report-'));
  improves = await comparison(root, 'improves');
  flat = await comparison(root, 'flat');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the compare report', () => {
  it('starts with how to read it, and says in sentences what did not happen', () => {
    const report = readFileSync(join(improves.dir, 'report.md'), 'utf8');
    expect(report.indexOf('## How to read this report')).toBeGreaterThan(0);
    expect(report.indexOf('## How to read this report')).toBeLessThan(report.indexOf('## Results'));
    expect(report).toMatch(/\*\*Evaluation reward\*\* is the mean reward of the held-out evaluation prompts/);
    expect(report).toMatch(/\*\*Ratio\*\* is GRPOVI's steps divided by GRPO's/);
    expect(report).toContain(
      "Target 0.560 (90% of GRPO's improvement, seed-averaged evaluation reward): GRPO reached it at step 4; GRPOVI did not reach it within 4 steps.",
    );
    expect(report).toMatch(/\| grpovi \| 2 \|.*\| not reached in 4 steps \|/);
    expect(report).toMatch(/\| grpo \| 2 \|.*\| 4 \|/);
    expect(report).not.toMatch(/step never|step –|ratio –/);
    expect(report.slice(report.indexOf('## Conclusion'))).not.toMatch(/\bnever\b/);

    const flatReport = readFileSync(join(flat.dir, 'report.md'), 'utf8');
    expect(flatReport).toContain(
      'GRPO did not improve on its starting value (seed-averaged evaluation reward), so there is no target to reach.',
    );
    expect(flatReport).toMatch(/\| grpo \| 2 \|.*\| no target \(GRPO did not improve\) \|/);
    expect(flatReport).not.toMatch(/step never|step –|ratio –/);
  });

  it('draws the target on the reward plot', () => {
    const spec = comparisonPlots(improves.summary).find((p) => p.name === 'eval_reward')!.spec;
    const values = (spec.data as { values: Record<string, unknown>[] }).values;
    const targets = values.filter((v) => v.target !== undefined).map((v) => v.target);
    expect(targets).toEqual([expect.closeTo(0.56, 12)]);
    const svg = readFileSync(join(improves.dir, 'eval_reward.svg'), 'utf8');
    expect(svg).toContain('mark-rule role-mark');
    expect(svg).toContain('target 0.560');
    // No target, no line.
    const flatSvg = readFileSync(join(flat.dir, 'eval_reward.svg'), 'utf8');
    expect(flatSvg).not.toContain('mark-rule role-mark');
  });

  it('plots KL by step: the mean over seeds of the logged values', () => {
    const kl = comparisonPlots(improves.summary).find((p) => p.name === 'kl')!;
    const values = (kl.spec.data as { values: { algo: string; step: number; mean: number }[] }).values;
    expect(values).toHaveLength(8);
    for (const v of values) {
      const algo = v.algo as Algo;
      expect(v.mean).toBeCloseTo((klOf(0, algo, v.step) + klOf(1, algo, v.step)) / 2, 12);
    }
    expect(readFileSync(join(improves.dir, 'report.md'), 'utf8')).toContain('![kl](kl.png)');
    expect(readFileSync(join(improves.dir, 'kl.svg'), 'utf8')).toContain('mark-line');
  });
});
