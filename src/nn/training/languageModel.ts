import * as tf from '@tensorflow/tfjs';
import type { Gpt } from '../models/gpt.js';
import { tokenLogProbs } from '../ops/layers.js';
import type { AdamW } from './optimizer.js';
import { buildSequenceInput, type SequenceInput } from '../models/sequenceBatch.js';

/** Next-token prediction over whole sequences: the input is each sequence but its last token. */
export interface LanguageModelBatch {
  input: SequenceInput;
  /** The token each input position must predict, [rows, length]. */
  targets: Int32Array;
  /** 1 where a target exists, 0 in the padding. */
  mask: Float32Array;
  tokens: number;
}

/** Builds a batch from token sequences (each at least two tokens, e.g. a sentence followed by EOS). */
export function languageModelBatch(
  sequences: readonly (readonly number[])[],
  padId: number,
): LanguageModelBatch {
  const inputs = sequences.map((s) => {
    if (s.length < 2) throw new RangeError(`a training sequence needs at least 2 tokens (${s.length})`);
    return s.slice(0, -1);
  });
  const input = buildSequenceInput(inputs, new Int32Array(0), 0, padId);
  const T = input.length;
  const targets = new Int32Array(sequences.length * T).fill(padId);
  const mask = new Float32Array(sequences.length * T);
  let tokens = 0;
  sequences.forEach((s, b) => {
    const pad = T - (s.length - 1);
    for (let i = 1; i < s.length; i++) {
      targets[b * T + pad + i - 1] = s[i];
      mask[b * T + pad + i - 1] = 1;
      tokens++;
    }
  });
  return { input, targets, mask, tokens };
}

/** Summed negative log-likelihood of the batch's targets (a scalar tensor). */
function summedNll(model: Gpt, batch: LanguageModelBatch): tf.Scalar {
  const { hidden } = model.forward(batch.input);
  const logProbs = tokenLogProbs(model.logits(hidden), batch.targets);
  return tf.neg(logProbs.mul(tf.tensor1d(batch.mask)).sum()) as tf.Scalar;
}

/** One AdamW step on the mean next-token cross-entropy; returns the batch's mean loss before the step. */
export function languageModelStep(
  model: Gpt,
  optimizer: AdamW,
  batch: LanguageModelBatch,
  learningRate: number,
): { loss: number; gradNorm: number } {
  const params = model.variables();
  const result = tf.tidy(() =>
    tf.variableGrads(
      () => summedNll(model, batch).div(Math.max(batch.tokens, 1)) as tf.Scalar,
      params.map((p) => p.variable),
    ),
  );
  return optimizer.applyVariableGrads(result, learningRate);
}

/** Total negative log-likelihood and token count of a batch, without gradients. */
export function languageModelNll(model: Gpt, batch: LanguageModelBatch): { nll: number; tokens: number } {
  const nll = tf.tidy(() => summedNll(model, batch).dataSync()[0]);
  return { nll, tokens: batch.tokens };
}
