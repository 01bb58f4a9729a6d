import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { LoraAdapter } from '../../src/nn/adapters/lora.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import { hfParamSpecs } from '../../src/nn/models/hfParams.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { setLeanBackprop } from '../../src/nn/ops/leanBackprop.js';
import { tokenLogProbs } from '../../src/nn/ops/layers.js';
import type { NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';

const VOCAB = 29;
const CONFIGS = {
  gpt2: parseHfConfig(
    { model_type: 'gpt2', vocab_size: VOCAB, n_positions: 16, n_embd: 16, n_head: 2, n_layer: 2 },
    'gpt2 config',
  ),
  llama: parseHfConfig(
    {
      model_type: 'llama',
      vocab_size: VOCAB,
      max_position_embeddings: 16,
      hidden_size: 16,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      intermediate_size: 24,
      num_hidden_layers: 2,
    },
    'llama config',
  ),
};
const TARGETS = { gpt2: ['c_attn', 'c_fc'], llama: ['q_proj', 'v_proj', 'down_proj'] };

function randomTensors(config: (typeof CONFIGS)['gpt2'], seed: number): Record<string, NamedTensor> {
  const rng = new Rng(seed);
  const out: Record<string, NamedTensor> = {};
  for (const s of hfParamSpecs(config)) {
    const data = new Float32Array(s.shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * 0.5;
    out[s.name] = { dtype: 'F32', shape: s.shape, data };
  }
  return out;
}

const PROMPTS = [
  [1, 2, 3, 4],
  [5, 6],
];
const FOLLOWING = Int32Array.from([7, 8, 9, 10, 11, 12]);
const targets = (rows: number) => Int32Array.from({ length: rows }, (_, i) => (i * 7 + 3) % VOCAB);

/**
 * The summed log-probs of fixed targets: the gradients by `variables`, the peak bytes, and how
 * many matrix products ran.
 */
async function gradients(
  model: HfDecoder,
  variables: tf.Variable[],
): Promise<{ grads: Float32Array[]; peak: number; products: number }> {
  let grads: Float32Array[] = [];
  const info = await tf.profile(() => {
    const { value, grads: map } = tf.variableGrads(() => {
      const hidden = model.forward(buildSequenceInput(PROMPTS, FOLLOWING, 3, 0)).hidden;
      return tf.sum(tokenLogProbs(model.logits(hidden), targets(hidden.shape[0]))) as tf.Scalar;
    }, variables);
    grads = variables.map((v) => map[v.name].dataSync() as Float32Array);
    tf.dispose([value, map]);
  });
  const products = info.kernels.filter((k) => k.name === 'BatchMatMul' || k.name === '_FusedMatMul').length;
  return { grads, peak: info.peakBytes, products };
}

function sameBits(a: Float32Array[], b: Float32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => Buffer.from(x.buffer).equals(Buffer.from(b[i].buffer)));
}

describe.each(['gpt2', 'llama'] as const)('backward passes of the %s decoder', (family) => {
  beforeAll(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it('freeing saved tensors and gradients early gives the same gradients bit for bit, at a lower peak, and leaks nothing', async () => {
    const model = HfDecoder.fromTensors(CONFIGS[family], randomTensors(CONFIGS[family], 3), {
      trainable: true,
    });
    const variables = model.variables().map((p) => p.variable);
    const before = tf.memory().numTensors;
    const previous = setLeanBackprop(false);
    let plain: Awaited<ReturnType<typeof gradients>>;
    let lean: Awaited<ReturnType<typeof gradients>>;
    try {
      plain = await gradients(model, variables);
      setLeanBackprop(true);
      lean = await gradients(model, variables);
    } finally {
      setLeanBackprop(previous);
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(sameBits(lean.grads, plain.grads)).toBe(true);
    expect(lean.grads.some((g) => g.some((x) => x !== 0))).toBe(true);
    expect(lean.peak).toBeLessThan(plain.peak);
    model.dispose();
  });

  it('with adapters on, the base is untrainable, its weight gradients are skipped, and the adapter gradients are unchanged', async () => {
    const model = HfDecoder.fromTensors(CONFIGS[family], randomTensors(CONFIGS[family], 4), {
      trainable: true,
    });
    const adapter = LoraAdapter.init(
      family,
      model.specs,
      { r: 2, alpha: 4, dropout: 0, targetModules: TARGETS[family] },
      5,
    );
    // Nonzero B, so that gradients reach A as well.
    const rng = new Rng(6);
    for (const p of adapter.variables()) {
      const data = Float32Array.from({ length: p.variable.size }, () => rng.uniform() - 0.5);
      p.variable.assign(tf.tensor(data, p.variable.shape));
    }
    const base = model.specs.map((s) => model.param(s.name) as tf.Variable);
    model.attachAdapter(adapter);
    expect(base.every((v) => !v.trainable)).toBe(true);
    const variables = model.variables().map((p) => p.variable);
    const before = tf.memory().numTensors;
    const skipped = await gradients(model, variables);
    // As before the base was marked frozen: every weight gradient computed, then left unused.
    for (const v of base) v.trainable = true;
    const computed = await gradients(model, variables);
    expect(tf.memory().numTensors).toBe(before);
    expect(sameBits(skipped.grads, computed.grads)).toBe(true);
    expect(skipped.grads.every((g) => g.some((x) => x !== 0))).toBe(true);
    // One weight-gradient product fewer per adapted-or-not projection of the base and the output table.
    expect(skipped.products).toBeLessThan(computed.products - model.specs.length / 4);
    model.attachAdapter(undefined);
    expect(base.every((v) => v.trainable)).toBe(true);
    adapter.dispose();
    model.dispose();
  });
});
