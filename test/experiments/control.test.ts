import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { createArithmeticTask } from '../../src/tasks/arithmetic.js';
import { parseTrainConfig } from '../../src/train/config.js';
import { readMetrics } from '../../src/train/metrics.js';
import { train } from '../../src/train/trainer.js';
import { latestWeights, metricsWithoutTiming, tempDir } from '../train/helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('control');
});
afterAll(() => root.cleanup());

/** A short run of the arithmetic task from the shipped policy. */
async function run(algo: 'grpo' | 'grpovi', seed: number): Promise<string> {
  const task = createArithmeticTask({ seed });
  const outDir = join(root.dir, `${algo}-${seed}`);
  const config = parseTrainConfig({
    ...task.defaults,
    task: 'arithmetic',
    algo,
    seed,
    steps: 4,
    prompts_per_step: 8,
    eval_every: 2,
    eval_prompts: 32,
    // A large step so that the policy visibly moves: the comparison must not pass because nothing changed.
    learning_rate: 1e-4,
  });
  await train({ config, task, outDir });
  return outDir;
}

describe('the arithmetic control', () => {
  it('GRPO and GRPOVI give identical curves and weights for the same seed (0/1 rewards stay unchanged)', async () => {
    for (const seed of [0, 1]) {
      const grpo = await run('grpo', seed);
      const grpovi = await run('grpovi', seed);
      const rows = readMetrics(join(grpo, 'metrics.jsonl'));
      const training = rows.filter((r) => r.reward_mean !== undefined);
      // Mixed right and wrong answers in the groups, and a policy that moved: the test can fail.
      expect(training.some((r) => r.reward_std_group! > 0.2)).toBe(true);
      expect(training.at(-1)!.kl!).toBeGreaterThan(0);
      expect(metricsWithoutTiming(grpovi)).toEqual(metricsWithoutTiming(grpo));
      expect(Buffer.compare(latestWeights(grpovi), latestWeights(grpo))).toBe(0);
      for (const row of readMetrics(join(grpovi, 'metrics.jsonl')).filter(
        (r) => r.reward_mean !== undefined,
      )) {
        expect(row.adjusted_reward_std).toBe(row.reward_std_group);
      }
    }
  });
});
