import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SampleRow } from '../../src/experiments/runView.js';
import { CONFIG_DEFAULTS } from '../../src/train/configDefaults.js';
import type { MetricsRow } from '../../src/train/metrics.js';
import { Rng } from '../../src/util/rng.js';

/**
 * A run folder as the trainer writes it (config.json, metrics.jsonl with step 0 evaluation-only and
 * training rows carrying every training field, evaluation fields every `eval_every` steps) plus
 * samples.jsonl in the agreed format, with values drawn from a seeded generator.
 */
export interface FixtureRun {
  dir: string;
  config: Record<string, unknown>;
  rows: MetricsRow[];
  samples: SampleRow[];
}

export function metricsRow(
  step: number,
  rng: Rng,
  algo: string,
  evalEvery: number,
  gold: boolean,
): MetricsRow {
  const raw = 0.1 + 0.1 * rng.uniform();
  const row: MetricsRow = {
    step,
    reward_mean: 0.2 + 0.01 * step + 0.05 * rng.uniform(),
    // As the trainer logs them: the batch's std (TRL's reward_std) and the mean per-group std.
    reward_std: raw * 1.5,
    reward_std_group: raw,
    adjusted_reward_std: algo === 'grpovi' ? raw * 2 : raw,
    frac_reward_zero_std: 0,
    kl: 0.002 * step,
    loss: 0.001,
    clip_frac: 0,
    entropy: 2.5 - 0.01 * step,
    grad_norm: 0.5 + rng.uniform(),
    completion_length: 6 + rng.uniform(),
    learning_rate: 0.003,
    step_seconds: 0.1,
    'rewards/prompt_letters': 0.2,
  };
  if (step % evalEvery === 0) {
    row.eval_reward = 0.15 + 0.01 * step;
    row.eval_completion_length = 6;
    if (gold) row.eval_gold = 0.3 + 0.005 * step;
  }
  return row;
}

export function sampleRows(step: number, count: number): SampleRow[] {
  return Array.from({ length: count }, (_, i) => ({
    step,
    prompt: `prompt ${i} at step ${step}`,
    completion: `completion ${i} at step ${step}`,
    reward: i / count,
    rewards: { prompt_letters: i / count },
  }));
}

export function writeFixtureRun(
  dir: string,
  options: {
    algo?: string;
    seed?: number;
    steps?: number;
    logged?: number;
    evalEvery?: number;
    gold?: boolean;
  } = {},
): FixtureRun {
  const algo = options.algo ?? 'grpovi';
  const steps = options.steps ?? 8;
  const logged = options.logged ?? steps;
  const evalEvery = options.evalEvery ?? 2;
  const config = {
    ...CONFIG_DEFAULTS,
    task: 'toy',
    algo,
    seed: options.seed ?? 0,
    steps,
    eval_every: evalEvery,
  };
  const rng = new Rng(options.seed ?? 0);
  const rows: MetricsRow[] = [{ step: 0, eval_reward: 0.15, eval_completion_length: 6 }];
  if (options.gold) rows[0].eval_gold = 0.3;
  for (let step = 1; step <= logged; step++)
    rows.push(metricsRow(step, rng, algo, evalEvery, options.gold ?? false));
  const samples = rows.filter((r) => r.eval_reward !== undefined).flatMap((r) => sampleRows(r.step, 3));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeFileSync(join(dir, 'metrics.jsonl'), rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  writeFileSync(join(dir, 'samples.jsonl'), samples.map((s) => `${JSON.stringify(s)}\n`).join(''));
  return { dir, config, rows, samples };
}

export function appendMetrics(dir: string, row: MetricsRow): void {
  appendFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify(row)}\n`);
}
