import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { readHfFolder } from '../../src/nn/weights/hfFolder.js';
import { HfRewardModel } from '../../src/nn/models/hfRewardModel.js';
import { hfRewardModelReward } from '../../src/rewards/hfRewardModel.js';
import { createSentimentTask } from '../../src/tasks/sentiment.js';
import { makeFixtures, PYTHON, reference, SKIP_REASON } from './hfFixtures.js';

const SEQUENCES = [[464, 3616, 286, 1204, 318], [40], [1212, 318, 257]];

describe.skipIf(PYTHON === undefined)(`Hugging Face reward models (${SKIP_REASON})`, () => {
  let root = '';
  let cleanup = () => {};
  beforeAll(async () => {
    await selectBackend('wasm');
    ({ root, cleanup } = makeFixtures(['gpt2-reward', 'llama-reward', 'gpt2-tied-f32']));
  });
  afterAll(() => cleanup());

  it.each(['gpt2-reward', 'llama-reward'])(
    '%s: scores of a padded batch match the NumPy reference',
    (name) => {
      const dir = join(root, name);
      const model = HfRewardModel.fromFolder(readHfFolder(dir));
      const expected = (reference(dir, SEQUENCES).scores as number[][]).map((s) => s[0]);
      const scores = model.score(SEQUENCES);
      for (let i = 0; i < SEQUENCES.length; i++) expect(Math.abs(scores[i] - expected[i])).toBeLessThan(1e-4);
      // The score is read at the last non-pad token: trailing padding changes nothing.
      const pad = model.tokenizer.padId;
      expect(model.score([[...SEQUENCES[0], pad, pad]])[0]).toBeCloseTo(scores[0], 5);
      model.dispose();
    },
  );

  it('as a reward function: sigmoid(score) by default, the raw score with a range', async () => {
    const dir = join(root, 'gpt2-reward');
    const folder = readHfFolder(dir);
    const model = HfRewardModel.fromFolder(folder);
    const raw = model.score([folder.tokenizer.encode('The meaning of life is 42')])[0];
    model.dispose();
    const sigmoid = hfRewardModelReward(dir);
    expect(sigmoid.range).toEqual([0, 1]);
    const [s] = await sigmoid.score(['The meaning of life is'], [' 42']);
    expect(s).toBeCloseTo(1 / (1 + Math.exp(-raw)), 6);
    const ranged = hfRewardModelReward(dir, { range: [-10, 10] });
    expect((await ranged.score(['The meaning of life is'], [' 42']))[0]).toBeCloseTo(raw, 5);
    sigmoid.dispose();
    ranged.dispose();
  });

  it('the sentiment task takes a Hugging Face reward model folder', async () => {
    const task = createSentimentTask({ seed: 0, rewardModel: join(root, 'llama-reward') });
    const scores = await task.rewards[0].fn.score(['the nation is'], ['strong and good']);
    expect(scores[0]).toBeGreaterThan(0);
    expect(scores[0]).toBeLessThan(1);
    task.dispose?.();
  });

  it('refuses a causal LM and a multi-label head, naming the field', () => {
    expect(() => hfRewardModelReward(join(root, 'gpt2-tied-f32'))).toThrow(
      /GPT2LMHeadModel.*ForSequenceClassification/,
    );
    const two = join(root, 'two-labels');
    cpSync(join(root, 'gpt2-reward'), two, { recursive: true });
    const config = JSON.parse(readFileSync(join(two, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(two, 'config.json'), JSON.stringify({ ...config, num_labels: 2 }));
    expect(() => hfRewardModelReward(two)).toThrow(/"num_labels" is 2/);
  });
});
