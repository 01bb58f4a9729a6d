import * as tf from '@tensorflow/tfjs';
import type { ObjectiveOptions } from '../grpo/objective.js';
import type { Gpt } from './gpt.js';
import { grpoLoss } from './grpoLoss.js';
import { readFloats } from './layers.js';
import { type CompletionBatch, completionLogProbs } from './logProbs.js';
import type { AdamW } from './optimizer.js';
import type { SequenceInput } from './sequenceBatch.js';

/** Per-token log-probabilities (and entropies) of the completions, without gradients. */
export function scoreLogProbs(
  model: Gpt,
  batch: CompletionBatch,
  input: SequenceInput,
  options: { temperature: number; entropy?: boolean },
): { logProbs: Float32Array; entropy?: Float32Array } {
  if (!options.entropy) {
    return { logProbs: readFloats(() => completionLogProbs(model, batch, input, options).logProbs) };
  }
  const both = tf.tidy(() => {
    const out = completionLogProbs(model, batch, input, options);
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
}

export interface UpdateResult {
  loss: number;
  gradNorm: number;
  /** The policy's log-probs before this update (for diagnostics). */
  logProbs: Float32Array;
  /** Entropy of each predicted distribution before this update, when asked for. */
  entropy?: Float32Array;
}

/** Computes the GRPO loss and its gradient on one minibatch and applies one AdamW update. */
export function policyGradientStep(
  model: Gpt,
  optimizer: AdamW,
  minibatch: UpdateMinibatch,
  objective: ObjectiveOptions,
  options: { temperature: number; learningRate: number; entropy?: boolean },
): UpdateResult {
  const rows = minibatch.batch.prompts.length;
  const L = minibatch.batch.length;
  const params = model.variables();
  let logProbsOut: Float32Array = new Float32Array(0);
  let entropyOut: Float32Array | undefined;
  const result = tf.tidy(() => {
    const fixed = {
      refLogProbs: minibatch.refLogProbs ? tf.tensor2d(minibatch.refLogProbs, [rows, L]) : undefined,
      advantages: tf.tensor1d(minibatch.advantages),
      mask: tf.tensor2d(minibatch.batch.mask, [rows, L]),
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
        return grpoLoss(logProbs, { ...fixed, oldLogProbs }, objective);
      },
      params.map((p) => p.variable),
    );
  });
  const { loss, gradNorm } = optimizer.applyVariableGrads(result, options.learningRate);
  return { loss, gradNorm, logProbs: logProbsOut, entropy: entropyOut };
}
