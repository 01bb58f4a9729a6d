import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { LoraAdapter } from '../../src/nn/adapters/lora.js';
import type { AdapterFamily } from '../../src/nn/adapters/loraTargets.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import { hfParamSpecs } from '../../src/nn/models/hfParams.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { AdamW } from '../../src/nn/training/optimizer.js';
import type { NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';

const VOCAB = 13;
const GPT2 = parseHfConfig(
  { model_type: 'gpt2', vocab_size: VOCAB, n_positions: 16, n_embd: 8, n_head: 2, n_layer: 2 },
  'gpt2 config',
);
const LLAMA = parseHfConfig(
  {
    model_type: 'llama',
    vocab_size: VOCAB,
    max_position_embeddings: 16,
    hidden_size: 8,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 12,
    num_hidden_layers: 2,
    tie_word_embeddings: false,
  },
  'llama config',
);
const QWEN2 = parseHfConfig(
  {
    model_type: 'qwen2',
    vocab_size: VOCAB,
    max_position_embeddings: 16,
    hidden_size: 8,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    intermediate_size: 6,
    num_hidden_layers: 2,
  },
  'qwen2 config',
);

function randomTensors(
  specs: readonly { name: string; shape: number[] }[],
  seed: number,
): Record<string, NamedTensor> {
  const rng = new Rng(seed);
  const out: Record<string, NamedTensor> = {};
  for (const s of specs) {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * 0.5;
    out[s.name] = { dtype: 'F32', shape: s.shape, data };
  }
  return out;
}

interface Family {
  family: AdapterFamily;
  targets: string[];
  make(trainable?: boolean): PolicyModel;
  /** The same family's model from merged weights, through the file layout where it has one. */
  merged(adapter: LoraAdapter, model: PolicyModel): PolicyModel;
}

const FAMILIES: Family[] = [
  {
    family: 'gpt',
    targets: ['c_attn', 'c_proj', 'c_fc'],
    make: (trainable = true) =>
      Gpt.init({ vocabSize: VOCAB, contextLength: 16, width: 8, depth: 2, heads: 2 }, 3, { trainable }),
    merged: (adapter, model) =>
      Gpt.fromTensors((model as Gpt).config, adapter.mergeInto(model.toTensors()), { trainable: false }),
  },
  ...(
    [
      ['gpt2', GPT2, ['c_attn', 'mlp.c_proj']],
      ['llama', LLAMA, ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']],
      ['qwen2', QWEN2, ['q_proj', 'v_proj', 'down_proj']],
    ] as const
  ).map(([family, config, targets]) => ({
    family,
    targets: [...targets],
    make: (trainable = true) =>
      HfDecoder.fromTensors(config, randomTensors(hfParamSpecs(config), 5), { trainable }),
    merged: (adapter: LoraAdapter, model: PolicyModel) =>
      HfDecoder.fromHfTensors(config, adapter.mergeIntoFileLayout((model as HfDecoder).toHfTensors()), {
        trainable: false,
        source: 'merged',
      }),
  })),
];

const PROMPTS = [
  [1, 2, 3, 4],
  [5, 6],
];
const FOLLOWING = Int32Array.from([7, 8, 9, 10, 11, 12]);
const input = () => buildSequenceInput(PROMPTS, FOLLOWING, 3, 0);

function logitsOf(model: PolicyModel): Float32Array {
  return tf.tidy(() => model.logits(model.forward(input()).hidden).dataSync() as Float32Array);
}

/** Gives B random values, so that the adapter changes the model. */
function train(adapter: LoraAdapter, seed: number, scale = 0.5): void {
  const rng = new Rng(seed);
  for (const p of adapter.variables()) {
    if (!p.name.endsWith('lora_B.weight')) continue;
    const data = new Float32Array(p.variable.size);
    for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * scale;
    p.variable.assign(tf.tensor(data, p.variable.shape));
  }
}

describe.each(FAMILIES)('LoRA on the $family model', ({ family, targets, make, merged }) => {
  beforeAll(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('a fresh adapter leaves the logits bit for bit as the base gives them', () => {
    const model = make();
    const before = logitsOf(model);
    const adapter = LoraAdapter.init(
      family,
      model.specs,
      { r: 4, alpha: 8, dropout: 0, targetModules: targets },
      1,
    );
    model.attachAdapter!(adapter);
    const after = logitsOf(model);
    expect(Buffer.from(after.buffer).equals(Buffer.from(before.buffer))).toBe(true);
    adapter.dispose();
    model.dispose();
  });

  it("the merged model's logits match the adapter model's (1e-5), training passes and KV-cached sampling alike", () => {
    const model = make(false);
    const base = logitsOf(model);
    const adapter = LoraAdapter.init(
      family,
      model.specs,
      { r: 3, alpha: 5, dropout: 0, targetModules: targets },
      2,
    );
    train(adapter, 7);
    model.attachAdapter!(adapter);
    const withAdapter = logitsOf(model);
    const mergedModel = merged(adapter, model);
    const fromMerged = logitsOf(mergedModel);
    let worst = 0;
    let moved = 0;
    for (let i = 0; i < base.length; i++) {
      worst = Math.max(
        worst,
        Math.abs(withAdapter[i] - fromMerged[i]) / Math.max(1, Math.abs(fromMerged[i])),
      );
      moved = Math.max(moved, Math.abs(withAdapter[i] - base[i]));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(moved).toBeGreaterThan(1e-2);
    // With adapters off the model is the base again (the reference pass).
    expect(Array.from(adapter.withAdaptersOff(() => logitsOf(model)))).toEqual(Array.from(base));
    // The sampler's KV-cached inference passes go through the adapter too.
    const options = { maxNewTokens: 5, temperature: 1, topK: 1, eosId: -1, padId: 0, rng: new Rng(1) };
    const ours = generate(model, PROMPTS, { ...options, rng: new Rng(1) });
    const theirs = generate(mergedModel, PROMPTS, { ...options, rng: new Rng(1) });
    expect(ours.tokens).toEqual(theirs.tokens);
    for (let i = 0; i < ours.logProbs.length; i++)
      expect(ours.logProbs[i]).toBeCloseTo(theirs.logProbs[i], 4);
    const plain = adapter.withAdaptersOff(() => generate(model, PROMPTS, { ...options, rng: new Rng(1) }));
    expect(Array.from(plain.logProbs)).not.toEqual(Array.from(ours.logProbs));
    adapter.dispose();
    model.dispose();
    mergedModel.dispose();
  });

  it('variables() are the adapters; an optimizer step moves them and leaves every base tensor bit for bit', () => {
    const model = make();
    const adapter = LoraAdapter.init(
      family,
      model.specs,
      { r: 2, alpha: 4, dropout: 0.1, targetModules: targets },
      3,
    );
    train(adapter, 9, 0.1);
    model.attachAdapter!(adapter);
    expect(model.variables().map((p) => p.name)).toEqual(adapter.variables().map((p) => p.name));
    const frozen = model.toTensors();
    const adapterBefore = adapter.toPeftTensors();
    const optimizer = new AdamW(model.variables(), {
      beta1: 0.9,
      beta2: 0.99,
      epsilon: 1e-8,
      weightDecay: 0.1,
      maxGradNorm: 1,
    });
    adapter.setDropout(5, 'step');
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(model.logits(model.forward(input()).hidden))) as tf.Scalar,
      model.variables().map((p) => p.variable),
    );
    adapter.setDropout(undefined);
    optimizer.applyVariableGrads({ value, grads }, 1e-2);
    const after = model.toTensors();
    for (const spec of model.specs) {
      const a = frozen[spec.name].data as Float32Array;
      const b = after[spec.name].data as Float32Array;
      expect(
        Buffer.from(b.buffer, b.byteOffset, b.byteLength).equals(
          Buffer.from(a.buffer, a.byteOffset, a.byteLength),
        ),
        spec.name,
      ).toBe(true);
    }
    const adapterAfter = adapter.toPeftTensors();
    for (const key of Object.keys(adapterBefore))
      expect(adapterAfter[key].data, key).not.toEqual(adapterBefore[key].data);
    optimizer.dispose();
    adapter.dispose();
    model.dispose();
  });

  it('gradients of the adapter parameters match central finite differences', () => {
    const model = make(false);
    const adapter = LoraAdapter.init(
      family,
      model.specs,
      { r: 2, alpha: 2, dropout: 0, targetModules: targets },
      4,
    );
    train(adapter, 11, 0.3);
    model.attachAdapter!(adapter);
    const targetsOut = new Float32Array(2 * 7 * VOCAB);
    const rng = new Rng(12);
    for (let i = 0; i < targetsOut.length; i++) targetsOut[i] = rng.uniform();
    const loss = () =>
      tf.tidy(() => {
        const logits = model.logits(model.forward(input()).hidden);
        return tf.sum(
          tf.mul(tf.logSoftmax(logits), tf.tensor2d(targetsOut, logits.shape as [number, number])),
        ) as tf.Scalar;
      });
    const params = adapter.variables();
    const { value, grads } = tf.variableGrads(
      loss,
      params.map((p) => p.variable),
    );
    value.dispose();
    const h = 1e-2;
    let checked = 0;
    for (const p of params) {
      const grad = grads[p.variable.name].dataSync();
      const values = p.variable.dataSync() as Float32Array;
      // A few entries per matrix: the largest-gradient one and two more.
      const picks = [
        0,
        Math.floor(values.length / 2),
        grad.indexOf(Math.max(...Array.from(grad, Math.abs))),
      ].filter((i) => i >= 0);
      for (const i of picks) {
        const at = (delta: number) => {
          const copy = Float32Array.from(values);
          copy[i] += delta;
          p.variable.assign(tf.tensor(copy, p.variable.shape));
          const l = loss();
          const out = l.dataSync()[0];
          l.dispose();
          return out;
        };
        const numeric = (at(h) - at(-h)) / (2 * h);
        p.variable.assign(tf.tensor(values, p.variable.shape));
        expect(Math.abs(grad[i] - numeric), `${p.name}[${i}]`).toBeLessThan(
          2e-2 * Math.max(1, Math.abs(numeric)),
        );
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    tf.dispose(Object.values(grads));
    adapter.dispose();
    model.dispose();
  });
});
