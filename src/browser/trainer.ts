import * as tf from '@tensorflow/tfjs';
import type { PolicyModel } from '../nn/models/policyModel.js';
import { memoryFolder } from '../nn/weights/folderReader.js';
import { type PolicySource, policyFolderFiles, policySourceOf } from '../nn/weights/policyFiles.js';
import type { Task } from '../tasks/task.js';
import {
  ConfigError,
  loraEnabled,
  mergeConfigLayers,
  parseTrainConfig,
  type TrainConfig,
} from '../train/config.js';
import type { TrainConfigInput } from '../train/config.js';
import type { MetricsRow } from '../train/core/metricsRow.js';
import type { SampleRow } from '../train/core/sampleRow.js';
import {
  checkRewardRange,
  createStepContext,
  disposeStepContext,
  evaluate,
  evaluationDue,
  guardedStep,
  type StepContext,
} from '../train/core/step.js';
import { describeRangeSource } from '../train/rewardRange.js';
import { useBackend } from './backend.js';
import { buildTask, type TaskSpec } from './tasks.js';

/** A model folder's files by name: `model.safetensors`, `config.json`, `tokenizer.json`, ... */
export type FolderFiles = Record<string, Uint8Array>;

/** A policy read from in-memory files, before any tensor exists. */
export interface PolicySpec {
  /** `grpovi` for model.json folders, `hf` for Hugging Face ones. */
  readonly format: 'grpovi' | 'hf';
  /** What the folder holds, in words (architecture and vocabulary). */
  readonly description: string;
}

const sources = new WeakMap<PolicySpec, PolicySource>();

/**
 * A policy from a folder's files: grpovi's (`model.json` + `model.safetensors`) or a Hugging Face
 * causal LM (`config.json`, `model.safetensors` or shards with their index, `tokenizer.json`,
 * `tokenizer_config.json`, ...), parsed and checked as `grpovi train --policy DIR` reads a folder.
 * `name` names the folder in error messages.
 */
export function policyFromFiles(files: FolderFiles, name = 'policy'): PolicySpec {
  const source = policySourceOf(memoryFolder(files, name));
  const spec: PolicySpec = {
    format: source.format,
    description: `${source.format === 'hf' ? 'Hugging Face' : 'grpovi'} policy, ${source.tokenizer.kind} tokenizer of ${source.tokenizer.vocabSize} tokens`,
  };
  sources.set(spec, source);
  return spec;
}

export interface TrainerOptions {
  task: TaskSpec;
  /** The starting policy (needed by `promptsTask`; the toy task initializes its own). */
  policy?: PolicySpec;
  /** TrainConfig fields over the task's defaults, as in a config file (`task` and `seed` are set here). */
  config?: Omit<TrainConfigInput, 'task' | 'seed'>;
  /** The run's seed (default 0). */
  seed?: number;
}

export interface Trainer {
  /** The resolved configuration. */
  readonly config: TrainConfig;
  /** Steps done so far. */
  readonly stepsDone: number;
  /** Runs the next step: its metrics row, with the eval_* fields on the steps `grpovi train` evaluates after. */
  step(): Promise<MetricsRow>;
  /** Evaluates the current policy on the held-out prompts: a row of eval_* fields with step = stepsDone. */
  evaluate(): Promise<MetricsRow>;
  /** The held-out samples of the latest evaluation (what `samples.jsonl` holds). */
  samples(): readonly SampleRow[];
  /** The trained policy's folder: the files of a run's checkpoint policy (`grpovi sample --policy` reads them). */
  exportFolder(): Promise<FolderFiles>;
  /** Frees the tensors; the trainer is unusable afterwards. */
  dispose(): void;
}

/** Lets the page render between the synchronous parts of a step. */
function yieldToPage(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

const encoder = new TextEncoder();

/**
 * A trainer of the core step, in memory: the configuration resolved as `grpovi train` resolves it
 * (schema defaults < task defaults < `config`), the policy made on the backend in use (`useBackend`;
 * `auto` when none was chosen). LoRA runs need the CLI.
 */
export async function createTrainer(options: TrainerOptions): Promise<Trainer> {
  const seed = options.seed ?? 0;
  const backend = await useBackend(currentChoice());
  const policySource = options.policy === undefined ? undefined : sources.get(options.policy);
  if (options.policy !== undefined && policySource === undefined)
    throw new TypeError('policy: not made by policyFromFiles()');
  const task: Task = buildTask(options.task, seed, policySource);
  let policy: PolicyModel | undefined;
  let context: StepContext | undefined;
  try {
    const config = parseTrainConfig(
      mergeConfigLayers(task.defaults as Record<string, unknown>, {
        ...options.config,
        task: task.name,
        seed,
        backend: backend.name,
      }),
      'config',
    );
    if (loraEnabled(config))
      throw new ConfigError('config: field "lora_r": LoRA runs need the CLI (grpovi train)', 'lora_r');
    const range = checkRewardRange(config, task);
    policy = task.createPolicy(config.seed, config);
    context = createStepContext({
      config,
      task,
      policy,
      range,
      rangeSource: describeRangeSource(config, task.rewards, undefined),
      yieldToEventLoop: yieldToPage,
    });
    return sessionTrainer(config, task, policy, context);
  } catch (error) {
    if (context) disposeStepContext(context);
    policy?.dispose();
    task.dispose?.();
    throw error;
  }
}

function currentChoice(): 'webgpu' | 'wasm' | 'auto' {
  const name = tf.engine().backendName;
  return name === 'webgpu' || name === 'wasm' ? name : 'auto';
}

function sessionTrainer(config: TrainConfig, task: Task, policy: PolicyModel, ctx: StepContext): Trainer {
  let stepsDone = 0;
  let disposed = false;
  let latestSamples: readonly SampleRow[] = [];
  // One operation at a time: a step and an export must not interleave on the same weights.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const run = queue.then(() => {
      if (disposed) throw new Error('trainer: disposed');
      return work();
    });
    queue = run.catch(() => undefined);
    return run;
  };
  const evaluateAt = async (step: number): Promise<Partial<MetricsRow>> => {
    const { row, samples } = await evaluate(ctx, step);
    latestSamples = samples;
    return row;
  };
  return {
    config,
    get stepsDone() {
      return stepsDone;
    },
    step: () =>
      serial(async () => {
        if (stepsDone >= config.steps)
          throw new ConfigError(
            `trainer: all ${config.steps} steps are done (config.steps sets the run's length and its learning-rate schedule)`,
            'steps',
          );
        const step = stepsDone + 1;
        const row = await guardedStep(ctx, step, undefined);
        if (evaluationDue(config, step)) Object.assign(row, await evaluateAt(step));
        stepsDone = step;
        return row;
      }),
    evaluate: () => serial(async () => ({ step: stepsDone, ...(await evaluateAt(stepsDone)) })),
    samples: () => latestSamples,
    exportFolder: () =>
      serial(async () => {
        const files = policyFolderFiles(policy, task.tokenizer, {
          task: task.name,
          algo: config.algo,
          seed: config.seed,
          step: stepsDone,
        });
        const out: FolderFiles = {};
        for (const [name, data] of Object.entries(files))
          out[name] = typeof data === 'string' ? encoder.encode(data) : data;
        return out;
      }),
    dispose() {
      if (disposed) return;
      disposed = true;
      disposeStepContext(ctx);
      policy.dispose();
      task.dispose?.();
    },
  };
}
