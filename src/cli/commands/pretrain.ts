import { type Command, Option } from 'commander';
import { PRETRAIN_CORPORA, type PretrainCorpus } from '../../tasks/pretrainCorpora.js';
import type { PretrainConfig } from '../../train/pretrain.js';
import { BACKENDS, type BackendName } from '../../nn/backends/backendNames.js';
import { formatDefault } from '../helpStyle.js';
import { integerArg, numberArg } from '../parsers.js';

/** Defaults per corpus: a word-level English model, or a small character-level arithmetic model. */
type CorpusDefaults = Omit<PretrainConfig, 'corpus' | 'seed' | 'backend' | 'text' | 'tokenizer'>;

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

/** The options commander hands to the action. */
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

/** An option whose default depends on the corpus; --help lists the default of each corpus. */
function corpusOption(
  flags: string,
  description: string,
  parse: (value: string) => number,
  key: keyof CorpusDefaults,
): Option {
  const values = PRETRAIN_CORPORA.map((corpus) => formatDefault(PRETRAIN_DEFAULTS[corpus][key]));
  const text = values.every((value) => value === values[0])
    ? values[0]
    : PRETRAIN_CORPORA.map((corpus, i) => `${corpus}: ${values[i]}`).join(', ');
  return new Option(flags, description).argParser(parse).default(undefined, text);
}

export function registerPretrain(program: Command): void {
  program
    .command('pretrain')
    .description('train a base policy with next-token cross-entropy on a shipped corpus or your own text')
    .usage('(--corpus <name> | --text <files...>) --out <dir> [options]')
    .addOption(
      new Option(
        '--corpus <name>',
        'text to learn: sotu and moby-dick are word-level English, arithmetic is character-level',
      ).choices(PRETRAIN_CORPORA),
    )
    .option('--text <files...>', 'or your own text: plain text files, or JSONL with a "text" field')
    .addOption(
      new Option('--tokenizer <level>', 'with --text: word-level (normalized words) or char-level')
        .choices(['word', 'char'])
        .default('word'),
    )
    .requiredOption('--out <dir>', 'model folder to write (model.safetensors + model.json)')
    .option('--seed <n>', 'seed of initialization and batches', integerArg(0), 0)
    .addOption(corpusOption('--steps <n>', 'optimizer steps', integerArg(0), 'steps'))
    .addOption(corpusOption('--batch-size <n>', 'texts per step', integerArg(0), 'batchSize'))
    .addOption(
      corpusOption(
        '--lr <x>',
        'peak learning rate (cosine schedule with warmup)',
        numberArg({ positive: true }),
        'learningRate',
      ),
    )
    .addOption(corpusOption('--warmup-steps <n>', 'linear warmup steps', integerArg(0), 'warmupSteps'))
    .addOption(corpusOption('--weight-decay <x>', 'AdamW weight decay', numberArg({ min: 0 }), 'weightDecay'))
    .addOption(corpusOption('--width <n>', 'model width', integerArg(0), 'width'))
    .addOption(corpusOption('--depth <n>', 'transformer blocks', integerArg(0), 'depth'))
    .addOption(corpusOption('--heads <n>', 'attention heads', integerArg(0), 'heads'))
    .addOption(corpusOption('--context <n>', 'context length in tokens', integerArg(0), 'contextLength'))
    .addOption(
      corpusOption(
        '--vocab-size <n>',
        'word-level vocabulary size (specials included)',
        integerArg(0),
        'vocabSize',
      ),
    )
    .addOption(
      corpusOption('--eval-every <n>', 'steps between held-out evaluations', integerArg(0), 'evalEvery'),
    )
    .addOption(
      new Option(
        '--backend <name>',
        'TF.js backend (auto: webgpu on a real GPU adapter, else blas when a CBLAS library loads, else wasm)',
      )
        .choices(BACKENDS)
        .default('auto'),
    )
    .option('--force', 'overwrite an existing model folder')
    .addHelpText(
      'after',
      `
Defaults per corpus: sotu and moby-dick train a word-level GPT (width 96, depth 3, vocabulary 3000);
arithmetic trains a character-level GPT on sums and differences of numbers up to 99.
The data split is fixed, so the held-out sentences match the ones train-rm and RLHF use.

--text FILE... trains on your own text: word-level, the text is split into sentences and normalized
like the shipped corpora (lower case, punctuation as tokens) and --vocab-size words are kept;
char-level, every non-blank line is a text. A fixed-seed 10% (at least one) is held out, and its
perplexity is printed. Defaults with --text: 1000 steps, the English model shape (char: context 128).

Examples:
  grpovi pretrain --corpus sotu --out assets/sentiment-policy --seed 0
  grpovi pretrain --text examples/own-task/text.txt --out runs/own/policy --steps 300 --vocab-size 400`,
    )
    .action(async (flags: PretrainFlags) => {
      const { executePretrain } = await import('../actions/pretrain.js');
      await executePretrain(flags);
    });
}
