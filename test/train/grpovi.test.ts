import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { type RewardFunction, RewardFunctionError } from '../../src/rewards/rewardFunction.js';
import type { Task } from '../../src/tasks/task.js';
import { ConfigError } from '../../src/train/config.js';
import { readMetrics } from '../../src/train/metrics.js';
import { train } from '../../src/train/trainer.js';
import { latestWeights, metricsWithoutTiming, tempDir, toyConfig, toyTask } from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('grpovi');
});
afterAll(() => root.cleanup());

/** A rule-based 0/1 reward: 1 when the completion starts with a letter of the prompt. */
const firstLetterReward: RewardFunction = {
  name: 'first_letter',
  range: [0, 1],
  score: (prompts, completions) =>
    completions.map((completion, i) =>
      completion.length > 0 && prompts[i].slice(0, 3).includes(completion[0]) ? 1 : 0,
    ),
};

function withReward(task: Task, fn: RewardFunction): Task {
  return { ...task, rewards: [{ fn, weight: 1 }] };
}

async function run(name: string, task: Task, overrides: Record<string, unknown>): Promise<string> {
  const outDir = join(root.dir, name);
  await train({ config: toyConfig(task, { seed: 4, steps: 8, ...overrides }), task, outDir });
  return outDir;
}

describe('GRPOVI against GRPO', () => {
  it('with 0/1 rewards in [0, 1], GRPOVI is bit-identical to GRPO (uniform and importance weights)', async () => {
    const task = withReward(toyTask(4), firstLetterReward);
    const grpo = await run('binary-grpo', task, { algo: 'grpo' });
    const rows = readMetrics(join(grpo, 'metrics.jsonl')).filter((r) => r.reward_mean !== undefined);
    // The rewards must be mixed, else every group is constant and the comparison says nothing.
    expect(rows.some((r) => r.reward_std_group! > 0.2)).toBe(true);
    for (const weights of ['uniform', 'importance']) {
      const grpovi = await run(`binary-grpovi-${weights}`, task, { algo: 'grpovi', grpovi_weights: weights });
      expect(Buffer.compare(latestWeights(grpovi), latestWeights(grpo)), weights).toBe(0);
      expect(metricsWithoutTiming(grpovi), weights).toEqual(metricsWithoutTiming(grpo));
      for (const row of readMetrics(join(grpovi, 'metrics.jsonl')).filter(
        (r) => r.reward_mean !== undefined,
      )) {
        expect(row.adjusted_reward_std).toBe(row.reward_std_group);
      }
    }
  });

  it('with the continuous toy reward, GRPOVI widens the rewards and trains differently', async () => {
    const task = toyTask(4);
    const grpo = await run('continuous-grpo', task, { algo: 'grpo' });
    const grpovi = await run('continuous-grpovi', task, { algo: 'grpovi' });
    expect(Buffer.compare(latestWeights(grpovi), latestWeights(grpo))).not.toBe(0);
    const rows = readMetrics(join(grpovi, 'metrics.jsonl')).filter((r) => r.reward_mean !== undefined);
    for (const row of rows) expect(row.adjusted_reward_std!).toBeGreaterThan(row.reward_std_group!);
    // The first step samples from the same policy with the same seed: same raw rewards, wider adjusted ones.
    const first = readMetrics(join(grpo, 'metrics.jsonl'))[1];
    expect(rows[0].reward_mean).toBe(first.reward_mean);
    expect(rows[0].reward_std_group).toBe(first.reward_std_group);
    expect(first.adjusted_reward_std).toBe(first.reward_std_group);
  });

  it('refuses GRPOVI when a reward function declares no range and the config gives none', async () => {
    const { range: _range, ...unbounded } = firstLetterReward;
    const task = withReward(toyTask(4), { ...unbounded, name: 'unbounded' });
    const outDir = join(root.dir, 'no-range');
    const attempt = train({ config: toyConfig(task, { algo: 'grpovi', steps: 1 }), task, outDir });
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(attempt).rejects.toThrow(/"reward_range".*unbounded.*\(undefined\)/);
    expect(existsSync(outDir)).toBe(false);
    // With a range in the config it runs.
    await train({
      config: toyConfig(task, { algo: 'grpovi', steps: 1, reward_range: [0, 1] }),
      task,
      outDir,
    });
    expect(existsSync(join(outDir, 'checkpoints', 'latest.json'))).toBe(true);
  });
});

describe('reward function errors stop the run, naming the function and the sample', () => {
  const cases: { name: string; score: RewardFunction['score']; message: RegExp; sample?: number }[] = [
    {
      name: 'throws',
      score: (_prompts, completions) =>
        completions.map((_, i) => {
          if (i === 5) throw new Error('cannot parse');
          return 0.5;
        }),
      // Scored one at a time every sample passes, so the batch is to blame (the step-0 evaluation of 16 prompts).
      message: /reward function "throws" threw on a batch of 16 samples: cannot parse/,
    },
    {
      name: 'nan',
      score: (_prompts, completions) => completions.map((_, i) => (i === 3 ? Number.NaN : 0.5)),
      message: /reward function "nan" returned NaN for sample 3 \(prompt "[a-h]{3}:", completion /,
      sample: 3,
    },
    {
      name: 'short',
      score: (_prompts, completions) => completions.slice(1).map(() => 0.5),
      message: /reward function "short" returned 15 scores for 16 completions/,
    },
  ];
  for (const { name, score, message, sample } of cases) {
    it(name, async () => {
      const task = withReward(toyTask(5), { name, range: [0, 1], score });
      const attempt = train({
        config: toyConfig(task, { steps: 2 }),
        task,
        outDir: join(root.dir, `reward-${name}`),
      });
      await expect(attempt).rejects.toThrow(RewardFunctionError);
      await expect(attempt).rejects.toThrow(message);
      const error = (await attempt.catch((e: unknown) => e)) as RewardFunctionError;
      expect(error.functionName).toBe(name);
      if (sample !== undefined) expect(error.sample).toBe(sample);
    });
  }

  it('the throwing function is reported with the exact sample that throws', async () => {
    const task = withReward(toyTask(5), {
      name: 'picky',
      range: [0, 1],
      score: (_prompts, completions) =>
        completions.map((c) => {
          if (c.includes('a')) throw new Error(`no "a" please`);
          return 0;
        }),
    });
    const outDir = join(root.dir, 'reward-picky');
    const error = (await train({ config: toyConfig(task, { steps: 2 }), task, outDir }).catch(
      (e: unknown) => e,
    )) as RewardFunctionError;
    expect(error).toBeInstanceOf(RewardFunctionError);
    const completion = /completion "([^"]*)"/.exec(error.message)?.[1];
    expect(completion).toContain('a');
  });
});
