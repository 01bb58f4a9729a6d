import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ActiveBackend,
  fusedKernels,
  productsThroughBlas,
  selectBackend,
} from '../../src/nn/backends/backend.js';
import { webgpuAdapter } from '../../src/nn/backends/webgpu/webgpuBackend.js';
import {
  type CompletionBatch,
  completionInput,
  completionLogProbs,
} from '../../src/nn/generation/logProbs.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { AdamW } from '../../src/nn/training/optimizer.js';
import { minibatchGradients } from '../../src/nn/training/policyUpdate.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { Rng } from '../../src/util/rng.js';
import { makeFixtures, PYTHON } from './hfFixtures.js';
import { webgpuSkipReason } from './webgpuSupport.js';

// WebGPU (on the software adapter in CI) against the wasm kernels: the same model, the same
// inputs, every stage of a GRPO step. Small shapes: SwiftShader compiles each shader on the CPU.

const SKIPPED = await webgpuSkipReason();
const FAMILIES = ['gpt2-tied-f32', 'llama-gqa-bf16-sharded', 'qwen2-f16'];

interface Case {
  name: string;
  /** A fresh copy of the model on the active backend (same weights every time), and its special tokens. */
  make: () => { model: PolicyModel; eosId: number; padId: number };
  prompts: number[][];
}

/** Everything one backend computes for a case, read back as plain arrays. */
interface Results {
  logits: Float32Array;
  greedy: Int32Array;
  greedyLogProbs: Float32Array;
  fullLogProbs: Float32Array;
  mask: Float32Array;
  loss: number;
  grads: Record<string, Float32Array>;
  gradNorm: number;
  updated: Record<string, Float32Array>;
}

const NEW_TOKENS = 4;
const LR = 1e-2;

/**
 * Runs every stage of a step for `c` on `backend`. The AdamW step applies `adamGrads` when given
 * (the wasm run's gradients), so that it checks the optimizer's arithmetic on the backend alone:
 * Adam's first step is about lr * g / |g|, which turns float differences of near-zero gradient
 * entries into differences of the size of lr.
 */
async function run(
  backend: ActiveBackend,
  c: Case,
  adamGrads?: Record<string, Float32Array>,
): Promise<Results> {
  await selectBackend(backend);
  const { model, eosId, padId } = c.make();
  try {
    const input = buildSequenceInput(c.prompts, new Int32Array(0), 0, padId);
    const logits = tf.tidy(() => model.logits(model.forward(input).hidden).dataSync() as Float32Array);
    // Greedy decoding through the KV cache, then the same completions scored by one full-sequence pass.
    const gen = generate(model, c.prompts, {
      maxNewTokens: NEW_TOKENS,
      eosId: eosId,
      padId: padId,
      rng: new Rng(3),
      topK: 1,
    });
    const batch: CompletionBatch = {
      prompts: c.prompts,
      completions: gen.tokens,
      mask: gen.mask,
      length: gen.length,
    };
    const scoring = completionInput(batch, padId);
    const fullLogProbs = tf.tidy(
      () => completionLogProbs(model, batch, scoring).logProbs.dataSync() as Float32Array,
    );
    // The GRPO loss (token level, KL on) and its gradient, then one AdamW step.
    const rows = c.prompts.length;
    const rng = new Rng(11);
    const oldLogProbs = fullLogProbs.map((lp) => lp + (rng.uniform() - 0.5) * 0.2);
    const refLogProbs = fullLogProbs.map((lp) => lp + (rng.uniform() - 0.5) * 0.2);
    const advantages = Float32Array.from({ length: rows }, (_, i) => (i % 2 === 0 ? 1 : -0.5) * (1 + i / 4));
    const { value, grads } = minibatchGradients(
      model,
      { batch, input: scoring, oldLogProbs, refLogProbs, advantages },
      { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, lossType: 'grpo', maxCompletionLength: NEW_TOKENS },
      { temperature: 1 },
    );
    const gradValues: Record<string, Float32Array> = {};
    const params = model.variables();
    for (const p of params) gradValues[p.name] = grads[p.variable.name].dataSync().slice() as Float32Array;
    const applied = adamGrads === undefined ? grads : fromArrays(params, adamGrads);
    if (applied !== grads) tf.dispose(Object.values(grads));
    const optimizer = new AdamW(
      params,
      { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
      false,
    );
    const { loss, gradNorm } = optimizer.applyVariableGrads({ value, grads: applied }, LR);
    const updated: Record<string, Float32Array> = {};
    for (const p of params) updated[p.name] = p.variable.dataSync().slice() as Float32Array;
    optimizer.dispose();
    return {
      logits,
      greedy: gen.tokens,
      greedyLogProbs: gen.logProbs,
      fullLogProbs,
      mask: gen.mask,
      loss,
      grads: gradValues,
      gradNorm,
      updated,
    };
  } finally {
    model.dispose();
  }
}

function fromArrays(
  params: { name: string; variable: tf.Variable }[],
  values: Record<string, Float32Array>,
): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const p of params) out[p.variable.name] = tf.tensor(values[p.name], p.variable.shape, 'float32');
  return out;
}

function worstDifference(a: Float32Array, b: Float32Array, mask?: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++)
    if (mask === undefined || mask[i] > 0) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/** Largest |a - b| relative to the largest |b| of the tensor (gradients span orders of magnitude). */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  return worstDifference(a, b) / Math.max(scale, 1e-12);
}

function checkCase(c: Case, options: { repeat: boolean }) {
  let gpu: Results;
  let cpu: Results;
  beforeAll(async () => {
    cpu = await run('wasm', c);
    gpu = await run('webgpu', c, cpu.grads);
  }, 600_000);

  it('logits match the wasm backend to 1e-4', () => {
    expect(worstDifference(gpu.logits, cpu.logits)).toBeLessThan(1e-4);
  });
  it('greedy sampling through the KV cache gives the same tokens', () => {
    expect(Array.from(gpu.greedy)).toEqual(Array.from(cpu.greedy));
  });
  it('KV-cached log-probs equal the full-sequence forward to 1e-4', () => {
    expect(gpu.mask.some((m) => m > 0)).toBe(true);
    expect(worstDifference(gpu.greedyLogProbs, gpu.fullLogProbs, gpu.mask)).toBeLessThan(1e-4);
    expect(worstDifference(gpu.fullLogProbs, cpu.fullLogProbs, gpu.mask)).toBeLessThan(1e-4);
  });
  it('the GRPO loss and its gradient match', () => {
    expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu.loss)));
    expect(Object.keys(gpu.grads)).toEqual(Object.keys(cpu.grads));
    for (const name of Object.keys(cpu.grads))
      expect(relativeDifference(gpu.grads[name], cpu.grads[name]), name).toBeLessThan(1e-3);
    expect(cpu.gradNorm).toBeGreaterThan(0);
    expect(Math.abs(gpu.gradNorm - cpu.gradNorm)).toBeLessThan(1e-4 * cpu.gradNorm);
  });
  it('one AdamW step from the same gradients gives the same weights to 1e-6', () => {
    for (const name of Object.keys(cpu.updated))
      expect(worstDifference(gpu.updated[name], cpu.updated[name]), name).toBeLessThan(1e-6);
  });
  it.runIf(options.repeat)(
    'a second run on WebGPU is bit-identical',
    async () => {
      const again = await run('webgpu', c, cpu.grads);
      expect(again.logits).toEqual(gpu.logits);
      expect(again.fullLogProbs).toEqual(gpu.fullLogProbs);
      for (const name of Object.keys(gpu.grads)) expect(again.grads[name]).toEqual(gpu.grads[name]);
      for (const name of Object.keys(gpu.updated)) expect(again.updated[name]).toEqual(gpu.updated[name]);
    },
    600_000,
  );
}

describe.skipIf(SKIPPED !== '')(`WebGPU against wasm${SKIPPED}`, () => {
  afterAll(async () => {
    await selectBackend('wasm');
  });

  it('names its adapter', async () => {
    await selectBackend('webgpu');
    const adapter = webgpuAdapter();
    expect(adapter).toBeDefined();
    expect(`${adapter?.vendor}${adapter?.architecture}${adapter?.description}`).not.toBe('');
  });

  it('leaves nothing of the BLAS path active (products, fused and decode kernels)', async () => {
    await selectBackend('blas').catch(() => selectBackend('wasm'));
    await selectBackend('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
    expect(productsThroughBlas()).toBe(false);
    expect(fusedKernels()).toBe(false);
  });

  describe("grpovi's GPT", () => {
    checkCase(
      {
        name: 'gpt',
        make: () => ({
          model: Gpt.init({ vocabSize: 11, contextLength: 16, width: 16, depth: 2, heads: 2 }, 5),
          eosId: 0,
          padId: 0,
        }),
        prompts: [[1, 2, 3, 4], [5], [6, 7, 2]],
      },
      { repeat: true },
    );
  });

  describe.skipIf(PYTHON === undefined)('Hugging Face families (needs NumPy for the fixtures)', () => {
    let root = '';
    let cleanup = () => {};
    beforeAll(() => {
      ({ root, cleanup } = makeFixtures(FAMILIES));
    });
    afterAll(() => cleanup());
    for (const family of FAMILIES) {
      describe(family, () => {
        checkCase(
          {
            name: family,
            make: () => {
              const source = loadPolicyFolder(join(root, family));
              const { eosId, padId } = source.tokenizer;
              return { model: source.create({ trainable: true }), eosId, padId };
            },
            // The repeat once with a vocabulary-wide output layer (its gradient's long products); a
            // second pass for every family would double the file's time.
            prompts: [[464, 3616, 286, 1204, 318], [40]],
          },
          { repeat: family === 'gpt2-tied-f32' },
        );
      });
    }
  });
});
