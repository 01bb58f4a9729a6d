import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADVANTAGE_SCALES, groupAdvantages } from '../../src/grpo/advantages.js';
import {
  grpoObjective,
  IMPORTANCE_SAMPLING_LEVELS,
  LOSS_TYPES,
  type LossType,
  type ObjectiveOptions,
} from '../../src/grpo/objective.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { grpoLoss, type LossInputs } from '../../src/nn/training/grpoLoss.js';
import {
  type CompletionBatch,
  completionInput,
  completionLogProbs,
} from '../../src/nn/generation/logProbs.js';
import { Rng } from '../../src/util/rng.js';
import { PRODUCT_PATHS, TEST_BACKEND } from '../backends.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

function options(lossType: LossType, beta = 0.1): ObjectiveOptions {
  return { epsilon: 0.2, epsilonHigh: 0.28, beta, lossType, maxCompletionLength: 6 };
}

function randomMask(rng: Rng, rows: number, length: number): Float32Array {
  const mask = new Float32Array(rows * length);
  for (let b = 0; b < rows; b++) {
    const len = 1 + rng.int(length);
    for (let t = 0; t < len; t++) mask[b * length + t] = 1;
  }
  return mask;
}

describe('grpoLoss (tensors) against the plain-JS objective', () => {
  for (const lossType of LOSS_TYPES) {
    for (const scale of ADVANTAGE_SCALES) {
      it(`agrees for loss type ${lossType}, advantage scale ${scale}`, () => {
        const rng = new Rng(lossType.length * 31 + scale.length);
        const rows = 16;
        const length = 6;
        const n = rows * length;
        const logProbs = Float32Array.from({ length: n }, () => -3 * rng.uniform());
        // Old log-probs both near (ratio inside the clip range) and far (clipped).
        const oldLogProbs = logProbs.map(
          (lp) => lp + (rng.uniform() < 0.5 ? 0.05 : 0.6) * (rng.uniform() < 0.5 ? -1 : 1),
        );
        const refLogProbs = logProbs.map((lp) => lp + rng.normal() * 0.3);
        const rewards = Float64Array.from({ length: rows }, () => rng.uniform());
        const advantages = groupAdvantages(rewards, 4, { scale, eps: 1e-4 });
        const mask = randomMask(rng, rows, length);
        const expected = grpoObjective(
          { rows, length, logProbs, oldLogProbs, refLogProbs, advantages, mask },
          options(lossType),
        );
        const actual = tf.tidy(
          () =>
            grpoLoss(
              tf.tensor2d(logProbs, [rows, length]),
              {
                oldLogProbs: tf.tensor2d(oldLogProbs, [rows, length]),
                refLogProbs: tf.tensor2d(refLogProbs, [rows, length]),
                advantages: tf.tensor1d(Float32Array.from(advantages)),
                mask: tf.tensor2d(mask, [rows, length]),
              },
              options(lossType),
            ).dataSync()[0],
        );
        expect(Math.abs(actual - expected.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected.loss)));
        expect(expected.clipFraction).toBeGreaterThan(0);
      });
    }
  }
});

describe('grpoLoss (tensors) against the plain-JS objective: GSPO, delta, accumulation normalizers', () => {
  for (const lossType of LOSS_TYPES) {
    for (const level of IMPORTANCE_SAMPLING_LEVELS) {
      it(`agrees for loss type ${lossType}, importance_sampling_level ${level}, with and without delta`, () => {
        const rng = new Rng(lossType.length * 13 + level.length);
        for (const delta of [undefined, 1.3]) {
          const rows = 12;
          const length = 5;
          const n = rows * length;
          const logProbs = Float32Array.from({ length: n }, () => -3 * rng.uniform());
          const oldLogProbs = logProbs.map(
            (lp) => lp + (rng.uniform() < 0.5 ? 0.05 : 0.6) * (rng.uniform() < 0.5 ? -1 : 1),
          );
          const refLogProbs = logProbs.map((lp) => lp + rng.normal() * 0.3);
          const advantages = Float32Array.from({ length: rows }, () => rng.normal());
          const mask = randomMask(rng, rows, length);
          const normalization = { batchTokens: 3 * n, accumulationSteps: 3 };
          const opts = { ...options(lossType), importanceSamplingLevel: level, delta };
          const expected = grpoObjective(
            { rows, length, logProbs, oldLogProbs, refLogProbs, advantages, mask },
            opts,
            normalization,
          );
          const actual = tf.tidy(
            () =>
              grpoLoss(
                tf.tensor2d(logProbs, [rows, length]),
                {
                  oldLogProbs: tf.tensor2d(oldLogProbs, [rows, length]),
                  refLogProbs: tf.tensor2d(refLogProbs, [rows, length]),
                  advantages: tf.tensor1d(advantages),
                  mask: tf.tensor2d(mask, [rows, length]),
                },
                opts,
                normalization,
              ).dataSync()[0],
          );
          expect(Math.abs(actual - expected.loss)).toBeLessThan(1e-5 * Math.max(1, Math.abs(expected.loss)));
        }
      });
    }
  }
});

for (const path of PRODUCT_PATHS) {
  describe.skipIf(path.skip)(
    `gradient of the objective through a tiny GPT on the ${path.backend} product kernels${path.note}`,
    () => {
      beforeAll(async () => {
        await selectBackend(path.backend);
      });
      const config = { vocabSize: 7, contextLength: 12, width: 8, depth: 1, heads: 2 };

      for (const lossType of LOSS_TYPES) {
        it(`matches central finite differences (${lossType}${lossType === 'bnpo' ? ', GSPO sequence level' : ''})`, () => {
          const rng = new Rng(99 + lossType.length);
          const model = Gpt.init(config, 4);
          const rows = 4;
          const length = 4;
          const prompts = Array.from({ length: rows }, () =>
            Array.from({ length: 1 + rng.int(3) }, () => 2 + rng.int(5)),
          );
          const completions = Int32Array.from({ length: rows * length }, () => 1 + rng.int(6));
          const mask = randomMask(rng, rows, length);
          const batch: CompletionBatch = { prompts, completions, mask, length };
          const input = completionInput(batch, 0);
          const current = tf.tidy(() => completionLogProbs(model, batch, input).logProbs.dataSync());
          // Offsets keep every ratio well away from the clip boundaries, where the loss has kinks.
          const offsets = [-0.5, -0.05, 0.05, 0.5];
          const old = current.map((lp) => lp + offsets[rng.int(4)]);
          const ref = current.map((lp) => lp + rng.normal() * 0.2);
          const inputs: LossInputs = {
            oldLogProbs: tf.tensor2d(old, [rows, length]),
            refLogProbs: tf.tensor2d(ref, [rows, length]),
            advantages: tf.tensor1d([1.2, -0.7, 0.4, -1.5]),
            mask: tf.tensor2d(mask, [rows, length]),
          };
          const lossOf = () =>
            grpoLoss(completionLogProbs(model, batch, input).logProbs, inputs, {
              ...options(lossType, 0.5),
              epsilonHigh: 0.2,
              importanceSamplingLevel: lossType === 'bnpo' ? 'sequence' : 'token',
            });
          const vars = model.variables();
          const { grads } = tf.variableGrads(
            lossOf,
            vars.map((v) => v.variable),
          );
          const h = 2e-3;
          let compared = 0;
          for (const { variable } of vars) {
            const analytic = grads[variable.name].dataSync();
            const values = variable.dataSync().slice() as Float32Array;
            for (let trial = 0; trial < 3; trial++) {
              const i = rng.int(values.length);
              const at = (delta: number) => {
                const moved = values.slice();
                moved[i] += delta;
                variable.assign(tf.tensor(moved, variable.shape));
                return tf.tidy(() => lossOf().dataSync()[0]);
              };
              const numeric = (at(h) - at(-h)) / (2 * h);
              variable.assign(tf.tensor(values, variable.shape));
              expect(Math.abs(numeric - analytic[i])).toBeLessThan(
                3e-2 * Math.max(Math.abs(analytic[i]), Math.abs(numeric)) + 3e-4,
              );
              compared++;
            }
          }
          expect(compared).toBe(vars.length * 3);
          // The loss must actually depend on the weights (a zero gradient everywhere would pass trivially).
          const norm = Object.values(grads).reduce(
            (s, g) => s + (g.square().sum().dataSync()[0] as number),
            0,
          );
          expect(norm).toBeGreaterThan(1e-4);
          model.dispose();
        });
      }
    },
  );
}
