import {
  grpoObjective,
  type LossNormalization,
  maskTokens,
  type ObjectiveOptions,
} from '../grpo/objective.js';
import type { PolicyModel } from '../nn/models/policyModel.js';
import type { CompletionBatch } from '../nn/generation/logProbs.js';
import type { AdamW } from '../nn/training/optimizer.js';
import {
  accumulatedPolicyStep,
  policyGradientStep,
  type UpdateMinibatch,
} from '../nn/training/policyUpdate.js';
import type { SequenceInput } from '../nn/models/sequenceBatch.js';
import { Rng } from '../util/rng.js';
import { gatherBatch, gatherRowValues, maskTruncated, minibatchOrder } from './batchRows.js';
import { accumulationSteps, stepsPerGeneration, type TrainConfig } from './config.js';

/** The loss options of a config, under the objective's names. */
export function objectiveOptions(config: TrainConfig): ObjectiveOptions {
  return {
    epsilon: config.epsilon,
    epsilonHigh: config.epsilon_high ?? config.epsilon,
    beta: config.beta,
    lossType: config.loss_type,
    maxCompletionLength: config.max_completion_length,
    importanceSamplingLevel: config.importance_sampling_level,
    delta: config.delta,
  };
}

/**
 * Whether the policy moves before the update's last minibatch is scored (several passes, or more
 * than one optimizer step per generation batch): only then are the sampling policy's log-probs
 * needed, as in TRL; otherwise the current ones are exact (ratio 1).
 */
export function policyMovesDuringUpdate(config: TrainConfig): boolean {
  return config.num_iterations > 1 || accumulationSteps(config) < stepsPerGeneration(config);
}

/** A scored generation batch, ready for the update. */
export interface UpdateBatch {
  batch: CompletionBatch;
  /** The whole batch's model input (built once for scoring; reused when one minibatch covers it). */
  input: SequenceInput;
  /** Whether each completion ended with EOS. */
  finished: Uint8Array;
  /** Sampling-policy log-probs, when the policy moves before the last minibatch is scored. */
  oldLogProbs?: Float32Array;
  refLogProbs?: Float32Array;
  advantages: Float32Array;
}

/** The update's metrics: means over minibatches (kl, clip ratios) and optimizer steps (loss, grad norm). */
export interface UpdateStats {
  loss: number;
  kl: number;
  clipFraction: number;
  clipLow: number;
  clipHigh: number;
  gradNorm: number;
  /** Mean entropy over the loss's tokens, when the update computed it (no stored old log-probs). */
  entropy?: number;
  /** The mask the loss used (completions' mask, truncated rows zeroed when so configured). */
  lossMask: Float32Array;
}

/**
 * `num_iterations` passes over the generation batch as TRL's GRPOTrainer makes them: the rows are
 * shuffled with the run's seed (per step) and split into `steps_per_generation` minibatches; the
 * gradients of `gradient_accumulation_steps` of them make one optimizer step.
 */
export async function runUpdatePasses(
  model: PolicyModel,
  optimizer: AdamW,
  data: UpdateBatch,
  config: TrainConfig,
  options: { step: number; learningRate: number; padId: number; yieldToEventLoop: () => Promise<void> },
): Promise<UpdateStats> {
  const objective = objectiveOptions(config);
  const rows = data.batch.prompts.length;
  const L = data.batch.length;
  const minibatchCount = stepsPerGeneration(config);
  const accumulation = accumulationSteps(config);
  const minibatchSize = rows / minibatchCount;
  const lossMask = config.mask_truncated_completions
    ? maskTruncated(data.batch.mask, data.finished, L)
    : undefined;
  const mask = lossMask ?? data.batch.mask;
  // One minibatch keeps the loss exactly as before; several normalize against the generation batch.
  const normalization: LossNormalization | undefined =
    minibatchCount === 1 ? undefined : { batchTokens: maskTokens(mask), accumulationSteps: accumulation };
  const order = minibatchOrder(rows, minibatchCount, Rng.derive(config.seed, `minibatches/${options.step}`));
  const minibatches: (UpdateMinibatch & { mask: Float32Array })[] = [];
  for (let k = 0; k < minibatchCount; k++) {
    const indices = order.subarray(k * minibatchSize, (k + 1) * minibatchSize);
    const whole = minibatchCount === 1;
    const pick = (values: Float32Array) => (whole ? values : gatherRowValues(values, indices, L));
    const part = whole
      ? { batch: data.batch, input: data.input }
      : gatherBatch(data.batch, indices, options.padId);
    minibatches.push({
      ...part,
      oldLogProbs: data.oldLogProbs && pick(data.oldLogProbs),
      refLogProbs: data.refLogProbs && pick(data.refLogProbs),
      advantages: whole ? data.advantages : Float32Array.from(indices, (i) => data.advantages[i]),
      lossMask: lossMask && pick(lossMask),
      mask: pick(mask),
    });
  }

  const sums = { loss: 0, kl: 0, clip: 0, clipLow: 0, clipHigh: 0, gradNorm: 0, steps: 0, parts: 0 };
  let entropySum = 0;
  let entropyTokens = 0;
  const wantEntropy = data.oldLogProbs === undefined;
  for (let iteration = 0; iteration < config.num_iterations; iteration++) {
    for (let first = 0; first < minibatchCount; first += accumulation) {
      const group = minibatches.slice(first, first + accumulation);
      const entropy = wantEntropy && iteration === 0;
      const settings = { temperature: config.temperature, learningRate: options.learningRate, entropy };
      let parts: { logProbs: Float32Array; entropy?: Float32Array }[];
      if (group.length === 1) {
        const result = policyGradientStep(model, optimizer, group[0], objective, {
          ...settings,
          normalization,
        });
        parts = [result];
        sums.loss += result.loss;
        sums.gradNorm += result.gradNorm;
      } else {
        const result = accumulatedPolicyStep(model, optimizer, group, objective, {
          ...settings,
          normalization: normalization as LossNormalization,
        });
        parts = result.parts;
        sums.loss += result.loss;
        sums.gradNorm += result.gradNorm;
      }
      sums.steps++;
      parts.forEach((result, i) => {
        const mb = group[i];
        const value = grpoObjective(
          {
            rows: minibatchSize,
            length: L,
            logProbs: result.logProbs,
            oldLogProbs: mb.oldLogProbs ?? result.logProbs,
            refLogProbs: mb.refLogProbs,
            advantages: mb.advantages,
            mask: mb.mask,
          },
          objective,
          normalization,
        );
        sums.kl += value.kl;
        sums.clip += value.clipFraction;
        sums.clipLow += value.clipLow;
        sums.clipHigh += value.clipHigh;
        sums.parts++;
        if (result.entropy) {
          for (let j = 0; j < mb.mask.length; j++) entropySum += mb.mask[j] * result.entropy[j];
          entropyTokens += maskTokens(mb.mask);
        }
      });
      await options.yieldToEventLoop();
    }
  }
  return {
    loss: sums.loss / sums.steps,
    kl: sums.kl / sums.parts,
    clipFraction: sums.clip / sums.parts,
    clipLow: sums.clipLow / sums.parts,
    clipHigh: sums.clipHigh / sums.parts,
    gradNorm: sums.gradNorm / sums.steps,
    entropy: entropyTokens > 0 ? entropySum / entropyTokens : undefined,
    lossMask: mask,
  };
}
