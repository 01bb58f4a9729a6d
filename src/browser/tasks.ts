import type { PolicySource } from '../nn/weights/policyFiles.js';
import type { PromptRow, WeightedReward } from '../rewards/rewardFunction.js';
import { distinctNames, rewardFunctionOf } from '../rewards/rewardExport.js';
import { holdOutPrompts } from '../tasks/sources/heldOut.js';
import type { Task, TaskPolicyOptions } from '../tasks/task.js';
import { createToyTask } from '../tasks/toy.js';
import { ConfigError } from '../train/configError.js';

/** A reward as a reward module exports it: a function (with optional `range`, `rewardName`) or an object. */
export type RewardExport =
  | ((
      prompts: readonly unknown[],
      completions: readonly unknown[],
      rows: readonly PromptRow[],
    ) => readonly number[] | Promise<readonly number[]>)
  | { name?: string; range?: readonly [number, number]; score: (...args: never[]) => unknown };

/** A task to train on, before the policy is known (see `toyTask`, `promptsTask`). */
export interface TaskSpec {
  readonly kind: 'toy' | 'prompts';
  readonly description: string;
}

export interface PromptsTaskOptions {
  /** Training prompts: strings, or rows `{ prompt, ...columns }` (the columns reach the reward as `rows[i]`). */
  prompts: readonly (string | PromptRow)[];
  /** Held-out prompts for evaluation; default: a fixed 10% of `prompts` (as the file task holds out). */
  heldOut?: readonly (string | PromptRow)[];
  /** One reward or several (each `{ reward, weight }` or a bare reward of weight 1). */
  reward: RewardExport | readonly (RewardExport | { reward: RewardExport; weight: number })[];
}

/** How a spec becomes a Task once the seed and the policy are known. */
type TaskBuilder = (seed: number, policy: PolicySource | undefined) => Task;
const builders = new WeakMap<TaskSpec, TaskBuilder>();

/** The Task of a spec (for createTrainer). */
export function buildTask(spec: TaskSpec, seed: number, policy: PolicySource | undefined): Task {
  const build = builders.get(spec);
  if (build === undefined) throw new TypeError('task: not made by toyTask() or promptsTask()');
  return build(seed, policy);
}

/** The built-in toy task (its own tokenizer and tiny policy), held out by `seed` as `grpovi train --task toy --seed`. */
export function toyTask(seed = 0): TaskSpec {
  const spec: TaskSpec = {
    kind: 'toy',
    description: 'fill the completion with letters of the prompt (continuous reward in [0, 1])',
  };
  builders.set(spec, () => createToyTask({ seed }));
  return spec;
}

interface PromptRecord {
  prompt: string;
  row: PromptRow;
}

function recordsOf(list: readonly (string | PromptRow)[], field: string): PromptRecord[] {
  return list.map((item, i) => {
    const row: PromptRow = typeof item === 'string' ? { prompt: item } : item;
    const prompt = row.prompt;
    if (Array.isArray(prompt))
      throw new ConfigError(
        `${field}[${i}]: conversational prompts (lists of messages) are not supported in the browser yet; use the CLI`,
        field,
      );
    if (typeof prompt !== 'string' || prompt.trim() === '')
      throw new ConfigError(
        `${field}[${i}]: needs a non-empty "prompt" string (${JSON.stringify(prompt) ?? 'missing'})`,
        field,
      );
    return { prompt, row };
  });
}

function isWeighted(value: unknown): value is { reward: RewardExport; weight: number } {
  return typeof value === 'object' && value !== null && 'reward' in value && 'weight' in value;
}

function rewardsOf(reward: PromptsTaskOptions['reward']): WeightedReward[] {
  const list = Array.isArray(reward) ? (reward as readonly unknown[]) : [reward];
  if (list.length === 0) throw new ConfigError('reward: give at least one reward function ([])', 'rewards');
  return distinctNames(
    list.map((entry, i) => {
      const { reward: exported, weight } = isWeighted(entry) ? entry : { reward: entry, weight: 1 };
      if (typeof weight !== 'number' || !Number.isFinite(weight))
        throw new ConfigError(
          `reward[${i}]: "weight" must be a finite number (${String(weight)})`,
          'rewards',
        );
      // The same checks (and names) as a reward module's default export.
      return { fn: rewardFunctionOf(exported, `reward[${i}]`), weight };
    }),
  );
}

/**
 * A task of prompts and reward functions, as the file task builds one from a prompts file and
 * reward modules: the same held-out split, reward checks and names. Plain-text prompts only for now
 * (conversations need the chat templates of the CLI).
 */
export function promptsTask(options: PromptsTaskOptions): TaskSpec {
  const records = recordsOf(options.prompts, 'prompts');
  let train = records;
  let heldOut: PromptRecord[];
  if (options.heldOut !== undefined) heldOut = recordsOf(options.heldOut, 'heldOut');
  else {
    if (records.length < 2)
      throw new ConfigError(
        `prompts: holds ${records.length} prompt; hold-out needs at least 2, or give heldOut`,
        'prompts',
      );
    ({ train, heldOut } = holdOutPrompts(records));
  }
  const rewards = rewardsOf(options.reward);
  const spec: TaskSpec = {
    kind: 'prompts',
    description: `${records.length} prompts; rewards ${rewards.map((r) => r.fn.name).join(', ')}`,
  };
  builders.set(spec, (_seed, policy) => {
    if (policy === undefined)
      throw new ConfigError('policy: a prompts task needs a policy (policyFromFiles(files))', 'policy');
    const tokenizer = policy.tokenizer;
    if (tokenizer.kind === 'word')
      throw new ConfigError(
        'policy: word-level grpovi policies normalize prompts with the corpus rules of the CLI; use a Hugging Face or character-level policy in the browser',
        'policy',
      );
    return {
      name: 'files',
      description: spec.description,
      tokenizer,
      createPolicy: (_s: number, _o: TaskPolicyOptions) => policy.create({ trainable: true }),
      trainPrompts: train.map((r) => r.prompt),
      evalPrompts: heldOut.map((r) => r.prompt),
      trainRows: train.map((r) => r.row),
      evalRows: heldOut.map((r) => r.row),
      rewards,
      defaults: { eval_prompts: Math.min(heldOut.length, 256) },
    };
  });
  return spec;
}
