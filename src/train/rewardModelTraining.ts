import { join } from 'node:path';
import {
  type BackendName,
  backendLine,
  describeBackend,
  optimizerMomentsInJs,
  selectBackend,
} from '../nn/backends/backend.js';
import { CheckpointError } from '../nn/weights/checkpointError.js';
import { isHfFolder, readHfFolder, writeFolderAtomic } from '../nn/weights/hfFolder.js';
import { HfBradleyTerryModel } from '../nn/models/hfRewardModel.js';
import { isClassifier } from '../nn/models/hfParams.js';
import { Gpt } from '../nn/models/gpt.js';
import { loadModelDir, type ModelFiles, saveModelDir, WEIGHTS_FILE } from '../nn/weights/modelDir.js';
import { AdamW, learningRateAt } from '../nn/training/optimizer.js';
import { type BradleyTerryModel, bradleyTerryStep, RewardModel } from '../nn/models/rewardModel.js';
import { generate } from '../nn/generation/sampler.js';
import type { Tokenizer } from '../nn/tokenizers/tokenizer.js';
import { rewardModelInput } from '../rewards/rewardModel.js';
import { goldSentiment } from '../rewards/sentiment.js';
import { DATA_SPLIT_SEED, heldOutStages, policyCorpus, pretrainData, promptOf } from '../tasks/datasets.js';
import { readPreferenceFile } from '../tasks/sources/preferenceFile.js';
import { normalizePrompt } from '../tasks/sources/promptText.js';
import { UserFileError } from '../util/userFileError.js';
import { Rng } from '../util/rng.js';
import { yieldToEventLoop } from '../util/eventLoop.js';

/** Settings of `grpovi train-rm`. */
export interface RewardModelConfig {
  /** Folder of the base policy whose completions are compared. */
  policy: string;
  /** Labelled training pairs (pairs whose completions tie on the gold reward are skipped). */
  pairs: number;
  /** Fraction of training labels flipped at random (the noise of human raters). */
  labelNoise: number;
  /** Held-out pairs for the accuracy figure (noise-free labels). */
  heldOutPairs: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  maxNewTokens: number;
  seed: number;
  backend: BackendName;
}

/** A labelled comparison: prompt with the preferred and the other completion. */
export interface PreferencePair {
  prompt: string;
  chosen: string;
  rejected: string;
}

export interface RewardModelResult {
  trainAccuracy: number;
  heldOutAccuracy: number;
  heldOutPairs: number;
  trainPairs: number;
  /** Fraction of sampled pairs dropped because the gold reward tied. */
  tieFraction: number;
  scoreOffset: number;
  scoreStd: number;
  seconds: number;
}

const SAMPLE_BATCH = 128;

/**
 * Samples two completions per prompt from the policy and labels each pair with the gold sentiment,
 * flipping a fraction `labelNoise` of labels. Ties on the gold reward carry no preference and are skipped.
 */
export async function samplePreferencePairs(
  policy: Gpt,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  count: number,
  options: { maxNewTokens: number; labelNoise: number; rng: Rng },
): Promise<{ pairs: PreferencePair[]; ties: number }> {
  const pairs: PreferencePair[] = [];
  let ties = 0;
  let cursor = 0;
  while (pairs.length < count) {
    const batch: string[] = [];
    // At most as many prompts as pairs still wanted (at least 8: ties are skipped), so that a small
    // --pairs samples a small batch (a GPU software adapter pays for every row).
    const size = Math.min(SAMPLE_BATCH / 2, Math.max(8, count - pairs.length));
    for (let i = 0; i < size; i++) batch.push(prompts[cursor++ % prompts.length]);
    const ids = batch.flatMap((p) => {
      const encoded = tokenizer.encode(p);
      return [encoded, encoded];
    });
    const gen = generate(policy, ids, {
      maxNewTokens: options.maxNewTokens,
      eosId: tokenizer.eosId,
      padId: tokenizer.padId,
      rng: options.rng,
      decode: (t) => tokenizer.decode(t),
    });
    for (let i = 0; i < batch.length && pairs.length < count; i++) {
      const a = gen.texts[2 * i];
      const b = gen.texts[2 * i + 1];
      const ga = goldSentiment(a);
      const gb = goldSentiment(b);
      if (ga === gb) {
        ties++;
        continue;
      }
      let aWins = ga > gb;
      if (options.rng.uniform() < options.labelNoise) aWins = !aWins;
      pairs.push({ prompt: batch[i], chosen: aWins ? a : b, rejected: aWins ? b : a });
    }
    await yieldToEventLoop();
  }
  return { pairs, ties };
}

/** Fraction of pairs the model ranks the chosen completion above the rejected one. */
export function pairwiseAccuracy(
  model: RewardModel,
  tokenizer: Tokenizer,
  pairs: readonly PreferencePair[],
): number {
  const chosen = model.score(
    pairs.map((p) => rewardModelInput(tokenizer, p.prompt, p.chosen)),
    tokenizer.padId,
  );
  const rejected = model.score(
    pairs.map((p) => rewardModelInput(tokenizer, p.prompt, p.rejected)),
    tokenizer.padId,
  );
  let right = 0;
  for (let i = 0; i < pairs.length; i++) if (chosen[i] > rejected[i]) right++;
  return right / pairs.length;
}

/**
 * Without --preferences, `--policy` must be a grpovi policy folder (the pairs are sampled from grpovi's
 * GPT and labelled by the gold sentiment). A Hugging Face folder is refused in one line, before
 * anything is loaded.
 */
function refuseHfPolicy(dir: string): void {
  if (!isHfFolder(dir)) return;
  throw new CheckpointError(
    join(dir, 'config.json'),
    'train-rm --policy with a Hugging Face folder needs --preferences FILE (the gold-labelled pairs are sampled from grpovi policies only)',
  );
}

/**
 * Trains a Bradley-Terry reward model on gold-labelled pairs of the base policy's completions. The
 * body starts from the policy's weights (as RLHF reward models start from the SFT model) with a new
 * scalar head. Writes a `reward-model` folder.
 */
export async function trainRewardModel(
  config: RewardModelConfig,
  outDir: string,
  log: (line: string) => void = () => {},
): Promise<RewardModelResult> {
  const started = performance.now();
  refuseHfPolicy(config.policy);
  const backend = await selectBackend(config.backend);
  const saved = loadModelDir(config.policy, 'policy');
  const tokenizer = saved.tokenizer;
  const recorded = (saved.info.pretrain as { corpus?: unknown } | undefined)?.corpus;
  if (recorded === 'text') {
    throw new CheckpointError(
      join(config.policy, 'model.json'),
      'the policy was pretrained on your own text, so there are no gold-labelled pairs to sample: pass --preferences FILE',
    );
  }
  const corpus = policyCorpus(saved.info);
  const data = pretrainData(corpus);
  if (data.kind !== 'word') {
    throw new CheckpointError(
      join(config.policy, 'model.json'),
      `train-rm needs a policy trained on English text, not on ${corpus}`,
    );
  }
  const prompts = [...new Set(heldOutStages(data).rewardModel.map((s) => promptOf(data, s)))];
  const split = Math.floor(prompts.length * 0.9);
  const policy = Gpt.fromTensors(saved.config, saved.tensors, {
    trainable: false,
    source: join(config.policy, WEIGHTS_FILE),
  });
  const rng = Rng.derive(config.seed, 'reward-model-pairs');
  const sampled = await samplePreferencePairs(policy, tokenizer, prompts.slice(0, split), config.pairs, {
    maxNewTokens: config.maxNewTokens,
    labelNoise: config.labelNoise,
    rng,
  });
  const heldOut = await samplePreferencePairs(policy, tokenizer, prompts.slice(split), config.heldOutPairs, {
    maxNewTokens: config.maxNewTokens,
    labelNoise: 0,
    rng,
  });
  policy.dispose();
  const tieFraction = sampled.ties / (sampled.ties + sampled.pairs.length);
  log(
    `${backendLine(describeBackend(backend))}; sampled ${sampled.pairs.length} training pairs and ${heldOut.pairs.length} held-out pairs ` +
      `(${(100 * tieFraction).toFixed(1)}% of sampled pairs tied on the gold reward and were skipped)`,
  );

  return fitRewardModel({
    ...gptFit(saved, config.seed, outDir, { made_by: 'grpovi train-rm', corpus, train_rm: config, backend }),
    pairs: sampled.pairs,
    heldOut: heldOut.pairs,
    tieFraction,
    settings: config,
    log,
    started,
  });
}

/** What fitting a Bradley-Terry model needs: the base policy's files, labelled pairs and where to write. */
interface FitRequest {
  /** The model to train; its score is read with `padId`. */
  model: FitModel;
  /** Token ids of prompt + completion. */
  encode: (prompt: string, completion: string) => number[];
  padId: number;
  /** Writes the trained model; returns the log line naming what was written. */
  save: (result: RewardModelResult) => string;
  pairs: readonly PreferencePair[];
  heldOut: readonly PreferencePair[];
  tieFraction: number;
  settings: Pick<RewardModelConfig, 'epochs' | 'batchSize' | 'learningRate' | 'seed'>;
  log: (line: string) => void;
  started: number;
}

/** What fitRewardModel trains: grpovi's RewardModel or a Hugging Face HfBradleyTerryModel. */
type FitModel = BradleyTerryModel & {
  score(sequences: readonly (readonly number[])[], padId: number): Float32Array;
  dispose(): void;
};

/** Fraction of pairs `model` ranks the chosen completion above the rejected one. */
function fitAccuracy(request: FitRequest, pairs: readonly PreferencePair[]): number {
  const { model, encode, padId } = request;
  const chosen = model.score(
    pairs.map((p) => encode(p.prompt, p.chosen)),
    padId,
  );
  const rejected = model.score(
    pairs.map((p) => encode(p.prompt, p.rejected)),
    padId,
  );
  let right = 0;
  for (let i = 0; i < pairs.length; i++) if (chosen[i] > rejected[i]) right++;
  return right / pairs.length;
}

/** The FitRequest fields of grpovi's GPT reward model started from a policy folder's files. */
function gptFit(
  saved: ModelFiles,
  seed: number,
  outDir: string,
  info: Record<string, unknown>,
): Pick<FitRequest, 'model' | 'encode' | 'padId' | 'save'> {
  const tokenizer = saved.tokenizer;
  const model = RewardModel.init(saved.config, seed, saved.tensors);
  return {
    model,
    encode: (prompt, completion) => rewardModelInput(tokenizer, prompt, completion),
    padId: tokenizer.padId,
    save: (result) => {
      saveModelDir(outDir, {
        kind: 'reward-model',
        config: model.config,
        tokenizer,
        tensors: model.toTensors(),
        info: { ...info, ...result },
      });
      return `wrote ${join(outDir, 'model.safetensors')} and model.json`;
    },
  };
}

/**
 * Trains a scalar head and the body (started from the policy's weights) on pairs with the
 * Bradley-Terry loss, measures pairwise accuracy on the held-out pairs, centres the score and
 * writes a `reward-model` folder.
 */
async function fitRewardModel(request: FitRequest): Promise<RewardModelResult> {
  const { model, encode, padId, log, started } = request;
  const config = request.settings;
  const sampled = { pairs: request.pairs };
  const heldOut = { pairs: request.heldOut };
  const tieFraction = request.tieFraction;
  const optimizer = new AdamW(
    model.variables(),
    {
      beta1: 0.9,
      beta2: 0.99,
      epsilon: 1e-8,
      weightDecay: 0.01,
      maxGradNorm: 1,
    },
    optimizerMomentsInJs(),
  );
  const order = Array.from({ length: sampled.pairs.length }, (_, i) => i);
  const batchesPerEpoch = Math.ceil(order.length / config.batchSize);
  const totalSteps = batchesPerEpoch * config.epochs;
  const shuffle = Rng.derive(config.seed, 'reward-model-batches');
  let step = 0;
  try {
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      shuffle.shuffle(order);
      let lossSum = 0;
      let accSum = 0;
      for (let b = 0; b < batchesPerEpoch; b++) {
        const batch = order
          .slice(b * config.batchSize, (b + 1) * config.batchSize)
          .map((i) => sampled.pairs[i]);
        const lr = learningRateAt(step++, {
          kind: 'cosine',
          base: config.learningRate,
          warmupSteps: Math.min(50, totalSteps / 10),
          totalSteps,
          minRatio: 0.1,
        });
        const r = bradleyTerryStep(
          model,
          optimizer,
          batch.map((p) => encode(p.prompt, p.chosen)),
          batch.map((p) => encode(p.prompt, p.rejected)),
          padId,
          lr,
        );
        lossSum += r.loss;
        accSum += r.accuracy;
        await yieldToEventLoop();
      }
      const acc = fitAccuracy(request, heldOut.pairs);
      log(
        `epoch ${epoch}/${config.epochs}  loss ${(lossSum / batchesPerEpoch).toFixed(4)}  ` +
          `train accuracy ${((100 * accSum) / batchesPerEpoch).toFixed(1)}%  held-out accuracy ${(100 * acc).toFixed(1)}%  ` +
          `${((performance.now() - started) / 1000).toFixed(0)} s`,
      );
    }
    const trainAccuracy = fitAccuracy(request, sampled.pairs);
    const heldOutAccuracy = fitAccuracy(request, heldOut.pairs);
    // Centre the sigmoid on the typical completion so rewards spread around 0.5.
    const scores = model.score(
      heldOut.pairs.flatMap((p) => [encode(p.prompt, p.chosen), encode(p.prompt, p.rejected)]),
      padId,
    );
    const scoreOffset = scores.reduce((s, x) => s + x, 0) / scores.length;
    const scoreStd = Math.sqrt(scores.reduce((s, x) => s + (x - scoreOffset) ** 2, 0) / scores.length);
    const seconds = (performance.now() - started) / 1000;
    const result: RewardModelResult = {
      trainAccuracy,
      heldOutAccuracy,
      heldOutPairs: heldOut.pairs.length,
      trainPairs: sampled.pairs.length,
      tieFraction,
      scoreOffset,
      scoreStd,
      seconds,
    };
    log(request.save(result));
    return result;
  } finally {
    model.dispose();
    optimizer.dispose();
  }
}

/** Settings of `grpovi train-rm --preferences FILE`. */
export interface PreferenceTrainingConfig {
  policy: string;
  /** JSONL `{"prompt", "chosen", "rejected"}` (TRL's preference format). */
  preferences: string;
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  backend: BackendName;
}

/** Share of the user's pairs held out for the accuracy figure. */
export const PREFERENCE_HELD_OUT_SHARE = 0.1;

/**
 * Trains a Bradley-Terry reward model on the user's preference pairs. The texts are normalized as
 * the policy's tokenizer expects; a fixed-seed 10% of the pairs (at least one) is held out for the
 * pairwise accuracy. Writes a `reward-model` folder that works as `--reward-model`.
 */
export async function trainRewardModelOnPreferences(
  config: PreferenceTrainingConfig,
  outDir: string,
  log: (line: string) => void = () => {},
): Promise<RewardModelResult> {
  const started = performance.now();
  const records = readPreferenceFile(config.preferences);
  if (records.length < 2) {
    throw new UserFileError(
      config.preferences,
      `holds ${records.length} pair; a held-out split needs at least 2`,
    );
  }
  // A Hugging Face folder reads the texts with its own tokenizer, as its reward model will at RL time.
  const hf = isHfFolder(config.policy);
  const saved = hf ? undefined : loadModelDir(config.policy, 'policy');
  const normalize = (text: string) => (saved ? normalizePrompt(saved.tokenizer, text) : text);
  const pairs = records.map((r) => ({
    prompt: normalize(r.prompt),
    chosen: normalize(r.chosen),
    rejected: normalize(r.rejected),
  }));
  const order = Rng.derive(DATA_SPLIT_SEED, 'preference-held-out').shuffle(pairs.map((_, i) => i));
  const heldOutCount = Math.max(1, Math.round(PREFERENCE_HELD_OUT_SHARE * pairs.length));
  const isHeldOut = new Set(order.slice(0, heldOutCount));
  const backend = await selectBackend(config.backend);
  log(
    `${backendLine(describeBackend(backend))}; ${pairs.length - heldOutCount} training pairs and ${heldOutCount} held-out pairs from ${config.preferences}`,
  );
  const info = { made_by: 'grpovi train-rm --preferences', train_rm: config, backend };
  return fitRewardModel({
    ...(saved ? gptFit(saved, config.seed, outDir, info) : hfFit(config.policy, config.seed, outDir)),
    pairs: pairs.filter((_, i) => !isHeldOut.has(i)),
    heldOut: pairs.filter((_, i) => isHeldOut.has(i)),
    tieFraction: 0,
    settings: config,
    log,
    started,
  });
}

/**
 * The FitRequest fields of a Hugging Face reward model: the causal-LM folder's body with a new score
 * head, texts read by the folder's tokenizer (prompt + completion as one text, as HfRewardModel
 * reads them), written as a *ForSequenceClassification folder that works as --reward-model.
 */
function hfFit(
  dir: string,
  seed: number,
  outDir: string,
): Pick<FitRequest, 'model' | 'encode' | 'padId' | 'save'> {
  const folder = readHfFolder(dir);
  if (isClassifier(folder.config))
    throw new CheckpointError(
      join(dir, 'config.json'),
      `holds a ${folder.config.architecture}; train-rm --policy takes a causal LM (the reward model starts from its body)`,
    );
  const model = HfBradleyTerryModel.init(folder, seed);
  const tokenizer = folder.tokenizer;
  return {
    model,
    encode: (prompt, completion) => tokenizer.encode(prompt + completion),
    padId: tokenizer.padId,
    save: () => {
      writeFolderAtomic(outDir, model.folderFiles());
      return `wrote ${outDir} (${model.body.config.architecture}: config.json, model.safetensors, tokenizer files)`;
    },
  };
}
