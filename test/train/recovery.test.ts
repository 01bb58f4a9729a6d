import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import { loadModelDir } from '../../src/nn/weights/modelDir.js';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/weights/safetensors.js';
import { RewardFunctionError } from '../../src/rewards/rewardFunction.js';
import type { Task } from '../../src/tasks/task.js';
import { readRunCheckpoint } from '../../src/train/runCheckpoint.js';
import { LOCK_FILE } from '../../src/train/runLock.js';
import { train } from '../../src/train/trainer.js';
import { TrainingDivergedError } from '../../src/train/trainingErrors.js';
import { latestCheckpointStep, metricsWithoutTiming, tempDir, toyConfig, toyTask } from './helpers.js';

// Failures a user causes or meets (a reward function that breaks, a diverging learning rate,
// corrupt or foreign checkpoints) end in a named error and leave a run folder that can go on.

let root = { dir: '', cleanup: () => {} };
beforeAll(async () => {
  await selectBackend('wasm');
  root = tempDir('recovery');
});
afterAll(() => root.cleanup());

const SETTINGS = {
  seed: 5,
  steps: 4,
  eval_every: 2,
  prompts_per_step: 2,
  num_generations: 4,
  eval_prompts: 8,
};

/** The toy task whose reward function throws from the step after `failAfter` on. */
function failingTask(failAfter: number): { task: Task; observer: { onStep(row: { step: number }): void } } {
  const task = toyTask(5);
  let failing = false;
  const [first] = task.rewards;
  const fn = {
    name: first.fn.name,
    range: first.fn.range,
    score: (prompts: readonly string[], completions: readonly string[]) => {
      if (failing) throw new Error('the reward service is down');
      return first.fn.score(prompts, completions);
    },
  };
  return {
    task: { ...task, rewards: [{ fn, weight: first.weight }] },
    observer: { onStep: (row) => void (failing = row.step >= failAfter) },
  };
}

describe('a run that failed before its first checkpoint', () => {
  let clean = '';
  beforeAll(async () => {
    const task = toyTask(5);
    clean = join(root.dir, 'clean');
    await train({ config: toyConfig(task, SETTINGS), task, outDir: clean });
  });

  async function failEarly(outDir: string): Promise<void> {
    const { task, observer } = failingTask(2);
    await expect(train({ config: toyConfig(task, SETTINGS), task, outDir, observer })).rejects.toThrow(
      RewardFunctionError,
    );
    expect(existsSync(join(outDir, 'config.json'))).toBe(true);
    expect(existsSync(join(outDir, 'checkpoints'))).toBe(false);
    expect(existsSync(join(outDir, LOCK_FILE))).toBe(false);
  }

  it('starts again in the same folder and equals a clean run', async () => {
    const outDir = join(root.dir, 'restart');
    await failEarly(outDir);
    const notes: string[] = [];
    const task = toyTask(5);
    await train({
      config: toyConfig(task, SETTINGS),
      task,
      outDir,
      observer: { onNote: (n) => notes.push(n) },
    });
    expect(notes.join()).toMatch(/stopped before its first checkpoint: starting it from step 0/);
    expect(metricsWithoutTiming(outDir)).toEqual(metricsWithoutTiming(clean));
  });

  it('resumes from step 0 with its config and equals a clean run', async () => {
    const outDir = join(root.dir, 'resume0');
    await failEarly(outDir);
    const task = toyTask(5);
    await train({ config: toyConfig(task, SETTINGS), task, outDir, resumeFrom: outDir });
    expect(metricsWithoutTiming(outDir)).toEqual(metricsWithoutTiming(clean));
    expect(latestCheckpointStep(outDir)).toBe(SETTINGS.steps);
  });
});

describe('divergence, foreign and corrupt checkpoints', () => {
  let run = '';
  beforeAll(async () => {
    const task = toyTask(5);
    run = join(root.dir, 'two-steps');
    await train({
      config: toyConfig(task, { ...SETTINGS, steps: 2, checkpoint_every: 1 }),
      task,
      outDir: run,
    });
  });
  const checkpoint = () => join(run, 'checkpoints', 'step-000002');

  it('a learning rate that blows the weights up stops the run when it diverges; the good checkpoint stays latest', async () => {
    const outDir = join(root.dir, 'diverged');
    cpSync(run, outDir, { recursive: true });
    const task = toyTask(5);
    // The largest float32-representable rate: step 3's update leaves the weights finite (about 3e38)
    // and step 4's forward pass overflows.
    const config = toyConfig(task, { ...SETTINGS, steps: 6, checkpoint_every: 1, learning_rate: 3e38 });
    const error = await train({ config, task, outDir, resumeFrom: outDir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(
      /^training stopped at step 4: the gradient is not finite .*after 3 update\(s\).*learning_rate than 3e\+38.*step-000003$/,
    );
    expect(latestCheckpointStep(outDir)).toBe(3);
    const latest = join(outDir, 'checkpoints', 'step-000003');
    expect(loadModelDir(latest, 'policy').config.width).toBe(32);
    expect(readRunCheckpoint(latest).state.step).toBe(3);
    expect(existsSync(join(outDir, LOCK_FILE))).toBe(false);
  });

  it('a checkpoint of another shape is refused naming the file and the tensor', async () => {
    const outDir = join(root.dir, 'foreign');
    cpSync(run, outDir, { recursive: true });
    const task = toyTask(5);
    const config = toyConfig(task, {
      ...SETTINGS,
      model: { width: 16, depth: 2, heads: 2, context_length: 16 },
    });
    await expect(train({ config, task, outDir, resumeFrom: outDir })).rejects.toThrow(
      /step-000002\/model\.safetensors: tensor "wte" has shape \[\d+, 32\] but the config needs \[\d+, 16\]/,
    );
  });

  it('non-finite weights in a model file are refused naming the file and the tensor', () => {
    const dir = join(root.dir, 'nan-weights');
    cpSync(checkpoint(), dir, { recursive: true });
    const path = join(dir, 'model.safetensors');
    const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
    (tensors['h.1.mlp.c_fc.bias'].data as Float32Array)[3] = Number.NaN;
    writeFileSync(path, encodeSafetensors(tensors));
    expect(() => loadModelDir(dir, 'policy')).toThrow(
      new CheckpointError(
        path,
        'tensor "h.1.mlp.c_fc.bias" holds a non-finite value (NaN at element 3): the weights are unusable',
      ),
    );
  });

  it('each corrupt state.json field is named with its value', () => {
    const dir = join(root.dir, 'bad-state');
    cpSync(checkpoint(), dir, { recursive: true });
    const statePath = join(dir, 'state.json');
    const good = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
    const stream = good.promptStream as Record<string, unknown>;
    const cases: [Record<string, unknown> | unknown[], RegExp][] = [
      [[1, 2], /must hold a JSON object \(\[1,2\]\)/],
      [{ ...good, step: -1 }, /"step" must be a non-negative integer \(-1\)/],
      [{ ...good, optimizerSteps: 'x' }, /"optimizerSteps" .* \("x"\)/],
      [{ ...good, samplingRng: [0, 0, 0, 0] }, /"samplingRng" must be four 32-bit .* \(\[0,0,0,0\]\)/],
      [{ ...good, samplingRng: [1, 2, 3, 2 ** 32] }, /"samplingRng"/],
      [{ ...good, promptStream: null }, /"promptStream" must be an object \(null\)/],
      [{ ...good, promptStream: { ...stream, rng: 'x' } }, /"promptStream.rng"/],
      [{ ...good, promptStream: { ...stream, order: [0, -1] } }, /"promptStream.order" .*\(\[0,-1\]\)/],
      [{ ...good, promptStream: { ...stream, position: 1e9 } }, /"promptStream.position" .* \(1000000000\)/],
      [{ ...good, promptStream: { ...stream, epoch: 0.5 } }, /"promptStream.epoch" .* \(0.5\)/],
    ];
    for (const [state, message] of cases) {
      writeFileSync(statePath, JSON.stringify(state));
      expect(() => readRunCheckpoint(dir)).toThrow(message);
    }
  });

  it('a prompt order that does not fit the task is named as a state.json problem', async () => {
    const outDir = join(root.dir, 'bad-order');
    cpSync(run, outDir, { recursive: true });
    const statePath = join(outDir, 'checkpoints', 'step-000002', 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8')) as {
      promptStream: { order: number[]; position: number };
    };
    state.promptStream.order = [0, 1];
    state.promptStream.position = 0;
    writeFileSync(statePath, JSON.stringify(state));
    const task = toyTask(5);
    await expect(
      train({ config: toyConfig(task, { ...SETTINGS, steps: 4 }), task, outDir, resumeFrom: outDir }),
    ).rejects.toThrow(/state\.json: "promptStream": the saved prompt order does not fit/);
  });

  it('a reward function returning strings is named with the type', async () => {
    const task = toyTask(5);
    const fn = { name: 'texty', range: [0, 1] as const, score: (p: readonly string[]) => p.map(() => '0.5') };
    const bad = { ...task, rewards: [{ fn: fn as never, weight: 1 }] };
    await expect(
      train({ config: toyConfig(task, SETTINGS), task: bad, outDir: join(root.dir, 'texty') }),
    ).rejects.toThrow(
      /reward function "texty" returned a string \("0.5"\) for sample 0 .*must be finite numbers/,
    );
  });
});
