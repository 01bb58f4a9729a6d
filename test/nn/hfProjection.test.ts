import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { Rng } from '../../src/util/rng.js';
import { PRODUCT_PATHS } from '../backends.js';

/**
 * HfDecoder.logits(hidden) projects on the [vocab, width] table without a transposed copy; its
 * values and gradients must equal the plain product with the transposed table (the sampler's path,
 * `logits(hidden, outputProjection())`), tied (gpt2) and untied (llama's lm_head).
 */
const CONFIGS = [
  { model_type: 'gpt2', vocab_size: 50, n_positions: 16, n_embd: 8, n_layer: 1, n_head: 2 },
  {
    model_type: 'llama',
    vocab_size: 40,
    max_position_embeddings: 16,
    hidden_size: 8,
    intermediate_size: 12,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    tie_word_embeddings: false,
  },
];

describe('HfDecoder output projection', () => {
  for (const path of PRODUCT_PATHS) {
    for (const raw of CONFIGS) {
      it.skipIf(path.skip)(`${raw.model_type} on ${path.backend}${path.note}`, async () => {
        await selectBackend(path.backend);
        const model = HfDecoder.init(parseHfConfig(raw, 'test'), 4);
        const rng = new Rng(8);
        const prompts = [2, 5].map((n) => Array.from({ length: n }, () => rng.int(model.config.vocabSize)));
        const input = buildSequenceInput(prompts, Int32Array.from([1, 2, 3, 4]), 2, 0);
        const weights = tf.tensor2d(
          Float32Array.from({ length: 14 * model.config.vocabSize }, () => rng.normal()),
          [14, model.config.vocabSize],
        );
        const variables = model.variables().map((p) => p.variable);
        const run = (transposed: boolean) =>
          tf.variableGrads(() => {
            const { hidden } = model.forward(input);
            const logits = transposed ? model.logits(hidden, model.outputProjection()) : model.logits(hidden);
            return logits.mul(weights).sum() as tf.Scalar;
          }, variables);
        const ours = run(false);
        const plain = run(true);
        expect(ours.value.dataSync()[0]).toBeCloseTo(plain.value.dataSync()[0], 4);
        for (const v of variables) {
          const a = ours.grads[v.name].dataSync();
          const b = plain.grads[v.name].dataSync();
          let scale = 0;
          let diff = 0;
          b.forEach((x, i) => {
            scale = Math.max(scale, Math.abs(x));
            diff = Math.max(diff, Math.abs(x - a[i]));
          });
          expect(diff).toBeLessThanOrEqual(1e-5 * Math.max(scale, 1));
        }
        expect(Object.keys(ours.grads).length).toBe(variables.length);
        tf.dispose([
          ours.value,
          plain.value,
          weights,
          ...Object.values(ours.grads),
          ...Object.values(plain.grads),
        ]);
        model.dispose();
      });
    }
  }
});
