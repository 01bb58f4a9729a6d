/**
 * Model inputs for a batch of token sequences: left-padded prompts followed by completions.
 * Plain typed arrays (no tensors) so the same layout serves the full forward pass and the
 * KV-cached sampler, which must agree position for position.
 */
export interface SequenceInput {
  batchSize: number;
  /** Tokens per row in this input. */
  length: number;
  /** Token ids, row-major [batchSize, length]. */
  ids: Int32Array;
  /** Position of each token within its own sequence (left padding excluded), [batchSize, length]. */
  positions: Int32Array;
  /** Additive attention bias [batchSize, queries, keys]: 0 where attending is allowed, MASKED elsewhere. */
  attentionBias: Float32Array;
  /** Number of keys the bias covers (the cache length plus `length` when decoding). */
  keyLength: number;
}

/** Bias for masked attention scores; large but finite so that softmax never sees -Infinity. */
export const MASKED = -1e9;

/** Left padding of each row, given prompts of different lengths padded to a common width. */
export interface PaddedPrompts {
  width: number;
  padCounts: Int32Array;
}

export function padPrompts(prompts: readonly (readonly number[])[]): PaddedPrompts {
  if (prompts.length === 0) throw new RangeError('a batch needs at least one prompt (0 given)');
  let width = 0;
  for (const p of prompts) width = Math.max(width, p.length);
  if (width === 0) throw new RangeError('prompts must not all be empty (longest has 0 tokens)');
  const padCounts = Int32Array.from(prompts, (p) => width - p.length);
  return { width, padCounts };
}

/**
 * The full-sequence input: each row is `[pad..., prompt..., tokens...]` where `tokens` is
 * `following[row]` (same count per row). Query i attends to keys j <= i outside the left padding;
 * a padding query attends to itself only, so every softmax row is finite.
 */
export function buildSequenceInput(
  prompts: readonly (readonly number[])[],
  following: Int32Array,
  followingLength: number,
  padId: number,
): SequenceInput {
  const { width, padCounts } = padPrompts(prompts);
  const B = prompts.length;
  const T = width + followingLength;
  const ids = new Int32Array(B * T).fill(padId);
  const positions = new Int32Array(B * T);
  const attentionBias = new Float32Array(B * T * T).fill(MASKED);
  for (let b = 0; b < B; b++) {
    const pad = padCounts[b];
    const prompt = prompts[b];
    for (let i = 0; i < prompt.length; i++) ids[b * T + pad + i] = prompt[i];
    for (let i = 0; i < followingLength; i++) ids[b * T + width + i] = following[b * followingLength + i];
    for (let i = 0; i < T; i++) {
      positions[b * T + i] = Math.max(0, i - pad);
      const row = (b * T + i) * T;
      if (i < pad) {
        attentionBias[row + i] = 0;
        continue;
      }
      for (let j = pad; j <= i; j++) attentionBias[row + j] = 0;
    }
  }
  return { batchSize: B, length: T, ids, positions, attentionBias, keyLength: T };
}

/**
 * One decoding step for the KV-cached sampler: token `step` after the prompts (0-based), with
 * `cachedKeys` keys already in the cache. Keys in the left padding stay masked.
 */
export function buildDecodeInput(
  tokens: Int32Array,
  padded: PaddedPrompts,
  promptLengths: Int32Array,
  step: number,
  cachedKeys: number,
): SequenceInput {
  const B = tokens.length;
  const keyLength = cachedKeys + 1;
  const positions = new Int32Array(B);
  const attentionBias = new Float32Array(B * keyLength);
  for (let b = 0; b < B; b++) {
    positions[b] = promptLengths[b] + step;
    for (let j = 0; j < padded.padCounts[b]; j++) attentionBias[b * keyLength + j] = MASKED;
  }
  return { batchSize: B, length: 1, ids: tokens, positions, attentionBias, keyLength };
}

/**
 * Part of an input: the rows `rows` (indices into `input`'s rows), the queries at positions
 * [from, to) of each, and the first `keys` keys of their attention bias. With `from` 0 and
 * `to` = `keys` = the prompt width it is those rows' prompts alone; with the later positions and
 * every key it is what follows them, to run after their cache.
 */
export function sliceSequenceInput(
  input: SequenceInput,
  rows: ArrayLike<number>,
  from: number,
  to: number,
  keys: number,
): SequenceInput {
  const { length: T, keyLength: S } = input;
  if (!(from >= 0 && from < to && to <= T && keys >= to && keys <= S))
    throw new RangeError(
      `queries [${from}, ${to}) with ${keys} keys do not fit an input of ${T} tokens and ${S} keys`,
    );
  const B = rows.length;
  const length = to - from;
  const ids = new Int32Array(B * length);
  const positions = new Int32Array(B * length);
  const attentionBias = new Float32Array(B * length * keys);
  for (let b = 0; b < B; b++) {
    const row = rows[b];
    ids.set(input.ids.subarray(row * T + from, row * T + to), b * length);
    positions.set(input.positions.subarray(row * T + from, row * T + to), b * length);
    for (let i = 0; i < length; i++) {
      const at = (row * T + from + i) * S;
      attentionBias.set(input.attentionBias.subarray(at, at + keys), (b * length + i) * keys);
    }
  }
  return { batchSize: B, length, ids, positions, attentionBias, keyLength: keys };
}

/**
 * What follows cached prefixes: row b's `suffixes[b]` after its prefix of `prefixLengths[b]` tokens,
 * the prefixes left-padded to `prefixWidth` in the cache. The suffixes are left-padded too, so every
 * row's last token is in the last position; a padding query attends to itself only, and a real one
 * to its own prefix and suffix tokens up to itself, at the positions the whole sequence has.
 */
export function buildSuffixInput(
  suffixes: readonly (readonly number[])[],
  prefixLengths: ArrayLike<number>,
  prefixWidth: number,
  padId: number,
): SequenceInput {
  const B = suffixes.length;
  let T = 1;
  for (const s of suffixes) T = Math.max(T, s.length);
  const S = prefixWidth + T;
  const ids = new Int32Array(B * T).fill(padId);
  const positions = new Int32Array(B * T);
  const attentionBias = new Float32Array(B * T * S).fill(MASKED);
  for (let b = 0; b < B; b++) {
    const suffix = suffixes[b];
    const pad = T - suffix.length;
    const prefixStart = prefixWidth - prefixLengths[b];
    for (let i = 0; i < T; i++) {
      const row = (b * T + i) * S;
      if (i < pad) {
        attentionBias[row + prefixWidth + i] = 0;
        continue;
      }
      ids[b * T + i] = suffix[i - pad];
      positions[b * T + i] = prefixLengths[b] + i - pad;
      for (let j = prefixStart; j < prefixWidth; j++) attentionBias[row + j] = 0;
      for (let j = pad; j <= i; j++) attentionBias[row + prefixWidth + j] = 0;
    }
  }
  return { batchSize: B, length: T, ids, positions, attentionBias, keyLength: S };
}
