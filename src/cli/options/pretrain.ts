import type { BackendName } from '../../nn/backends/backendNames.js';
import type { PretrainCorpus } from '../../tasks/pretrainCorpora.js';
import type { PretrainConfig } from '../../train/pretrain.js';

/** Defaults per corpus: a word-level English model, or a small character-level arithmetic model. */
export type CorpusDefaults = Omit<PretrainConfig, 'corpus' | 'seed' | 'backend' | 'text' | 'tokenizer'>;

/** A word-level GPT of width 96 and 3 blocks over a 3000-word vocabulary. */
const ENGLISH: CorpusDefaults = {
  steps: 2400,
  batchSize: 32,
  learningRate: 2e-3,
  warmupSteps: 100,
  weightDecay: 0.1,
  width: 96,
  depth: 3,
  heads: 4,
  contextLength: 48,
  vocabSize: 3000,
  evalEvery: 200,
  evalTexts: 1000,
};

export const PRETRAIN_DEFAULTS: Record<PretrainCorpus, CorpusDefaults> = {
  sotu: ENGLISH,
  // A ninth of the text: fewer steps before it would start to overfit.
  'moby-dick': { ...ENGLISH, steps: 1200, evalTexts: 500 },
  arithmetic: {
    steps: 1500,
    batchSize: 64,
    learningRate: 2e-3,
    warmupSteps: 100,
    weightDecay: 0.1,
    width: 64,
    depth: 2,
    heads: 4,
    contextLength: 16,
    vocabSize: 0,
    evalEvery: 250,
    evalTexts: 500,
  },
};

/** Defaults for the user's own text (`--text`): the English shape, fewer steps (the text is usually small). */
export const TEXT_DEFAULTS: Record<'word' | 'char', CorpusDefaults> = {
  word: { ...ENGLISH, steps: 1000, evalEvery: 100, evalTexts: 1000 },
  char: { ...ENGLISH, steps: 1000, evalEvery: 100, evalTexts: 1000, contextLength: 128, vocabSize: 0 },
};

/** The options of `grpovi pretrain` as commander hands them to the action. */
export interface PretrainFlags {
  corpus?: PretrainCorpus;
  text?: string[];
  tokenizer: 'word' | 'char';
  out: string;
  seed: number;
  backend: BackendName;
  force?: boolean;
  steps?: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  weightDecay?: number;
  width?: number;
  depth?: number;
  heads?: number;
  context?: number;
  vocabSize?: number;
  evalEvery?: number;
}
