import * as tf from '@tensorflow/tfjs';
import type { LossNormalization, ObjectiveOptions } from '../../grpo/objective.js';

/** The non-differentiated inputs of the loss, as tensors [rows, length] (advantages [rows]). */
export interface LossInputs {
  oldLogProbs: tf.Tensor2D;
  refLogProbs?: tf.Tensor2D;
  advantages: tf.Tensor1D;
  mask: tf.Tensor2D;
}

/**
 * Token-level (or GSPO sequence-level) clipped surrogate plus beta * k3 KL, aggregated as
 * `options.lossType` and `normalization` say. Same definition as `grpoObjective` in
 * `grpo/objective.ts`, differentiable in `logProbs`.
 */
export function grpoLoss(
  logProbs: tf.Tensor2D,
  inputs: LossInputs,
  options: ObjectiveOptions,
  normalization?: LossNormalization,
): tf.Scalar {
  const rows = logProbs.shape[0];
  let logRatio: tf.Tensor = logProbs.sub(inputs.oldLogProbs);
  if (options.importanceSamplingLevel === 'sequence') {
    // GSPO: one ratio per sequence, the exponential of the mean token log-ratio.
    logRatio = logRatio
      .mul(inputs.mask)
      .sum(1, true)
      .div(tf.maximum(inputs.mask.sum(1, true), 1));
  }
  let ratio = tf.exp(logRatio);
  const advantages = inputs.advantages.reshape([rows, 1]);
  const clipped = tf.clipByValue(ratio, 1 - options.epsilon, 1 + options.epsilonHigh).mul(advantages);
  if (options.delta !== undefined) ratio = tf.minimum(ratio, options.delta);
  const unclipped = ratio.mul(advantages);
  let perToken = tf.neg(tf.minimum(unclipped, clipped));
  if (options.beta > 0) {
    if (inputs.refLogProbs === undefined) throw new Error('refLogProbs are required when beta > 0');
    const d = inputs.refLogProbs.sub(logProbs);
    perToken = perToken.add(tf.exp(d).sub(d).sub(1).mul(options.beta));
  }
  // Broadcasts a sequence-level [rows, 1] term over the tokens, as TRL's `per_token_loss * mask` does.
  const masked = perToken.mul(inputs.mask);
  const steps = normalization?.accumulationSteps ?? 1;
  const scaled = (loss: tf.Tensor) => (steps === 1 ? loss : loss.div(steps));
  if (options.lossType === 'grpo') {
    const perRow = masked.sum(1).div(tf.maximum(inputs.mask.sum(1), 1));
    return scaled(perRow.mean()) as tf.Scalar;
  }
  if (options.lossType === 'bnpo') {
    return scaled(masked.sum().div(tf.maximum(inputs.mask.sum(), 1))) as tf.Scalar;
  }
  if (options.lossType === 'dapo') {
    const divisor = normalization ? tf.scalar(Math.max(normalization.batchTokens, 1)) : inputs.mask.sum();
    return masked.sum().div(tf.maximum(divisor, 1)) as tf.Scalar;
  }
  return scaled(masked.sum().div(rows * options.maxCompletionLength)) as tf.Scalar;
}
