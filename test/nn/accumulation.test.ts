import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { maskTokens, type LossType, type ObjectiveOptions } from '../../src/grpo/objective.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { type CompletionBatch, completionInput } from '../../src/nn/generation/logProbs.js';
import { AdamW, type AdamWOptions } from '../../src/nn/training/optimizer.js';
import {
  accumulatedPolicyStep,
  policyGradientStep,
  type UpdateMinibatch,
} from '../../src/nn/training/policyUpdate.js';
import { gatherBatch, gatherRowValues, minibatchOrder } from '../../src/train/batchRows.js';
import { Rng } from '../../src/util/rng.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

const CONFIG = { vocabSize: 9, contextLength: 14, width: 8, depth: 1, heads: 2 };
// epsilon 1 makes Adam's first step g / (|g| + 1): smooth in the gradient, so weights compare to 1e-6.
const ADAM: AdamWOptions = { beta1: 0.9, beta2: 0.99, epsilon: 1, weightDecay: 0, maxGradNorm: 0 };
const ROWS = 8;
const LENGTH = 5;

function batchOf(seed: number): { batch: CompletionBatch; advantages: Float32Array; old: Float32Array } {
  const rng = new Rng(seed);
  const prompts = Array.from({ length: ROWS }, () =>
    Array.from({ length: 1 + rng.int(3) }, () => 2 + rng.int(7)),
  );
  const completions = Int32Array.from({ length: ROWS * LENGTH }, () => 1 + rng.int(8));
  const mask = new Float32Array(ROWS * LENGTH);
  for (let b = 0; b < ROWS; b++) mask.fill(1, b * LENGTH, b * LENGTH + 1 + rng.int(LENGTH));
  const advantages = Float32Array.from({ length: ROWS }, () => rng.normal());
  const old = Float32Array.from({ length: ROWS * LENGTH }, () => -2 - rng.uniform());
  return { batch: { prompts, completions, mask, length: LENGTH }, advantages, old };
}

function weights(model: Gpt): Float32Array[] {
  return model.variables().map((v) => v.variable.dataSync() as Float32Array);
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, i) => x.forEach((v, j) => (d = Math.max(d, Math.abs(v - b[i][j])))));
  return d;
}

/** One update of a fresh model: on the whole batch, or accumulated over shuffled minibatches. */
function update(lossType: LossType, minibatches: number, options: { withOld: boolean }) {
  const { batch, advantages, old } = batchOf(3);
  const model = Gpt.init(CONFIG, 11);
  const optimizer = new AdamW(model.variables(), ADAM);
  const objective: ObjectiveOptions = {
    epsilon: 0.2,
    epsilonHigh: 0.2,
    beta: 0,
    lossType,
    maxCompletionLength: LENGTH,
  };
  const oldLogProbs = options.withOld ? old : undefined;
  const tensorsBefore = tf.memory().numTensors;
  let loss: number;
  if (minibatches === 1) {
    const input = completionInput(batch, 0);
    loss = policyGradientStep(model, optimizer, { batch, input, advantages, oldLogProbs }, objective, {
      temperature: 1,
      learningRate: 1,
    }).loss;
  } else {
    const order = minibatchOrder(ROWS, minibatches, new Rng(5));
    const size = ROWS / minibatches;
    const parts: UpdateMinibatch[] = [];
    for (let k = 0; k < minibatches; k++) {
      const indices = order.subarray(k * size, (k + 1) * size);
      parts.push({
        ...gatherBatch(batch, indices, 0),
        advantages: Float32Array.from(indices, (i) => advantages[i]),
        oldLogProbs: oldLogProbs && gatherRowValues(oldLogProbs, indices, LENGTH),
      });
    }
    loss = accumulatedPolicyStep(model, optimizer, parts, objective, {
      temperature: 1,
      learningRate: 1,
      normalization: { batchTokens: maskTokens(batch.mask), accumulationSteps: minibatches },
    }).loss;
  }
  // No tensor leaks from summing the minibatches' gradients.
  expect(tf.memory().numTensors).toBe(tensorsBefore);
  const after = weights(model);
  model.dispose();
  optimizer.dispose();
  return { loss, after };
}

describe('gradient accumulation (TRL: one optimizer step per generation batch)', () => {
  for (const lossType of ['grpo', 'dapo', 'dr_grpo'] as const) {
    for (const withOld of [false, true]) {
      it(`equals the single big step: ${lossType}, ${withOld ? 'stored old log-probs (clipped ratios)' : 'ratio 1'}`, () => {
        const whole = update(lossType, 1, { withOld });
        for (const minibatches of [2, 4]) {
          const accumulated = update(lossType, minibatches, { withOld });
          expect(Math.abs(accumulated.loss - whole.loss)).toBeLessThan(
            1e-6 * Math.max(1, Math.abs(whole.loss)),
          );
          expect(maxDiff(accumulated.after, whole.after)).toBeLessThan(1e-6);
        }
        // The update is not trivial: the weights moved.
        const initial = Gpt.init(CONFIG, 11);
        expect(maxDiff(weights(initial), whole.after)).toBeGreaterThan(0.1);
        initial.dispose();
      });
    }
  }

  it('bnpo normalizes per minibatch, so it differs from the single step (the test can tell)', () => {
    const whole = update('bnpo', 1, { withOld: true });
    const accumulated = update('bnpo', 4, { withOld: true });
    expect(Math.abs(accumulated.loss - whole.loss)).toBeGreaterThan(1e-4);
  });
});

describe('minibatch shuffling', () => {
  it('is a permutation, reproducible by seed, and different for another seed', () => {
    const a = minibatchOrder(64, 4, new Rng(1));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(minibatchOrder(64, 4, new Rng(1))).toEqual(a);
    expect(minibatchOrder(64, 4, new Rng(2))).not.toEqual(a);
    expect(a).not.toEqual(Int32Array.from({ length: 64 }, (_, i) => i));
  });

  it('leaves a single minibatch in order (the default path is unchanged)', () => {
    expect(minibatchOrder(16, 1, new Rng(1))).toEqual(Int32Array.from({ length: 16 }, (_, i) => i));
  });
});
