import { z } from 'zod';
import { formatValue } from '../adjust/errors.js';
import { ADVANTAGE_SCALES } from '../grpo/advantages.js';
import { LOSS_TYPES } from '../grpo/objective.js';
import { ADJUSTMENT_WEIGHTS } from '../grpo/rewardTransform.js';
import { CONFIG_DEFAULTS } from './configDefaults.js';
import { ConfigError } from './configError.js';

/**
 * The training configuration. Field names follow the Python GRPO trainers (TRL) where one exists,
 * so `num_generations` is the group size, `beta` the KL weight, `epsilon`/`epsilon_high` the clip range.
 */
export const TrainConfigSchema = z
  .object({
    task: z.string().min(1),
    /** `grpo` uses raw rewards; `grpovi` adjusts each group's rewards to the largest variance first. */
    algo: z.enum(['grpo', 'grpovi']).default(CONFIG_DEFAULTS.algo),
    seed: z.number().int().min(0).default(CONFIG_DEFAULTS.seed),
    steps: z.number().int().min(1).default(CONFIG_DEFAULTS.steps),
    /** Distinct prompts per step; each is sampled `num_generations` times. */
    prompts_per_step: z.number().int().min(1).default(CONFIG_DEFAULTS.prompts_per_step),
    num_generations: z.number().int().min(2).default(CONFIG_DEFAULTS.num_generations),
    learning_rate: z.number().positive().default(CONFIG_DEFAULTS.learning_rate),
    lr_schedule: z.enum(['constant', 'cosine']).default(CONFIG_DEFAULTS.lr_schedule),
    warmup_steps: z.number().int().min(0).default(CONFIG_DEFAULTS.warmup_steps),
    /** Cosine schedule floor as a fraction of the learning rate. */
    min_lr_ratio: z.number().min(0).max(1).default(CONFIG_DEFAULTS.min_lr_ratio),
    weight_decay: z.number().min(0).default(CONFIG_DEFAULTS.weight_decay),
    max_grad_norm: z.number().min(0).default(CONFIG_DEFAULTS.max_grad_norm),
    adam_beta1: z.number().min(0).lt(1).default(CONFIG_DEFAULTS.adam_beta1),
    adam_beta2: z.number().min(0).lt(1).default(CONFIG_DEFAULTS.adam_beta2),
    adam_epsilon: z.number().positive().default(CONFIG_DEFAULTS.adam_epsilon),
    beta: z.number().min(0).default(CONFIG_DEFAULTS.beta),
    epsilon: z.number().positive().lt(1).default(CONFIG_DEFAULTS.epsilon),
    /** Upper clip; equal to `epsilon` when absent. */
    epsilon_high: z.number().positive().optional(),
    num_iterations: z.number().int().min(1).default(CONFIG_DEFAULTS.num_iterations),
    /** Completions per gradient update; the whole batch when absent. Must divide the batch. */
    minibatch_size: z.number().int().min(1).optional(),
    scale_rewards: z.enum(ADVANTAGE_SCALES as [string, ...string[]]).default(CONFIG_DEFAULTS.scale_rewards),
    advantage_epsilon: z.number().min(0).default(CONFIG_DEFAULTS.advantage_epsilon),
    loss_type: z.enum(LOSS_TYPES as [string, ...string[]]).default(CONFIG_DEFAULTS.loss_type),
    temperature: z.number().positive().default(CONFIG_DEFAULTS.temperature),
    top_k: z.number().int().min(0).default(CONFIG_DEFAULTS.top_k),
    top_p: z.number().gt(0).max(1).default(CONFIG_DEFAULTS.top_p),
    max_completion_length: z.number().int().min(1).default(CONFIG_DEFAULTS.max_completion_length),
    /** Weights of the group mean the GRPOVI adjustment keeps. */
    grpovi_weights: z
      .enum(ADJUSTMENT_WEIGHTS as [string, ...string[]])
      .default(CONFIG_DEFAULTS.grpovi_weights),
    /** Overrides the reward range the reward functions declare. */
    reward_range: z.tuple([z.number(), z.number()]).optional(),
    /** Evaluate every this many steps (and before the first and after the last); 0 turns evaluation off. */
    eval_every: z.number().int().min(0).default(CONFIG_DEFAULTS.eval_every),
    /** Held-out prompts per evaluation (one sample each). */
    eval_prompts: z.number().int().min(1).default(CONFIG_DEFAULTS.eval_prompts),
    /** Write a checkpoint every this many steps (and after the last); 0 only at the end. */
    checkpoint_every: z.number().int().min(0).default(CONFIG_DEFAULTS.checkpoint_every),
    backend: z.enum(['wasm', 'cpu']).default(CONFIG_DEFAULTS.backend),
    /** Shape of a freshly initialized policy, for tasks that start from scratch (toy). */
    model: z
      .object({
        width: z.number().int().min(1),
        depth: z.number().int().min(1),
        heads: z.number().int().min(1),
        context_length: z.number().int().min(2),
      })
      .strict()
      .optional(),
    /** Folder of the starting policy, for tasks that start from a trained one. */
    policy: z.string().optional(),
    /** Folder of the reward model, for tasks scored by a learned one. */
    reward_model: z.string().optional(),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema> & {
  scale_rewards: (typeof ADVANTAGE_SCALES)[number];
  loss_type: (typeof LOSS_TYPES)[number];
  grpovi_weights: (typeof ADJUSTMENT_WEIGHTS)[number];
};
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

export { ConfigError } from './configError.js';

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let node = input;
  for (const key of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/** Validates a merged configuration, naming the first bad field and its value. */
export function parseTrainConfig(input: unknown, source = 'config'): TrainConfig {
  const result = TrainConfigSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0];
      const where = [...issue.path, key].join('.');
      throw new ConfigError(
        `${source}: unknown field "${where}" (${formatValue(valueAt(input, [...issue.path, key]))})`,
        where,
      );
    }
    const field = issue.path.join('.') || '(root)';
    throw new ConfigError(
      `${source}: field "${field}" ${issue.message.replace(/^Invalid input: /, '')} (${formatValue(valueAt(input, issue.path))})`,
      field,
    );
  }
  const config = result.data as TrainConfig;
  checkConsistency(config, source);
  return config;
}

function checkConsistency(config: TrainConfig, source: string): void {
  const batch = config.prompts_per_step * config.num_generations;
  if (config.minibatch_size !== undefined && batch % config.minibatch_size !== 0) {
    throw new ConfigError(
      `${source}: field "minibatch_size" must divide the batch of prompts_per_step x num_generations = ${batch} (${config.minibatch_size})`,
      'minibatch_size',
    );
  }
  if (config.reward_range !== undefined && !(config.reward_range[0] < config.reward_range[1])) {
    throw new ConfigError(
      `${source}: field "reward_range" must be [min, max] with min < max (${formatValue(config.reward_range)})`,
      'reward_range',
    );
  }
  if (config.model !== undefined && config.model.width % config.model.heads !== 0) {
    throw new ConfigError(
      `${source}: field "model.heads" must divide model.width = ${config.model.width} (${config.model.heads})`,
      'model.heads',
    );
  }
}

/** Merges configuration layers, later ones winning; `undefined` values do not override. */
export function mergeConfigLayers(
  ...layers: (Record<string, unknown> | undefined)[]
): Record<string, unknown> {
  const merged: Record<string, unknown> = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) if (value !== undefined) merged[key] = value;
  }
  return merged;
}
