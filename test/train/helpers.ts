import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '../../src/tasks/task.js';
import { createToyTask } from '../../src/tasks/toy.js';
import { mergeConfigLayers, parseTrainConfig, type TrainConfig } from '../../src/train/config.js';
import { readMetrics, TIMING_FIELDS } from '../../src/train/metrics.js';
import { TEST_BACKEND } from '../backends.js';

/** A small, fast toy configuration: the task's defaults with a smaller batch and evaluation. */
export function toyConfig(task: Task, overrides: Record<string, unknown> = {}): TrainConfig {
  return parseTrainConfig(
    mergeConfigLayers(task.defaults as Record<string, unknown>, {
      task: 'toy',
      backend: TEST_BACKEND,
      prompts_per_step: 4,
      num_generations: 4,
      eval_prompts: 16,
      eval_every: 4,
      checkpoint_every: 0,
      ...overrides,
    }),
  );
}

export function toyTask(seed: number): Task {
  return createToyTask({ seed });
}

/** A fresh temporary folder and a function that removes it. */
export function tempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `grpovi-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Metrics rows with the timing fields removed (they differ between otherwise identical runs). */
export function metricsWithoutTiming(runDir: string): Record<string, unknown>[] {
  return readMetrics(join(runDir, 'metrics.jsonl')).map((row) => {
    const copy: Record<string, unknown> = { ...row };
    for (const field of TIMING_FIELDS) delete copy[field];
    return copy;
  });
}

/** The bytes of the weights in the run's latest checkpoint. */
export function latestWeights(runDir: string): Buffer {
  const latest = JSON.parse(readFileSync(join(runDir, 'checkpoints', 'latest.json'), 'utf8')) as {
    checkpoint: string;
  };
  return readFileSync(join(runDir, 'checkpoints', latest.checkpoint, 'model.safetensors'));
}

export function latestCheckpointStep(runDir: string): number {
  return (JSON.parse(readFileSync(join(runDir, 'checkpoints', 'latest.json'), 'utf8')) as { step: number })
    .step;
}

/** Fields every training row of metrics.jsonl carries. */
export const TRAINING_ROW_FIELDS = [
  'step',
  'reward_mean',
  'reward_std',
  'reward_std_group',
  'adjusted_reward_std',
  'kl',
  'loss',
  'clip_frac',
  'clip_ratio/low_mean',
  'clip_ratio/high_mean',
  'clip_ratio/region_mean',
  'entropy',
  'grad_norm',
  'completion_length',
  'step_seconds',
  'tokens_per_second',
] as const;
