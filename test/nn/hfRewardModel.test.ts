import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { readHfFolder } from '../../src/nn/weights/hfFolder.js';
import * as tf from '@tensorflow/tfjs';
import { HfBradleyTerryModel, HfRewardModel } from '../../src/nn/models/hfRewardModel.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
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

  it("a trainable reward model scores through the Decoder's lastHidden: the full pass's last rows, and their gradients", () => {
    const folder = readHfFolder(join(root, 'gpt2-tied-f32'));
    const model = HfBradleyTerryModel.init(folder, 3);
    const pad = model.padId;
    const sequences = [
      [464, 3616, 286, 1204, 318],
      [40, 41],
      [1212, 318, 257],
    ];
    const params = model.variables();
    const head = params.find((p) => p.name === 'score.weight')?.variable as tf.Variable;
    // Independently: every position through the full forward pass, then the last row of each sequence.
    const fullPass = () => {
      const input = buildSequenceInput(sequences, new Int32Array(0), 0, pad);
      const { hidden } = model.body.forward(input);
      const rows = sequences.length;
      const last = hidden
        .reshape([rows, input.length, model.body.config.width])
        .slice([0, input.length - 1, 0], [rows, 1, model.body.config.width])
        .reshape([rows, model.body.config.width]) as tf.Tensor2D;
      return tf.matMul(last, head).reshape([rows]) as tf.Tensor1D;
    };
    const scored = () => model.scoreTensor(sequences, pad);
    const weights = tf.tensor1d([1, -2, 0.5]);
    const gradsOf = (f: () => tf.Tensor1D) =>
      tf.variableGrads(
        () => f().mul(weights).sum() as tf.Scalar,
        params.map((p) => p.variable),
      );
    const a = gradsOf(scored);
    const b = gradsOf(fullPass);
    const got = a.value.dataSync()[0];
    expect(Math.abs(got - b.value.dataSync()[0])).toBeLessThan(1e-5 * Math.max(1, Math.abs(got)));
    const values = Array.from(scored().dataSync());
    const reference = Array.from(fullPass().dataSync());
    values.forEach((v, i) => expect(Math.abs(v - reference[i])).toBeLessThan(1e-5));
    let checked = 0;
    for (const p of params) {
      const ga = a.grads[p.variable.name].dataSync();
      const gb = b.grads[p.variable.name].dataSync();
      let scale = 0;
      for (const g of gb) scale = Math.max(scale, Math.abs(g));
      for (let i = 0; i < ga.length; i++)
        expect(Math.abs(ga[i] - gb[i])).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
      checked++;
    }
    expect(checked).toBe(params.length);
    tf.dispose([a.value, b.value, weights, ...Object.values(a.grads), ...Object.values(b.grads)]);
    model.dispose();
  });
});
