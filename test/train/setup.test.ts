import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { CheckpointError } from '../../src/nn/weights/checkpointError.js';
import { createToyTask } from '../../src/tasks/toy.js';
import { ConfigError, parseTrainConfig } from '../../src/train/config.js';
import {
  assertRunFolderFree,
  defaultRunDir,
  globalDefaults,
  loadTask,
  planResume,
  prepareFreshRun,
  RunSetupError,
  readConfigFile,
  resolveTrainConfig,
} from '../../src/train/setup.js';
import { checkRewardRange, train } from '../../src/train/trainer.js';
import { tempDir, toyConfig } from './helpers.js';

let root: ReturnType<typeof tempDir>;
beforeAll(() => {
  root = tempDir('setup');
});
afterAll(() => root.cleanup());

function writeJson(name: string, text: string): string {
  const path = join(root.dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError thrown by `fn`, for checking its message. */
function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const toyDefaults = createToyTask({ seed: 0 }).defaults as Record<string, unknown>;
const file = (values: Record<string, unknown>) => ({ path: 'my.json', values: { task: 'toy', ...values } });

describe('config errors name the field and the value', () => {
  it('unknown field in the config file: the file, the field, the value and a suggestion', () => {
    const error = configErrorOf(() =>
      resolveTrainConfig({ taskDefaults: toyDefaults, configFile: file({ lerning_rate: 0.1 }) }),
    );
    expect(error.message).toMatch(
      /^config file "my\.json": unknown field "lerning_rate" \(0\.1\); did you mean "learning_rate"\?$/,
    );
  });

  it('wrong type', () => {
    const error = configErrorOf(() => resolveTrainConfig({ configFile: file({ top_p: 'high' }) }));
    expect(error.message).toMatch(/^config file "my\.json": field "top_p" .*number.* \("high"\)$/);
    expect(error.field).toBe('top_p');
  });

  it('out-of-range value from a flag names the flag', () => {
    const error = configErrorOf(() =>
      resolveTrainConfig({
        configFile: file({ learning_rate: 0.1 }),
        flags: { learning_rate: -1 },
        flagNames: { learning_rate: '--lr' },
      }),
    );
    expect(error.message).toMatch(/^--lr: field "learning_rate" .* \(-1\)$/);
    const defaultName = configErrorOf(() =>
      resolveTrainConfig({ flags: { task: 'toy', num_generations: 1 } }),
    );
    expect(defaultName.message).toMatch(/^--num-generations: field "num_generations" .*2.* \(1\)$/);
    const top = configErrorOf(() => resolveTrainConfig({ flags: { task: 'toy', top_p: 1.5 } }));
    expect(top.message).toMatch(/field "top_p" .* \(1\.5\)$/);
  });

  it('minibatch_size that does not divide the batch', () => {
    const error = configErrorOf(() =>
      resolveTrainConfig({ taskDefaults: toyDefaults, configFile: file({ minibatch_size: 5 }) }),
    );
    // Toy defaults: 8 prompts x 8 completions.
    expect(error.message).toMatch(
      /^config file "my\.json": field "minibatch_size" must divide .* = 64 \(5\)$/,
    );
    expect(
      resolveTrainConfig({ taskDefaults: toyDefaults, configFile: file({ minibatch_size: 16 }) })
        .minibatch_size,
    ).toBe(16);
  });

  it('nested fields and reversed reward ranges', () => {
    const heads = configErrorOf(() =>
      resolveTrainConfig({
        configFile: file({ model: { width: 30, depth: 1, heads: 4, context_length: 16 } }),
      }),
    );
    expect(heads.message).toMatch(/field "model\.heads" must divide model\.width = 30 \(4\)$/);
    const range = configErrorOf(() => resolveTrainConfig({ flags: { task: 'toy', reward_range: [1, 0] } }));
    expect(range.message).toMatch(/^--reward-range: field "reward_range" .*min < max \(\[1,0\]\)$/);
  });

  it('grpovi with a reward function that declares no range', () => {
    const task = createToyTask({ seed: 0 });
    const unbounded = { ...task, rewards: [{ fn: { name: 'free_text', score: () => [] }, weight: 1 }] };
    const config = toyConfig(task, { algo: 'grpovi' });
    const error = configErrorOf(() => checkRewardRange(config, unbounded));
    expect(error.message).toMatch(
      /field "reward_range" is needed for grpovi: reward function\(s\) free_text .*\(undefined\)/,
    );
    expect(checkRewardRange({ ...config, reward_range: [-1, 1] }, unbounded)).toEqual([-1, 1]);
    expect(checkRewardRange({ ...config, algo: 'grpo' }, unbounded)).toBeUndefined();
  });
});

describe('config files', () => {
  it('a missing file is named', () => {
    expect(() => readConfigFile(join(root.dir, 'absent.json'))).toThrow(
      /config file ".*absent\.json" cannot be read: no such file/,
    );
  });

  it('invalid JSON is reported with its line and column', () => {
    const path = writeJson('broken.json', '{\n  "beta": 0.1,\n  "epsilon": 0.2,\n}\n');
    expect(() => readConfigFile(path)).toThrow(
      /config file ".*broken\.json" is not valid JSON at line 4, column 1/,
    );
  });

  it('a JSON value that is not an object is refused', () => {
    const path = writeJson('array.json', '[1, 2]');
    expect(() => readConfigFile(path)).toThrow(/must hold a JSON object.*\(\[1,2\]\)/);
  });
});

describe('precedence: global defaults < task defaults < config file < flags', () => {
  it('each layer overrides the ones below it', async () => {
    const path = writeJson('layers.json', JSON.stringify({ task: 'toy', learning_rate: 0.5, beta: 0.1 }));
    const { config, task } = await prepareFreshRun({
      flags: { beta: 0.2, algo: 'grpovi' },
      configPath: path,
    });
    expect(config.learning_rate).toBe(0.5); // file over task (3e-3) and global (1e-4)
    expect(config.beta).toBe(0.2); // flag over file
    expect(config.eval_every).toBe(toyDefaults.eval_every); // task over global
    expect(globalDefaults().eval_every).not.toBe(toyDefaults.eval_every);
    expect(config.epsilon).toBe(globalDefaults().epsilon); // global
    expect(config.algo).toBe('grpovi');
    expect(task.name).toBe('toy');
    expect(defaultRunDir(config)).toBe(join('runs', 'toy-grpovi-s0'));
  });

  it('the task is built with the resolved seed', async () => {
    const { config, task } = await prepareFreshRun({ flags: { task: 'toy', seed: 3 } });
    expect(config.seed).toBe(3);
    expect(task.evalPrompts).toEqual(createToyTask({ seed: 3 }).evalPrompts);
    expect(task.evalPrompts).not.toEqual(createToyTask({ seed: 0 }).evalPrompts);
  });

  it('a missing or unknown task lists the known ones', async () => {
    await expect(prepareFreshRun({ flags: {} })).rejects.toThrow(
      /"task" is missing: pass --task NAME \(known tasks: .*toy/,
    );
    await expect(loadTask('toyy', { seed: 0 })).rejects.toThrow(/unknown task "toyy"; known tasks: .*toy/);
  });
});

describe('run folders and resume plans', () => {
  let runDir = '';
  beforeAll(async () => {
    await selectBackend(TEST_BACKEND);
    const task = createToyTask({ seed: 0 });
    runDir = join(root.dir, 'short-run');
    const config = toyConfig(task, { steps: 2, prompts_per_step: 2, num_generations: 2, eval_every: 0 });
    await train({ config, task, outDir: runDir });
  });

  it('a folder holding a run is refused for a fresh run, with the way out', () => {
    expect(() => assertRunFolderFree(runDir)).toThrow(RunSetupError);
    expect(() => assertRunFolderFree(runDir)).toThrow(`--resume ${runDir}`);
    const empty = join(root.dir, 'empty');
    mkdirSync(empty);
    expect(() => assertRunFolderFree(empty)).not.toThrow();
  });

  it('a finished run needs a higher --steps', () => {
    expect(() => planResume(runDir)).toThrow(RunSetupError);
    expect(() => planResume(runDir)).toThrow(/finished its 2 steps; pass --steps N with N > 2/);
    expect(() => planResume(runDir, { steps: 2 })).toThrow(
      /--steps must be greater than the 2 steps .* \(2\)/,
    );
  });

  it('keeps the saved configuration and changes only the step count and backend', () => {
    const plan = planResume(runDir, { steps: 5, backend: 'cpu' });
    expect(plan.runDir).toBe(runDir);
    expect(plan.checkpointStep).toBe(2);
    expect(plan.config.steps).toBe(5);
    expect(plan.config.backend).toBe('cpu');
    const saved = parseTrainConfig(readConfigFile(join(runDir, 'config.json')).values);
    expect({ ...plan.config, steps: saved.steps, backend: saved.backend }).toEqual(saved);
    // A checkpoint folder inside the run names the same run.
    const fromFolder = planResume(plan.checkpointDir!, { steps: 5 });
    expect(fromFolder.runDir).toBe(runDir);
    expect(fromFolder.checkpointDir).toBe(plan.checkpointDir);
  });

  it('a folder without a checkpoint cannot be resumed', () => {
    const bare = join(root.dir, 'no-checkpoint');
    mkdirSync(bare, { recursive: true });
    expect(() => planResume(bare, { steps: 3 })).toThrow(CheckpointError);
    expect(() => planResume(join(root.dir, 'nowhere'), { steps: 3 })).toThrow(/run folder not found/);
  });
});
