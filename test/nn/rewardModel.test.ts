import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { RewardModel } from '../../src/nn/models/rewardModel.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { Rng } from '../../src/util/rng.js';
import { PRODUCT_PATHS } from '../backends.js';

const PAD = 0;

/** Left-padded sequences of 1 to `longest` tokens (never the pad id). */
function sequences(rng: Rng, rows: number, longest: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () =>
    Array.from({ length: 1 + rng.int(longest) }, () => 1 + rng.int(vocab - 1)),
  );
}

const SHAPES = [
  { vocabSize: 40, contextLength: 32, width: 24, depth: 2, heads: 3 },
  { vocabSize: 40, contextLength: 32, width: 16, depth: 1, heads: 2 },
  { vocabSize: 40, contextLength: 32, width: 32, depth: 3, heads: 4 },
];

for (const path of PRODUCT_PATHS) {
  describe.skipIf(path.skip)(
    `the last position only, on the ${path.backend} product kernels${path.note}`,
    () => {
      beforeAll(async () => {
        await selectBackend(path.backend);
      });

      // The full forward pass is the reference. On wasm the rows come out bit for bit; through BLAS,
      // sgemm rounds a product of 1 or B rows differently from one of T * B rows, in the last bits.
      const tolerance = path.backend === 'wasm' ? 0 : 1e-5;

      it('Gpt.lastHidden is the last position of every sequence in the full forward pass', () => {
        const rng = Rng.derive(4, path.backend);
        for (const [i, config] of SHAPES.entries()) {
          const model = Gpt.init(config, i + 1);
          const rows = 1 + rng.int(9);
          const input = buildSequenceInput(
            sequences(rng, rows, 12, config.vocabSize),
            new Int32Array(0),
            0,
            PAD,
          );
          const T = input.length;
          const before = tf.memory().numTensors;
          const [full, last] = tf.tidy(() => {
            const hidden = model.forward(input).hidden.reshape([rows, T, config.width]);
            return [
              hidden
                .slice([0, T - 1, 0], [rows, 1, config.width])
                .reshape([rows, config.width])
                .dataSync(),
              model.lastHidden(input).dataSync(),
            ];
          });
          expect(tf.memory().numTensors).toBe(before);
          expect(last.length).toBe(rows * config.width);
          for (let j = 0; j < full.length; j++) {
            const scale = Math.max(1, Math.abs(full[j]));
            expect(Math.abs(last[j] - full[j]) / scale).toBeLessThanOrEqual(tolerance);
          }
          model.dispose();
        }
      });

      it('RewardModel.score equals the differentiable scoreTensor, one-token sequences included', () => {
        const rng = Rng.derive(5, path.backend);
        for (const [i, config] of SHAPES.entries()) {
          const rm = RewardModel.init(config, 10 + i);
          for (const longest of [1, 15]) {
            const seqs = sequences(rng, 3 + rng.int(20), longest, config.vocabSize);
            const reference = tf.tidy(() => rm.scoreTensor(seqs, PAD).dataSync());
            const scores = rm.score(seqs, PAD);
            expect(scores.length).toBe(seqs.length);
            for (let j = 0; j < seqs.length; j++) {
              const scale = Math.max(1, Math.abs(reference[j]));
              expect(Math.abs(scores[j] - reference[j]) / scale).toBeLessThanOrEqual(tolerance);
            }
            // Batches of at most 4 rows (padded to their own longest): the same scores to float32 rounding.
            const batched = rm.score(seqs, PAD, 4);
            for (let j = 0; j < seqs.length; j++)
              expect(Math.abs(batched[j] - scores[j]) / Math.max(1, Math.abs(scores[j]))).toBeLessThan(1e-5);
          }
          rm.dispose();
        }
      });
    },
  );
}
