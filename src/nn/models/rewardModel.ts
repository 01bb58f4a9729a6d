import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/rng.js';
import { CheckpointError } from '../weights/checkpointError.js';
import { Gpt } from './gpt.js';
import type { GptConfig } from './gptConfig.js';
import { linear, readFloats } from '../ops/layers.js';
import type { AdamW, TrainableParam } from '../training/optimizer.js';
import type { NamedTensor } from '../weights/safetensors.js';
import { buildSequenceInput, buildSuffixInput } from './sequenceBatch.js';
import { distinctRows, expandCache, sharedPrefixEnabled } from '../generation/sharedPrefix.js';

const HEAD_WEIGHT = 'score.weight';
const HEAD_BIAS = 'score.bias';

/**
 * A Bradley-Terry reward model: a GPT body reads prompt and completion, and a linear head maps the
 * last token's hidden state to a scalar score. P(a preferred to b) = sigmoid(score(a) - score(b)).
 */
export class RewardModel {
  readonly body: Gpt;
  private readonly weight: tf.Tensor;
  private readonly bias: tf.Tensor;

  private constructor(body: Gpt, weight: tf.Tensor, bias: tf.Tensor) {
    this.body = body;
    this.weight = weight;
    this.bias = bias;
  }

  get config(): GptConfig {
    return this.body.config;
  }

  /** A new reward model; the body starts from `body` weights when given (e.g. the base policy). */
  static init(config: GptConfig, seed: number, body?: Record<string, NamedTensor>): RewardModel {
    const gpt = body
      ? Gpt.fromTensors(config, body, { trainable: true, source: 'reward model body' })
      : Gpt.init(config, seed);
    const rng = Rng.derive(seed, 'reward-head');
    const w = Float32Array.from({ length: config.width }, () => rng.normal() * 0.02);
    return new RewardModel(gpt, tf.variable(tf.tensor2d(w, [config.width, 1])), tf.variable(tf.zeros([1])));
  }

  /** From saved tensors (body names as in Gpt, plus `score.weight` and `score.bias`). */
  static fromTensors(
    config: GptConfig,
    tensors: Record<string, NamedTensor>,
    source: string,
    trainable = false,
  ): RewardModel {
    const body = Gpt.fromTensors(config, tensors, { trainable, source });
    const head = (name: string, shape: number[]) => {
      const t = tensors[name];
      if (t === undefined) throw new CheckpointError(source, `tensor "${name}" is missing`);
      if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) {
        throw new CheckpointError(
          source,
          `tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
        );
      }
      const value = tf.tensor(Float32Array.from(t.data), shape, 'float32');
      if (!trainable) return value;
      const v = tf.variable(value);
      value.dispose();
      return v;
    };
    return new RewardModel(body, head(HEAD_WEIGHT, [config.width, 1]), head(HEAD_BIAS, [1]));
  }

  toTensors(): Record<string, NamedTensor> {
    return {
      ...this.body.toTensors(),
      [HEAD_WEIGHT]: {
        dtype: 'F32',
        shape: [this.config.width, 1],
        data: this.weight.dataSync() as Float32Array,
      },
      [HEAD_BIAS]: { dtype: 'F32', shape: [1], data: this.bias.dataSync() as Float32Array },
    };
  }

  variables(): TrainableParam[] {
    const head = [
      { name: HEAD_WEIGHT, variable: this.weight, decay: true },
      { name: HEAD_BIAS, variable: this.bias, decay: false },
    ];
    for (const h of head)
      if (!(h.variable instanceof tf.Variable)) throw new Error('the reward model is not trainable');
    return [...this.body.variables(), ...(head as TrainableParam[])];
  }

  /** Scores [rows] of token sequences (prompt then completion), differentiable. */
  scoreTensor(sequences: readonly (readonly number[])[], padId: number): tf.Tensor1D {
    const input = buildSequenceInput(sequences, new Int32Array(0), 0, padId);
    const { hidden } = this.body.forward(input);
    const rows = sequences.length;
    // Sequences are left-padded, so every row's last token sits in the last position.
    const last = hidden
      .reshape([rows, input.length, this.config.width])
      .slice([0, input.length - 1, 0], [rows, 1, this.config.width])
      .reshape([rows, this.config.width]);
    return linear(last, this.weight, this.bias).reshape([rows]) as tf.Tensor1D;
  }

  /**
   * The same scores as `scoreTensor`, through the body's last position only (`Gpt.lastHidden`):
   * its last block skips the other positions' queries, MLP and projections.
   */
  lastPositionScores(sequences: readonly (readonly number[])[], padId: number): tf.Tensor1D {
    const input = buildSequenceInput(sequences, new Int32Array(0), 0, padId);
    const last = this.body.lastHidden(input);
    return linear(last, this.weight, this.bias).reshape([sequences.length]) as tf.Tensor1D;
  }

  /**
   * `lastPositionScores` (no gradient) of sequences whose first `prefixLengths[b]` tokens are a
   * prompt: rows with identical prompts share one pass over it (its KV cache copied to each), then
   * the rest of every row runs after that cache; a row with nothing after its prompt reads the
   * prompt's last position. Without repeated prompts (or with an empty one), `lastPositionScores`.
   */
  sharedPrefixScores(
    sequences: readonly (readonly number[])[],
    prefixLengths: ArrayLike<number>,
    padId: number,
  ): tf.Tensor1D {
    const rows = sequences.length;
    const prefixes = sequences.map((sequence, b) => {
      const n = prefixLengths[b];
      if (!(Number.isInteger(n) && n >= 0 && n <= sequence.length))
        throw new RangeError(`prefix length of row ${b} (${n}) is not in [0, ${sequence.length}]`);
      return sequence.slice(0, n);
    });
    const shared = prefixes.some((p) => p.length === 0) ? null : distinctRows(prefixes);
    if (shared === null) return this.lastPositionScores(sequences, padId);
    const distinct = shared.representatives.length;
    const width = this.config.width;
    return tf.tidy(() => {
      const prefill = buildSequenceInput(
        Array.from(shared.representatives, (r) => prefixes[r]),
        new Int32Array(0),
        0,
        padId,
      );
      const promptWidth = prefill.length;
      // An empty cache marks the pass as cached inference (the BLAS path's decode kernels).
      const prompt = this.body.forward(prefill, []);
      const lastPrompt = prompt.hidden
        .reshape([distinct, promptWidth, width])
        .slice([0, promptWidth - 1, 0], [distinct, 1, width])
        .reshape([distinct, width]);
      let last = tf.gather(lastPrompt, tf.tensor1d(shared.source, 'int32'), 0);
      const suffixes = sequences.map((sequence, b) => sequence.slice(prefixLengths[b]));
      if (suffixes.some((s) => s.length > 0)) {
        const cache = expandCache(prompt.present, shared.source, distinct);
        const input = buildSuffixInput(suffixes, prefixLengths, promptWidth, padId);
        const after = this.body.lastHidden(input, cache);
        const pick = Int32Array.from(suffixes, (s, b) => (s.length > 0 ? rows + b : b));
        last = tf.gather(tf.concat([last, after], 0), tf.tensor1d(pick, 'int32'), 0);
      }
      return linear(last, this.weight, this.bias).reshape([rows]) as tf.Tensor1D;
    });
  }

  /**
   * Scores without gradients, in batches of at most `batchSize`. With `prefixLengths` (each row's
   * prompt tokens), repeated prompts are computed once (`sharedPrefixScores`) unless
   * `setSharedPrefix(false)`, when that saves at least a third of the tokens: below, the second pass
   * costs about what it saves (bench:train's reward phase at the sentiment shape, ~22% saved).
   */
  score(
    sequences: readonly (readonly number[])[],
    padId: number,
    batchSize = 256,
    prefixLengths?: ArrayLike<number>,
  ): Float32Array {
    if (prefixLengths === undefined || !sharedPrefixEnabled()) {
      return scoreInBatches(
        { scoreTensor: (part, pad) => this.lastPositionScores(part, pad) },
        sequences,
        padId,
        batchSize,
      );
    }
    const lengths = Array.from(prefixLengths);
    const out = new Float32Array(sequences.length);
    for (let start = 0; start < sequences.length; start += batchSize) {
      const end = start + batchSize;
      const part = sequences.slice(start, end);
      const partLengths = lengths.slice(start, end);
      out.set(
        readFloats(() =>
          sharingPays(part, partLengths)
            ? this.sharedPrefixScores(part, partLengths, padId)
            : this.lastPositionScores(part, padId),
        ),
        start,
      );
    }
    return out;
  }

  dispose(): void {
    this.body.dispose();
    this.weight.dispose();
    this.bias.dispose();
  }
}

/**
 * Whether computing each distinct prompt once saves at least a third of the tokens a reward model
 * reads (prompts `prefixLengths[b]` tokens long at the start of each sequence).
 */
export function sharingPays(
  sequences: readonly (readonly number[])[],
  prefixLengths: readonly number[],
): boolean {
  const shared = distinctRows(sequences.map((s, b) => s.slice(0, prefixLengths[b])));
  if (shared === null) return false;
  let total = 0;
  let prompts = 0;
  for (let b = 0; b < sequences.length; b++) {
    total += sequences[b].length;
    prompts += prefixLengths[b];
  }
  let distinct = 0;
  for (const r of shared.representatives) distinct += prefixLengths[r];
  return 3 * (prompts - distinct) >= total;
}

/** What a Bradley-Terry step trains: grpovi's RewardModel or a Hugging Face one (HfBradleyTerryModel). */
export interface BradleyTerryModel {
  /** Scores [rows] of token sequences, differentiable. */
  scoreTensor(sequences: readonly (readonly number[])[], padId: number): tf.Tensor1D;
  variables(): TrainableParam[];
}

/** A Bradley-Terry model's scores without gradients, in batches of at most `batchSize` rows. */
export function scoreInBatches(
  model: Pick<BradleyTerryModel, 'scoreTensor'>,
  sequences: readonly (readonly number[])[],
  padId: number,
  batchSize: number,
): Float32Array {
  const out = new Float32Array(sequences.length);
  for (let start = 0; start < sequences.length; start += batchSize) {
    const part = sequences.slice(start, start + batchSize);
    out.set(
      readFloats(() => model.scoreTensor(part, padId)),
      start,
    );
  }
  return out;
}

/**
 * One AdamW step on the Bradley-Terry loss -log sigmoid(score(chosen) - score(rejected)), averaged
 * over pairs. Returns the loss and the fraction of pairs already ranked right.
 */
export function bradleyTerryStep(
  model: BradleyTerryModel,
  optimizer: AdamW,
  chosen: readonly (readonly number[])[],
  rejected: readonly (readonly number[])[],
  padId: number,
  learningRate: number,
): { loss: number; accuracy: number; gradNorm: number } {
  const params = model.variables();
  let margins: Float32Array = new Float32Array(0);
  const result = tf.tidy(() =>
    tf.variableGrads(
      () => {
        // One forward pass over both halves keeps the matmuls large.
        const scores = model.scoreTensor([...chosen, ...rejected], padId);
        const [a, b] = tf.split(scores, 2);
        const margin = a.sub(b);
        margins = margin.dataSync() as Float32Array;
        // softplus(-m) = -log sigmoid(m); TF.js's logSigmoid gradient reads a tensor its scope has disposed.
        return tf.softplus(tf.neg(margin)).mean() as tf.Scalar;
      },
      params.map((p) => p.variable),
    ),
  );
  const { loss, gradNorm } = optimizer.applyVariableGrads(result, learningRate);
  let right = 0;
  for (const m of margins) if (m > 0) right++;
  return { loss, accuracy: right / margins.length, gradNorm };
}
