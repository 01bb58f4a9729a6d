import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { LORA_PROJECTION } from '../../src/nn/backends/blas/blasKernels.js';
import { LoraAdapter } from '../../src/nn/adapters/lora.js';
import { completionInput, completionLogProbs } from '../../src/nn/generation/logProbs.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import { hfParamSpecs } from '../../src/nn/models/hfParams.js';
import type { NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED, TEST_BACKEND } from '../backends.js';
import { maxRelativeError } from './relativeError.js';

/**
 * The BLAS path's one-kernel LoRA projection of inference passes (LORA_PROJECTION): against the op
 * path it replaces, within float32 rounding (sgemm adds scale * (x A^T) B^T into the base product
 * through its alpha and beta, where the ops round the delta, its scaling and the sum one by one),
 * alone, against float64, and in the KV-cached sampler of whole models with the kernel turned away;
 * and the cached decode against the full-sequence forward with adapters on.
 */

function values(rng: Rng, size: number, scale = 0.5): Float32Array {
  return Float32Array.from({ length: size }, () => (2 * rng.uniform() - 1) * scale);
}

const GPT2 = parseHfConfig(
  { model_type: 'gpt2', vocab_size: 29, n_positions: 32, n_embd: 16, n_head: 2, n_layer: 2 },
  'gpt2 config',
);
const LLAMA = parseHfConfig(
  {
    model_type: 'llama',
    vocab_size: 29,
    max_position_embeddings: 32,
    hidden_size: 16,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 24,
    num_hidden_layers: 2,
    tie_word_embeddings: false,
  },
  'llama config',
);

function model(config: typeof GPT2): HfDecoder {
  const rng = new Rng(11);
  const tensors: Record<string, NamedTensor> = {};
  for (const s of hfParamSpecs(config))
    tensors[s.name] = {
      dtype: 'F32',
      shape: s.shape,
      data: values(
        rng,
        s.shape.reduce((a, b) => a * b, 1),
      ),
    };
  return HfDecoder.fromTensors(config, tensors, { trainable: false });
}

/** An adapter on every projection the family has, B drawn nonzero so that it moves the model. */
function adapter(m: HfDecoder, targets: string[]): LoraAdapter {
  const lora = LoraAdapter.init(
    m.config.modelType,
    m.specs,
    { r: 3, alpha: 7, dropout: 0, targetModules: targets },
    4,
  );
  const rng = new Rng(9);
  for (const p of lora.variables())
    if (p.name.endsWith('lora_B.weight'))
      p.variable.assign(tf.tensor(values(rng, p.variable.size), p.variable.shape));
  return lora;
}

describe(`LoRA projection kernel of cached passes${BLAS_SKIPPED}`, () => {
  beforeAll(async () => {
    await selectBackend(BLAS_AVAILABLE ? 'blas' : 'wasm');
  });
  afterAll(async () => {
    await selectBackend(TEST_BACKEND);
  });

  it.skipIf(!BLAS_AVAILABLE).each([
    { rows: 1, bias: true },
    { rows: 5, bias: true },
    { rows: 16, bias: false },
  ])(
    'equals x W (+ b) + (x A^T B^T) * scale as ops, to float32 rounding ($rows rows, bias $bias)',
    ({ rows, bias }) => {
      const rng = new Rng(rows);
      const [inputs, outputs, r] = [12, 20, 3];
      const scale = 7 / 3;
      tf.tidy(() => {
        const x = tf.tensor2d(values(rng, rows * inputs), [rows, inputs]);
        const w = tf.tensor2d(values(rng, inputs * outputs), [inputs, outputs]);
        const b = bias ? tf.tensor1d(values(rng, outputs)) : undefined;
        const a = tf.tensor2d(values(rng, r * inputs), [r, inputs]);
        const bMat = tf.tensor2d(values(rng, outputs * r), [outputs, r]);
        const base = b === undefined ? tf.matMul(x, w) : tf.fused.matMul({ a: x, b: w, bias: b });
        const delta = tf.matMul(tf.matMul(x, a, false, true), bMat, false, true);
        const expected = tf.add(base, tf.mul(delta, tf.scalar(scale)));
        const got = tf
          .engine()
          .runKernel(
            LORA_PROJECTION,
            { x, weight: w, ...(b ? { bias: b } : {}), a, b: bMat },
            { scale },
          ) as tf.Tensor;
        expect(got.shape).toEqual([rows, outputs]);
        // The base product is the same sgemm call: only the added delta's rounding differs.
        expect(maxRelativeError(got.dataSync(), expected.dataSync())).toBeLessThan(1e-6);
        // And against float64 arithmetic, so that both are not wrong alike.
        const [xs, ws, as, bs] = [x, w, a, bMat].map((t) => t.dataSync());
        const bv = b?.dataSync();
        const g = got.dataSync();
        for (let i = 0; i < rows; i++)
          for (let o = 0; o < outputs; o++) {
            let sum = bv ? bv[o] : 0;
            for (let k = 0; k < inputs; k++) sum += xs[i * inputs + k] * ws[k * outputs + o];
            for (let j = 0; j < r; j++) {
              let down = 0;
              for (let k = 0; k < inputs; k++) down += xs[i * inputs + k] * as[j * inputs + k];
              sum += scale * down * bs[o * r + j];
            }
            expect(Math.abs(g[i * outputs + o] - sum)).toBeLessThan(1e-5);
          }
      });
    },
  );

  it.skipIf(!BLAS_AVAILABLE)('refuses operands whose sizes do not fit, naming them', () => {
    tf.tidy(() => {
      const x = tf.zeros([2, 4]);
      const w = tf.zeros([4, 6]);
      expect(() =>
        tf
          .engine()
          .runKernel(
            LORA_PROJECTION,
            { x, weight: w, a: tf.zeros([2, 4]), b: tf.zeros([5, 2]) },
            { scale: 1 },
          ),
      ).toThrow(/b \[5,2\] does not fit weight \[4,6\]/);
      expect(() =>
        tf
          .engine()
          .runKernel(
            LORA_PROJECTION,
            { x, weight: w, a: tf.zeros([2, 3]), b: tf.zeros([6, 2]) },
            { scale: 1 },
          ),
      ).toThrow(/inner sizes/);
    });
  });

  it.skipIf(!BLAS_AVAILABLE).each([
    { name: 'gpt2', config: GPT2, targets: ['c_attn', 'c_proj', 'c_fc'] },
    {
      name: 'llama',
      config: LLAMA,
      targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
    },
  ])(
    '$name: KV-cached sampling with adapters on equals the op path and the full forward (1e-5)',
    ({ config, targets }) => {
      const m = model(config);
      const lora = adapter(m, targets);
      m.attachAdapter(lora);
      const prompts = [
        [3, 4, 5, 6, 7],
        [8, 9],
        [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20],
      ];
      const options = { maxNewTokens: 9, temperature: 1.2, eosId: -1, padId: 0 };
      const kernel = vi.spyOn(tf.engine(), 'runKernel');
      const direct = generate(m, prompts, { ...options, rng: new Rng(3) });
      const kernelCalls = kernel.mock.calls.filter(([name]) => name === LORA_PROJECTION).length;
      kernel.mockRestore();
      expect(kernelCalls).toBeGreaterThan(0);
      // The op path: the adapter declines the direct kernel, as it does while a dropout mask is drawn.
      const declined = vi.spyOn(lora, 'inferenceMatrices').mockReturnValue(undefined);
      const ops = generate(m, prompts, { ...options, rng: new Rng(3) });
      declined.mockRestore();
      expect(Array.from(direct.tokens)).toEqual(Array.from(ops.tokens));
      expect(maxRelativeError(direct.logProbs, ops.logProbs)).toBeLessThan(1e-5);
      // The full-sequence forward (the update's pass, custom-gradient products) on the same tokens.
      const batch = { prompts, completions: direct.tokens, mask: direct.mask, length: direct.length };
      const full = tf.tidy(() =>
        completionLogProbs(m, batch, completionInput(batch, 0), { temperature: 1.2 }).logProbs.dataSync(),
      );
      let checked = 0;
      for (let i = 0; i < direct.mask.length; i++) {
        if (direct.mask[i] === 0) continue;
        expect(Math.abs(full[i] - direct.logProbs[i])).toBeLessThan(1e-5);
        checked++;
      }
      expect(checked).toBe(27);
      // The adapters move the samples' log-probs (the test would pass vacuously otherwise).
      const off = lora.withAdaptersOff(() => generate(m, prompts, { ...options, rng: new Rng(3) }));
      expect(Array.from(off.logProbs)).not.toEqual(Array.from(direct.logProbs));
      m.attachAdapter(undefined);
      lora.dispose();
      m.dispose();
    },
  );
});
