import { fracRewardZeroStd, groupAdvantages, meanGroupStd, sampleStd } from '../../grpo/advantages.js';
import { type RewardTransformKind, transformRewards } from '../../grpo/rewardTransform.js';
import type { LoraAdapter } from '../../nn/adapters/lora.js';
import type { PolicyModel } from '../../nn/models/policyModel.js';
import { firstNonFiniteParam } from '../../nn/training/finite.js';
import { NonFiniteError } from '../../nn/training/nonFiniteError.js';
import { AdamW, learningRateAt } from '../../nn/training/optimizer.js';
import { optimizerMomentsInJs } from '../../nn/backends/kernelRoute.js';
import { scoreLogProbs } from '../../nn/training/policyUpdate.js';
import {
  combinedRange,
  type Scores,
  scoreCompletions,
  type WeightedReward,
} from '../../rewards/rewardFunction.js';
import { compressible, compressRewards, rewardCompression } from '../../rewards/rewardTemperature.js';
import type { Task } from '../../tasks/task.js';
import { Rng } from '../../util/rng.js';
import { ConfigError, type TrainConfig } from '../config.js';
import { needsReference } from '../limits.js';
import { rewardOutOfRange } from '../rewardRange.js';
import { sequenceSums, sliceBatch, tokenMean } from '../rollout.js';
import { sampleBatch, samplingSettings } from '../sampleBatch.js';
import { taskRollout } from '../tools/taskRollout.js';
import { divergenceCause, RewardRangeError, TrainingDivergedError } from '../trainingErrors.js';
import { PromptStream } from '../promptStream.js';
import { policyMovesDuringUpdate, runUpdatePasses } from '../updatePasses.js';
import type { MetricsRow } from './metricsRow.js';
import { SAMPLES_PER_EVAL, type SampleRow } from './sampleRow.js';

/**
 * The trainer's step and evaluation, with no file system: rollout -> score -> transform rewards ->
 * advantages -> `num_iterations` passes of minibatch updates, and the held-out evaluation. The Node
 * `train()` (trainer.ts) wraps them with the run folder, lock, checkpoints and logs; the browser
 * build (src/browser) with in-memory inputs and outputs. Nothing here may import `node:*`,
 * transitively (the browser build refuses it).
 */

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

/**
 * One step, stopped with a TrainingDivergedError when its loss, gradient or updated weights are not
 * finite: nothing of the step is logged or checkpointed, so the last good checkpoint stays the latest.
 */
export async function guardedStep(
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

export interface StepContext {
  config: TrainConfig;
  task: Task;
  policy: PolicyModel;
  /** The frozen initial policy; absent when the run never reads it (see `needsReference`). */
  reference: PolicyModel | undefined;
  optimizer: AdamW;
  /** A LoRA run's adapter (its dropout runs in the update passes only). */
  lora: { adapter: LoraAdapter } | undefined;
  /** Lets the host run between the synchronous parts (Ctrl-C, redraws; a browser's rendering). */
  yieldToEventLoop: () => Promise<void>;
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

  const sampled = await sampleBatch(ctx, ctx.yieldToEventLoop);
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
      { step, learningRate, padId: task.tokenizer.padId, yieldToEventLoop: ctx.yieldToEventLoop },
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
export async function evaluate(
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

function mean(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length > 0 ? s / values.length : 0;
}

/** What a step context is made from; the policy stays the caller's (it disposes it). */
export interface StepContextOptions {
  config: TrainConfig;
  task: Task;
  /** The trainable policy (with a LoRA run's adapter attached). */
  policy: PolicyModel;
  /** A LoRA run's adapter. */
  lora?: { adapter: LoraAdapter };
  /**
   * The frozen reference when the run reads one (see `needsReference`); default a frozen copy of the
   * policy. A LoRA run passes the base with the adapters off.
   */
  reference?: () => PolicyModel;
  /** The reward range resolved by `checkRewardRange`. */
  range: [number, number] | undefined;
  /** Where `range` came from, in words, for the message of a reward outside it. */
  rangeSource: string;
  yieldToEventLoop: () => Promise<void>;
}

/**
 * Allocates what the steps need beside the policy (the frozen reference, AdamW's moments) and the
 * run's random streams at their start. `disposeStepContext` frees what this allocated.
 */
export function createStepContext(options: StepContextOptions): StepContext {
  const { config, task, policy } = options;
  // The frozen reference costs a copy of the weights: kept only when the run reads it. With LoRA
  // it is the base with the adapters off, and the optimizer sees the adapters only.
  const reference = needsReference(config)
    ? (options.reference ?? (() => policy.copy({ trainable: false })))()
    : undefined;
  let optimizer: AdamW;
  try {
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
  } catch (error) {
    reference?.dispose();
    throw error;
  }
  return {
    config,
    task,
    policy,
    reference,
    optimizer,
    lora: options.lora,
    samplingRng: Rng.derive(config.seed, 'sampling'),
    stream: new PromptStream(task.trainPrompts, config.seed),
    range: options.range,
    rangeSource: options.rangeSource,
    transformKind: config.algo === 'grpovi' ? 'variance-increase' : 'none',
    rewards: trainingRewards(config, task),
    yieldToEventLoop: options.yieldToEventLoop,
  };
}

/** Frees the reference and the optimizer's moments (not the policy, which the caller owns). */
export function disposeStepContext(ctx: StepContext): void {
  ctx.reference?.dispose();
  ctx.optimizer.dispose();
}

/** Whether step `step` (1-based) ends with an evaluation: every `eval_every` steps, and the last. */
export function evaluationDue(config: TrainConfig, step: number): boolean {
  return config.eval_every > 0 && (step % config.eval_every === 0 || step === config.steps);
}

/** What a checkpoint must hold, beside the weights and AdamW's moments, for a byte-identical resume. */
export function streamState(ctx: StepContext): {
  optimizerSteps: number;
  samplingRng: ReturnType<Rng['getState']>;
  promptStream: ReturnType<PromptStream['state']>;
} {
  return {
    optimizerSteps: ctx.optimizer.stepCount,
    samplingRng: ctx.samplingRng.getState(),
    promptStream: ctx.stream.state(),
  };
}
