import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { saveModelDir } from '../../src/nn/weights/modelDir.js';
import { WordTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import { createFileTask, holdOutPrompts } from '../../src/tasks/sources/fileTask.js';
import { readPromptFile } from '../../src/tasks/sources/promptFileReader.js';
import { readMetrics } from '../../src/train/metrics.js';
import { PromptStream } from '../../src/train/promptStream.js';
import { readSamples, type SampleRow } from '../../src/train/samples.js';
import { parseTrainConfig } from '../../src/train/config.js';
import { loadTask } from '../../src/train/setup.js';
import { train } from '../../src/train/trainer.js';
import { ConfigError } from '../../src/train/configError.js';
import { tempDir } from './helpers.js';

// The task from files, trained through the library: the reward returns a column of the prompt's
// line, so every reward the trainer logs can be recomputed from the file alone.

let root: ReturnType<typeof tempDir>;
let policyDir = '';
let promptsPath = '';
let rewardPath = '';
const WORDS = ['red', 'green', 'blue', 'small', 'large', 'cat', 'dog', 'bird', 'runs', 'sleeps'];

beforeAll(async () => {
  await selectBackend('wasm');
  root = tempDir('file-task');
  const lines: string[] = [];
  for (let i = 0; i < 20; i++) {
    lines.push(
      JSON.stringify({
        prompt: `The ${WORDS[i % 10]} ${WORDS[Math.floor(i / 10) + 8]}`,
        value: (i % 7) / 6,
        id: i,
      }),
    );
  }
  promptsPath = join(root.dir, 'prompts.jsonl');
  writeFileSync(promptsPath, `${lines.join('\n')}\n`);
  rewardPath = join(root.dir, 'column.mjs');
  // Returns the line's "value" column; checks the rows line up with the (normalized) prompts.
  writeFileSync(
    rewardPath,
    `export default function column(prompts, completions, rows) {
       return rows.map((row, i) => {
         if (row.prompt.toLowerCase() !== prompts[i]) throw new Error('row ' + row.id + ' is not the row of ' + prompts[i]);
         return row.value;
       });
     }
     column.range = [0, 1];`,
  );
  const tokenizer = WordTokenizer.fit([WORDS.join(' '), 'the'], { maxVocab: 32 });
  const policy = Gpt.init(
    { vocabSize: tokenizer.vocabSize, contextLength: 16, width: 16, depth: 1, heads: 2 },
    0,
  );
  policyDir = join(root.dir, 'policy');
  saveModelDir(policyDir, {
    kind: 'policy',
    config: policy.config,
    tokenizer,
    tensors: policy.toTensors(),
    info: {},
  });
  policy.dispose();
});
afterAll(() => root.cleanup());

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;

describe('the task from files', () => {
  it('hands each sample its line of the prompt file and logs rewards that the file alone reproduces', async () => {
    const task = await createFileTask({
      seed: 0,
      prompts: promptsPath,
      rewards: [{ path: rewardPath, weight: 1 }],
      policy: policyDir,
    });
    const records = readPromptFile(promptsPath);
    const { train: trainRecords, heldOut } = holdOutPrompts(records);
    expect(task.trainPrompts).toEqual(trainRecords.map((r) => (r.prompt as string).toLowerCase()));
    expect(task.evalRows).toEqual(heldOut.map((r) => r.row));
    expect(task.notices?.[0]).toBe(
      `held out 2 of the 20 prompts of ${promptsPath} for evaluation (a fixed 10% share; --eval-prompts FILE gives your own)`,
    );

    const config = parseTrainConfig({
      ...task.defaults,
      task: 'files',
      prompts: promptsPath,
      rewards: [{ path: rewardPath, weight: 1 }],
      policy: policyDir,
      steps: 3,
      prompts_per_step: 3,
      num_generations: 2,
      max_completion_length: 4,
      eval_every: 3,
      checkpoint_every: 0,
    });
    const outDir = join(root.dir, 'run');
    const seen: { step: number; samples: readonly SampleRow[] }[] = [];
    await train({
      config,
      task,
      outDir,
      observer: { onSamples: (step, samples) => seen.push({ step, samples }) },
    });
    task.dispose?.();

    const valueOf = new Map(records.map((r) => [(r.prompt as string).toLowerCase(), r.row.value as number]));
    const rows = readMetrics(join(outDir, 'metrics.jsonl'));
    const expectedEval = mean(heldOut.map((r) => r.row.value as number));
    expect(rows[0].eval_reward).toBeCloseTo(expectedEval, 12);
    expect(rows[3].eval_reward).toBeCloseTo(expectedEval, 12);
    // Training rewards: the mean "value" of the prompts a stream with the run's seed draws.
    const stream = new PromptStream(task.trainPrompts, config.seed);
    for (const row of rows.slice(1)) {
      const drawn = stream.next(config.prompts_per_step);
      expect(row.reward_mean).toBeCloseTo(mean(drawn.map((p) => valueOf.get(p)!)), 12);
    }

    const samples = readSamples(join(outDir, 'samples.jsonl'));
    expect(samples.map((s) => s.step)).toEqual([0, 0, 3, 3]);
    for (const s of samples) {
      expect(s.reward).toBe(valueOf.get(s.prompt));
      expect(s.rewards).toEqual({ column: valueOf.get(s.prompt) });
      expect(typeof s.completion).toBe('string');
    }
    expect(seen.map((e) => e.step)).toEqual([0, 3]);
    expect(seen.flatMap((e) => e.samples)).toEqual(samples);
    const userFiles = JSON.parse(readFileSync(join(outDir, 'user-files.json'), 'utf8')) as {
      files: { role: string }[];
    };
    expect(userFiles.files.map((f) => f.role)).toEqual(['prompts', 'reward module', 'policy', 'policy']);
  });

  it('refuses inputs a built-in task would ignore, and a files task without a reward', async () => {
    await expect(loadTask('toy', { seed: 0, policy: policyDir })).rejects.toThrow(
      `--policy cannot be used with the task "toy": it starts from a freshly initialized policy and would ignore ${policyDir}`,
    );
    await expect(loadTask('sentiment', { seed: 0, prompts: promptsPath })).rejects.toThrow(
      /^--prompts cannot be used with the built-in task "sentiment"/,
    );
    await expect(loadTask('arithmetic', { seed: 0, rewardModel: policyDir })).rejects.toThrow(ConfigError);
    await expect(loadTask('files', { seed: 0, prompts: promptsPath, policy: policyDir })).rejects.toThrow(
      `--prompts ${promptsPath} needs a reward: pass --reward MODULE[:WEIGHT] and/or --reward-model DIR[:WEIGHT]`,
    );
  });
});
