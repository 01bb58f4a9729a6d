import { describe, expect, it } from 'vitest';
import { sampleToken } from '../../src/nn/generation/tokenSampling.js';
import { mostLikelyTokens } from '../../src/nn/generation/topTokens.js';
import { Rng } from '../../src/util/rng.js';

const VOCAB = 50257;

/** Plain reference: sort the whole vocabulary, cut by k then p, draw by inverse CDF over the kept mass. */
function fullOrder(probs: Float32Array): number[] {
  return Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
}

function referenceSample(
  probs: Float32Array,
  order: number[],
  topK: number,
  topP: number,
  minP: number,
  u: number,
): number {
  let kept = topK > 0 ? order.slice(0, topK) : order;
  if (topP < 1) {
    // p is a share of the mass top-k kept (HF applies top-p after top-k).
    const target = topP * (topK > 0 && topK < probs.length ? kept.reduce((a, t) => a + probs[t], 0) : 1);
    let mass = 0;
    const cut: number[] = [];
    for (const t of kept) {
      cut.push(t);
      mass += probs[t];
      if (mass >= target) break;
    }
    kept = cut;
  }
  if (minP > 0) kept = kept.filter((t, r) => r === 0 || probs[t] >= minP * probs[order[0]]);
  let total = 0;
  for (const t of kept) total += probs[t];
  let rest = u * total;
  for (const t of kept) {
    rest -= probs[t];
    if (rest < 0) return t;
  }
  return kept[kept.length - 1];
}

/** softmax of seeded logits: `scale` sets how peaked; `ties` repeats values so that ties must be broken by id. */
function distribution(seed: number, scale: number, ties = false): Float32Array {
  const rng = new Rng(seed);
  const logits = Float64Array.from({ length: VOCAB }, () => rng.normal() * scale);
  if (ties) for (let i = 0; i < VOCAB; i++) logits[i] = Math.round(logits[i]);
  const max = Math.max(...logits);
  const exp = logits.map((x) => Math.exp(x - max));
  const z = exp.reduce((a, b) => a + b, 0);
  return Float32Array.from(exp, (e) => e / z);
}

describe('top-k / top-p over a 50k vocabulary', () => {
  const cases = [
    { name: 'peaked', probs: distribution(1, 6) },
    { name: 'flat', probs: distribution(2, 0.3) },
    { name: 'with ties', probs: distribution(3, 2, true) },
  ];
  const settings = [
    { topK: 1, topP: 1 },
    { topK: 50, topP: 1 },
    { topK: 0, topP: 0.9 },
    { topK: 0, topP: 0.999 },
    { topK: 40, topP: 0.5 },
    { topK: 20000, topP: 0.95 },
    { topK: 0, topP: 1, minP: 0.05 },
    { topK: 0, topP: 0.9, minP: 0.2 },
  ];

  it.each(cases)('$name: the prefix is the full sort order', ({ probs }) => {
    const full = fullOrder(probs);
    for (const count of [1, 7, 300]) {
      const prefix = mostLikelyTokens(probs, 0, VOCAB, count);
      expect(prefix.length).toBeGreaterThanOrEqual(count);
      expect(prefix).toEqual(full.slice(0, prefix.length));
    }
  });

  it.each(cases)('$name: sampleToken draws what the full-sort reference draws', ({ probs }) => {
    // Two rows in one buffer, to exercise the offset.
    const rows = new Float32Array(2 * VOCAB);
    rows.set(probs, VOCAB);
    const order = fullOrder(probs);
    for (const { topK, topP, minP = 0 } of settings) {
      const ours = new Rng(9);
      const theirs = new Rng(9);
      for (let draw = 0; draw < 8; draw++) {
        const { token, logProb } = sampleToken(rows, VOCAB, VOCAB, { topK, topP, minP }, ours);
        expect(token, `topK ${topK} topP ${topP} minP ${minP} draw ${draw}`).toBe(
          referenceSample(probs, order, topK, topP, minP, theirs.uniform()),
        );
        expect(logProb).toBeCloseTo(Math.log(probs[token]), 12);
      }
    }
  });
});
