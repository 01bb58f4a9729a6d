import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { languageModelBatch, languageModelNll } from '../../src/nn/training/languageModel.js';
import { loadModelDir, MODEL_JSON_FILE, WEIGHTS_FILE } from '../../src/nn/weights/modelDir.js';
import { RewardModel } from '../../src/nn/models/rewardModel.js';
import { pretrainData } from '../../src/tasks/datasets.js';
import { createSentimentTask } from '../../src/tasks/sentiment.js';
import { mergeConfigLayers, parseTrainConfig } from '../../src/train/config.js';
import { readMetrics } from '../../src/train/metrics.js';
import { type PretrainConfig, type PretrainResult, pretrain } from '../../src/train/pretrain.js';
import { type RewardModelResult, trainRewardModel } from '../../src/train/rewardModelTraining.js';
import { train } from '../../src/train/trainer.js';
import { tempDir } from './helpers.js';

// The whole chain the shipped assets came from, at a scale that runs in seconds:
// pretrain -> train-rm -> RLHF on the sentiment task, each stage reading the folder the previous one wrote.

const TINY_WORDS: PretrainConfig = {
  corpus: 'moby-dick',
  steps: 60,
  batchSize: 8,
  learningRate: 3e-3,
  warmupSteps: 5,
  weightDecay: 0.1,
  width: 16,
  depth: 1,
  heads: 2,
  contextLength: 48,
  vocabSize: 300,
  seed: 0,
  evalEvery: 10,
  evalTexts: 32,
  backend: TEST_BACKEND,
};

let root: ReturnType<typeof tempDir>;
let policyDir = '';
let rewardModelDir = '';
let pretrained: PretrainResult;
let rewardModel: RewardModelResult;
const logged: string[] = [];

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  root = tempDir('pipeline');
  policyDir = join(root.dir, 'policy');
  rewardModelDir = join(root.dir, 'reward-model');
  pretrained = await pretrain(TINY_WORDS, policyDir, (line) => logged.push(line));
  rewardModel = await trainRewardModel(
    {
      policy: policyDir,
      pairs: 300,
      labelNoise: 0.1,
      heldOutPairs: 100,
      epochs: 1,
      batchSize: 32,
      learningRate: 1e-3,
      maxNewTokens: 8,
      seed: 0,
      backend: TEST_BACKEND,
    },
    rewardModelDir,
  );
});
afterAll(() => root?.cleanup());

describe('pretrain at tiny scale', () => {
  it('evaluates every evalEvery steps and the held-out loss falls below the uniform guess', () => {
    expect(pretrained.evals.map((e) => e.step)).toEqual([10, 20, 30, 40, 50, 60]);
    const first = pretrained.evals[0];
    const last = pretrained.evals.at(-1)!;
    expect(last.heldOutLoss).toBeLessThan(first.heldOutLoss);
    // A model that ignores the context and predicts uniformly pays ln(vocabulary) per token.
    expect(last.heldOutLoss).toBeLessThan(Math.log(TINY_WORDS.vocabSize));
    expect(last.perplexity).toBeCloseTo(Math.exp(last.heldOutLoss), 6);
    // Word corpora have no right answer to count.
    for (const e of pretrained.evals) expect(e.accuracy).toBeUndefined();
    expect(pretrained.samples).toHaveLength(8);
    expect(pretrained.tokensSeen).toBeGreaterThan(TINY_WORDS.steps * TINY_WORDS.batchSize);
    expect(logged.some((line) => line.startsWith('step 60/60'))).toBe(true);
  });

  it('writes a policy folder that loads, and the loaded model reproduces the final held-out loss', () => {
    const saved = loadModelDir(policyDir, 'policy');
    expect(saved.config).toEqual({ vocabSize: 300, contextLength: 48, width: 16, depth: 1, heads: 2 });
    expect(saved.tokenizer.kind).toBe('word');
    expect(saved.tokenizer.vocabSize).toBe(300);
    expect((saved.info.pretrain as PretrainConfig).corpus).toBe('moby-dick');
    expect(saved.info.steps_done).toBe(60);
    // Recompute the loss of the saved weights on the held-out texts the run used (same encoding: text, then EOS).
    const { tokenizer } = saved;
    const sequences = pretrainData('moby-dick')
      .heldOut.slice(0, TINY_WORDS.evalTexts)
      .map((text) => [...tokenizer.encode(text), tokenizer.eosId])
      .filter((s) => s.length <= TINY_WORDS.contextLength);
    expect(sequences.length).toBeGreaterThan(10);
    const model = Gpt.fromTensors(saved.config, saved.tensors, { trainable: false, source: policyDir });
    try {
      const { nll, tokens } = languageModelNll(model, languageModelBatch(sequences, tokenizer.padId));
      expect(nll / tokens).toBeCloseTo(saved.info.held_out_loss as number, 4);
      expect(saved.info.held_out_loss).toBe(pretrained.evals.at(-1)!.heldOutLoss);
    } finally {
      model.dispose();
    }
  });
});

describe('train-rm on the tiny policy', () => {
  it('writes a reward-model folder whose info carries the accuracy figures', () => {
    expect(existsSync(join(rewardModelDir, WEIGHTS_FILE))).toBe(true);
    const saved = loadModelDir(rewardModelDir, 'reward-model');
    expect(saved.config).toEqual(loadModelDir(policyDir).config);
    expect(saved.tokenizer.toJSON()).toEqual(loadModelDir(policyDir).tokenizer.toJSON());
    const info = saved.info;
    expect(info.corpus).toBe('moby-dick');
    for (const field of ['trainAccuracy', 'heldOutAccuracy', 'tieFraction'] as const) {
      expect(info[field], field).toBeTypeOf('number');
      expect(info[field] as number, field).toBeGreaterThanOrEqual(0);
      expect(info[field] as number, field).toBeLessThanOrEqual(1);
      expect(info[field], field).toBe(rewardModel[field]);
    }
    expect(info.trainPairs).toBe(300);
    expect(info.heldOutPairs).toBe(100);
    expect(Number.isFinite(info.scoreOffset)).toBe(true);
    expect(info.scoreStd as number).toBeGreaterThan(0);
    const model = RewardModel.fromTensors(saved.config, saved.tensors, join(rewardModelDir, WEIGHTS_FILE));
    model.dispose();
    const json = JSON.parse(readFileSync(join(rewardModelDir, MODEL_JSON_FILE), 'utf8')) as { kind: string };
    expect(json.kind).toBe('reward-model');
  });
});

describe('the sentiment task on the tiny folders', () => {
  it('runs two GRPOVI steps through train() and logs eval_reward and eval_gold', async () => {
    const task = createSentimentTask({ seed: 0, policy: policyDir, rewardModel: rewardModelDir });
    try {
      expect(task.description).toContain('moby-dick');
      expect(task.tokenizer.vocabSize).toBe(300);
      const config = parseTrainConfig(
        mergeConfigLayers(task.defaults as Record<string, unknown>, {
          task: 'sentiment',
          algo: 'grpovi',
          steps: 2,
          prompts_per_step: 2,
          num_generations: 4,
          max_completion_length: 8,
          eval_prompts: 16,
          eval_every: 2,
          checkpoint_every: 0,
          policy: policyDir,
          reward_model: rewardModelDir,
        }),
      );
      const outDir = join(root.dir, 'rlhf');
      const result = await train({ config, task, outDir });
      expect(result.step).toBe(2);
      const rows = readMetrics(join(outDir, 'metrics.jsonl'));
      expect(rows.map((r) => r.step)).toEqual([0, 1, 2]);
      const evals = rows.filter((r) => r.eval_reward !== undefined);
      expect(evals.map((r) => r.step)).toEqual([0, 2]);
      for (const row of evals) {
        for (const field of ['eval_reward', 'eval_gold'] as const) {
          expect(row[field], field).toBeTypeOf('number');
          expect(row[field] as number, field).toBeGreaterThanOrEqual(0);
          expect(row[field] as number, field).toBeLessThanOrEqual(1);
        }
      }
      for (const row of rows.slice(1)) expect(row.reward_mean).toBeTypeOf('number');
    } finally {
      task.dispose?.();
    }
  });
});

describe('pretrain on the arithmetic corpus', () => {
  it('reports the held-out accuracy in every evaluation and in the model folder', async () => {
    const outDir = join(root.dir, 'arithmetic');
    const result = await pretrain(
      {
        ...TINY_WORDS,
        corpus: 'arithmetic',
        steps: 20,
        batchSize: 16,
        contextLength: 16,
        vocabSize: 0,
        evalTexts: 32,
      },
      outDir,
    );
    expect(result.evals.map((e) => e.step)).toEqual([10, 20]);
    for (const e of result.evals) {
      expect(e.accuracy).toBeTypeOf('number');
      expect(e.accuracy!).toBeGreaterThanOrEqual(0);
      expect(e.accuracy!).toBeLessThanOrEqual(1);
      // Accuracy is a count of 32 held-out problems.
      expect(Number.isInteger(e.accuracy! * 32)).toBe(true);
    }
    const saved = loadModelDir(outDir, 'policy');
    expect(saved.tokenizer.kind).toBe('char');
    expect(saved.config.vocabSize).toBe(16);
    expect(saved.info.accuracy).toBe(result.evals.at(-1)!.accuracy);
    // The samples are completions of held-out prompts `a+b=` / `a-b=`.
    for (const s of result.samples) expect(s.prompt).toMatch(/^\d+[+-]\d+=$/);
  });
});
