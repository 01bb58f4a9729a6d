import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../util/rng.js';
import { productsThroughBlas } from '../backends/kernelRoute.js';
import type { KvCache } from '../models/kvCache.js';
import type { PolicyModel } from '../models/policyModel.js';
import { readFloats } from '../ops/layers.js';
import { distinctRows, expandCache, expandRows, sharedPrefixEnabled } from './sharedPrefix.js';
import {
  buildDecodeInput,
  buildSequenceInput,
  padPrompts,
  type SequenceInput,
} from '../models/sequenceBatch.js';
import { penalizeRepetitions, sampleToken, softmaxRow, type TokenSamplingOptions } from './tokenSampling.js';

export interface GenerateOptions extends Partial<TokenSamplingOptions> {
  /** Most tokens to generate per prompt (the EOS token counts). */
  maxNewTokens: number;
  eosId: number;
  /** Other ids a row ends at, like EOS (end-of-turn tokens such as `<|im_end|>`). */
  stopIds?: readonly number[];
  padId: number;
  rng: Rng;
  /** Turns ids into text for `texts`; omitted, `texts` is empty. */
  decode?: (ids: ArrayLike<number>) => string;
  /**
   * Whether rows with identical prompts share one prefill (see sharedPrefix.ts); omitted, as
   * `setSharedPrefix` says (on by default).
   */
  sharedPrefix?: boolean;
}

/** Generated completions, right-padded to the longest one. */
export interface Generation {
  /** Completion tokens [rows, length]; padding after each completion's end. */
  tokens: Int32Array;
  /** 1 for generated tokens (EOS included), 0 for padding, [rows, length]. */
  mask: Float32Array;
  /** Log-probability of each generated token under the temperature-scaled policy, [rows, length]. */
  logProbs: Float32Array;
  /** Generated tokens per row. */
  lengths: Int32Array;
  /** Whether each row ended with EOS or a stop id (otherwise it hit maxNewTokens). */
  finished: Uint8Array;
  /** Tokens per row in `tokens`. */
  length: number;
  texts: string[];
}

/**
 * The temperature-scaled next-token probabilities at each row's last position, [rows, vocab]; with
 * `temperature` null, the raw logits instead.
 */
function lastProbabilities(
  model: PolicyModel,
  projection: tf.Tensor2D | undefined,
  hidden: tf.Tensor2D,
  rows: number,
  length: number,
  temperature: number | null,
): Float32Array {
  return readFloats(() => {
    const width = model.config.width;
    const last =
      length === 1
        ? hidden
        : hidden.reshape([rows, length, width]).slice([0, length - 1, 0], [rows, 1, width]);
    const logits = model.logits(last.reshape([rows, width]) as tf.Tensor2D, projection);
    if (temperature === null) return logits;
    return tf.softmax(temperature === 1 ? logits : logits.div(temperature));
  });
}

/**
 * Samples one completion per prompt with a KV cache: the prompts are run once, then each new token
 * attends to the cached keys and values. Rows stop at EOS; the batch stops when all rows have.
 * Rows with identical prompts share the prefill: each distinct prompt runs once, and its cache and
 * first-token distribution are copied to the rows that repeat it.
 */
export function generate(
  model: PolicyModel,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): Generation {
  const sampling: TokenSamplingOptions = {
    temperature: options.temperature ?? 1,
    topK: options.topK ?? 0,
    topP: options.topP ?? 1,
    minP: options.minP ?? 0,
    repetitionPenalty: options.repetitionPenalty ?? 1,
  };
  const penalty = sampling.repetitionPenalty ?? 1;
  if (!(penalty > 0)) throw new RangeError(`repetitionPenalty must be > 0 (${penalty})`);
  if (!((sampling.minP ?? 0) >= 0 && (sampling.minP ?? 0) <= 1))
    throw new RangeError(`minP must be in [0, 1] (${sampling.minP})`);
  if (!(sampling.temperature > 0)) throw new RangeError(`temperature must be > 0 (${sampling.temperature})`);
  const maxNew = options.maxNewTokens;
  if (!Number.isInteger(maxNew) || maxNew < 1)
    throw new RangeError(`maxNewTokens must be a positive integer (${maxNew})`);
  const rows = prompts.length;
  const vocab = model.config.vocabSize;
  const padded = padPrompts(prompts);
  const promptLengths = Int32Array.from(prompts, (p) => p.length);
  // A loop, not Math.max(...lengths): spreading 10^5 arguments overflows the call stack.
  let longest = 0;
  for (const length of promptLengths) longest = Math.max(longest, length);
  if (longest + maxNew > model.config.contextLength) {
    throw new RangeError(
      `prompt (${longest} tokens) plus maxNewTokens (${maxNew}) exceeds the model's context of ${model.config.contextLength}`,
    );
  }

  const tokens = new Int32Array(rows * maxNew).fill(options.padId);
  const logProbs = new Float32Array(rows * maxNew);
  const lengths = new Int32Array(rows);
  const finished = new Uint8Array(rows);

  const stops = new Set([options.eosId, ...(options.stopIds ?? [])]);
  // The distinct prompts have the same longest prompt, so the same padded width and positions.
  const shared = (options.sharedPrefix ?? sharedPrefixEnabled()) ? distinctRows(prompts) : null;
  const prefillPrompts = shared ? Array.from(shared.representatives, (r) => prompts[r]) : prompts;
  const prefill = buildSequenceInput(prefillPrompts, new Int32Array(0), 0, options.padId);
  // The weights stay fixed while sampling: on the wasm kernels, transpose the output projection once
  // for all steps. Through BLAS the table goes in as it is (sgemm's transpose flag): a transposed
  // copy would cost a 38M-element transpose per call (about 0.3 s at distilgpt2's vocabulary) and
  // its 154 MB at the peak.
  const projection = productsThroughBlas() ? undefined : model.outputProjection();
  let cache: KvCache = [];
  let steps = 0;
  /** Runs the model on `input` after the cache, replacing the cache; returns next-token probabilities. */
  const advance = (input: SequenceInput, length: number): Float32Array => {
    const inputRows = input.batchSize;
    const previous = cache;
    // The cache is passed even when empty (the prefill): a model may then treat the pass as
    // inference and write its cache in place (see Gpt.cachedAttention).
    const { hidden, present } = tf.tidy(() => model.forward(input, previous));
    cache = present;
    disposeCache(previous);
    try {
      // The penalty acts on logits, so those come back to JS; without it the softmax stays in TF.js.
      const temperature = penalty === 1 ? sampling.temperature : null;
      return lastProbabilities(model, projection, hidden, inputRows, length, temperature);
    } finally {
      hidden.dispose();
    }
  };
  // The tokens each row has seen (prompt and completion so far), for the repetition penalty.
  const seen = penalty === 1 ? [] : prompts.map((p) => new Set(p));
  /** Draws row b's next token from the model's output (probabilities, or logits under a penalty). */
  const draw = (out: Float32Array, b: number): { token: number; logProb: number } => {
    if (penalty === 1) return sampleToken(out, b * vocab, vocab, sampling, options.rng);
    const penalized = out.slice(b * vocab, (b + 1) * vocab);
    penalizeRepetitions(penalized, 0, seen[b], penalty);
    const { token } = sampleToken(
      softmaxRow(penalized, 0, vocab, sampling.temperature),
      0,
      vocab,
      sampling,
      options.rng,
    );
    seen[b].add(token);
    // The log-probability stays the policy's (temperature only), the distribution training scores.
    return { token, logProb: Math.log(softmaxRow(out, b * vocab, vocab, sampling.temperature)[token]) };
  };
  try {
    let probs = advance(prefill, prefill.length);
    if (shared) {
      const distinct = cache;
      cache = expandCache(distinct, shared.source, shared.representatives.length);
      disposeCache(distinct);
      probs = expandRows(probs, shared.source, vocab);
    }
    for (let step = 0; step < maxNew; step++) {
      const next = new Int32Array(rows).fill(options.padId);
      for (let b = 0; b < rows; b++) {
        if (finished[b]) continue;
        const { token, logProb } = draw(probs, b);
        tokens[b * maxNew + step] = token;
        logProbs[b * maxNew + step] = logProb;
        lengths[b] = step + 1;
        next[b] = token;
        if (stops.has(token)) finished[b] = 1;
      }
      steps = step + 1;
      if (finished.every((f) => f === 1) || step === maxNew - 1) break;
      probs = advance(buildDecodeInput(next, padded, promptLengths, step, padded.width + step), 1);
    }
  } finally {
    disposeCache(cache);
    projection?.dispose();
  }

  const length = Math.max(1, steps);
  const trimmed = new Int32Array(rows * length);
  const mask = new Float32Array(rows * length);
  const trimmedLogProbs = new Float32Array(rows * length);
  for (let b = 0; b < rows; b++) {
    for (let i = 0; i < length; i++) {
      trimmed[b * length + i] = tokens[b * maxNew + i];
      trimmedLogProbs[b * length + i] = logProbs[b * maxNew + i];
      mask[b * length + i] = i < lengths[b] ? 1 : 0;
    }
  }
  const texts: string[] = [];
  if (options.decode) {
    for (let b = 0; b < rows; b++)
      texts.push(options.decode(trimmed.subarray(b * length, b * length + lengths[b])));
  }
  return { tokens: trimmed, mask, logProbs: trimmedLogProbs, lengths, finished, length, texts };
}

function disposeCache(cache: KvCache): void {
  for (const { k, v } of cache) {
    k.dispose();
    v.dispose();
  }
}
