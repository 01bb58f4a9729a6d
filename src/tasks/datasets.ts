import { CharTokenizer, type Tokenizer, WordTokenizer } from '../nn/tokenizers/tokenizer.js';
import { afinnValence } from '../rewards/sentiment.js';
import { Rng } from '../util/rng.js';
import { arithmeticLine, arithmeticProblems } from './arithmeticData.js';
import { loadSentences, splitTrainHeldOut, wordTokens } from './corpus.js';
import { PRETRAIN_CORPORA, type PretrainCorpus } from './pretrainCorpora.js';

export { PRETRAIN_CORPORA, type PretrainCorpus } from './pretrainCorpora.js';

/**
 * The data split is fixed (not the run's seed) so that the base policy, the reward model and the
 * RLHF runs all agree on which sentences are held out.
 */
export const DATA_SPLIT_SEED = 20251121;
const HELD_OUT_FRACTION = 0.1;

/** Words a prompt keeps from the start of a held-out sentence. */
export const PROMPT_WORDS = 5;

/** Characters a prompt keeps from the start of a line of the user's text (character-level models). */
const TEXT_PROMPT_CHARS = 12;

/** Operands of arithmetic problems go up to this. */
export const ARITHMETIC_MAX_OPERAND = 99;
const ARITHMETIC_OPS = ['+', '-'] as const;
const ARITHMETIC_TRAIN_PROBLEMS = 60_000;
const ARITHMETIC_HELD_OUT_PROBLEMS = 2_000;

export interface PretrainData {
  /** A shipped corpus, or `text`: the user's own files. */
  corpus: PretrainCorpus | 'text';
  kind: 'word' | 'char';
  train: string[];
  heldOut: string[];
}

const cache = new Map<PretrainCorpus, PretrainData>();

/** The train / held-out texts of a corpus (sentences, or lines like `12+7=19`). */
export function pretrainData(corpus: PretrainCorpus): PretrainData {
  const cached = cache.get(corpus);
  if (cached) return cached;
  let data: PretrainData;
  if (corpus === 'arithmetic') {
    const problems = (split: 'train' | 'heldOut', count: number) =>
      arithmeticProblems({
        count,
        maxOperand: ARITHMETIC_MAX_OPERAND,
        ops: ARITHMETIC_OPS,
        seed: DATA_SPLIT_SEED,
        split,
      }).map(arithmeticLine);
    data = {
      corpus,
      kind: 'char',
      train: problems('train', ARITHMETIC_TRAIN_PROBLEMS),
      heldOut: problems('heldOut', ARITHMETIC_HELD_OUT_PROBLEMS),
    };
  } else {
    const { train, heldOut } = splitTrainHeldOut(loadSentences(corpus), HELD_OUT_FRACTION, DATA_SPLIT_SEED);
    data = { corpus, kind: 'word', train, heldOut };
  }
  cache.set(corpus, data);
  return data;
}

/** The corpus a policy was pretrained on, as its model.json records it (`sotu` when it names none or another). */
export function policyCorpus(info: Record<string, unknown>): PretrainCorpus {
  const corpus = (info.pretrain as { corpus?: unknown } | undefined)?.corpus;
  return (PRETRAIN_CORPORA as readonly unknown[]).includes(corpus) ? (corpus as PretrainCorpus) : 'sotu';
}

/**
 * The tokenizer a corpus's policy uses. Word level: the most frequent words up to `vocabSize`, with
 * sentiment-bearing AFINN words kept when they occur at least 20 times, so the policy can say them.
 */
export function fitTokenizer(data: PretrainData, vocabSize: number): Tokenizer {
  if (data.kind === 'char')
    return CharTokenizer.fit(
      data.corpus === 'arithmetic' ? ['0123456789+-='] : [...data.train, ...data.heldOut],
    );
  const counts = new Map<string, number>();
  for (const s of data.train) for (const w of wordTokens(s)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const sentimentWords = [...counts].filter(([w, n]) => n >= 20 && afinnValence(w) !== 0).map(([w]) => w);
  return WordTokenizer.fit(data.train, { maxVocab: vocabSize, keep: sentimentWords });
}

/** The prompt made from a held-out text: the first words of a sentence, or `12+7=` of an arithmetic line. */
export function promptOf(
  data: Pick<PretrainData, 'kind'> & { corpus?: PretrainData['corpus'] },
  text: string,
): string {
  if (data.kind === 'char' && data.corpus === 'text') return [...text].slice(0, TEXT_PROMPT_CHARS).join('');
  if (data.kind === 'char') return text.slice(0, text.indexOf('=') + 1);
  return wordTokens(text).slice(0, PROMPT_WORDS).join(' ');
}

/**
 * Held-out sentences divided for the later stages: reward-model pairs, RLHF training prompts and RLHF
 * evaluation prompts (disjoint, fixed).
 */
export function heldOutStages(data: PretrainData): {
  rewardModel: string[];
  rlTrain: string[];
  rlEval: string[];
} {
  // Shuffled first: the held-out sentences keep corpus order, and each stage should see every era.
  const shuffled = Rng.derive(DATA_SPLIT_SEED, 'held-out-stages').shuffle([...data.heldOut]);
  const n = shuffled.length;
  const a = Math.floor(n * 0.5);
  const b = Math.floor(n * 0.85);
  return { rewardModel: shuffled.slice(0, a), rlTrain: shuffled.slice(a, b), rlEval: shuffled.slice(b) };
}
