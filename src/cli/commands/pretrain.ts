import { type Command, Option } from 'commander';
import { PRETRAIN_CORPORA, type PretrainCorpus } from '../../tasks/pretrainCorpora.js';
import type { PretrainConfig } from '../../train/pretrain.js';
import { integerArg, numberArg } from '../parsers.js';

/** Defaults per corpus: a word-level English model, or a small character-level arithmetic model. */
type CorpusDefaults = Omit<PretrainConfig, 'corpus' | 'seed' | 'backend'>;

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

/** The options commander hands to the action. */
export interface PretrainFlags {
  corpus: PretrainCorpus;
  out: string;
  seed: number;
  backend: 'wasm' | 'cpu';
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

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('train a base policy with next-token cross-entropy on a corpus shipped in npm packages')
    .addOption(
      new Option('--corpus <name>', 'sotu (word-level English), moby-dick, or arithmetic (character-level)')
        .choices(PRETRAIN_CORPORA)
        .makeOptionMandatory(),
    )
    .requiredOption('--out <dir>', 'model folder to write (model.safetensors + model.json)')
    .option('--seed <n>', 'seed of initialization and batches', integerArg(0), 0)
    .option('--steps <n>', 'optimizer steps (corpus default)', integerArg(0))
    .option('--batch-size <n>', 'texts per step', integerArg(0))
    .option('--lr <x>', 'peak learning rate (cosine schedule with warmup)', numberArg({ positive: true }))
    .option('--warmup-steps <n>', 'linear warmup steps', integerArg(0))
    .option('--weight-decay <x>', 'AdamW weight decay', numberArg({ min: 0 }))
    .option('--width <n>', 'model width', integerArg(0))
    .option('--depth <n>', 'transformer blocks', integerArg(0))
    .option('--heads <n>', 'attention heads', integerArg(0))
    .option('--context <n>', 'context length in tokens', integerArg(0))
    .option('--vocab-size <n>', 'word-level vocabulary size (specials included)', integerArg(0))
    .option('--eval-every <n>', 'steps between held-out evaluations', integerArg(0))
    .addOption(new Option('--backend <name>', 'TF.js backend').choices(['wasm', 'cpu']).default('wasm'))
    .option('--force', 'overwrite an existing model folder')
    .addHelpText(
      'after',
      `
Defaults per corpus: sotu and moby-dick train a word-level GPT (width 96, depth 3, vocabulary 3000);
arithmetic trains a character-level GPT on sums and differences of numbers up to 99.
The data split is fixed, so the held-out sentences match the ones train-rm and RLHF use.

Example:
  grpovi pretrain --corpus sotu --out assets/sentiment-policy --seed 0`,
    )
    .action(async (flags: PretrainFlags) => {
      const { executePretrain } = await import('../actions/pretrain.js');
      await executePretrain(flags);
    });
}
