import type { PolicyModel } from '../nn/models/policyModel.js';
import { type CompletionBatch, completionInput } from '../nn/generation/logProbs.js';
import { type Generation, generate } from '../nn/generation/sampler.js';
import type { SequenceInput } from '../nn/models/sequenceBatch.js';
import type { Tokenizer } from '../nn/tokenizers/tokenizer.js';
import type { Rng } from '../util/rng.js';

/** A group-structured batch: each prompt repeated `groupSize` times in contiguous rows. */
export interface Rollout {
  promptTexts: string[];
  completionTexts: string[];
  batch: CompletionBatch;
  generation: Generation;
  groupSize: number;
}

export interface SamplingSettings {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP?: number;
  repetitionPenalty?: number;
}

/**
 * Samples `groupSize` completions for each prompt from the policy. `encode` turns a prompt's text
 * into its ids (default `tokenizer.encode`; see promptIds.ts for conversations and truncation).
 */
export function rollout(
  policy: PolicyModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  groupSize: number,
  sampling: SamplingSettings,
  rng: Rng,
  encode: (text: string) => number[] = (text) => tokenizer.encode(text),
): Rollout {
  const promptTexts: string[] = [];
  const promptIds: number[][] = [];
  for (const text of prompts) {
    const ids = encode(text);
    for (let g = 0; g < groupSize; g++) {
      promptTexts.push(text);
      promptIds.push(ids);
    }
  }
  const generation = generate(policy, promptIds, {
    ...sampling,
    eosId: tokenizer.eosId,
    stopIds: tokenizer.stopIds,
    padId: tokenizer.padId,
    rng,
    decode: (ids) => tokenizer.decode(ids),
  });
  return {
    promptTexts,
    completionTexts: generation.texts,
    batch: {
      prompts: promptIds,
      completions: generation.tokens,
      mask: generation.mask,
      length: generation.length,
    },
    generation,
    groupSize,
  };
}

/** Rows [start, end) of a batch, with their model input. */
export function sliceBatch(
  batch: CompletionBatch,
  start: number,
  end: number,
  padId: number,
): { batch: CompletionBatch; input: SequenceInput } {
  const L = batch.length;
  const part: CompletionBatch = {
    prompts: batch.prompts.slice(start, end),
    completions: batch.completions.slice(start * L, end * L),
    mask: batch.mask.slice(start * L, end * L),
    length: L,
  };
  return { batch: part, input: completionInput(part, padId) };
}

/** Sum over each row's completion tokens, [rows]. */
export function sequenceSums(
  perToken: ArrayLike<number>,
  mask: ArrayLike<number>,
  rows: number,
  length: number,
): Float64Array {
  const out = new Float64Array(rows);
  for (let b = 0; b < rows; b++) {
    let s = 0;
    for (let t = 0; t < length; t++) s += mask[b * length + t] * perToken[b * length + t];
    out[b] = s;
  }
  return out;
}

/** Mean over all completion tokens. */
export function tokenMean(perToken: ArrayLike<number>, mask: ArrayLike<number>): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) {
    s += mask[i] * perToken[i];
    n += mask[i];
  }
  return n > 0 ? s / n : 0;
}
