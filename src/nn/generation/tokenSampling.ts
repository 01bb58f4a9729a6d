import type { Rng } from '../../util/rng.js';
import { mostLikelyTokens } from './topTokens.js';

/** How one next token is drawn from a row of probabilities. */
export interface TokenSamplingOptions {
  /** Divides the logits before the softmax; must be > 0. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all. */
  topP: number;
  /**
   * Keep only tokens at least this fraction as likely as the likeliest (HF transformers'
   * `MinPLogitsWarper`, applied after top-k and top-p as there); 0 keeps all.
   */
  minP?: number;
  /**
   * HF's repetition penalty (transformers' `RepetitionPenaltyLogitsProcessor`, CTRL): the logit of
   * every token already in the prompt or the completion is divided by it when positive and
   * multiplied by it when negative, before the temperature. 1 is none.
   */
  repetitionPenalty?: number;
}

/**
 * Applies the repetition penalty in place to `logits[offset..offset+vocab)` for the tokens in `seen`
 * (each once, however often it occurred, as HF's gather/scatter does).
 */
export function penalizeRepetitions(
  logits: Float32Array | Float64Array,
  offset: number,
  seen: Iterable<number>,
  penalty: number,
): void {
  for (const token of new Set(seen)) {
    const l = logits[offset + token];
    logits[offset + token] = l < 0 ? l * penalty : l / penalty;
  }
}

/** The softmax of `logits[offset..offset+vocab)` divided by the temperature, in double precision. */
export function softmaxRow(
  logits: ArrayLike<number>,
  offset: number,
  vocab: number,
  temperature: number,
): Float64Array {
  const out = new Float64Array(vocab);
  let max = -Infinity;
  for (let i = 0; i < vocab; i++) max = Math.max(max, logits[offset + i] / temperature);
  let total = 0;
  for (let i = 0; i < vocab; i++) {
    out[i] = Math.exp(logits[offset + i] / temperature - max);
    total += out[i];
  }
  for (let i = 0; i < vocab; i++) out[i] /= total;
  return out;
}

/**
 * Draws one token from `probs[offset..offset+vocab)`, the temperature-scaled softmax, truncated as
 * HF transformers' warpers do in this order: top-k, top-p, min-p. Returns the token and its
 * log-probability under the full distribution (before truncation),
 * which is the distribution the policy's log-probabilities are computed under during training.
 */
export function sampleToken(
  probs: ArrayLike<number>,
  offset: number,
  vocab: number,
  options: Pick<TokenSamplingOptions, 'topK' | 'topP' | 'minP'>,
  rng: Rng,
): { token: number; logProb: number } {
  const { topK, topP } = options;
  const minP = options.minP ?? 0;
  let token: number;
  if ((topK > 0 && topK < vocab) || topP < 1 || minP > 0) {
    let count = topK > 0 ? Math.min(topK, vocab) : vocab;
    // Enough of the sorted order for each warper: top-k's tokens (and their mass), else top-p's
    // prefix, and every token min-p could keep.
    let max = 0;
    if (minP > 0) for (let i = 0; i < vocab; i++) max = Math.max(max, probs[offset + i]);
    const order = mostLikelyTokens(probs, offset, vocab, count, {
      mass: count === vocab && topP < 1 ? topP : Infinity,
      floor: minP * max,
    });
    if (topP < 1) {
      // As HF's TopPLogitsWarper after TopKLogitsWarper: p is a share of the mass top-k kept.
      let target = topP;
      if (count < vocab) {
        let keptMass = 0;
        for (let r = 0; r < count; r++) keptMass += probs[offset + order[r]];
        target = topP * keptMass;
      }
      let mass = 0;
      for (let r = 0; r < count; r++) {
        mass += probs[offset + order[r]];
        if (mass >= target) {
          count = r + 1;
          break;
        }
      }
    }
    if (minP > 0) {
      // The order is by probability, so the tokens min-p keeps are a prefix (the likeliest always stays).
      const threshold = minP * probs[offset + order[0]];
      let kept = 1;
      const known = Math.min(count, order.length);
      while (kept < known && probs[offset + order[kept]] >= threshold) kept++;
      count = kept;
    }
    let kept = 0;
    for (let r = 0; r < count; r++) kept += probs[offset + order[r]];
    let u = rng.uniform() * kept;
    token = order[count - 1];
    for (let r = 0; r < count; r++) {
      u -= probs[offset + order[r]];
      if (u < 0) {
        token = order[r];
        break;
      }
    }
  } else {
    let total = 0;
    for (let i = 0; i < vocab; i++) total += probs[offset + i];
    let u = rng.uniform() * total;
    token = vocab - 1;
    for (let i = 0; i < vocab; i++) {
      u -= probs[offset + i];
      if (u < 0) {
        token = i;
        break;
      }
    }
    // Guard against rounding leaving u >= 0 at the end: take the last token with any mass.
    while (probs[offset + token] === 0 && token > 0) token--;
  }
  return { token, logProb: Math.log(probs[offset + token]) };
}
