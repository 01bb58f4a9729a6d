/**
 * Whole runs for the reward-variance regimes: grpovi_strength and grpovi_max_std at their ends are
 * bit-identical to GRPO and GRPOVI, reward_temperature compresses a learned reward (and 1 changes
 * nothing), and with the group std scale an affinely compressed reward trains like the raw one.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import type { RewardFunction } from '../../src/rewards/rewardFunction.js';
import { promptLettersReward } from '../../src/tasks/toy.js';
import type { Task } from '../../src/tasks/task.js';
import { ConfigError, parseTrainConfig } from '../../src/train/config.js';
import { type MetricsRow, readMetrics } from '../../src/train/metrics.js';
import { train } from '../../src/train/trainer.js';
import { latestWeights, metricsWithoutTiming, tempDir, toyConfig, toyTask } from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend('wasm');
  root = tempDir('regimes');
});
afterAll(() => root.cleanup());

async function run(name: string, task: Task, overrides: Record<string, unknown>): Promise<string> {
  const outDir = join(root.dir, name);
  await train({ config: toyConfig(task, { seed: 3, steps: 6, ...overrides }), task, outDir });
  return outDir;
}

const rows = (dir: string): MetricsRow[] => readMetrics(join(dir, 'metrics.jsonl'));

function expectSameRun(a: string, b: string, what: string): void {
  expect(Buffer.compare(latestWeights(a), latestWeights(b)), what).toBe(0);
  expect(metricsWithoutTiming(a), what).toEqual(metricsWithoutTiming(b));
}

describe('grpovi_strength and grpovi_max_std on whole runs', () => {
  it('strength 0 and a threshold no group is below are GRPO; strength 1 and a threshold every group is below are GRPOVI', async () => {
    const task = toyTask(3);
    const grpo = await run('grpo', task, { algo: 'grpo' });
    const grpovi = await run('grpovi', task, { algo: 'grpovi' });
    // The two must differ, else the identities below say nothing.
    expect(Buffer.compare(latestWeights(grpo), latestWeights(grpovi))).not.toBe(0);
    expectSameRun(await run('l0', task, { algo: 'grpovi', grpovi_strength: 0 }), grpo, 'strength 0');
    expectSameRun(await run('l1', task, { algo: 'grpovi', grpovi_strength: 1 }), grpovi, 'strength 1');
    expectSameRun(
      await run('s-tiny', task, { algo: 'grpovi', grpovi_max_std: 1e-300 }),
      grpo,
      'max_std tiny',
    );
    expectSameRun(await run('s-huge', task, { algo: 'grpovi', grpovi_max_std: 10 }), grpovi, 'max_std 10');
    const half = await run('l-half', task, { algo: 'grpovi', grpovi_strength: 0.5 });
    const first = (dir: string) => rows(dir).find((r) => r.step === 1)!;
    // Same first rollout, so the adjusted std of the blend sits between GRPO's and GRPOVI's.
    expect(first(half).reward_std).toBe(first(grpo).reward_std);
    expect(first(half).adjusted_reward_std!).toBeGreaterThan(first(grpo).adjusted_reward_std!);
    expect(first(half).adjusted_reward_std!).toBeLessThan(first(grpovi).adjusted_reward_std!);
  });
});

/** A learned-style reward on the toy task: sigmoid of a logit that grows with the prompt-letter share. */
function learnedToyReward(): RewardFunction {
  const logits = (prompts: readonly string[], completions: readonly string[]) =>
    Float32Array.from(promptLettersReward.score(prompts, completions) as number[], (r) => 6 * r - 2);
  const offset = 0.5;
  return {
    name: 'toy_rm',
    range: [0, 1],
    score: (prompts, completions) =>
      Array.from(logits(prompts, completions), (s) => 1 / (1 + Math.exp(-(s - offset)))),
    learnedScore: { offset, scores: logits },
  };
}

describe('reward_temperature', () => {
  const task: Task = { ...toyTask(3), rewards: [{ fn: learnedToyReward(), weight: 1 }] };

  it('temperature 1 is the run without it, bit for bit, and logs no eval_reward_raw', async () => {
    const plain = await run('t-absent', task, { algo: 'grpo' });
    const one = await run('t-1', task, { algo: 'grpo', reward_temperature: 1 });
    expectSameRun(one, plain, 'temperature 1');
    expect(rows(plain).some((r) => 'eval_reward_raw' in r)).toBe(false);
  });

  it('a temperature bunches the rewards keeping their order, and eval_reward_raw is the uncompressed reward', async () => {
    const plain = await run('t-plain', task, { algo: 'grpo' });
    const hot = await run('t-4', task, { algo: 'grpo', reward_temperature: 4 });
    const mixed = await run('t-range', task, { algo: 'grpo', reward_temperature_range: [1, 16] });
    const at = (dir: string, step: number) => rows(dir).find((r) => r.step === step)!;
    // Step 0 evaluates the same starting policy on the same samples: raw score as without compression.
    expect(at(hot, 0).eval_reward_raw).toBe(at(plain, 0).eval_reward);
    expect(at(mixed, 0).eval_reward_raw).toBe(at(plain, 0).eval_reward);
    expect(Math.abs(at(hot, 0).eval_reward! - 0.5)).toBeLessThan(Math.abs(at(plain, 0).eval_reward! - 0.5));
    // Step 1 samples the same completions: compressed rewards spread less.
    expect(at(hot, 1).reward_std!).toBeLessThan(at(plain, 1).reward_std! / 2);
    expect(at(mixed, 1).reward_std!).toBeLessThan(at(plain, 1).reward_std!);
    for (const dir of [hot, mixed])
      for (const row of rows(dir))
        if (row.eval_reward !== undefined) expect(row.eval_reward_raw).toBeDefined();
  });

  it('is refused with a ConfigError on a task without a learned reward, before anything is written', async () => {
    const outDir = join(root.dir, 't-toy');
    const attempt = train({
      config: toyConfig(toyTask(3), { reward_temperature: 3 }),
      task: toyTask(3),
      outDir,
    });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(
      /"reward_temperature" needs a learned reward model.*prompt_letters.*\(3\)/,
    );
    expect(existsSync(outDir)).toBe(false);
  });
});

describe('group std scale: an affinely compressed reward trains like the raw one', () => {
  /** The toy reward mapped to 0.5 + 0.1 (r - 0.5), in the same range. */
  const compressed: RewardFunction = {
    name: 'prompt_letters_compressed',
    range: [0, 1],
    score: (prompts, completions) =>
      (promptLettersReward.score(prompts, completions) as number[]).map((r) => 0.5 + 0.1 * (r - 0.5)),
  };
  const evalCurve = (dir: string, map: (v: number) => number = (v) => v) =>
    rows(dir)
      .filter((r) => r.eval_reward !== undefined)
      .map((r) => map(r.eval_reward!));
  /** Mean absolute gap between two evaluation curves. */
  const distance = (a: number[], b: number[]) => a.reduce((t, v, i) => t + Math.abs(v - b[i]), 0) / a.length;

  it('the compressed run stays within seed noise of the raw run (group scale), closer than under scale none', async () => {
    const settings = { algo: 'grpo', steps: 12, eval_every: 4, eval_prompts: 64, learning_rate: 1e-2 };
    const raw = [];
    for (const seed of [0, 1, 2]) {
      const task = toyTask(seed);
      raw.push(evalCurve(await run(`affine-raw-${seed}`, task, { ...settings, seed })));
    }
    const task0: Task = { ...toyTask(0), rewards: [{ fn: compressed, weight: 1 }] };
    const back = (v: number) => (v - 0.5) / 0.1 + 0.5;
    const same = evalCurve(await run('affine-group', task0, { ...settings, seed: 0 }), back);
    // Seed noise: the mean gap between the raw runs of different seeds.
    const seedNoise = (distance(raw[0], raw[1]) + distance(raw[0], raw[2]) + distance(raw[1], raw[2])) / 3;
    expect(seedNoise).toBeGreaterThan(0);
    expect(distance(same, raw[0])).toBeLessThan(seedNoise);
    // Without the std scale the same compression changes the run more (the advantages shrink tenfold).
    const rawNone = evalCurve(
      await run('affine-raw-none', toyTask(0), { ...settings, seed: 0, scale_rewards: 'none' }),
    );
    const none = evalCurve(
      await run('affine-none', task0, { ...settings, seed: 0, scale_rewards: 'none' }),
      back,
    );
    expect(distance(none, rawNone)).toBeGreaterThan(distance(same, raw[0]));
  });
});

describe('log_kl', () => {
  it('measures the KL at beta 0 without changing the run', async () => {
    const task = toyTask(3);
    const plain = await run('kl-plain', task, { algo: 'grpo', beta: 0 });
    const logged = await run('kl-logged', task, { algo: 'grpo', beta: 0, log_kl: true });
    expect(Buffer.compare(latestWeights(logged), latestWeights(plain))).toBe(0);
    const training = (dir: string) => rows(dir).filter((r) => r.kl !== undefined);
    expect(training(plain).every((r) => r.kl === 0)).toBe(true);
    // The policy moves away from the reference after the first update.
    expect(
      training(logged)
        .slice(1)
        .every((r) => r.kl! > 0),
    ).toBe(true);
    // Everything else in the metrics is the same.
    const withoutKl = (dir: string) => metricsWithoutTiming(dir).map(({ kl: _kl, ...rest }) => rest);
    expect(withoutKl(logged)).toEqual(withoutKl(plain));
  });
});

describe('config fields of the regimes', () => {
  const parse = (extra: Record<string, unknown>) => () => parseTrainConfig({ task: 'toy', ...extra });
  it('name the field and the value when bad', () => {
    expect(parse({ grpovi_strength: 1.5 })).toThrow(/"grpovi_strength".*\(1\.5\)/);
    expect(parse({ grpovi_max_std: 0 })).toThrow(/"grpovi_max_std".*\(0\)/);
    expect(parse({ reward_temperature: -1 })).toThrow(/"reward_temperature".*\(-1\)/);
    expect(parse({ reward_temperature_range: [10, 1] })).toThrow(/"reward_temperature_range".*lo <= hi/);
    expect(parse({ reward_temperature_range: [1, 10], reward_temperature: 3 })).toThrow(
      /"reward_temperature" cannot be combined with reward_temperature_range \(3\)/,
    );
  });
  it('are absent from a config that does not set them (old configs read back unchanged)', () => {
    const config = parseTrainConfig({ task: 'toy' });
    for (const key of ['grpovi_strength', 'grpovi_max_std', 'reward_temperature', 'reward_temperature_range'])
      expect(key in config).toBe(false);
  });
});
