/**
 * The most likely tokens of `probs[offset..offset+vocab)`, most likely first (ties: lower id first),
 * exactly as a full sort orders them, but only as far as top-k / top-p / min-p sampling reads: at
 * least `count` tokens, or fewer when their running mass (summed in this order) reaches `mass`
 * first; in either case every token at least `floor` likely.
 *
 * A full sort of a 50k vocabulary costs milliseconds per token; here only the tokens at or above a
 * threshold are sorted, the threshold lowered (by 64 each time) until enough are in. Every token at or
 * above the threshold precedes every token below it in the full order, so the prefix is the same.
 */
export function mostLikelyTokens(
  probs: ArrayLike<number>,
  offset: number,
  vocab: number,
  count: number,
  limits: { mass?: number; floor?: number } = {},
): number[] {
  const mass = limits.mass ?? Infinity;
  const floor = limits.floor ?? 0;
  const needed = Math.min(count, vocab);
  let max = 0;
  for (let i = 0; i < vocab; i++) if (probs[offset + i] > max) max = probs[offset + i];
  const byProbability = (a: number, b: number) => probs[offset + b] - probs[offset + a] || a - b;
  for (let threshold = max / 64; ; threshold /= 64) {
    // Below the smallest positive float the threshold is 0: every token is a candidate.
    const candidates: number[] = [];
    for (let i = 0; i < vocab; i++) if (probs[offset + i] >= threshold) candidates.push(i);
    candidates.sort(byProbability);
    if (threshold === 0) return candidates;
    if (floor > 0 && threshold > floor) continue;
    if (candidates.length >= needed) return candidates;
    let running = 0;
    for (const token of candidates) {
      running += probs[offset + token];
      if (running >= mass) return candidates;
    }
  }
}
