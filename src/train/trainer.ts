import { existsSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fracRewardZeroStd, groupAdvantages, meanGroupStd, sampleStd } from '../grpo/advantages.js';
import { type RewardTransformKind, transformRewards } from '../grpo/rewardTransform.js';
import { describeBackend, optimizerMomentsInJs, selectBackend } from '../nn/backends/backend.js';
import { countParams, gptParamSpecs } from '../nn/models/gptConfig.js';
import type { PolicyModel } from '../nn/models/policyModel.js';
import { loadPolicyWeights, policyFolderFiles } from '../nn/weights/policyFolder.js';
import { CheckpointError } from '../nn/weights/checkpointError.js';
import { firstNonFiniteParam } from '../nn/training/finite.js';
import { NonFiniteError } from '../nn/training/nonFiniteError.js';
import { AdamW, learningRateAt } from '../nn/training/optimizer.js';
import { scoreLogProbs } from '../nn/training/policyUpdate.js';
import {
  combinedRange,
  type Scores,
  scoreCompletions,
  type WeightedReward,
} from '../rewards/rewardFunction.js';
import { compressible, compressRewards, rewardCompression } from '../rewards/rewardTemperature.js';
import { hashUserFiles, USER_FILES_FILE } from '../tasks/sources/userFiles.js';
import type { Task } from '../tasks/task.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { Rng } from '../util/rng.js';
import { ConfigError, loraEnabled, type TrainConfig } from './config.js';
import { checkTrainingFits, type ModelShape, needsReference } from './limits.js';
import type { LoraAdapter } from '../nn/adapters/lora.js';
import {
  adaptersOffView,
  createRunAdapter,
  type LoraBase,
  loraBaseOf,
  loraCheckpointFiles,
  plannedAdapterParameters,
  restoreAdapter,
} from './loraRun.js';
import { MetricsLog, type MetricsRow } from './metrics.js';
import type { TrainObserver } from './observer.js';
import { promptIdsOf } from './promptIds.js';
import { taskRollout } from './tools/taskRollout.js';
import { PromptStream } from './promptStream.js';
import { sampleBatch, samplingSettings } from './sampleBatch.js';
import { policyMovesDuringUpdate, runUpdatePasses } from './updatePasses.js';
import { sequenceSums, sliceBatch, tokenMean } from './rollout.js';
import { locateCheckpoint, readRunCheckpoint, writeRunCheckpoint } from './runCheckpoint.js';
import { SAMPLES_FILE, SAMPLES_PER_EVAL, type SampleRow, SamplesLog } from './samples.js';
import {
  clearUncheckpointedRun,
  ensureRunFolder,
  removeCrashLeftovers,
  runFolderStage,
} from './runFolder.js';
import { RunFolderError } from './runFolderError.js';
import { acquireRunLock, type RunLock } from './runLock.js';
import { describeRangeSource, rewardOutOfRange } from './rewardRange.js';
import { divergenceCause, RewardRangeError, TrainingDivergedError } from './trainingErrors.js';

export interface TrainOptions {
  config: TrainConfig;
  task: Task;
  /** The run folder: config.json, metrics.jsonl, checkpoints/. */
  outDir: string;
  /** Continue from the run folder's latest checkpoint (or this checkpoint folder). */
  resumeFrom?: string;
  observer?: TrainObserver;
  /** Checked after every step; when true the trainer checkpoints and returns (Ctrl-C). */
  shouldStop?: () => boolean;
  /** What the run folder's lock says its holder does (default `train` or `train --resume`). */
  lockAs?: string;
  /**
   * Where `config.reward_range` came from, for the message of a reward outside it (e.g.
   * `--reward-range`); default `the config's reward_range`.
   */
  rewardRangeSource?: string;
}

export interface TrainResult {
  step: number;
  interrupted: boolean;
  lastRow?: MetricsRow;
  checkpoint?: string;
}

/** The reward range GRPOVI keeps rewards in: the config's, else the reward functions' declared one. */
export function resolveRewardRange(config: TrainConfig, task: Task): [number, number] | undefined {
  if (config.reward_range) return [config.reward_range[0], config.reward_range[1]];
  return combinedRange(task.rewards);
}

/**
 * The reward range of a run, checked: GRPOVI cannot run without one. Throws a ConfigError naming
 * the reward functions that declare none.
 */
export function checkRewardRange(config: TrainConfig, task: Task): [number, number] | undefined {
  const range = resolveRewardRange(config, task);
  if (config.algo === 'grpovi' && range === undefined) {
    const undeclared = task.rewards.filter((r) => !r.fn.range).map((r) => r.fn.name);
    throw new ConfigError(
      `config: field "reward_range" is needed for grpovi: reward function(s) ${undeclared.join(', ')} declare no range (undefined)`,
      'reward_range',
    );
  }
  return range;
}

/**
 * The rewards a run trains on: the task's, with its learned rewards compressed when the config sets
 * `reward_temperature` or `reward_temperature_range`. Throws a ConfigError when the config asks for
 * a compression the task's rewards cannot take (no learned reward model among them).
 */
export function trainingRewards(config: TrainConfig, task: Task): readonly WeightedReward[] {
  const compression = rewardCompression(config);
  if (compression === undefined) return task.rewards;
  if (compressible(task.rewards).length === 0) {
    const field = config.reward_temperature_range ? 'reward_temperature_range' : 'reward_temperature';
    const value = config.reward_temperature_range ?? config.reward_temperature;
    throw new ConfigError(
      `config: field "${field}" needs a learned reward model, but task ${task.name}'s rewards (${task.rewards.map((r) => r.fn.name).join(', ')}) have none (${JSON.stringify(value)})`,
      field,
    );
  }
  return compressRewards(task.rewards, compression);
}

const now = () => performance.now() / 1000;

/** Resolves after the event loop has polled for I/O and signals once. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs GRPO or GRPOVI on a task. Each step: rollout -> score -> transform rewards -> advantages ->
 * `num_iterations` passes of minibatch updates. GRPO and GRPOVI differ only in the transform.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, task, outDir } = options;
  const range = checkRewardRange(config, task);
  trainingRewards(config, task); // refuses a compression the task's rewards cannot take, before anything is written
  const transformKind: RewardTransformKind = config.algo === 'grpovi' ? 'variance-increase' : 'none';
  if (options.resumeFrom === undefined && runFolderInUse(outDir)) {
    // A fresh run would append to the old metrics and replace its config: never mix two runs.
    throw new RunFolderError(
      `run folder ${JSON.stringify(outDir)} already holds a run with checkpoints: resume it or choose another folder`,
    );
  }
  // Sizes first: a config.model too large must fail before its policy is allocated.
  const prompts = longestPromptTokens(task, config.max_prompt_length);
  if (config.model !== undefined) {
    const shape = modelShapeOf(config.model, task.tokenizer.vocabSize);
    const adapterParameters = plannedAdapterParameters('gpt', gptParamSpecs(shape), config);
    checkTrainingFits(shape, { ...config, adapterParameters }, prompts);
  }

  const backendOptions = { blasThreads: config.blas_threads };
  const backend = await selectBackend(config.backend, backendOptions);
  const backendDetails = describeBackend(backend, backendOptions);
  const policy = task.createPolicy(config.seed, config);
  let lock: RunLock;
  let lora: RunLora | undefined;
  const folderExisted = existsSync(outDir);
  try {
    lora = loraEnabled(config) ? attachRunAdapter(policy, config) : undefined;
    checkTrainingFits(
      shapeForLimits(policy),
      { ...config, adapterParameters: lora?.adapter.parameterCount() },
      prompts,
    );
    ensureRunFolder(outDir);
    lock = acquireRunLock(
      outDir,
      options.lockAs ?? (options.resumeFrom === undefined ? 'train' : 'train --resume'),
    );
  } catch (error) {
    lora?.adapter.dispose();
    policy.dispose();
    throw error;
  }
  try {
    return await trainLocked(options, policy, lora, { backend, backendDetails }, range, transformKind);
  } finally {
    lock.release();
    // A run that failed before its first result (e.g. a reward function on its first batch) leaves
    // no folder behind if it made the folder: rmdir removes only an empty one.
    if (!folderExisted) removeEmptyFolder(outDir);
  }
}

/** A LoRA run's adapter and the base it sits on. */
interface RunLora {
  adapter: LoraAdapter;
  base: LoraBase;
}

/** Creates the run's adapter and attaches it to the policy, whose weights then stay frozen. */
function attachRunAdapter(policy: PolicyModel, config: TrainConfig): RunLora {
  if (policy.attachAdapter === undefined)
    throw new ConfigError('config: field "lora_r": this policy model takes no LoRA adapters', 'lora_r');
  // The base's hash first: the checkpoints record it, and a resume checks it.
  const base = loraBaseOf(policy, config);
  const adapter = createRunAdapter(policy, config);
  policy.attachAdapter(adapter);
  return { adapter, base };
}

function removeEmptyFolder(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (the run recorded something) or already gone
  }
}

/** The tokens of the longest training or evaluation prompt (after `max_prompt_length`). */
function longestPromptTokens(task: Task, maxPromptLength: number | undefined): number {
  const encode = promptIdsOf(task, maxPromptLength);
  let longest = 0;
  for (const list of [task.trainPrompts, task.evalPrompts])
    for (const text of list) longest = Math.max(longest, encode(text).length);
  return longest;
}

function modelShapeOf(model: NonNullable<TrainConfig['model']>, vocabSize: number): ModelShape {
  return {
    vocabSize,
    contextLength: model.context_length,
    width: model.width,
    depth: model.depth,
    heads: model.heads,
  };
}

/**
 * Where to start in a locked run folder: a fresh run in a folder whose run never checkpointed starts
 * it again; a resume of such a run starts from step 0 with the recorded config. Leftovers of a crash
 * (temporary files, half-written checkpoints) are removed either way.
 */
function prepareRunFolder(
  outDir: string,
  resumeFrom: string | undefined,
  observer?: TrainObserver,
): string | undefined {
  removeCrashLeftovers(outDir);
  const stage = runFolderStage(outDir);
  const fromCheckpointFolder = resumeFrom !== undefined && existsSync(join(resumeFrom, 'state.json'));
  if (resumeFrom === undefined && stage === 'checkpointed') {
    // Checked again under the lock: another writer may have checkpointed since the caller looked.
    throw new RunFolderError(
      `run folder ${JSON.stringify(outDir)} already holds a run with checkpoints: resume it or choose another folder`,
    );
  }
  if (stage === 'started' && !fromCheckpointFolder) {
    clearUncheckpointedRun(outDir);
    observer?.onNote?.(
      `${outDir} holds a run that stopped before its first checkpoint: starting it from step 0`,
    );
    return undefined;
  }
  return resumeFrom;
}

/** The backend this session runs on, and how it resolved (recorded in backend.json). */
interface SessionBackend {
  backend: Awaited<ReturnType<typeof selectBackend>>;
  backendDetails: ReturnType<typeof describeBackend>;
}

async function trainLocked(
  options: TrainOptions,
  policy: PolicyModel,
  lora: RunLora | undefined,
  session: SessionBackend,
  range: [number, number] | undefined,
  transformKind: RewardTransformKind,
): Promise<TrainResult> {
  const { config, outDir, observer } = options;
  let reference: PolicyModel | undefined;
  let optimizer: AdamW | undefined;
  try {
    const resumeFrom = prepareRunFolder(outDir, options.resumeFrom, observer);
    // The frozen reference costs a copy of the weights: kept only when the run reads it. With LoRA
    // it is the base with the adapters off, and the optimizer sees the adapters only.
    if (needsReference(config))
      reference = lora ? adaptersOffView(policy, lora.adapter) : policy.copy({ trainable: false });
    optimizer = new AdamW(
      policy.variables(),
      {
        beta1: config.adam_beta1,
        beta2: config.adam_beta2,
        epsilon: config.adam_epsilon,
        weightDecay: config.weight_decay,
        maxGradNorm: config.max_grad_norm,
      },
      optimizerMomentsInJs(),
    );
    return await runSteps(
      { ...options, resumeFrom },
      { policy, reference, optimizer, lora, ...session, range, transformKind },
    );
  } finally {
    policy.attachAdapter?.(undefined);
    lora?.adapter.dispose();
    policy.dispose();
    reference?.dispose();
    optimizer?.dispose();
  }
}

async function runSteps(
  options: TrainOptions,
  models: SessionBackend & {
    policy: PolicyModel;
    reference: PolicyModel | undefined;
    optimizer: AdamW;
    lora: RunLora | undefined;
    range: [number, number] | undefined;
    transformKind: RewardTransformKind;
  },
): Promise<TrainResult> {
  const { config, task, outDir, observer } = options;
  const { policy, reference, optimizer, lora, backend, backendDetails, range, transformKind } = models;
  const samplingRng = Rng.derive(config.seed, 'sampling');
  const stream = new PromptStream(task.trainPrompts, config.seed);
  const metrics = new MetricsLog(join(outDir, 'metrics.jsonl'));
  const samples = new SamplesLog(join(outDir, SAMPLES_FILE));
  const context: StepContext = {
    config,
    task,
    policy,
    reference,
    optimizer,
    lora,
    samplingRng,
    stream,
    range,
    rangeSource: describeRangeSource(config, task.rewards, options.rewardRangeSource),
    transformKind,
    // Checked (and so known to succeed) in train() before anything was allocated.
    rewards: trainingRewards(config, task),
  };

  {
    let startStep = 0;
    let lastGoodCheckpoint: string | undefined;
    if (options.resumeFrom !== undefined) {
      const { checkpointDir } = locateCheckpoint(options.resumeFrom);
      lastGoodCheckpoint = checkpointDir;
      if (lora) {
        // The base is the run's own (checked by hash); the checkpoint holds the adapter.
        restoreAdapter(checkpointDir, lora.adapter, policy, lora.base);
      } else {
        const restored = loadPolicyWeights(checkpointDir);
        // Checked against the run's policy: a checkpoint of another shape is named with its first
        // mismatching tensor.
        try {
          checkSameShapes(policy, restored, join(checkpointDir, 'model.safetensors'));
        } catch (error) {
          restored.dispose();
          throw error;
        }
        policy.assign(restored);
        restored.dispose();
      }
      const { state, optimizer: moments } = readRunCheckpoint(checkpointDir);
      optimizer.loadState(moments, state.optimizerSteps, join(checkpointDir, 'optimizer.safetensors'));
      samplingRng.setState(state.samplingRng);
      try {
        stream.restore(state.promptStream);
      } catch (error) {
        throw new CheckpointError(
          join(checkpointDir, 'state.json'),
          `"promptStream": ${(error as Error).message}`,
        );
      }
      metrics.truncateAfter(state.step);
      samples.truncateAfter(state.step);
      startStep = state.step;
    }
    // Written with the first result (on resume too: the step count may have been raised, and a later
    // resume must see the new one), so that a reward function failing on its first batch leaves no run.
    let recorded = false;
    const record = () => {
      if (recorded) return;
      ensureRunFolder(outDir);
      writeFileAtomic(join(outDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
      // What `backend` resolved to in this session (config.json keeps what was asked for, e.g. auto).
      writeFileAtomic(
        join(outDir, 'backend.json'),
        `${JSON.stringify({ ...backendDetails, step: startStep }, null, 2)}\n`,
      );
      // The user's files with their hashes, so that a resume can tell when one changed.
      writeFileAtomic(
        join(outDir, USER_FILES_FILE),
        `${JSON.stringify({ files: hashUserFiles(config) }, null, 2)}\n`,
      );
      recorded = true;
    };
    if (options.resumeFrom !== undefined) record();
    const evaluateAndLog = async (step: number): Promise<Partial<MetricsRow>> => {
      const { row, samples: rows } = await evaluate(context, step);
      record();
      samples.append(rows);
      observer?.onSamples?.(step, rows);
      return row;
    };

    observer?.onStart?.({
      backend,
      backendDetails,
      task: task.name,
      algo: config.algo,
      steps: config.steps,
      startStep,
      outDir,
      parameters: countParams(policy.specs),
    });

    if (startStep === 0 && config.eval_every > 0) {
      const row: MetricsRow = { step: 0, ...(await evaluateAndLog(0)) };
      metrics.append(row);
      observer?.onStep?.(row, config.steps);
    }

    let step = startStep;
    let lastRow: MetricsRow | undefined;
    let checkpoint: string | undefined;
    let interrupted = false;
    while (step < config.steps) {
      step++;
      const row = await guardedStep(context, step, checkpoint ?? lastGoodCheckpoint);
      const isLast = step === config.steps;
      if (config.eval_every > 0 && (step % config.eval_every === 0 || isLast))
        Object.assign(row, await evaluateAndLog(step));
      record();
      metrics.append(row);
      lastRow = row;
      observer?.onStep?.(row, config.steps);
      // The work is synchronous between these yields; let a Ctrl-C handler (and progress redraws) run before asking.
      await yieldToEventLoop();
      interrupted = !isLast && (options.shouldStop?.() ?? false);
      if (isLast || interrupted || (config.checkpoint_every > 0 && step % config.checkpoint_every === 0)) {
        checkpoint = saveCheckpoint(context, outDir, step);
        observer?.onCheckpoint?.(checkpoint, step);
      }
      if (interrupted) break;
    }
    observer?.onEnd?.({ step, interrupted });
    return { step, interrupted, lastRow, checkpoint };
  }
}

/**
 * One step, stopped with a TrainingDivergedError when its loss, gradient or updated weights are not
 * finite: nothing of the step is logged or checkpointed, so the last good checkpoint stays the latest.
 */
async function guardedStep(
  ctx: StepContext,
  step: number,
  lastCheckpoint: string | undefined,
): Promise<MetricsRow> {
  let row: MetricsRow;
  try {
    row = await trainingStep(ctx, step);
    if (!Number.isFinite(row.loss)) throw new NonFiniteError('loss', `the loss is not finite (${row.loss})`);
    const bad = firstNonFiniteParam(ctx.policy);
    if (bad !== undefined)
      throw new NonFiniteError('weights', `the updated weights are not finite (parameter "${bad}")`);
  } catch (error) {
    if (error instanceof RewardRangeError)
      throw new RewardRangeError(step, error.detail, lastCheckpoint ?? null);
    if (!(error instanceof NonFiniteError)) throw error;
    const cause = divergenceCause({
      quantity: error.quantity,
      updates: ctx.optimizer.stepCount,
      learningRate: ctx.config.learning_rate,
    });
    throw new TrainingDivergedError(step, error.message, cause, lastCheckpoint);
  }
  return row;
}

interface StepContext {
  config: TrainConfig;
  task: Task;
  policy: PolicyModel;
  /** The frozen initial policy; absent when the run never reads it (see `needsReference`). */
  reference: PolicyModel | undefined;
  optimizer: AdamW;
  /** A LoRA run's adapter and base. */
  lora: RunLora | undefined;
  samplingRng: Rng;
  stream: PromptStream;
  range: [number, number] | undefined;
  /** Where `range` came from, in words (the flag, the config, the reward functions' declared ranges). */
  rangeSource: string;
  transformKind: RewardTransformKind;
  /** The rewards trained on: the task's, or compressed ones (then `task.rewards` are the raw ones). */
  rewards: readonly WeightedReward[];
}

/** Stops the step (before anything of it is logged) when a reward is outside the range GRPOVI adjusts within. */
function checkStepRewards(
  ctx: StepContext,
  step: number,
  ro: { promptTexts: string[]; completionTexts: string[] },
  scores: Scores,
): void {
  const detail = rewardOutOfRange(
    scores,
    ctx.range as [number, number],
    ctx.rangeSource,
    ctx.rewards,
    ctx.config.num_generations,
    ro.promptTexts,
    ro.completionTexts,
  );
  if (detail !== undefined) throw new RewardRangeError(step, detail);
}

/** One GRPO/GRPOVI step; returns its metrics row. */
async function trainingStep(ctx: StepContext, step: number): Promise<MetricsRow> {
  const { config, task, policy, reference, optimizer } = ctx;
  const G = config.num_generations;
  const t0 = now();

  const sampled = await sampleBatch(ctx, yieldToEventLoop);
  const { ro, scores } = sampled;
  const rows = ro.promptTexts.length;
  const L = ro.batch.length;
  const t2 = now();

  const weightsMode = ctx.transformKind === 'variance-increase' ? config.grpovi_weights : 'uniform';
  const needOld = policyMovesDuringUpdate(config) || weightsMode === 'importance';
  // log_kl: the KL to the reference is measured for the metrics even at beta 0 (the update ignores it).
  const needRef = needsReference(config);
  // The whole batch with its model input, built once: scoring uses it, and so does the update when
  // one minibatch covers the batch (the default).
  const full = sliceBatch(ro.batch, 0, rows, task.tokenizer.padId);
  const fullInput = full.input;
  // The old policy through the update's own full forward pass (not a shared prompt): the first
  // pass's ratio is then exactly 1, and GRPOVI with 0/1 rewards stays bit-identical to GRPO.
  const old = needOld
    ? scoreLogProbs(policy, ro.batch, fullInput, {
        temperature: config.temperature,
        entropy: true,
        sharedPrefix: false,
      })
    : undefined;
  const ref = needRef
    ? scoreLogProbs(reference as PolicyModel, ro.batch, fullInput, { temperature: config.temperature })
        .logProbs
    : undefined;
  const t3 = now();

  if (ctx.transformKind === 'variance-increase' && ctx.range !== undefined)
    checkStepRewards(ctx, step, ro, scores);
  const adjusted = transformRewards(scores.total, {
    kind: ctx.transformKind,
    groupSize: G,
    range: ctx.range,
    weights: weightsMode,
    refLogProbs: ref && sequenceSums(ref, ro.batch.mask, rows, L),
    oldLogProbs: old && sequenceSums(old.logProbs, ro.batch.mask, rows, L),
    strength: config.grpovi_strength,
    maxStd: config.grpovi_max_std,
  });
  const advantages = Float32Array.from(
    groupAdvantages(adjusted, G, { scale: config.scale_rewards, eps: config.advantage_epsilon }),
  );
  const t4 = now();

  const learningRate = learningRateAt(step - 1, {
    kind: config.lr_schedule,
    base: config.learning_rate,
    warmupSteps: config.warmup_steps,
    totalSteps: config.steps,
    minRatio: config.min_lr_ratio,
  });
  // LoRA dropout in the update's passes only, its masks seeded by the run's seed and the step.
  ctx.lora?.adapter.setDropout(config.seed, `update step ${step}`);
  let update: Awaited<ReturnType<typeof runUpdatePasses>>;
  try {
    update = await runUpdatePasses(
      policy,
      optimizer,
      {
        batch: ro.batch,
        input: fullInput,
        finished: ro.generation.finished,
        oldLogProbs: old?.logProbs,
        refLogProbs: ref,
        advantages,
      },
      config,
      { step, learningRate, padId: task.tokenizer.padId, yieldToEventLoop },
    );
  } finally {
    ctx.lora?.adapter.setDropout(undefined);
  }
  const t5 = now();

  let completionTokens = 0;
  for (const len of ro.generation.lengths) completionTokens += len;
  const row: MetricsRow = {
    step,
    reward_mean: mean(scores.total),
    // TRL's reward_std is the std of the whole batch's rewards; the mean of the groups' stds is reward_std_group.
    reward_std: sampleStd(scores.total),
    reward_std_group: meanGroupStd(scores.total, G),
    adjusted_reward_std: meanGroupStd(adjusted, G),
    frac_reward_zero_std: fracRewardZeroStd(scores.total, G, config.scale_rewards),
    kl: needRef ? update.kl : 0,
    loss: update.loss,
    clip_frac: update.clipFraction,
    'clip_ratio/low_mean': update.clipLow,
    'clip_ratio/high_mean': update.clipHigh,
    'clip_ratio/region_mean': update.clipFraction,
    entropy: old?.entropy ? tokenMean(old.entropy, update.lossMask) : (update.entropy ?? 0),
    grad_norm: update.gradNorm,
    completion_length: completionTokens / rows,
    learning_rate: learningRate,
    step_seconds: t5 - t0,
    tokens_per_second: completionTokens / (t5 - t0),
    rollout_seconds: sampled.rolloutSeconds,
    reward_seconds: sampled.rewardSeconds,
    transform_seconds: t4 - t3,
    update_seconds: t3 - t2 + (t5 - t4),
    score_seconds: t3 - t2,
    ...sampled.dynamic,
  };
  for (const [name, values] of scores.byFunction) row[`rewards/${name}`] = mean(values);
  return row;
}

/**
 * Mean reward (and gold) of one sample per held-out prompt; the same random stream at every
 * evaluation. The first `SAMPLES_PER_EVAL` completions come back as samples with their rewards.
 */
async function evaluate(
  ctx: StepContext,
  step: number,
): Promise<{ row: Partial<MetricsRow>; samples: SampleRow[] }> {
  const { config, task, policy } = ctx;
  const prompts = task.evalPrompts.slice(0, config.eval_prompts);
  const rows = task.evalRows?.slice(0, prompts.length);
  const { ro, conversations } = await taskRollout(
    task,
    config,
    policy,
    prompts,
    rows,
    1,
    samplingSettings(config),
    Rng.derive(config.seed, 'eval'),
  );
  const scores = await scoreCompletions(ctx.rewards, ro.promptTexts, ro.completionTexts, rows, conversations);
  const out: Partial<MetricsRow> = {
    eval_reward: mean(scores.total),
    eval_completion_length: mean(ro.generation.lengths),
  };
  if (ctx.rewards !== task.rewards) {
    // Compressed runs also report the reward at temperature 1, so that runs compare on one scale.
    const raw = await scoreCompletions(task.rewards, ro.promptTexts, ro.completionTexts, rows, conversations);
    out.eval_reward_raw = mean(raw.total);
  }
  let gold: Float64Array | undefined;
  if (task.gold) {
    gold = (
      await scoreCompletions(
        [{ fn: task.gold, weight: 1 }],
        ro.promptTexts,
        ro.completionTexts,
        rows,
        conversations,
      )
    ).total;
    out.eval_gold = mean(gold);
  }
  const samples: SampleRow[] = [];
  for (let i = 0; i < Math.min(SAMPLES_PER_EVAL, prompts.length); i++) {
    const sample: SampleRow = {
      step,
      prompt: ro.promptTexts[i],
      completion: ro.completionTexts[i],
      reward: scores.total[i],
      rewards: Object.fromEntries([...scores.byFunction].map(([name, values]) => [name, values[i]])),
    };
    if (gold) sample.gold = gold[i];
    samples.push(sample);
  }
  return { row: out, samples };
}

function saveCheckpoint(ctx: StepContext, outDir: string, step: number): string {
  const { lora } = ctx;
  // A LoRA run's checkpoint holds the merged model (what sample, export --format hf and the
  // dashboard read) and the adapter with its base's path and hash (what resume and export --format peft read).
  const files = {
    ...policyFolderFiles(
      ctx.policy,
      ctx.task.tokenizer,
      { task: ctx.task.name, algo: ctx.config.algo, seed: ctx.config.seed, step },
      { merge: lora?.adapter },
    ),
    ...(lora ? loraCheckpointFiles(lora.adapter, lora.base) : {}),
  };
  return writeRunCheckpoint(
    outDir,
    {
      step,
      optimizerSteps: ctx.optimizer.stepCount,
      samplingRng: ctx.samplingRng.getState(),
      promptStream: ctx.stream.state(),
    },
    ctx.optimizer.stateTensors(),
    files,
  );
}

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length > 0 ? s / values.length : 0;
}

/**
 * Whether a run folder holds a run a new one would overwrite: one with a checkpoint. A run that
 * stopped before its first checkpoint holds nothing worth keeping; a new run there starts it again.
 */
export function runFolderInUse(outDir: string): boolean {
  return runFolderStage(outDir) === 'checkpointed';
}

/** The shape the resource limits read; families whose config has no depth or heads count as one. */
function shapeForLimits(policy: PolicyModel): ModelShape {
  const config = policy.config;
  const extra = config as PolicyModel['config'] & { depth?: number; heads?: number };
  return {
    vocabSize: config.vocabSize,
    contextLength: config.contextLength,
    width: config.width,
    depth: extra.depth ?? 1,
    heads: extra.heads ?? 1,
    parameters: countParams(policy.specs),
  };
}

/** Refuses weights whose tensors do not have the shapes of the run's policy, naming the first. */
function checkSameShapes(policy: PolicyModel, saved: PolicyModel, file: string): void {
  const shapes = new Map(saved.specs.map((spec) => [spec.name, spec.shape]));
  for (const spec of policy.specs) {
    const shape = shapes.get(spec.name);
    if (shape === undefined) throw new CheckpointError(file, `tensor "${spec.name}" is missing`);
    if (shape.length !== spec.shape.length || shape.some((n, i) => n !== spec.shape[i])) {
      throw new CheckpointError(
        file,
        `tensor "${spec.name}" has shape [${shape.join(', ')}] but the config needs [${spec.shape.join(', ')}]`,
      );
    }
  }
}
