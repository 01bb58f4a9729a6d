import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOSS_TYPES, type ObjectiveOptions } from '../../src/grpo/objective.js';
import { type ActiveBackend, optimizerMomentsInJs, selectBackend } from '../../src/nn/backends/backend.js';
import { watchKernelPlacement } from '../../src/nn/backends/webgpu/kernelPlacement.js';
import { type CompletionBatch, completionInput } from '../../src/nn/generation/logProbs.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { AdamW } from '../../src/nn/training/optimizer.js';
import { minibatchGradients, scoreLogProbs } from '../../src/nn/training/policyUpdate.js';
import { Rng } from '../../src/util/rng.js';
import { webgpuSkipReason } from './webgpuSupport.js';

// Every loss type of the trainer, GSPO's sequence-level ratio and the delta bound, on WebGPU
// against wasm: the loss to 1e-5 and every weight's gradient to 1e-3 of the tensor's largest entry,
// on one fixed batch (sampled once on wasm). And: no kernel of a step computes on the CPU.

const SKIPPED = await webgpuSkipReason();
const CONFIG = { vocabSize: 11, contextLength: 16, width: 16, depth: 2, heads: 2 };
const NEW_TOKENS = 4;
const PROMPTS = [[1, 2, 3, 4], [5], [6, 7, 2], [3, 3]];

interface Variant {
  name: string;
  objective: ObjectiveOptions;
  /** As the trainer passes it when minibatches are accumulated (dapo's batch-wide divisor). */
  normalization?: { batchTokens: number; accumulationSteps: number };
}

const base = { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.1, maxCompletionLength: NEW_TOKENS + 2 };
const VARIANTS: Variant[] = [
  ...LOSS_TYPES.map((lossType) => ({ name: lossType, objective: { ...base, lossType } })),
  {
    name: 'dapo, two accumulated minibatches',
    objective: { ...base, lossType: 'dapo' },
    normalization: { batchTokens: 23, accumulationSteps: 2 },
  },
  {
    name: 'bnpo, two accumulated minibatches',
    objective: { ...base, lossType: 'bnpo' },
    normalization: { batchTokens: 23, accumulationSteps: 2 },
  },
  {
    name: 'GSPO (sequence-level ratio)',
    objective: { ...base, lossType: 'grpo', importanceSamplingLevel: 'sequence' },
  },
  { name: 'delta-bounded ratio, no KL', objective: { ...base, beta: 0, lossType: 'dr_grpo', delta: 1.05 } },
];

interface Fixed {
  batch: CompletionBatch;
  oldLogProbs: Float32Array;
  refLogProbs: Float32Array;
  advantages: Float32Array;
}

/** One batch for every variant: completions sampled on wasm, log-probs perturbed so ratios clip. */
async function fixedBatch(): Promise<Fixed> {
  await selectBackend('wasm');
  const model = Gpt.init(CONFIG, 5);
  try {
    const gen = generate(model, PROMPTS, { maxNewTokens: NEW_TOKENS, eosId: 0, padId: 0, rng: new Rng(4) });
    // Completions of different lengths (as if some had ended), so that the aggregations differ.
    const lengths = [NEW_TOKENS, 2, 3, 1];
    const mask = Float32Array.from(gen.mask, (m, i) =>
      i % gen.length < lengths[Math.floor(i / gen.length)] ? m : 0,
    );
    const batch = { prompts: PROMPTS, completions: gen.tokens, mask, length: gen.length };
    const current = scoreLogProbs(model, batch, completionInput(batch, 0), { temperature: 1 }).logProbs;
    const rng = new Rng(11);
    return {
      batch,
      oldLogProbs: current.map((lp) => lp + (rng.uniform() - 0.5) * 0.6),
      refLogProbs: current.map((lp) => lp + (rng.uniform() - 0.5) * 0.4),
      advantages: Float32Array.from(PROMPTS, (_, i) => (i % 2 === 0 ? 1 : -0.7) * (1 + i / 3)),
    };
  } finally {
    model.dispose();
  }
}

async function gradients(
  backend: ActiveBackend,
  fixed: Fixed,
  variant: Variant,
): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  await selectBackend(backend);
  const model = Gpt.init(CONFIG, 5);
  try {
    const { value, grads } = minibatchGradients(
      model,
      { ...fixed, input: completionInput(fixed.batch, 0) },
      variant.objective,
      { temperature: 0.9, normalization: variant.normalization },
    );
    const out: Record<string, Float32Array> = {};
    for (const p of model.variables())
      out[p.name] = grads[p.variable.name].dataSync().slice() as Float32Array;
    const loss = value.dataSync()[0];
    tf.dispose([value, ...Object.values(grads)]);
    return { loss, grads: out };
  } finally {
    model.dispose();
  }
}

function relativeDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / Math.max(scale, 1e-12);
}

describe.skipIf(SKIPPED !== '')(`WebGPU loss types against wasm${SKIPPED}`, () => {
  let fixed: Fixed;
  beforeAll(async () => {
    fixed = await fixedBatch();
  }, 120_000);
  afterAll(async () => {
    await selectBackend('wasm');
  });

  for (const variant of VARIANTS) {
    it(`${variant.name}: the loss and every gradient match`, async () => {
      const cpu = await gradients('wasm', fixed, variant);
      const gpu = await gradients('webgpu', fixed, variant);
      expect(Number.isFinite(cpu.loss) && cpu.loss !== 0).toBe(true);
      expect(Math.abs(gpu.loss - cpu.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(cpu.loss)));
      for (const name of Object.keys(cpu.grads))
        expect(relativeDifference(gpu.grads[name], cpu.grads[name]), name).toBeLessThan(1e-3);
    }, 120_000);
  }

  it('the variants give different losses (the options reach the loss)', async () => {
    const losses: number[] = [];
    for (const v of VARIANTS) losses.push((await gradients('wasm', fixed, v)).loss);
    // dapo divides by the batch's tokens, bnpo by the minibatch's: the same when the minibatch is the batch.
    const named = (name: string) => losses[VARIANTS.findIndex((v) => v.name === name)];
    expect(named('dapo')).toBe(named('bnpo'));
    expect(new Set(losses.map((l) => l.toPrecision(6))).size).toBe(VARIANTS.length - 1);
  }, 120_000);

  it('no kernel of a GRPO step (sampling, scoring, gradients, AdamW) computes on the CPU', async () => {
    await selectBackend('webgpu');
    const watch = watchKernelPlacement();
    const model = Gpt.init(CONFIG, 5);
    try {
      const gen = generate(model, PROMPTS, { maxNewTokens: NEW_TOKENS, eosId: 0, padId: 0, rng: new Rng(4) });
      const batch = { prompts: PROMPTS, completions: gen.tokens, mask: gen.mask, length: gen.length };
      const input = completionInput(batch, 0);
      const ref = scoreLogProbs(model, batch, input, { temperature: 1 }).logProbs;
      // As the trainer builds it: on webgpu the moments stay on the GPU (JS moments would read back).
      expect(optimizerMomentsInJs()).toBe(false);
      const optimizer = new AdamW(
        model.variables(),
        { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, maxGradNorm: 1 },
        optimizerMomentsInJs(),
      );
      optimizer.applyVariableGrads(
        minibatchGradients(
          model,
          { batch, input, oldLogProbs: gen.logProbs, refLogProbs: ref, advantages: fixed.advantages },
          VARIANTS[0].objective,
          { temperature: 1 },
        ),
        1e-2,
      );
      optimizer.dispose();
      expect([...watch.offGpu()]).toEqual([]);
      // The watch itself sees CPU work when TF.js forwards small ops to the CPU.
      tf.env().set('WEBGPU_CPU_FORWARD', true);
      tf.tidy(() => tf.tensor1d([1, 2, 3]).add(tf.tensor1d([4, 5, 6])));
      expect(watch.offGpu().get('Add')).toBe(1);
    } finally {
      tf.env().set('WEBGPU_CPU_FORWARD', false);
      watch.stop();
      model.dispose();
    }
  }, 120_000);
});
