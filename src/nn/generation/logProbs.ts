import * as tf from '@tensorflow/tfjs';
import type { PolicyModel } from '../models/policyModel.js';
import { softmaxEntropy, softmaxStats, tokenLogProbs } from '../ops/layers.js';
import { distinctRows, expandCache } from './sharedPrefix.js';
import { buildSequenceInput, type SequenceInput, sliceSequenceInput } from '../models/sequenceBatch.js';

/** Prompts with one completion each; completions are right-padded to a common length. */
export interface CompletionBatch {
  /** Prompt token ids per row. */
  prompts: readonly (readonly number[])[];
  /** Completion tokens [rows, length], padding after each completion's end. */
  completions: Int32Array;
  /** 1 for the completion's real tokens (its EOS included), 0 for padding, [rows, length]. */
  mask: Float32Array;
  /** Tokens per completion row. */
  length: number;
}

/** The model input that predicts every completion token: the prompt, then all completion tokens but the last. */
export function completionInput(batch: CompletionBatch, padId: number): SequenceInput {
  const { prompts, completions, length } = batch;
  const rows = prompts.length;
  const shifted = new Int32Array(rows * (length - 1));
  for (let b = 0; b < rows; b++) {
    shifted.set(completions.subarray(b * length, b * length + length - 1), b * (length - 1));
  }
  return buildSequenceInput(prompts, shifted, length - 1, padId);
}

/**
 * Log-probabilities [rows, length] of the completion tokens under softmax(logits / temperature),
 * differentiable with respect to the model's variables. With `entropy`, also the entropy of each
 * predicted distribution (not differentiated; a diagnostic).
 */
export function completionLogProbs(
  model: PolicyModel,
  batch: CompletionBatch,
  input: SequenceInput,
  options: { temperature?: number; entropy?: boolean } = {},
): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D } {
  const temperature = options.temperature ?? 1;
  const rows = batch.prompts.length;
  const L = batch.length;
  const T = input.length;
  const promptWidth = T - (L - 1);
  const { hidden } = model.forward(input);
  // Only the positions that predict completion tokens go through the (vocabulary-wide) output layer.
  const predicting = hidden
    .reshape([rows, T, model.config.width])
    .slice([0, promptWidth - 1, 0], [rows, L, model.config.width])
    .reshape([rows * L, model.config.width]) as tf.Tensor2D;
  return predictedLogProbs(model, batch, predicting, temperature, options.entropy);
}

/**
 * `completionLogProbs` for inference (no gradient), computing each distinct prompt once: the
 * distinct prompts' forward pass gives their KV cache and last position's hidden state, both
 * copied to the rows that repeat them; then the completion tokens (all but the last) run as one
 * multi-token pass after that cache. Same arguments and result; without repeated prompts it is
 * `completionLogProbs`.
 */
export function sharedPromptLogProbs(
  model: PolicyModel,
  batch: CompletionBatch,
  input: SequenceInput,
  options: { temperature?: number; entropy?: boolean } = {},
): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D } {
  const shared = distinctRows(batch.prompts);
  if (shared === null) return completionLogProbs(model, batch, input, options);
  const rows = batch.prompts.length;
  const distinct = shared.representatives.length;
  const L = batch.length;
  const T = input.length;
  const width = model.config.width;
  const promptWidth = T - (L - 1);
  return tf.tidy(() => {
    // An empty cache marks the passes as cached inference (the BLAS path's decode kernels).
    const prompt = model.forward(
      sliceSequenceInput(input, shared.representatives, 0, promptWidth, promptWidth),
      [],
    );
    const lastPrompt = prompt.hidden
      .reshape([distinct, promptWidth, width])
      .slice([0, promptWidth - 1, 0], [distinct, 1, width]);
    const sourceRows = tf.tensor1d(shared.source, 'int32');
    let predicting = tf.gather(lastPrompt, sourceRows, 0); // [rows, 1, width]
    if (L > 1) {
      const cache = expandCache(prompt.present, shared.source, distinct);
      const everyRow = Int32Array.from({ length: rows }, (_, b) => b);
      const { hidden } = model.forward(sliceSequenceInput(input, everyRow, promptWidth, T, T), cache);
      predicting = tf.concat([predicting, hidden.reshape([rows, L - 1, width])], 1);
    }
    return predictedLogProbs(
      model,
      batch,
      predicting.reshape([rows * L, width]) as tf.Tensor2D,
      options.temperature ?? 1,
      options.entropy,
    );
  });
}

/** Log-probs (and entropies) of the completion tokens from the hidden states that predict them, [rows * L, width]. */
function predictedLogProbs(
  model: PolicyModel,
  batch: CompletionBatch,
  predicting: tf.Tensor2D,
  temperature: number,
  entropy: boolean | undefined,
): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D } {
  const rows = batch.prompts.length;
  const L = batch.length;
  let logits = model.logits(predicting);
  if (temperature !== 1) logits = logits.div(temperature);
  if (!entropy) {
    return { logProbs: tokenLogProbs(logits, batch.completions).reshape([rows, L]) as tf.Tensor2D };
  }
  // One softmax serves both. The entropy is a diagnostic only: it never enters the loss.
  const stats = softmaxStats(logits, batch.completions);
  const logProbs = tokenLogProbs(logits, batch.completions, stats).reshape([rows, L]) as tf.Tensor2D;
  return { logProbs, entropy: softmaxEntropy(logits, stats).reshape([rows, L]) as tf.Tensor2D };
}
