import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';
import { normalizeSentence } from '../corpus.js';

/**
 * Prompt text as a policy's tokenizer expects it: word-level policies read the project's normalized
 * word tokens (lower case, punctuation split off), character-level ones the text as written.
 */
export function normalizePrompt(tokenizer: Pick<Tokenizer, 'kind'>, text: string): string {
  return tokenizer.kind === 'word' ? normalizeSentence(text) : text;
}

/** The share of the prompts' tokens the tokenizer does not know, and the most frequent unknown word or character. */
export function unknownTokenShare(
  tokenizer: Tokenizer,
  prompts: readonly string[],
): { share: number; tokens: number; example?: string } {
  let tokens = 0;
  let unknown = 0;
  const counts = new Map<string, number>();
  for (const prompt of prompts) {
    const pieces = tokenizer.kind === 'word' ? prompt.split(' ').filter((w) => w !== '') : [...prompt];
    for (const piece of pieces) {
      tokens++;
      if (tokenizer.encode(piece)[0] === tokenizer.unkId) {
        unknown++;
        counts.set(piece, (counts.get(piece) ?? 0) + 1);
      }
    }
  }
  let example: string | undefined;
  let best = 0;
  for (const [piece, n] of counts) if (n > best) [example, best] = [piece, n];
  return { share: tokens > 0 ? unknown / tokens : 0, tokens, example };
}

/** The warning `grpovi` prints when more than 5% of prompt tokens are unknown to the policy. */
export const UNKNOWN_WARNING_SHARE = 0.05;

export function unknownTokenWarning(
  tokenizer: Tokenizer,
  prompts: readonly string[],
  what: string,
): string | undefined {
  const { share, example } = unknownTokenShare(tokenizer, prompts);
  if (share <= UNKNOWN_WARNING_SHARE) return undefined;
  const unit = tokenizer.kind === 'word' ? 'words' : 'characters';
  return (
    `warning: ${(100 * share).toFixed(1)}% of the ${unit} of ${what} are unknown to the policy's ${tokenizer.vocabSize}-token vocabulary ` +
    `and read as <unk> (e.g. ${JSON.stringify(example)})`
  );
}
