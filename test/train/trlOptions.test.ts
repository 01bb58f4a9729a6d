import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { generate } from '../../src/nn/generation/sampler.js';
import type { RewardFunction } from '../../src/rewards/rewardFunction.js';
import type { Task } from '../../src/tasks/task.js';
import { gatherBatch, maskTruncated } from '../../src/train/batchRows.js';
import { runUpdatePasses } from '../../src/train/updatePasses.js';
import { AdamW } from '../../src/nn/training/optimizer.js';
import { type CompletionBatch, completionInput } from '../../src/nn/generation/logProbs.js';
import { ConfigError, parseTrainConfig } from '../../src/train/config.js';
import { readMetrics } from '../../src/train/metrics.js';
import { readConfigFile, loadTask, resolveTrainConfig } from '../../src/train/setup.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { latestWeights, metricsWithoutTiming, tempDir, toyConfig, toyTask } from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('trl-options');
});
afterAll(() => root.cleanup());

function configError(input: Record<string, unknown>): string {
  try {
    parseTrainConfig({ task: 'toy', ...input });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('no ConfigError');
}

describe('config: TRL names, aliases and defaults', () => {
  it('defaults to TRL’s beta 0 and loss_type dapo; the old loss names still load', () => {
    const config = parseTrainConfig({ task: 'toy' });
    expect(config.beta).toBe(0);
    expect(config.loss_type).toBe('dapo');
    expect(parseTrainConfig({ task: 'toy', loss_type: 'token-mean' }).loss_type).toBe('dapo');
    expect(parseTrainConfig({ task: 'toy', loss_type: 'constant' }).loss_type).toBe('dr_grpo');
    expect(configError({ loss_type: 'gspo' })).toMatch(/loss_type.*"grpo".*"bnpo".*"dr_grpo".*"dapo".*gspo/);
  });

  it('checks steps_per_generation and gradient_accumulation_steps against the batch', () => {
    expect(configError({ prompts_per_step: 4, num_generations: 4, steps_per_generation: 3 })).toMatch(
      /steps_per_generation.*16.*\(3\)/,
    );
    expect(
      configError({ prompts_per_step: 4, num_generations: 4, minibatch_size: 8, steps_per_generation: 4 }),
    ).toMatch(/steps_per_generation.*minibatch_size 8.*\(4\)/);
    expect(
      configError({
        prompts_per_step: 4,
        num_generations: 4,
        minibatch_size: 4,
        gradient_accumulation_steps: 3,
      }),
    ).toMatch(/gradient_accumulation_steps.*4 minibatch.*\(3\)/);
    expect(configError({ delta: 0.9 })).toMatch(/delta.*0\.9/);
  });

  it('every committed experiment resolves to the configuration it ran with (the built-in tasks pin beta 0.04, grpo)', async () => {
    const resultsDir = join(import.meta.dirname, '../../docs/results');
    let checked = 0;
    // Comparison folders, and folders of them (the regime map: docs/results/regimes/<regime>/).
    const folders = readdirSync(resultsDir).flatMap((name) =>
      existsSync(join(resultsDir, name, 'comparison.json'))
        ? [join(resultsDir, name)]
        : readdirSync(join(resultsDir, name), { withFileTypes: true })
            .filter((entry) => entry.isDirectory())
            .map((entry) => join(resultsDir, name, entry.name)),
    );
    for (const folder of folders) {
      const comparison = JSON.parse(readFileSync(join(folder, 'comparison.json'), 'utf8')) as {
        task: string;
        steps: number;
        config_file: string | null;
        base_config: Record<string, unknown>;
      };
      // The stored resolved config itself still parses, unchanged in every field it has.
      const stored = parseTrainConfig(comparison.base_config);
      for (const [key, value] of Object.entries(comparison.base_config))
        expect(stored[key as keyof typeof stored]).toEqual(value);
      const task = await loadTask(comparison.task, { seed: 0 });
      const configFile = comparison.config_file
        ? readConfigFile(join(import.meta.dirname, '../..', comparison.config_file))
        : undefined;
      const resolved = resolveTrainConfig({
        taskDefaults: task.defaults as Record<string, unknown>,
        configFile,
        flags: {
          task: comparison.task,
          steps: comparison.steps,
          learning_rate: comparison.base_config.learning_rate,
        },
      });
      task.dispose?.();
      for (const [key, value] of Object.entries(comparison.base_config)) {
        // Where a run computes is not a hyperparameter: the first committed runs ran on wasm, the
        // regime map on auto (BLAS here); the default is auto, which changes results only in the last bits.
        if (key === 'backend') {
          expect(['wasm', 'auto'], `${folder}: backend`).toContain(value);
          expect(resolved.backend, `${folder}: backend`).toBe('auto');
          continue;
        }
        expect(resolved[key as keyof typeof resolved], `${folder}: ${key}`).toEqual(value);
      }
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(10);
  });
});

describe('mask_truncated_completions', () => {
  it('masks exactly the rows TRL masks: those whose last token is neither EOS nor padding', () => {
    const task = toyTask(2);
    const policy = task.createPolicy(2, {});
    const prompts = task.trainPrompts.slice(0, 16).map((p) => task.tokenizer.encode(p));
    const { eosId, padId } = task.tokenizer;
    const gen = generate(policy, prompts, { maxNewTokens: 3, eosId, padId, rng: new Rng(4) });
    policy.dispose();
    const masked = maskTruncated(gen.mask, gen.finished, gen.length);
    let truncated = 0;
    for (let b = 0; b < prompts.length; b++) {
      // TRL: is_truncated = ids[-1] not in (eos, pad) over the completion's unpadded ids.
      const ids = Array.from(gen.tokens.subarray(b * gen.length, b * gen.length + gen.lengths[b]));
      const isTruncated = ![eosId, padId].includes(ids[ids.length - 1]);
      if (isTruncated) truncated++;
      for (let t = 0; t < gen.length; t++) {
        expect(masked[b * gen.length + t]).toBe(isTruncated ? 0 : gen.mask[b * gen.length + t]);
      }
    }
    expect(truncated).toBeGreaterThan(0);
    expect(truncated).toBeLessThan(prompts.length);
  });
});

describe('mask_truncated_completions in the update', () => {
  it('trains exactly as on the finished completions alone (dapo), and not at all when none finished', async () => {
    const task = toyTask(2);
    const { eosId, padId } = task.tokenizer;
    const prompts = task.trainPrompts.slice(0, 8).map((p) => task.tokenizer.encode(p));
    const probe = task.createPolicy(2, {});
    const gen = generate(probe, prompts, { maxNewTokens: 3, eosId, padId, rng: new Rng(9) });
    probe.dispose();
    const batch = { prompts, completions: gen.tokens, mask: gen.mask, length: gen.length };
    const advantages = Float32Array.from(prompts, (_, i) => (i % 3) - 1 + 0.25);
    const finishedRows = Array.from(gen.finished.keys()).filter((b) => gen.finished[b] === 1);
    expect(finishedRows.length).toBeGreaterThan(0);
    expect(finishedRows.length).toBeLessThan(prompts.length);
    const adam = { beta1: 0.9, beta2: 0.99, epsilon: 1, weightDecay: 0, maxGradNorm: 0 };
    const weightsAfter = async (
      data: { batch: CompletionBatch; finished: Uint8Array; advantages: Float32Array },
      masked: boolean,
    ) => {
      const policy = task.createPolicy(2, {});
      const optimizer = new AdamW(policy.variables(), adam);
      const config = toyConfig(task, { loss_type: 'dapo', beta: 0, mask_truncated_completions: masked });
      await runUpdatePasses(
        policy,
        optimizer,
        { ...data, input: completionInput(data.batch, padId) },
        config,
        { step: 1, learningRate: 1, padId, yieldToEventLoop: async () => {} },
      );
      const out = policy.variables().map((v) => Float32Array.from(v.variable.dataSync()));
      policy.dispose();
      optimizer.dispose();
      return out;
    };
    const maxDiff = (a: Float32Array[], b: Float32Array[]) =>
      Math.max(...a.map((x, i) => Math.max(...x.map((v, j) => Math.abs(v - b[i][j])))));
    const masked = await weightsAfter({ batch, finished: gen.finished, advantages }, true);
    const sub = gatherBatch(batch, finishedRows, padId).batch;
    const alone = await weightsAfter(
      {
        batch: sub,
        finished: new Uint8Array(finishedRows.length).fill(1),
        advantages: Float32Array.from(finishedRows, (b) => advantages[b]),
      },
      false,
    );
    expect(maxDiff(masked, alone)).toBeLessThan(1e-6);
    const unmasked = await weightsAfter({ batch, finished: gen.finished, advantages }, false);
    expect(maxDiff(masked, unmasked)).toBeGreaterThan(1e-3);
    const initial = task.createPolicy(2, {});
    const start = initial.variables().map((v) => Float32Array.from(v.variable.dataSync()));
    initial.dispose();
    const none = await weightsAfter({ batch, finished: new Uint8Array(prompts.length), advantages }, true);
    expect(maxDiff(none, start)).toBe(0);
  });
});

/** Reward: flat (0.5) for prompts whose first character code is even, the completion's length otherwise. */
const halfFlatReward: RewardFunction = {
  name: 'half_flat',
  range: [0, 1],
  score: (prompts, completions) =>
    completions.map((c, i) => (prompts[i].charCodeAt(0) % 2 === 0 ? 0.5 : Math.min(1, c.length / 8))),
};

function withReward(task: Task, fn: RewardFunction): Task {
  return { ...task, rewards: [{ fn, weight: 1 }] };
}

async function run(name: string, task: Task, overrides: Record<string, unknown>) {
  const outDir = join(root.dir, name);
  const result = await train({
    config: toyConfig(task, { seed: 5, steps: 3, eval_every: 0, ...overrides }),
    task,
    outDir,
  });
  const state = JSON.parse(readFileSync(join(result.checkpoint as string, 'state.json'), 'utf8')) as {
    optimizerSteps: number;
  };
  return { outDir, rows: readMetrics(join(outDir, 'metrics.jsonl')), optimizerSteps: state.optimizerSteps };
}

describe('trainer batch semantics', () => {
  it('takes one optimizer step per generation batch by default, one per minibatch with gradient_accumulation_steps 1', async () => {
    const task = toyTask(5);
    const accumulated = await run('accumulated', task, { minibatch_size: 4 });
    expect(accumulated.optimizerSteps).toBe(3);
    const perMinibatch = await run('per-minibatch', task, {
      minibatch_size: 4,
      gradient_accumulation_steps: 1,
    });
    expect(perMinibatch.optimizerSteps).toBe(12);
    const twoPasses = await run('two-passes', task, { steps_per_generation: 2, num_iterations: 2 });
    expect(twoPasses.optimizerSteps).toBe(6);
  });

  it('shuffles minibatches reproducibly: the same seed gives bit-identical runs', async () => {
    const task = toyTask(5);
    const options = { steps_per_generation: 4, gradient_accumulation_steps: 1, loss_type: 'bnpo' };
    const a = await run('shuffled-a', task, options);
    const b = await run('shuffled-b', task, options);
    expect(metricsWithoutTiming(b.outDir)).toEqual(metricsWithoutTiming(a.outDir));
    expect(Buffer.compare(latestWeights(b.outDir), latestWeights(a.outDir))).toBe(0);
    for (const row of a.rows) {
      expect(row['clip_ratio/region_mean']).toBe(row.clip_frac);
      expect(row['clip_ratio/region_mean']!).toBeLessThanOrEqual(
        row['clip_ratio/low_mean']! + row['clip_ratio/high_mean']! + 1e-12,
      );
    }
  });

  it('dynamic sampling fills the batch with groups that have a reward spread, and stops at its bound', async () => {
    const task = withReward(toyTask(5), halfFlatReward);
    const off = await run('dynamic-off', task, {});
    expect(off.rows.some((r) => r.frac_reward_zero_std! > 0)).toBe(true);
    expect(off.rows[0]['dynamic_sampling/rounds']).toBeUndefined();
    const on = await run('dynamic-on', task, { dynamic_sampling: true, dynamic_sampling_max_rounds: 20 });
    for (const row of on.rows) {
      expect(row.frac_reward_zero_std).toBe(0);
      expect(row['dynamic_sampling/filled_groups']).toBe(0);
    }
    expect(on.rows.some((r) => r['dynamic_sampling/rounds']! > 0)).toBe(true);
    const bounded = await run('dynamic-bounded', task, {
      dynamic_sampling: true,
      dynamic_sampling_max_rounds: 0,
    });
    for (const [i, row] of bounded.rows.entries()) {
      expect(row['dynamic_sampling/rounds']).toBe(0);
      // With no extra rollout the batch is the plain one: every zero-std group is put back.
      expect(row['dynamic_sampling/filled_groups']).toBe(row['dynamic_sampling/zero_std_groups']);
      expect(row.frac_reward_zero_std).toBe(off.rows[i].frac_reward_zero_std);
    }
  });

  it('runs GSPO, delta and mask_truncated_completions end to end', async () => {
    const task = toyTask(5);
    const { rows } = await run('gspo', task, {
      importance_sampling_level: 'sequence',
      delta: 1.5,
      mask_truncated_completions: true,
      max_completion_length: 3,
      num_iterations: 2,
      loss_type: 'grpo',
    });
    for (const row of rows) expect(Number.isFinite(row.loss)).toBe(true);
    expect(rows.some((r) => r.grad_norm! > 0)).toBe(true);
  });
});
