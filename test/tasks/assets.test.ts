import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { loadModelDir, type ModelFiles, WEIGHTS_FILE } from '../../src/nn/weights/modelDir.js';
import { RewardModel } from '../../src/nn/models/rewardModel.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { arithmeticReward } from '../../src/rewards/arithmetic.js';
import { createArithmeticTask } from '../../src/tasks/arithmetic.js';
import { ASSET } from '../../src/tasks/assets.js';
import { heldOutStages, pretrainData, promptOf } from '../../src/tasks/datasets.js';
import { createSentimentTask } from '../../src/tasks/sentiment.js';
import type { Task } from '../../src/tasks/task.js';
import { pairwiseAccuracy, samplePreferencePairs } from '../../src/train/rewardModelTraining.js';
import { Rng } from '../../src/util/rng.js';

// The models shipped in assets/ (made by `grpovi pretrain` and `grpovi train-rm`): they load, agree
// with each other, and do what the tasks need of them on prompts they never saw.

let sentimentPolicy: ModelFiles;
let sentimentRewardModel: ModelFiles;
let arithmeticPolicy: ModelFiles;

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
  sentimentPolicy = loadModelDir(ASSET.sentimentPolicy, 'policy');
  sentimentRewardModel = loadModelDir(ASSET.sentimentRewardModel, 'reward-model');
  arithmeticPolicy = loadModelDir(ASSET.arithmeticPolicy, 'policy');
});

const mean = (xs: readonly number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const std = (xs: readonly number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

function frozenPolicy(files: ModelFiles, source: string): Gpt {
  return Gpt.fromTensors(files.config, files.tensors, { trainable: false, source });
}

function shippedRewardModel(): RewardModel {
  return RewardModel.fromTensors(
    sentimentRewardModel.config,
    sentimentRewardModel.tensors,
    join(ASSET.sentimentRewardModel, WEIGHTS_FILE),
  );
}

describe('the shipped model folders', () => {
  it('hold the kinds, tokenizers and configs the tasks expect', () => {
    expect(sentimentPolicy.kind).toBe('policy');
    expect(sentimentRewardModel.kind).toBe('reward-model');
    expect(arithmeticPolicy.kind).toBe('policy');
    for (const files of [sentimentPolicy, sentimentRewardModel, arithmeticPolicy]) {
      expect(files.tokenizer.vocabSize).toBe(files.config.vocabSize);
      expect(files.config.width % files.config.heads).toBe(0);
    }
    // The sentiment pair: a word-level policy over the State of the Union, and a reward model that
    // reads the same tokens (it started from the policy's weights).
    expect(sentimentPolicy.tokenizer.kind).toBe('word');
    expect(sentimentPolicy.config.vocabSize).toBe(3000);
    expect((sentimentPolicy.info.pretrain as { corpus: string }).corpus).toBe('sotu');
    expect(sentimentRewardModel.config).toEqual(sentimentPolicy.config);
    expect(sentimentRewardModel.tokenizer.toJSON()).toEqual(sentimentPolicy.tokenizer.toJSON());
    expect(sentimentRewardModel.info.corpus).toBe('sotu');
    // The arithmetic policy: characters of `12+7=19` and the three specials.
    expect(arithmeticPolicy.tokenizer.kind).toBe('char');
    expect(arithmeticPolicy.config.vocabSize).toBe(16);
    expect(arithmeticPolicy.tokenizer.decode(arithmeticPolicy.tokenizer.encode('0123456789+-='))).toBe(
      '0123456789+-=',
    );
    expect((arithmeticPolicy.info.pretrain as { corpus: string }).corpus).toBe('arithmetic');
    // Arithmetic prompts and their answers fit the context.
    expect(arithmeticPolicy.config.contextLength).toBeGreaterThanOrEqual('99+99='.length + '198'.length + 1);
  });

  it('build models whose tensors match their configs', () => {
    // fromTensors checks every tensor's name and shape against the config and throws on a mismatch.
    const models = [
      frozenPolicy(sentimentPolicy, ASSET.sentimentPolicy),
      frozenPolicy(arithmeticPolicy, ASSET.arithmeticPolicy),
    ];
    const rm = shippedRewardModel();
    for (const m of models) m.dispose();
    rm.dispose();
  });
});

describe('the shipped sentiment reward model', () => {
  let task: Task | undefined;
  afterAll(() => task?.dispose?.());

  it('agrees with the gold preference on fresh pairs from held-out prompts', async () => {
    const data = pretrainData('sotu');
    const stages = heldOutStages(data);
    // Prompts of the RLHF evaluation sentences, less any prompt that also opens a reward-model sentence.
    const seen = new Set(stages.rewardModel.map((s) => promptOf(data, s)));
    const prompts = [...new Set(stages.rlEval.map((s) => promptOf(data, s)))].filter((p) => !seen.has(p));
    expect(prompts.length).toBeGreaterThan(300);
    const { tokenizer } = sentimentPolicy;
    const policy = frozenPolicy(sentimentPolicy, ASSET.sentimentPolicy);
    const rm = shippedRewardModel();
    try {
      const { pairs } = await samplePreferencePairs(policy, tokenizer, prompts, 300, {
        maxNewTokens: 16,
        labelNoise: 0,
        rng: Rng.derive(7, 'assets-test-pairs'),
      });
      expect(pairs).toHaveLength(300);
      const accuracy = pairwiseAccuracy(rm, tokenizer, pairs);
      console.log(
        `shipped reward model: held-out pairwise accuracy ${accuracy.toFixed(3)} on ${pairs.length} fresh pairs`,
      );
      // Chance is 0.5; model.json records 0.875 on its own held-out pairs.
      expect(accuracy).toBeGreaterThanOrEqual(0.75);
    } finally {
      policy.dispose();
      rm.dispose();
    }
  });

  it('gives the completions of a prompt different rewards, inside [0, 1]', async () => {
    task = createSentimentTask({ seed: 0 });
    const policy = task.createPolicy(0, {});
    try {
      const groups = 4;
      const groupSize = 8;
      const prompts = task.evalPrompts.slice(0, groups).flatMap((p) => Array<string>(groupSize).fill(p));
      const { tokenizer } = task;
      const generation = generate(
        policy,
        prompts.map((p) => tokenizer.encode(p)),
        {
          maxNewTokens: 16,
          eosId: tokenizer.eosId,
          padId: tokenizer.padId,
          rng: Rng.derive(0, 'assets-test-spread'),
          decode: (ids) => tokenizer.decode(ids),
        },
      );
      const rewards = await task.rewards[0].fn.score(prompts, generation.texts);
      expect(rewards).toHaveLength(groups * groupSize);
      for (const r of rewards) {
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThanOrEqual(1);
      }
      const groupStds = Array.from({ length: groups }, (_, g) =>
        std(rewards.slice(g * groupSize, (g + 1) * groupSize)),
      );
      console.log(
        `shipped reward model: reward std within groups ${groupStds.map((s) => s.toFixed(3)).join(', ')}`,
      );
      for (const s of groupStds) expect(s).toBeGreaterThan(0);
      expect(std(rewards)).toBeGreaterThan(0.01);
    } finally {
      policy.dispose();
    }
  });
});

describe('the shipped arithmetic policy', () => {
  it('answers some held-out problems right at temperature 1, but not all', () => {
    const task = createArithmeticTask({ seed: 0 });
    const policy = task.createPolicy(0, {});
    try {
      const prompts = task.evalPrompts.slice(0, 256);
      // Held out: none of these problems is in the training prompts.
      const train = new Set(task.trainPrompts);
      expect(prompts.filter((p) => train.has(p))).toEqual([]);
      const { tokenizer } = task;
      const generation = generate(
        policy,
        prompts.map((p) => tokenizer.encode(p)),
        {
          maxNewTokens: 5,
          eosId: tokenizer.eosId,
          padId: tokenizer.padId,
          temperature: 1,
          rng: Rng.derive(0, 'assets-test-arithmetic'),
          decode: (ids) => tokenizer.decode(ids),
        },
      );
      const right = generation.texts.filter(
        (completion, i) => arithmeticReward(prompts[i], completion) === 1,
      ).length;
      const accuracy = right / prompts.length;
      console.log(
        `shipped arithmetic policy: held-out accuracy ${accuracy.toFixed(3)} (${right}/${prompts.length}) at temperature 1`,
      );
      expect(accuracy).toBeGreaterThan(0.15);
      expect(accuracy).toBeLessThan(0.85);
    } finally {
      policy.dispose();
    }
  });
});
