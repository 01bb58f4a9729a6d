import { join } from 'node:path';
import {
  type BackendName,
  backendLine,
  describeBackend,
  optimizerMomentsInJs,
  selectBackend,
} from '../nn/backends/backend.js';
import { Gpt } from '../nn/models/gpt.js';
import { countParams } from '../nn/models/gptConfig.js';
import { languageModelBatch, languageModelNll, languageModelStep } from '../nn/training/languageModel.js';
import { saveModelDir } from '../nn/weights/modelDir.js';
import { AdamW, learningRateAt } from '../nn/training/optimizer.js';
import { generate } from '../nn/generation/sampler.js';
import type { Tokenizer } from '../nn/tokenizers/tokenizer.js';
import { arithmeticReward } from '../rewards/arithmetic.js';
import {
  fitTokenizer,
  type PretrainCorpus,
  type PretrainData,
  pretrainData,
  promptOf,
} from '../tasks/datasets.js';
import { describeTextSplit, textPretrainTexts } from '../tasks/sources/textFile.js';
import { Rng } from '../util/rng.js';
import { yieldToEventLoop } from '../util/eventLoop.js';

/** Settings of `grpovi pretrain`. */
export interface PretrainConfig {
  /** A shipped corpus, or `text`: the files in `text`. */
  corpus: PretrainCorpus | 'text';
  /** The user's text files (plain text, or JSONL with a `text` field), for corpus `text`. */
  text?: string[];
  /** Tokenizer level for corpus `text` (default word). */
  tokenizer?: 'word' | 'char';
  steps: number;
  batchSize: number;
  learningRate: number;
  warmupSteps: number;
  weightDecay: number;
  width: number;
  depth: number;
  heads: number;
  contextLength: number;
  /** Word-level corpora only. */
  vocabSize: number;
  seed: number;
  evalEvery: number;
  /** Held-out texts used for the loss (and, for arithmetic, prompts for accuracy). */
  evalTexts: number;
  backend: BackendName;
}

export interface PretrainEval {
  step: number;
  trainLoss: number;
  heldOutLoss: number;
  perplexity: number;
  /** Arithmetic only: share of held-out problems answered right when sampling at temperature 1. */
  accuracy?: number;
  seconds: number;
}

export interface PretrainResult {
  evals: PretrainEval[];
  samples: { prompt: string; completion: string }[];
  seconds: number;
  tokensSeen: number;
  parameters: number;
}

const EVAL_BATCH = 64;

function encodeSequence(tokenizer: Tokenizer, text: string): number[] {
  return [...tokenizer.encode(text), tokenizer.eosId];
}

/** Mean next-token loss of held-out texts. */
function heldOutLoss(model: Gpt, sequences: number[][], padId: number): number {
  let nll = 0;
  let tokens = 0;
  for (let i = 0; i < sequences.length; i += EVAL_BATCH) {
    const r = languageModelNll(model, languageModelBatch(sequences.slice(i, i + EVAL_BATCH), padId));
    nll += r.nll;
    tokens += r.tokens;
  }
  return nll / tokens;
}

/** Completions of held-out prompts at temperature 1, with a fixed seed. */
function sampleCompletions(
  model: Gpt,
  tokenizer: Tokenizer,
  data: PretrainData,
  texts: string[],
  maxNewTokens: number,
  seed: number,
): { prompt: string; completion: string }[] {
  const prompts = texts.map((t) => promptOf(data, t));
  const out: { prompt: string; completion: string }[] = [];
  const rng = Rng.derive(seed, 'pretrain-samples');
  for (let i = 0; i < prompts.length; i += EVAL_BATCH) {
    const part = prompts.slice(i, i + EVAL_BATCH);
    const gen = generate(
      model,
      part.map((p) => tokenizer.encode(p)),
      {
        maxNewTokens,
        eosId: tokenizer.eosId,
        padId: tokenizer.padId,
        rng,
        decode: (ids) => tokenizer.decode(ids),
      },
    );
    for (const [k, prompt] of part.entries()) out.push({ prompt, completion: gen.texts[k] });
  }
  return out;
}

/** The train / held-out texts of a pretraining config: a shipped corpus or the user's text files. */
function pretrainDataOf(config: PretrainConfig, log: (line: string) => void): PretrainData {
  if (config.corpus !== 'text') return pretrainData(config.corpus);
  const kind = config.tokenizer ?? 'word';
  const { train, heldOut, splits } = textPretrainTexts(config.text ?? [], kind);
  for (const split of splits) log(describeTextSplit(split));
  return { corpus: 'text', kind, train, heldOut };
}

/**
 * Trains a base policy with next-token cross-entropy on a corpus, evaluates held-out loss (and
 * arithmetic accuracy), and writes the model folder to `outDir` at the end.
 */
export async function pretrain(
  config: PretrainConfig,
  outDir: string,
  log: (line: string) => void = () => {},
  shouldStop: () => boolean = () => false,
): Promise<PretrainResult> {
  const started = performance.now();
  const backend = await selectBackend(config.backend);
  const data = pretrainDataOf(config, log);
  const tokenizer = fitTokenizer(data, config.vocabSize);
  const fits = (s: number[]) => s.length <= config.contextLength;
  const encoded = data.train.map((t) => encodeSequence(tokenizer, t));
  const train = encoded.filter(fits);
  const heldOut = data.heldOut.slice(0, config.evalTexts);
  const heldOutSequences = heldOut.map((t) => encodeSequence(tokenizer, t)).filter(fits);
  if (train.length === 0 || heldOutSequences.length === 0) {
    throw new RangeError(
      `no ${train.length === 0 ? 'training' : 'held-out'} text fits the context of ${config.contextLength} tokens; raise --context`,
    );
  }
  if (train.length < encoded.length)
    log(
      `${encoded.length - train.length} training texts are longer than the context of ${config.contextLength} tokens and are skipped`,
    );
  const model = Gpt.init(
    {
      vocabSize: tokenizer.vocabSize,
      contextLength: config.contextLength,
      width: config.width,
      depth: config.depth,
      heads: config.heads,
    },
    config.seed,
  );
  const parameters = countParams(model.specs);
  log(
    `${backendLine(describeBackend(backend))}; ${config.corpus === 'text' ? `text of ${(config.text ?? []).join(', ')}` : `corpus ${config.corpus}`}: ${train.length} training and ${heldOutSequences.length} held-out texts; ` +
      `${tokenizer.kind}-level vocabulary ${tokenizer.vocabSize}; ${parameters} parameters`,
  );
  const optimizer = new AdamW(
    model.variables(),
    {
      beta1: 0.9,
      beta2: 0.99,
      epsilon: 1e-8,
      weightDecay: config.weightDecay,
      maxGradNorm: 1,
    },
    optimizerMomentsInJs(),
  );
  const rng = Rng.derive(config.seed, 'pretrain-batches');
  const evals: PretrainEval[] = [];
  const maxNewTokens = data.corpus === 'arithmetic' ? 5 : 16;
  let tokensSeen = 0;
  let lossSum = 0;
  let lossCount = 0;
  try {
    for (let step = 1; step <= config.steps; step++) {
      const batch = languageModelBatch(
        Array.from({ length: config.batchSize }, () => train[rng.int(train.length)]),
        tokenizer.padId,
      );
      const lr = learningRateAt(step - 1, {
        kind: 'cosine',
        base: config.learningRate,
        warmupSteps: config.warmupSteps,
        totalSteps: config.steps,
        minRatio: 0.1,
      });
      const { loss } = languageModelStep(model, optimizer, batch, lr);
      await yieldToEventLoop();
      tokensSeen += batch.tokens;
      lossSum += loss;
      lossCount++;
      const last = step === config.steps || shouldStop();
      if (step % config.evalEvery === 0 || last) {
        const held = heldOutLoss(model, heldOutSequences, tokenizer.padId);
        const entry: PretrainEval = {
          step,
          trainLoss: lossSum / lossCount,
          heldOutLoss: held,
          perplexity: Math.exp(held),
          seconds: (performance.now() - started) / 1000,
        };
        if (data.corpus === 'arithmetic') {
          const answered = sampleCompletions(model, tokenizer, data, heldOut, maxNewTokens, config.seed);
          entry.accuracy =
            answered.filter((s) => arithmeticReward(s.prompt, s.completion) === 1).length / answered.length;
        }
        evals.push(entry);
        lossSum = 0;
        lossCount = 0;
        log(
          `step ${step}/${config.steps}  train loss ${entry.trainLoss.toFixed(3)}  held-out loss ${held.toFixed(3)}  ` +
            `perplexity ${entry.perplexity.toFixed(1)}${entry.accuracy === undefined ? '' : `  accuracy ${(100 * entry.accuracy).toFixed(1)}%`}  ` +
            `${entry.seconds.toFixed(0)} s`,
        );
      }
      if (last) break;
    }
    const samples = sampleCompletions(
      model,
      tokenizer,
      data,
      heldOut.slice(0, 8),
      maxNewTokens,
      config.seed + 1,
    );
    const seconds = (performance.now() - started) / 1000;
    const final = evals[evals.length - 1];
    saveModelDir(outDir, {
      kind: 'policy',
      config: model.config,
      tokenizer,
      tensors: model.toTensors(),
      info: {
        made_by: 'grpovi pretrain',
        pretrain: config,
        steps_done: final.step,
        held_out_loss: final.heldOutLoss,
        perplexity: final.perplexity,
        accuracy: final.accuracy,
        tokens_seen: tokensSeen,
        seconds,
        backend,
      },
    });
    log(`wrote ${join(outDir, 'model.safetensors')} and model.json`);
    return { evals, samples, seconds, tokensSeen, parameters };
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}
