import type { Rng } from '../util/rng.js';

/** How one next token is drawn from a row of probabilities. */
export interface TokenSamplingOptions {
  /** Divides the logits before the softmax; must be > 0. */
  temperature: number;
  /** Keep only the k most likely tokens; 0 keeps all. */
  topK: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 keeps all. */
  topP: number;
}

/**
 * Draws one token from `probs[offset..offset+vocab)`, the temperature-scaled softmax. Returns the
 * token and its log-probability under that full distribution (before top-k/top-p truncation),
 * which is the distribution the policy's log-probabilities are computed under during training.
 */
export function sampleToken(
  probs: Float32Array,
  offset: number,
  vocab: number,
  options: Pick<TokenSamplingOptions, 'topK' | 'topP'>,
  rng: Rng,
): { token: number; logProb: number } {
  const { topK, topP } = options;
  let token: number;
  if ((topK > 0 && topK < vocab) || topP < 1) {
    const order = Array.from({ length: vocab }, (_, i) => i).sort(
      (a, b) => probs[offset + b] - probs[offset + a] || a - b,
    );
    let count = topK > 0 ? Math.min(topK, vocab) : vocab;
    if (topP < 1) {
      let mass = 0;
      for (let r = 0; r < count; r++) {
        mass += probs[offset + order[r]];
        if (mass >= topP) {
          count = r + 1;
          break;
        }
      }
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
