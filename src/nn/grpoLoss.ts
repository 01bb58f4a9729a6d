import * as tf from '@tensorflow/tfjs';
import type { ObjectiveOptions } from '../grpo/objective.js';

/** The non-differentiated inputs of the loss, as tensors [rows, length] (advantages [rows]). */
export interface LossInputs {
  oldLogProbs: tf.Tensor2D;
  refLogProbs?: tf.Tensor2D;
  advantages: tf.Tensor1D;
  mask: tf.Tensor2D;
}

/**
 * Token-level clipped surrogate plus beta * k3 KL, aggregated as `options.lossType` says.
 * Same definition as `grpoObjective` in `grpo/objective.ts`, differentiable in `logProbs`.
 */
export function grpoLoss(logProbs: tf.Tensor2D, inputs: LossInputs, options: ObjectiveOptions): tf.Scalar {
  const rows = logProbs.shape[0];
  const ratio = tf.exp(logProbs.sub(inputs.oldLogProbs));
  const advantages = inputs.advantages.reshape([rows, 1]);
  const unclipped = ratio.mul(advantages);
  const clipped = tf.clipByValue(ratio, 1 - options.epsilon, 1 + options.epsilonHigh).mul(advantages);
  let perToken = tf.neg(tf.minimum(unclipped, clipped));
  if (options.beta > 0) {
    if (inputs.refLogProbs === undefined) throw new Error('refLogProbs are required when beta > 0');
    const d = inputs.refLogProbs.sub(logProbs);
    perToken = perToken.add(tf.exp(d).sub(d).sub(1).mul(options.beta));
  }
  const masked = perToken.mul(inputs.mask);
  if (options.lossType === 'grpo') {
    const perRow = masked.sum(1).div(tf.maximum(inputs.mask.sum(1), 1));
    return perRow.mean() as tf.Scalar;
  }
  if (options.lossType === 'token-mean') {
    return masked.sum().div(tf.maximum(inputs.mask.sum(), 1)) as tf.Scalar;
  }
  return masked.sum().div(rows * options.maxCompletionLength) as tf.Scalar;
}
