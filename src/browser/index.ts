/**
 * grpovi in the browser (the package export `grpovi/browser`): the trainer core, which needs no file
 * system, with in-memory inputs and outputs.
 *
 *   const backend = await useBackend('auto', { wasmPath: '/grpovi/' }); // { name: 'webgpu' | 'wasm' | 'cpu', adapter? }
 *   const task = toyTask(0);                                   // or promptsTask({ prompts, heldOut?, reward })
 *   const policy = policyFromFiles(files);                     // a grpovi or Hugging Face model folder as bytes
 *   const trainer = await createTrainer({ task, policy, config: { algo: 'grpovi', steps: 20 }, seed: 0 });
 *   const first = await trainer.evaluate();                    // the step-0 row (eval_* fields)
 *   while (trainer.stepsDone < trainer.config.steps) console.log(await trainer.step()); // metrics.jsonl rows
 *   const folder = await trainer.exportFolder();               // { 'model.json': bytes, ... } for `grpovi sample --policy`
 *   trainer.dispose();
 *
 * - `useBackend(choice, { wasmPath })`: `webgpu` when the browser has an adapter (`auto` prefers it),
 *   else `wasm` (whose .wasm binaries are fetched from `wasmPath`, default: beside the bundle).
 * - `toyTask(seed)`: the built-in toy task (its own tokenizer and tiny policy; `policy` is not used).
 * - `promptsTask({ prompts, heldOut?, reward })`: prompts as strings or rows (`{ prompt, ...columns }`,
 *   the lines of a prompts JSONL file), the reward as a function `(prompts, completions, rows) =>
 *   number[]` with optional `range`/`rewardName`, or `{ name, range?, score }` (a reward module's
 *   default export), or a list of them. Without `heldOut` a fixed 10% is held out, as the file task does.
 *   Needs a `policy`.
 * - `policyFromFiles(files)`: a policy from a folder's files (`model.json` + `model.safetensors` +
 *   `tokenizer.json`, or a Hugging Face `config.json` + `model.safetensors` + `tokenizer.json` ...).
 * - `createTrainer({ task, policy?, config, seed })`: `config` holds TrainConfig fields (snake_case as
 *   in a config file, e.g. `{ algo: 'grpovi', steps: 50, learning_rate: 3e-3 }`) over the task's
 *   defaults; `step()` runs one GRPO/GRPOVI step and resolves to its metrics row (with the evaluation
 *   fields when `eval_every` says so, as `grpovi train` logs it); `evaluate()` evaluates the current
 *   policy; `exportFolder()` gives the files `grpovi train` writes as a run's policy folder.
 */
import type { MetricsRow } from '../train/core/metricsRow.js';
import type { TrainConfig, TrainConfigInput } from '../train/config.js';
import type { PromptRow, RewardFunction } from '../rewards/rewardFunction.js';

export type { MetricsRow } from '../train/core/metricsRow.js';
export type { TrainConfig, TrainConfigInput } from '../train/config.js';
export type { PromptRow, RewardFunction } from '../rewards/rewardFunction.js';

/** The backend asked for: `auto` takes WebGPU when the browser gives an adapter, else wasm. */
export type BackendChoice = 'webgpu' | 'wasm' | 'auto';

/** What a WebGPU adapter says about itself. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  description: string;
  /** A fallback (software) adapter. */
  fallback: boolean;
}

/** The backend in use. */
export interface BackendInUse {
  name: 'webgpu' | 'wasm' | 'cpu';
  adapter?: AdapterDescription;
}

export interface BackendOptions {
  /** URL of the folder holding tfjs-backend-wasm's `.wasm` binaries (ending in `/`); default: beside the bundle. */
  wasmPath?: string;
}

/** A model folder's files by name: `model.safetensors`, `config.json`, `tokenizer.json`, ... */
export type FolderFiles = Record<string, Uint8Array>;

/** A reward as a reward module exports it: a function (with optional `range`, `rewardName`) or an object. */
export type RewardExport =
  | ((
      prompts: readonly unknown[],
      completions: readonly unknown[],
      rows: readonly PromptRow[],
    ) => readonly number[] | Promise<readonly number[]>)
  | { name?: string; range?: readonly [number, number]; score: RewardFunction['score'] };

/** A task to train on, before the policy is known (see `toyTask`, `promptsTask`). */
export interface TaskSpec {
  readonly kind: 'toy' | 'prompts';
  readonly description: string;
}

export interface PromptsTaskOptions {
  /** Training prompts: strings, or rows `{ prompt, ...columns }` (the columns reach the reward as `rows[i]`). */
  prompts: readonly (string | PromptRow)[];
  /** Held-out prompts for evaluation; default: a fixed 10% of `prompts`. */
  heldOut?: readonly (string | PromptRow)[];
  /** One reward or several (each `{ reward, weight }` or a bare reward of weight 1). */
  reward: RewardExport | readonly (RewardExport | { reward: RewardExport; weight: number })[];
}

/** A policy read from in-memory files, before any tensor exists. */
export interface PolicySpec {
  readonly format: 'grpovi' | 'hf';
  /** Parameters and shape, for display. */
  readonly description: string;
}

export interface TrainerOptions {
  task: TaskSpec;
  /** The starting policy (needed by `promptsTask`; the toy task initializes its own). */
  policy?: PolicySpec;
  /** TrainConfig fields over the task's defaults (`task`, `seed` and `backend` are set here). */
  config?: Omit<TrainConfigInput, 'task' | 'seed'>;
  /** The run's seed (default 0). */
  seed?: number;
}

export interface Trainer {
  /** The resolved configuration. */
  readonly config: TrainConfig;
  /** Steps done so far. */
  readonly stepsDone: number;
  /** Runs the next step: its metrics row (with eval_* fields on evaluation steps). */
  step(): Promise<MetricsRow>;
  /** Evaluates the current policy on the held-out prompts: the eval_* fields, step = stepsDone. */
  evaluate(): Promise<MetricsRow>;
  /** The trained policy as a folder's files (what `grpovi sample --policy` and `grpovi export` read). */
  exportFolder(): Promise<FolderFiles>;
  /** Frees the tensors. */
  dispose(): void;
}

function notYet(what: string): never {
  throw new Error(`grpovi/browser: ${what} is not implemented yet`);
}

export async function useBackend(
  _choice: BackendChoice = 'auto',
  _options: BackendOptions = {},
): Promise<BackendInUse> {
  return notYet('useBackend');
}

export function toyTask(_seed = 0): TaskSpec {
  return notYet('toyTask');
}

export function promptsTask(_options: PromptsTaskOptions): TaskSpec {
  return notYet('promptsTask');
}

export function policyFromFiles(_files: FolderFiles): PolicySpec {
  return notYet('policyFromFiles');
}

export async function createTrainer(_options: TrainerOptions): Promise<Trainer> {
  return notYet('createTrainer');
}
