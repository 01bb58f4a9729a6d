import * as tf from '@tensorflow/tfjs';
import type { LossNormalization, ObjectiveOptions } from '../../grpo/objective.js';
import type { PolicyModel } from '../models/policyModel.js';
import { grpoLoss } from './grpoLoss.js';
import { readFloats } from '../ops/layers.js';
import { type CompletionBatch, completionLogProbs, sharedPromptLogProbs } from '../generation/logProbs.js';
import type { AdamW } from './optimizer.js';
import type { SequenceInput } from '../models/sequenceBatch.js';
import { sharedPrefixEnabled } from '../generation/sharedPrefix.js';

/**
 * Per-token log-probabilities (and entropies) of the completions, without gradients (the reference
 * model's and the old policy's). Repeated prompts are computed once (`sharedPromptLogProbs`)
 * unless `setSharedPrefix(false)` or `sharedPrefix: false` says otherwise.
 */
export function scoreLogProbs(
  model: PolicyModel,
  batch: CompletionBatch,
  input: SequenceInput,
  options: { temperature: number; entropy?: boolean; sharedPrefix?: boolean },
): { logProbs: Float32Array; entropy?: Float32Array } {
  const score = (options.sharedPrefix ?? sharedPrefixEnabled()) ? sharedPromptLogProbs : completionLogProbs;
  if (!options.entropy) {
    return { logProbs: readFloats(() => score(model, batch, input, options).logProbs) };
  }
  const both = tf.tidy(() => {
    const out = score(model, batch, input, options);
    return tf.stack([out.logProbs, out.entropy as tf.Tensor2D]);
  });
  try {
    const data = both.dataSync() as Float32Array;
    const half = data.length / 2;
    return { logProbs: data.slice(0, half), entropy: data.slice(half) };
  } finally {
    both.dispose();
  }
}

/** One minibatch of the policy update: completions, their model input, and the loss's fixed inputs. */
export interface UpdateMinibatch {
  batch: CompletionBatch;
  input: SequenceInput;
  /** Sampling-policy log-probs; when absent the current ones are used (ratio exactly 1), as at the first pass. */
  oldLogProbs?: Float32Array;
  refLogProbs?: Float32Array;
  advantages: Float32Array;
  /** The mask the loss uses when it differs from the completions' (mask_truncated_completions). */
  lossMask?: Float32Array;
}

export interface UpdateResult {
  loss: number;
  gradNorm: number;
  /** The policy's log-probs before this update (for diagnostics). */
  logProbs: Float32Array;
  /** Entropy of each predicted distribution before this update, when asked for. */
  entropy?: Float32Array;
}

/** The loss of one minibatch, its gradients by variable name, and the log-probs it was computed at. */
export interface MinibatchGradients {
  value: tf.Scalar;
  grads: tf.NamedTensorMap;
  logProbs: Float32Array;
  entropy?: Float32Array;
}

/** The GRPO loss of one minibatch and its gradient in the policy's weights, not applied. */
export function minibatchGradients(
  model: PolicyModel,
  minibatch: UpdateMinibatch,
  objective: ObjectiveOptions,
  options: { temperature: number; entropy?: boolean; normalization?: LossNormalization },
): MinibatchGradients {
  const rows = minibatch.batch.prompts.length;
  const L = minibatch.batch.length;
  const params = model.variables();
  let logProbsOut: Float32Array = new Float32Array(0);
  let entropyOut: Float32Array | undefined;
  const result = tf.tidy(() => {
    const fixed = {
      refLogProbs: minibatch.refLogProbs ? tf.tensor2d(minibatch.refLogProbs, [rows, L]) : undefined,
      advantages: tf.tensor1d(minibatch.advantages),
      mask: tf.tensor2d(minibatch.lossMask ?? minibatch.batch.mask, [rows, L]),
    };
    return tf.variableGrads(
      () => {
        const { logProbs, entropy } = completionLogProbs(model, minibatch.batch, minibatch.input, {
          temperature: options.temperature,
          entropy: options.entropy,
        });
        logProbsOut = logProbs.dataSync() as Float32Array;
        entropyOut = entropy?.dataSync() as Float32Array | undefined;
        // Without stored old log-probs, use the current values as constants: ratio 1, gradient of the ratio intact.
        const oldLogProbs = tf.tensor2d(minibatch.oldLogProbs ?? logProbsOut, [rows, L]);
        return grpoLoss(logProbs, { ...fixed, oldLogProbs }, objective, options.normalization);
      },
      params.map((p) => p.variable),
    );
  });
  return { ...result, logProbs: logProbsOut, entropy: entropyOut };
}

/** Computes the GRPO loss and its gradient on one minibatch and applies one AdamW update. */
export function policyGradientStep(
  model: PolicyModel,
  optimizer: AdamW,
  minibatch: UpdateMinibatch,
  objective: ObjectiveOptions,
  options: {
    temperature: number;
    learningRate: number;
    entropy?: boolean;
    normalization?: LossNormalization;
  },
): UpdateResult {
  const { value, grads, logProbs, entropy } = minibatchGradients(model, minibatch, objective, options);
  const { loss, gradNorm } = optimizer.applyVariableGrads({ value, grads }, options.learningRate);
  return { loss, gradNorm, logProbs, entropy };
}

/** One minibatch's share of an accumulated step: what it was computed at. */
export interface AccumulatedPart {
  loss: number;
  logProbs: Float32Array;
  entropy?: Float32Array;
}

/**
 * Gradient accumulation (TRL's `gradient_accumulation_steps`): the gradients of several minibatches,
 * each loss already scaled by `normalization`, summed into one AdamW update. The summed loss is the
 * loss of the optimizer step.
 */
export function accumulatedPolicyStep(
  model: PolicyModel,
  optimizer: AdamW,
  minibatches: readonly UpdateMinibatch[],
  objective: ObjectiveOptions,
  options: {
    temperature: number;
    learningRate: number;
    normalization: LossNormalization;
    /** Whether to return each minibatch's entropies. */
    entropy?: boolean;
  },
): { loss: number; gradNorm: number; parts: AccumulatedPart[] } {
  if (minibatches.length === 0) throw new RangeError('an accumulated step needs at least one minibatch');
  const parts: AccumulatedPart[] = [];
  let sum: tf.NamedTensorMap | undefined;
  try {
    for (const minibatch of minibatches) {
      const { value, grads, logProbs, entropy } = minibatchGradients(model, minibatch, objective, {
        temperature: options.temperature,
        entropy: options.entropy,
        normalization: options.normalization,
      });
      const loss = value.dataSync()[0];
      value.dispose();
      parts.push({ loss, logProbs, entropy });
      if (sum === undefined) {
        sum = grads;
        continue;
      }
      for (const [name, grad] of Object.entries(grads)) {
        const previous = sum[name];
        sum[name] = previous.add(grad);
        previous.dispose();
        grad.dispose();
      }
    }
    const total = parts.reduce((s, p) => s + p.loss, 0);
    const grads = sum as tf.NamedTensorMap;
    sum = undefined;
    const { gradNorm } = optimizer.applyVariableGrads(
      { value: tf.scalar(total), grads },
      options.learningRate,
    );
    return { loss: total, gradNorm, parts };
  } finally {
    if (sum !== undefined) for (const g of Object.values(sum)) g.dispose();
  }
}
