import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';

/**
 * Why two tokenizers differ (kind, size, or the first differing entry), or undefined when they are
 * the same. A reward model reads the policy's completions token for token, so the two must agree.
 */
export function vocabularyDifference(a: Tokenizer, b: Tokenizer): string | undefined {
  if (a.kind !== b.kind) return `a ${a.kind}-level vocabulary against a ${b.kind}-level one`;
  const va = a.toJSON().vocab;
  const vb = b.toJSON().vocab;
  const n = Math.min(va.length, vb.length);
  for (let id = 0; id < n; id++) {
    if (va[id] !== vb[id])
      return `token ${id} is ${JSON.stringify(va[id])} in one and ${JSON.stringify(vb[id])} in the other`;
  }
  if (va.length !== vb.length) return `${va.length} tokens against ${vb.length}`;
  return undefined;
}
