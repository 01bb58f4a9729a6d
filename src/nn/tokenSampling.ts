import type { Rng } from '../util/rng.js';

/** How one next token is drawn from a row of logits. */
export interface TokenSamplingOptions {
  /** Divides the logits; must be > 0. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all. */
  topP: number;
}

/**
 * Draws one token from `logits[offset..offset+vocab)`. Returns the token and its log-probability
 * under the full temperature-scaled distribution (before top-k/top-p truncation), which is the
 * distribution the policy's log-probabilities are computed under during training.
 */
export function sampleToken(
  logits: Float32Array,
  offset: number,
  vocab: number,
  options: TokenSamplingOptions,
  rng: Rng,
  scratch: Float64Array,
): { token: number; logProb: number } {
  const { temperature, topK, topP } = options;
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const z = logits[offset + i] / temperature;
    scratch[i] = z;
    if (z > max) max = z;
  }
  let total = 0;
  for (let i = 0; i < vocab; i++) total += Math.exp(scratch[i] - max);
  const logNormalizer = max + Math.log(total);

  let keep: number[] | undefined;
  if ((topK > 0 && topK < vocab) || topP < 1) {
    const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => scratch[b] - scratch[a] || a - b);
    let count = topK > 0 ? Math.min(topK, vocab) : vocab;
    if (topP < 1) {
      let mass = 0;
      for (let r = 0; r < count; r++) {
        mass += Math.exp(scratch[order[r]] - logNormalizer);
        if (mass >= topP) {
          count = r + 1;
          break;
        }
      }
    }
    keep = order.slice(0, count);
  }

  let token: number;
  if (keep === undefined) {
    let u = rng.uniform() * total;
    token = vocab - 1;
    for (let i = 0; i < vocab; i++) {
      u -= Math.exp(scratch[i] - max);
      if (u < 0) {
        token = i;
        break;
      }
    }
  } else {
    let kept = 0;
    for (const i of keep) kept += Math.exp(scratch[i] - max);
    let u = rng.uniform() * kept;
    token = keep[keep.length - 1];
    for (const i of keep) {
      u -= Math.exp(scratch[i] - max);
      if (u < 0) {
        token = i;
        break;
      }
    }
  }
  return { token, logProb: scratch[token] - logNormalizer };
}
