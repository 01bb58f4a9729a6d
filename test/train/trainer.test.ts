import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, selectBackend } from '../../src/nn/backends/backend.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED, TEST_BACKEND } from '../backends.js';
import { readMetrics } from '../../src/train/metrics.js';
import { RunFolderError } from '../../src/train/runFolderError.js';
import { train } from '../../src/train/trainer.js';
import {
  latestCheckpointStep,
  latestWeights,
  metricsWithoutTiming,
  TRAINING_ROW_FIELDS,
  tempDir,
  toyConfig,
  toyTask,
} from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('trainer');
});
afterAll(() => root.cleanup());

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

describe('train on the toy task', () => {
  it('raises the reward over a short fixed-seed run', async () => {
    const task = toyTask(1);
    // 8 prompts x 8 completions, evaluation on all 64 held-out prompts before and after.
    const config = toyConfig(task, {
      seed: 1,
      steps: 30,
      prompts_per_step: 8,
      num_generations: 8,
      eval_prompts: 64,
      eval_every: 30,
    });
    const outDir = join(root.dir, 'rise');
    const result = await train({ config, task, outDir });
    expect(result.step).toBe(30);
    expect(result.interrupted).toBe(false);

    const rows = readMetrics(join(outDir, 'metrics.jsonl'));
    expect(rows.map((r) => r.step)).toEqual(Array.from({ length: 31 }, (_, i) => i));
    const before = rows[0].eval_reward!;
    const after = rows[30].eval_reward!;
    // A policy that ignores the prompt scores about 1/3 at best; the random start scores ~0.13.
    expect(after - before).toBeGreaterThan(0.1);
    const training = rows.filter((r) => r.reward_mean !== undefined).map((r) => r.reward_mean!);
    expect(mean(training.slice(-5)) - mean(training.slice(0, 5))).toBeGreaterThan(0.05);
    for (const row of rows.slice(1))
      for (const field of TRAINING_ROW_FIELDS) expect(row[field], field).toBeTypeOf('number');
  });

  it.skipIf(!BLAS_AVAILABLE)(
    `records the backend auto resolved to, with the library and threads${BLAS_SKIPPED}`,
    async () => {
      const task = toyTask(2);
      const outDir = join(root.dir, 'backend');
      let started: unknown;
      await train({
        config: toyConfig(task, { steps: 1, eval_every: 0, backend: 'auto', blas_threads: 1 }),
        task,
        outDir,
        observer: { onStart: (info) => (started = info.backendDetails) },
      });
      const recorded = JSON.parse(readFileSync(join(outDir, 'backend.json'), 'utf8'));
      expect(recorded).toMatchObject({ backend: 'blas', blas_threads: 1, step: 0 });
      expect(recorded.blas_library).toMatch(/blas|cblas|mkl|Accelerate/i);
      expect(started).toEqual({ backend: 'blas', blas_library: recorded.blas_library, blas_threads: 1 });
      // config.json keeps what was asked for, so a resume on another machine resolves afresh.
      expect(JSON.parse(readFileSync(join(outDir, 'config.json'), 'utf8')).backend).toBe('auto');
      expect(currentBackend()).toBe('blas');
      await selectBackend(TEST_BACKEND);
    },
  );

  it('refuses to start a fresh run in a folder that holds one with checkpoints', async () => {
    const task = toyTask(3);
    const outDir = join(root.dir, 'used');
    mkdirSync(join(outDir, 'checkpoints'), { recursive: true });
    writeFileSync(join(outDir, 'metrics.jsonl'), '{"step":0}\n');
    writeFileSync(join(outDir, 'checkpoints', 'latest.json'), '{"checkpoint":"step-000001","step":1}\n');
    await expect(train({ config: toyConfig(task, { steps: 1 }), task, outDir })).rejects.toThrow(
      RunFolderError,
    );
    expect(readFileSync(join(outDir, 'metrics.jsonl'), 'utf8')).toBe('{"step":0}\n');
    expect(existsSync(join(outDir, 'config.json'))).toBe(false);
  });
});

describe('resume', () => {
  const N = 12;
  const settings = { seed: 2, eval_every: 6, algo: 'grpovi' };
  let straight = '';

  beforeAll(async () => {
    const task = toyTask(2);
    straight = join(root.dir, 'straight');
    await train({ config: toyConfig(task, { ...settings, steps: N }), task, outDir: straight });
  });

  function expectSameRun(runDir: string): void {
    expect(Buffer.compare(latestWeights(runDir), latestWeights(straight))).toBe(0);
    expect(latestCheckpointStep(runDir)).toBe(N);
    expect(metricsWithoutTiming(runDir)).toEqual(metricsWithoutTiming(straight));
    // The same configuration, apart from how often checkpoints were written.
    const config = (dir: string) => ({
      ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')),
      checkpoint_every: 0,
    });
    expect(config(runDir)).toEqual(config(straight));
  }

  it('an interrupted run resumed to the end equals the uninterrupted run', async () => {
    const task = toyTask(2);
    const config = toyConfig(task, { ...settings, steps: N });
    const outDir = join(root.dir, 'interrupted');
    let lastStep = 0;
    const first = await train({
      config,
      task,
      outDir,
      observer: { onStep: (row) => (lastStep = row.step) },
      shouldStop: () => lastStep >= N / 2,
    });
    expect(first).toMatchObject({ step: N / 2, interrupted: true });
    expect(latestCheckpointStep(outDir)).toBe(N / 2);
    expect(readMetrics(join(outDir, 'metrics.jsonl')).at(-1)!.step).toBe(N / 2);

    const second = await train({ config, task, outDir, resumeFrom: outDir });
    expect(second).toMatchObject({ step: N, interrupted: false });
    expectSameRun(outDir);
  });

  it('a run of N/2 steps continued with a raised step count equals the run of N steps', async () => {
    const task = toyTask(2);
    const outDir = join(root.dir, 'raised');
    await train({ config: toyConfig(task, { ...settings, steps: N / 2 }), task, outDir });
    await train({ config: toyConfig(task, { ...settings, steps: N }), task, outDir, resumeFrom: outDir });
    expectSameRun(outDir);
  });

  it('survives a crash in the middle of writing a checkpoint', async () => {
    const task = toyTask(2);
    const config = toyConfig(task, { ...settings, steps: N, checkpoint_every: 4 });
    const outDir = join(root.dir, 'crashed');
    let lastStep = 0;
    await train({
      config,
      task,
      outDir,
      observer: { onStep: (row) => (lastStep = row.step) },
      shouldStop: () => lastStep >= 8,
    });
    expect(latestCheckpointStep(outDir)).toBe(8);
    // The crash: the next checkpoint's temporary folder with a half-written weights file, a
    // half-written latest.json temporary, and two more metrics rows, the last one cut short.
    const checkpoints = join(outDir, 'checkpoints');
    const temp = join(checkpoints, `.step-000010.tmp-99999`);
    mkdirSync(temp);
    const weights = readFileSync(join(checkpoints, 'step-000008', 'model.safetensors'));
    writeFileSync(join(temp, 'model.safetensors'), weights.subarray(0, weights.length >> 1));
    writeFileSync(join(checkpoints, '.latest.json.0badc0de.tmp'), '{"checkpoint":"step-0000');
    const metricsPath = join(outDir, 'metrics.jsonl');
    const lines = readFileSync(metricsPath, 'utf8');
    writeFileSync(metricsPath, `${lines}{"step":9,"reward_mean":0.5}\n{"step":10,"rew`);

    await train({ config, task, outDir, resumeFrom: outDir });
    // Each kept checkpoint of this run is equally valid; the final one must equal the straight run's.
    expectSameRun(outDir);
    expect(readdirSync(checkpoints).filter((name) => name.startsWith('.step-'))).toEqual([]);
  });

  it('resumes from a given checkpoint folder inside the run folder', async () => {
    const task = toyTask(2);
    const config = toyConfig(task, { ...settings, steps: N, checkpoint_every: 6 });
    const outDir = join(root.dir, 'from-folder');
    await train({ config, task, outDir });
    // Continue from step 6 again: the metrics after it are dropped and redone identically.
    await train({ config, task, outDir, resumeFrom: join(outDir, 'checkpoints', 'step-000006') });
    expectSameRun(outDir);
  });
});
