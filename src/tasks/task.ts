import type { PolicyModel } from '../nn/models/policyModel.js';
import type { Tokenizer } from '../nn/tokenizer.js';
import type { RewardFunction, WeightedReward } from '../rewards/rewardFunction.js';
import type { TrainConfigInput } from '../train/config.js';

/**
 * A training task: where prompts come from, how completions are scored, and which policy starts.
 * Tasks are built by factories so that large assets load only when the task is used.
 */
export interface Task {
  name: string;
  description: string;
  tokenizer: Tokenizer;
  /** The starting policy, trainable. Tasks without a shipped policy initialize one from the seed. */
  createPolicy(seed: number, config: TaskPolicyOptions): PolicyModel;
  trainPrompts: readonly string[];
  evalPrompts: readonly string[];
  rewards: readonly WeightedReward[];
  /** The true objective when the training reward is a learned proxy; reported as `eval_gold`. */
  gold?: RewardFunction;
  /** Task defaults, applied above the global defaults and below the config file and flags. */
  defaults: Partial<TrainConfigInput>;
  /** Releases tensors the task holds (e.g. a reward model). */
  dispose?(): void;
}

/** The part of the config a task needs to build a fresh policy. */
export interface TaskPolicyOptions {
  model?: { width: number; depth: number; heads: number; context_length: number };
  policy?: string;
}

export interface TaskContext {
  seed: number;
  /** Starting policy folder, for tasks that start from a trained one (default: the shipped asset). */
  policy?: string;
  /** Reward model folder, for tasks scored by a learned reward model (default: the shipped asset). */
  rewardModel?: string;
}

export type TaskFactory = (context: TaskContext) => Task | Promise<Task>;
