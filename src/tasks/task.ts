import type { PolicyModel } from '../nn/models/policyModel.js';
import type { ChatTemplate } from '../nn/tokenizers/chatTemplate.js';
import type { ToolSet } from '../train/tools/toolCall.js';
import type { Tokenizer } from '../nn/tokenizers/tokenizer.js';
import type { PromptRow, RewardFunction, WeightedReward } from '../rewards/rewardFunction.js';
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
  /** Per-prompt columns handed to the reward functions, aligned with `trainPrompts` (prompt files). */
  trainRows?: readonly PromptRow[];
  /** Per-prompt columns aligned with `evalPrompts`. */
  evalRows?: readonly PromptRow[];
  rewards: readonly WeightedReward[];
  /**
   * Prompt text to token ids; absent, `tokenizer.encode`. Tasks of conversational prompts encode the
   * rendered text without the tokenizer's added special tokens (the template wrote them).
   */
  encodePrompt?(text: string): number[];
  /** The chat template conversational prompts were rendered with (and tool messages are appended through). */
  chatTemplate?: ChatTemplate;
  /** Tools the policy may call during the rollout (rendered into the prompts by the template). */
  tools?: ToolSet;
  /** Lines the CLI shows before training (how prompts were held out, vocabulary warnings). */
  notices?: readonly string[];
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
  /** Weight of the reward model in the combined reward (tasks from files). */
  rewardModelWeight?: number;
  /** Prompt file (JSONL with `prompt`, or text), for the task made from files. */
  prompts?: string;
  /** Held-out prompt file; without it a fixed share of `prompts` is held out. */
  evalPrompts?: string;
  /** Reward modules with their weights. */
  rewards?: readonly { path: string; weight: number }[];
  /** Chat template for conversational prompts: a file, or the name of one of the policy folder's templates. */
  chatTemplate?: string;
  /** Module of tools the policy may call (conversational prompts only). */
  tools?: string;
}

export type TaskFactory = (context: TaskContext) => Task | Promise<Task>;
