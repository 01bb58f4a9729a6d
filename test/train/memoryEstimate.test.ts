import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { countParams } from '../../src/nn/models/gptConfig.js';
import { completionInput } from '../../src/nn/generation/logProbs.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { AdamW } from '../../src/nn/training/optimizer.js';
import { minibatchGradients, scoreLogProbs } from '../../src/nn/training/policyUpdate.js';
import { estimateMemory, type TrainingSize } from '../../src/train/limits.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

const hf = (raw: Record<string, unknown>) => () => HfDecoder.init(parseHfConfig(raw, 'test'), 1);
const MODELS: [string, () => PolicyModel, number][] = [
  [
    'HF gpt2',
    hf({ model_type: 'gpt2', vocab_size: 2000, n_positions: 128, n_embd: 64, n_layer: 2, n_head: 4 }),
    4,
  ],
  [
    'HF llama (GQA, tied)',
    hf({
      model_type: 'llama',
      vocab_size: 1500,
      max_position_embeddings: 128,
      hidden_size: 48,
      intermediate_size: 128,
      num_hidden_layers: 3,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      tie_word_embeddings: true,
    }),
    4,
  ],
  [
    'grpovi GPT',
    () => Gpt.init({ vocabSize: 1200, contextLength: 128, width: 64, depth: 2, heads: 4 }, 1),
    4,
  ],
];

/**
 * The peak of the backend's tensor bytes (tf.profile) over one training step's tensor work:
 * reference scoring (when the run keeps a reference), the update's gradients and the AdamW step.
 */
async function measuredPeak(
  make: () => PolicyModel,
  rows: number,
  promptTokens: number,
  completionTokens: number,
  withReference: boolean,
): Promise<{ peak: number; parameters: number; model: PolicyModel }> {
  const start = tf.memory().numBytes;
  let peak = 0;
  const model = make();
  const reference = withReference ? model.copy() : undefined;
  const vocab = model.config.vocabSize;
  const rng = new Rng(3);
  const prompts = Array.from({ length: rows }, () =>
    Array.from({ length: promptTokens }, () => rng.int(vocab)),
  );
  const completions = Int32Array.from({ length: rows * completionTokens }, () => rng.int(vocab));
  const batch = {
    prompts,
    completions,
    mask: new Float32Array(rows * completionTokens).fill(1),
    length: completionTokens,
  };
  const input = completionInput(batch, 0);
  const optimizer = new AdamW(model.variables(), {
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
  });
  const info = await tf.profile(() => {
    const ref = reference ? scoreLogProbs(reference, batch, input, { temperature: 1 }).logProbs : undefined;
    const grads = minibatchGradients(
      model,
      { batch, input, refLogProbs: ref, advantages: Float32Array.from({ length: rows }, (_, i) => i - 1) },
      {
        epsilon: 0.2,
        epsilonHigh: 0.2,
        beta: ref ? 0.04 : 0,
        lossType: 'grpo',
        maxCompletionLength: completionTokens,
      },
      { temperature: 1 },
    );
    optimizer.applyVariableGrads(grads, 1e-3);
    return [] as tf.Tensor[];
  });
  peak = info.peakBytes - start;
  reference?.dispose();
  optimizer.dispose();
  return { peak, parameters: countParams(model.specs), model };
}

describe('the training memory estimate against tf.memory measurements', () => {
  const sizes: [number, number, number, boolean][] = [
    [4, 6, 6, false],
    [8, 12, 12, true],
    [16, 8, 24, false],
  ];
  for (const [name, make, heads] of MODELS) {
    for (const [rows, promptTokens, completionTokens, withReference] of sizes) {
      it(`${name}: ${rows} rows of ${promptTokens} + ${completionTokens} tokens${withReference ? ', with a reference' : ''}`, async () => {
        const { peak, parameters, model } = await measuredPeak(
          make,
          rows,
          promptTokens,
          completionTokens,
          withReference,
        );
        const config = model.config as PolicyModel['config'] & { depth: number };
        const size: TrainingSize = {
          prompts_per_step: rows / 2,
          num_generations: 2,
          max_completion_length: completionTokens,
          eval_prompts: 1,
          backend: 'wasm',
          beta: withReference ? 0.04 : 0,
        };
        const estimate = estimateMemory(
          { ...config, depth: config.depth, heads, parameters },
          size,
          promptTokens,
        );
        model.dispose();
        // Never below what was measured, and not so far above that it refuses runs that fit.
        expect(estimate.tensorBytes).toBeGreaterThanOrEqual(peak);
        expect(estimate.tensorBytes).toBeLessThan(3 * peak);
        expect(estimate.optimizerMoments).toBe(8 * parameters);
      });
    }
  }
});
