import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MetricsRow, TIMING_FIELDS } from '../../src/train/metrics.js';
import { CLI_BIN as BIN, runCli } from './cliBin.js';

// End-to-end: these run the built CLI, whose runs are child processes of dist/experiments/workerMain.js
// (`npm test` builds dist first; run `npm run build` before running this file alone, or point
// GRPOVI_CLI_BIN at another build: see cliBin.ts).
const WORKER = join(dirname(BIN), '..', 'experiments', 'workerMain.js');

const run = (args: string[]) => runCli(args);

function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function metricsWithoutTiming(path: string): MetricsRow[] {
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const row = JSON.parse(line) as Record<string, unknown>;
      for (const field of TIMING_FIELDS) delete row[field];
      return row as unknown as MetricsRow;
    });
}

type Json = Record<string, unknown>;

function expectMeanStd(value: unknown, n: number): void {
  expect(value).toEqual({ mean: expect.any(Number), std: n > 1 ? expect.any(Number) : null, n });
}

function expectStepsToTarget(value: unknown): void {
  const stt = value as Json;
  expect(Object.keys(stt).sort()).toEqual(['grpo', 'grpovi', 'ratio', 'target']);
  for (const key of ['target', 'grpo', 'grpovi', 'ratio']) {
    expect(stt[key] === null || typeof stt[key] === 'number').toBe(true);
  }
  if (stt.grpo !== null && stt.grpovi !== null)
    expect(stt.ratio).toBeCloseTo((stt.grpovi as number) / (stt.grpo as number), 12);
  if (stt.target === null) expect(stt.grpo).toBeNull();
}

/** Every field of one algorithm's entry, checked against the runs' own metrics files. */
function expectAlgoSummary(algo: Json, dir: string, seeds: number[], steps: number, evalEvery: number): void {
  expect(algo.seeds).toEqual(seeds);
  expectMeanStd(algo.final_eval_reward, seeds.length);
  expectMeanStd(algo.auc_eval_reward, seeds.length);
  expect(algo.final_eval_gold).toBeNull();
  expect(algo.auc_eval_gold).toBeNull();
  expect(algo.eval_gold_curve).toBeNull();
  const curve = algo.eval_curve as Array<{ step: number; mean: number; std: number | null; n: number }>;
  const evalSteps = Array.from({ length: steps / evalEvery + 1 }, (_, i) => i * evalEvery);
  expect(curve.map((p) => p.step)).toEqual(evalSteps);
  const runs = algo.runs as Array<{
    seed: number;
    dir: string;
    wall_seconds: number;
    train_seconds: number;
    backend: string;
  }>;
  expect(runs.map((r) => r.seed)).toEqual(seeds);
  // The curve's mean at each step and the final reward come from the runs' own metrics files.
  const perSeed = runs.map((r) =>
    readFileSync(join(dir, r.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as MetricsRow),
  );
  for (const point of curve) {
    const values = perSeed.map((rows) => rows.find((row) => row.step === point.step)!.eval_reward!);
    expect(point.mean).toBeCloseTo(values.reduce((a, b) => a + b, 0) / values.length, 12);
    expect(point.n).toBe(seeds.length);
  }
  const finals = perSeed.map((rows) => rows.find((row) => row.step === steps)!.eval_reward!);
  expect((algo.final_eval_reward as Json).mean).toBeCloseTo(
    finals.reduce((a, b) => a + b, 0) / finals.length,
    12,
  );
  // final_kl: each seed's mean KL over its last 10 training steps, averaged over seeds.
  const seedKls = perSeed.map((rows) => {
    const kls = rows.filter((row) => row.step > 0 && typeof row.kl === 'number').map((row) => row.kl!);
    const last = kls.slice(-10);
    return last.reduce((a, b) => a + b, 0) / last.length;
  });
  expect((algo.final_kl as Json).mean).toBeCloseTo(seedKls.reduce((a, b) => a + b, 0) / seedKls.length, 12);
  const rewardStd = algo.reward_std as { raw: number; adjusted: number };
  expect(rewardStd.raw).toBeGreaterThan(0);
  expect(rewardStd.adjusted).toBeGreaterThanOrEqual(rewardStd.raw - 1e-12);
  const stdCurve = algo.reward_std_curve as Array<{ step: number; raw: number; adjusted: number }>;
  expect(stdCurve.map((p) => p.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  expect((algo.per_seed as Json[]).map((s) => s.seed)).toEqual(seeds);
  for (const r of runs) {
    expect(r.wall_seconds).toBeGreaterThan(0);
    expect(r.train_seconds).toBeGreaterThan(0);
    expect(['wasm', 'blas', 'cpu']).toContain(r.backend);
  }
}

function expectComparison(
  comparison: Json,
  dir: string,
  seeds: number[],
  steps: number,
  evalEvery: number,
): void {
  const algorithms = comparison.algorithms as Json;
  expect(Object.keys(algorithms).sort()).toEqual(['grpo', 'grpovi']);
  expectAlgoSummary(algorithms.grpo as Json, dir, seeds, steps, evalEvery);
  expectAlgoSummary(algorithms.grpovi as Json, dir, seeds, steps, evalEvery);
  // GRPO does not transform rewards; GRPOVI's adjustment increases the spread.
  const grpoStd = (algorithms.grpo as Json).reward_std as { raw: number; adjusted: number };
  const grpoviStd = (algorithms.grpovi as Json).reward_std as { raw: number; adjusted: number };
  expect(grpoStd.adjusted).toBeCloseTo(grpoStd.raw, 12);
  expect(grpoviStd.adjusted).toBeGreaterThan(grpoviStd.raw);
  expectStepsToTarget(comparison.steps_to_target);
  expect(comparison.steps_to_target_gold).toBeNull();
  const perSeed = comparison.steps_to_target_per_seed as Json;
  expect((perSeed.seeds as Json[]).map((s) => s.seed)).toEqual(seeds);
  for (const s of perSeed.seeds as Json[])
    expectStepsToTarget({ target: s.target, grpo: s.grpo, grpovi: s.grpovi, ratio: s.ratio });
  expect(typeof perSeed.grpo_no_improvement).toBe('number');
  expect(typeof perSeed.grpovi_never_reached).toBe('number');
  const paired = comparison.paired as Json;
  for (const key of ['final_eval_reward', 'auc_eval_reward']) {
    const p = paired[key] as Json;
    expect(p.seeds).toEqual(seeds);
    expect((p.grpovi_better as number) + (p.grpo_better as number) + (p.ties as number)).toBe(seeds.length);
  }
  expect(paired.final_eval_gold).toBeNull();
}

const CONFIG = {
  prompts_per_step: 4,
  num_generations: 4,
  eval_prompts: 16,
  eval_every: 2,
  checkpoint_every: 2,
};
let root = '';
let configPath = '';

beforeAll(() => {
  if (!existsSync(WORKER)) {
    throw new Error(`${WORKER} is missing: run \`npm run build\` first`);
  }
  root = mkdtempSync(join(tmpdir(), 'grpovi-compare-'));
  configPath = join(root, 'toy.json');
  writeFileSync(configPath, JSON.stringify(CONFIG));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('grpovi compare on the toy task', () => {
  let out = '';
  const args = () => [
    'compare',
    '--task',
    'toy',
    '--steps',
    '4',
    '--config',
    configPath,
    '--out',
    out,
    '--jobs',
    '2',
  ];

  it('runs both algorithms over 2 seeds and writes the summary, plots and report', async () => {
    out = join(root, 'cmp');
    const result = await run([...args(), '--seeds', '2']);
    expect(result.stderr).toContain('4 run(s) — 0 finished (skipped), 0 to resume, 4 to start');
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/run 4\/4 \(default, grpovi, seed 1\): step 4\/4/);
    expect(result.stdout).toContain('| algorithm | seeds | final eval reward |');
    expect(result.stdout).toContain(`report: ${join(out, 'report.md')}`);
    for (const algo of ['grpo', 'grpovi']) {
      for (const seed of [0, 1]) {
        const runDir = join(out, 'default', algo, `seed-${seed}`);
        expect(readJson(join(runDir, 'run.json')).config).toMatchObject({
          ...CONFIG,
          algo,
          seed,
          steps: 4,
          task: 'toy',
        });
        expect(existsSync(join(runDir, 'metrics.jsonl'))).toBe(true);
      }
    }

    const summary = readJson(join(out, 'summary.json'));
    expect(Object.keys(summary).sort()).toEqual(
      [
        'algos',
        'best_lr',
        'definitions',
        'format',
        'generated_at',
        'has_gold',
        'headline',
        'missing_runs',
        'seeds',
        'settings',
        'steps',
        'sweep',
        'target_fraction',
        'task',
        'time',
        'version',
      ].sort(),
    );
    expect(summary).toMatchObject({
      format: 'grpovi-comparison-summary',
      version: 1,
      task: 'toy',
      steps: 4,
      seeds: [0, 1],
      algos: ['grpo', 'grpovi'],
      sweep: [],
      has_gold: false,
      target_fraction: 0.9,
      best_lr: [],
      missing_runs: [],
    });
    const settings = summary.settings as Json[];
    expect(settings.map((s) => s.label)).toEqual(['default']);
    expect(settings[0].overrides).toEqual({});
    expectComparison(settings[0], out, [0, 1], 4, 2);
    expect(summary.headline).toMatchObject({ kind: 'setting', label: 'default' });
    expect((summary.headline as Json).steps_to_target).toEqual(settings[0].steps_to_target);
    expect((summary.time as Json).runs_wall_seconds).toBeGreaterThan(0);

    for (const name of ['eval_reward', 'reward_std']) {
      const svg = readFileSync(join(out, `${name}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(svg).toContain('grpovi');
      const png = readFileSync(join(out, `${name}.png`));
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(10_000);
    }
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('# GRPO vs GRPOVI on toy');
    expect(report).toContain(`--config ${configPath}`);
    expect(report).toMatch(/\| grpo \| 2 \| \d\.\d{3} ± \d\.\d{3} \|/);
    expect(report).toContain('![eval_reward](eval_reward.png)');
    expect(report).toContain('![reward_std](reward_std.png)');
    expect(report).toContain('"prompts_per_step": 4');
    expect(report).toMatch(/## Machine[\s\S]*CPU: .+ × \d+[\s\S]*Node: v\d+/);
    expect(report).toMatch(/## Time[\s\S]*default \| grpovi \| 1 \|/);
    expect(report).toMatch(/## Conclusion\n\nFor setting default on toy/);
  });

  it('extends to 3 seeds running only the new seed, and resumes a partial run', async () => {
    const finishedMetrics = join(out, 'default', 'grpo', 'seed-0', 'metrics.jsonl');
    const before = statSync(finishedMetrics).mtimeMs;
    // Rewind one finished run to its step-2 checkpoint: the comparison must resume it, not rerun it.
    const partial = join(out, 'default', 'grpovi', 'seed-1');
    const original = metricsWithoutTiming(join(partial, 'metrics.jsonl'));
    writeFileSync(
      join(partial, 'checkpoints', 'latest.json'),
      JSON.stringify({ checkpoint: 'step-000002', step: 2 }),
    );

    const result = await run([...args(), '--seeds', '3']);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('6 run(s) — 3 finished (skipped), 1 to resume, 2 to start');
    expect(result.stderr).toContain('(default, grpovi, seed 1): resuming at step 2/4');
    expect(result.stderr).toMatch(/\(default, grpo, seed 2\): done/);
    expect(result.stderr).toMatch(/\(default, grpovi, seed 2\): done/);
    expect(result.stderr).not.toMatch(/seed 0\)/);
    expect(statSync(finishedMetrics).mtimeMs).toBe(before);
    // The resumed run continues exactly: same metrics as the uninterrupted run, timing aside.
    expect(metricsWithoutTiming(join(partial, 'metrics.jsonl'))).toEqual(original);

    const summary = readJson(join(out, 'summary.json'));
    expect(summary.seeds).toEqual([0, 1, 2]);
    expectComparison((summary.settings as Json[])[0], out, [0, 1, 2], 4, 2);
    const record = readJson(join(out, 'comparison.json'));
    expect((record.invocations as Json[]).map((i) => i.runs_started)).toEqual([4, 3]);
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toContain('Earlier invocations on this folder');
  });

  it('refuses to extend a folder made with another config (exit 2), changing nothing', async () => {
    const recordBefore = readFileSync(join(out, 'comparison.json'), 'utf8');
    const result = await run([
      'compare',
      '--task',
      'toy',
      '--steps',
      '6',
      '--config',
      configPath,
      '--out',
      out,
      '--seeds',
      '3',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('different config (steps: 4 -> 6)');
    expect(readFileSync(join(out, 'comparison.json'), 'utf8')).toBe(recordBefore);
  });

  it('grpovi report re-renders the summary, plots and report without training', async () => {
    for (const file of ['summary.json', 'report.md', 'eval_reward.png', 'eval_reward.svg'])
      unlinkSync(join(out, file));
    const result = await run(['report', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('| algorithm | seeds |');
    for (const file of ['summary.json', 'report.md', 'eval_reward.png', 'eval_reward.svg'])
      expect(existsSync(join(out, file))).toBe(true);
    expect(readJson(join(out, 'summary.json')).seeds).toEqual([0, 1, 2]);
    const missing = await run(['report', join(root, 'no-such-comparison')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('comparison.json not found');
  });

  it('rejects a bad sweep before writing anything', async () => {
    const dir = join(root, 'bad');
    const result = await run(['compare', '--task', 'toy', '--out', dir, '--sweep', 'lr=fast']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--sweep lr=fast: field "learning_rate"/);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('grpovi compare with a learning-rate sweep', () => {
  // One seed keeps the test short; the best-lr logic does not depend on the seed count.
  it('runs every learning rate and reports each algorithm at its best one', async () => {
    const out = join(root, 'sweep');
    const result = await run([
      'compare',
      '--task',
      'toy',
      '--steps',
      '4',
      '--config',
      configPath,
      '--out',
      out,
      '--seeds',
      '1',
      '--jobs',
      '2',
      '--sweep',
      'lr=1e-3,3e-3',
    ]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('4 run(s)');
    const summary = readJson(join(out, 'summary.json'));
    const settings = summary.settings as Json[];
    expect(settings.map((s) => s.label)).toEqual(['lr=1e-3', 'lr=3e-3']);
    for (const setting of settings) expectComparison(setting, out, [0], 4, 2);
    const [group] = summary.best_lr as Json[];
    expect(group.learning_rates).toEqual([1e-3, 3e-3]);
    for (const algo of ['grpo', 'grpovi']) {
      const best = (group.best as Json)[algo] as {
        learning_rate: number;
        setting: string;
        auc_by_learning_rate: Array<{ auc: number }>;
      };
      // The best learning rate is the one with the highest AUC, and its stats are that setting's.
      const aucs = settings.map(
        (s) => (((s.algorithms as Json)[algo] as Json).auc_eval_reward as Json).mean as number,
      );
      expect(best.auc_by_learning_rate.map((a) => a.auc)).toEqual(aucs);
      const winner = aucs[1] > aucs[0] ? 1 : 0;
      expect(best.learning_rate).toBe([1e-3, 3e-3][winner]);
      expect((group.algorithms as Json)[algo]).toEqual((settings[winner].algorithms as Json)[algo]);
    }
    expectStepsToTarget(group.steps_to_target);
    expect(summary.headline).toMatchObject({ kind: 'best_lr' });
    expect(statSync(join(out, 'best_lr_eval_reward.png')).size).toBeGreaterThan(10_000);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('Each algorithm at its own best learning rate');
    expect(report).toContain('![best_lr_eval_reward](best_lr_eval_reward.png)');
    expect(report).toContain('--sweep lr=1e-3,3e-3');
  });
});
