import { existsSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeBackend, selectBackend } from '../nn/backends/backend.js';
import { countParams, gptParamSpecs } from '../nn/models/gptConfig.js';
import type { PolicyModel } from '../nn/models/policyModel.js';
import { loadPolicyWeights, policyFolderFiles } from '../nn/weights/policyFolder.js';
import { CheckpointError } from '../nn/weights/checkpointError.js';
import { hashUserFiles, USER_FILES_FILE } from '../tasks/sources/userFiles.js';
import type { Task } from '../tasks/task.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { ConfigError, loraEnabled, type TrainConfig } from './config.js';
import type { ModelShape } from './limits.js';
import { checkTrainingFits } from './trainingFits.js';
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
import {
  checkRewardRange,
  createStepContext,
  disposeStepContext,
  evaluate,
  evaluationDue,
  guardedStep,
  type StepContext,
  streamState,
  trainingRewards,
} from './core/step.js';

export { checkRewardRange, resolveRewardRange, trainingRewards } from './core/step.js';
import type { TrainObserver } from './observer.js';
import { promptIdsOf } from './promptIds.js';
import { locateCheckpoint, readRunCheckpoint, writeRunCheckpoint } from './runCheckpoint.js';
import { SAMPLES_FILE, SamplesLog } from './samples.js';
import {
  clearUncheckpointedRun,
  ensureRunFolder,
  removeCrashLeftovers,
  runFolderStage,
} from './runFolder.js';
import { RunFolderError } from './runFolderError.js';
import { acquireRunLock, type RunLock } from './runLock.js';
import { describeRangeSource } from './rewardRange.js';

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
    return await trainLocked(options, policy, lora, { backend, backendDetails }, range);
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
): Promise<TrainResult> {
  const { config, task, outDir, observer } = options;
  let context: StepContext | undefined;
  try {
    const resumeFrom = prepareRunFolder(outDir, options.resumeFrom, observer);
    context = createStepContext({
      config,
      task,
      policy,
      lora,
      reference: lora ? () => adaptersOffView(policy, lora.adapter) : undefined,
      range,
      rangeSource: describeRangeSource(config, task.rewards, options.rewardRangeSource),
      yieldToEventLoop,
    });
    return await runSteps({ ...options, resumeFrom }, context, lora, session);
  } finally {
    policy.attachAdapter?.(undefined);
    lora?.adapter.dispose();
    policy.dispose();
    if (context) disposeStepContext(context);
  }
}

async function runSteps(
  options: TrainOptions,
  context: StepContext,
  lora: RunLora | undefined,
  session: SessionBackend,
): Promise<TrainResult> {
  const { config, task, outDir, observer } = options;
  const { policy, optimizer, samplingRng, stream } = context;
  const { backend, backendDetails } = session;
  const metrics = new MetricsLog(join(outDir, 'metrics.jsonl'));
  const samples = new SamplesLog(join(outDir, SAMPLES_FILE));

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
      if (evaluationDue(config, step)) Object.assign(row, await evaluateAndLog(step));
      record();
      metrics.append(row);
      lastRow = row;
      observer?.onStep?.(row, config.steps);
      // The work is synchronous between these yields; let a Ctrl-C handler (and progress redraws) run before asking.
      await yieldToEventLoop();
      interrupted = !isLast && (options.shouldStop?.() ?? false);
      if (isLast || interrupted || (config.checkpoint_every > 0 && step % config.checkpoint_every === 0)) {
        checkpoint = saveCheckpoint(context, lora, outDir, step);
        observer?.onCheckpoint?.(checkpoint, step);
      }
      if (interrupted) break;
    }
    observer?.onEnd?.({ step, interrupted });
    return { step, interrupted, lastRow, checkpoint };
  }
}

function saveCheckpoint(ctx: StepContext, lora: RunLora | undefined, outDir: string, step: number): string {
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
  return writeRunCheckpoint(outDir, { step, ...streamState(ctx) }, ctx.optimizer.stateTensors(), files);
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
