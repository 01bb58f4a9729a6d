import { z } from 'zod';
import { formatValue } from '../adjust/errors.js';
import { ADVANTAGE_SCALES } from '../grpo/advantages.js';
import { IMPORTANCE_SAMPLING_LEVELS, LOSS_TYPE_ALIASES, LOSS_TYPES } from '../grpo/objective.js';
import { ADJUSTMENT_WEIGHTS } from '../grpo/rewardTransform.js';
import { BACKENDS } from '../nn/backends/backendNames.js';
import { CONFIG_DEFAULTS } from './configDefaults.js';
import { ConfigError } from './configError.js';
import { checkFloat32Fields } from './float32Limits.js';
import { checkBatchLimits, LIMITS } from './limits.js';

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
    prompts_per_step: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.prompts_per_step)
      .default(CONFIG_DEFAULTS.prompts_per_step),
    num_generations: z
      .number()
      .int()
      .min(2)
      .max(LIMITS.num_generations)
      .default(CONFIG_DEFAULTS.num_generations),
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
    /** Measure the KL to the reference even when beta is 0 (one more forward pass per step); absent = false. */
    log_kl: z.boolean().optional(),
    epsilon: z.number().positive().lt(1).default(CONFIG_DEFAULTS.epsilon),
    /** Upper clip; equal to `epsilon` when absent. */
    epsilon_high: z.number().positive().optional(),
    num_iterations: z.number().int().min(1).default(CONFIG_DEFAULTS.num_iterations),
    /** Completions per forward/backward pass (TRL's per-device batch); the whole batch when absent. Must divide the batch. */
    minibatch_size: z.number().int().min(1).optional(),
    /** Minibatches per generation batch (TRL's name); the alternative to minibatch_size. */
    steps_per_generation: z.number().int().min(1).optional(),
    /** Minibatches whose gradients make one optimizer step; all of a generation batch's when absent (TRL's default). */
    gradient_accumulation_steps: z.number().int().min(1).optional(),
    /** Upper bound on the ratio of the unclipped term (TRL's two-sided clip); none when absent. */
    delta: z.number().gt(1).optional(),
    /** `token` (GRPO) or `sequence` (GSPO: the length-normalized sequence log-ratio). */
    importance_sampling_level: z
      .enum(IMPORTANCE_SAMPLING_LEVELS as [string, ...string[]])
      .default(CONFIG_DEFAULTS.importance_sampling_level),
    /** Leave completions that hit max_completion_length without EOS out of the loss. */
    mask_truncated_completions: z.boolean().default(CONFIG_DEFAULTS.mask_truncated_completions),
    /** Drop groups with zero reward std and sample further prompts in their place (DAPO's dynamic sampling). */
    dynamic_sampling: z.boolean().default(CONFIG_DEFAULTS.dynamic_sampling),
    /** Extra rollouts per step dynamic sampling may make before it trains on what it has. */
    dynamic_sampling_max_rounds: z.number().int().min(0).default(CONFIG_DEFAULTS.dynamic_sampling_max_rounds),
    scale_rewards: z.enum(ADVANTAGE_SCALES as [string, ...string[]]).default(CONFIG_DEFAULTS.scale_rewards),
    advantage_epsilon: z.number().min(0).default(CONFIG_DEFAULTS.advantage_epsilon),
    loss_type: z
      .preprocess(
        (value) => (typeof value === 'string' ? (LOSS_TYPE_ALIASES[value] ?? value) : value),
        z.enum(LOSS_TYPES as [string, ...string[]]),
      )
      .default(CONFIG_DEFAULTS.loss_type),
    temperature: z.number().positive().default(CONFIG_DEFAULTS.temperature),
    top_k: z.number().int().min(0).default(CONFIG_DEFAULTS.top_k),
    top_p: z.number().gt(0).max(1).default(CONFIG_DEFAULTS.top_p),
    /** Keep only tokens at least this fraction as likely as the likeliest (HF/TRL `min_p`); 0 keeps all. */
    min_p: z.number().min(0).max(1).default(CONFIG_DEFAULTS.min_p),
    /** HF's repetition penalty over the prompt's and completion's tokens; 1 is none. */
    repetition_penalty: z.number().positive().default(CONFIG_DEFAULTS.repetition_penalty),
    max_completion_length: z
      .number()
      .int()
      .min(1)
      .max(LIMITS.max_completion_length)
      .default(CONFIG_DEFAULTS.max_completion_length),
    /** Prompt tokens kept at most, from the end (TRL's left truncation); absent = whole prompts. */
    max_prompt_length: z.number().int().min(1).max(LIMITS.context_length).optional(),
    /** Module of tools the policy may call during the rollout (conversational prompts only). */
    tools: z.string().min(1).optional(),
    /** Tool-calling rounds per completion at most (TRL's name); absent = until the completion budget is spent. */
    max_tool_calling_iterations: z.number().int().min(0).optional(),
    /** Seconds a tool call may take before it fails; absent = 10. */
    tool_timeout: z.number().positive().optional(),
    /** Chat template for conversational prompts: a Jinja file, or the name of one of the policy's templates. */
    chat_template: z.string().min(1).optional(),
    /** Weights of the group mean the GRPOVI adjustment keeps. */
    grpovi_weights: z
      .enum(ADJUSTMENT_WEIGHTS as [string, ...string[]])
      .default(CONFIG_DEFAULTS.grpovi_weights),
    /**
     * GRPOVI strength L in [0, 1]: rewards (1 - L) r + L z, z the adjusted rewards; absent = 1.
     * Optional (not defaulted) so that configs written before it existed read back unchanged.
     */
    grpovi_strength: z.number().min(0).max(1).optional(),
    /** GRPOVI adjusts only the groups whose raw reward std is below this; absent = every group. */
    grpovi_max_std: z.number().positive().optional(),
    /**
     * Compression of a learned reward model's reward: sigmoid((score - offset) / T); absent = 1 (the
     * reward as the model gives it). See src/rewards/rewardTemperature.ts.
     */
    reward_temperature: z.number().positive().optional(),
    /** Per-prompt temperatures, log-uniform over [lo, hi] and fixed by a hash of the prompt text. */
    reward_temperature_range: z.tuple([z.number().positive(), z.number().positive()]).optional(),
    /** Overrides the reward range the reward functions declare. */
    reward_range: z.tuple([z.number(), z.number()]).optional(),
    /** Evaluate every this many steps (and before the first and after the last); 0 turns evaluation off. */
    eval_every: z.number().int().min(0).default(CONFIG_DEFAULTS.eval_every),
    /** Held-out prompts per evaluation (one sample each); the count (a file of them is `eval_prompts_file`). */
    eval_prompts: z.number().int().min(1).max(LIMITS.eval_prompts).default(CONFIG_DEFAULTS.eval_prompts),
    /** Write a checkpoint every this many steps (and after the last); 0 only at the end. */
    checkpoint_every: z.number().int().min(0).default(CONFIG_DEFAULTS.checkpoint_every),
    /** `auto`: BLAS when a CBLAS library loads, else wasm; `wasm`, `blas`, `cpu` force one. */
    backend: z.enum(BACKENDS as [string, ...string[]]).default(CONFIG_DEFAULTS.backend),
    /** BLAS threads; when absent, 1 under `compare --jobs` above 1, else every core. */
    blas_threads: z.number().int().min(1).optional(),
    /** Shape of a freshly initialized policy, for tasks that start from scratch (toy). */
    model: z
      .object({
        width: z.number().int().min(1).max(LIMITS.width),
        depth: z.number().int().min(1).max(LIMITS.depth),
        heads: z.number().int().min(1).max(LIMITS.heads),
        context_length: z.number().int().min(2).max(LIMITS.context_length),
      })
      .strict()
      .optional(),
    /** Folder of the starting policy, for tasks that start from a trained one. */
    policy: z.string().optional(),
    /**
     * LoRA rank: 0 (absent) trains every weight; r > 0 freezes the base and trains adapters on
     * `lora_target_modules` (PEFT's LoraConfig names; see src/nn/adapters/lora.ts and docs/lora.md).
     */
    lora_r: z.number().int().min(0).max(LIMITS.lora_r).optional(),
    /** LoRA scale numerator: the adapter adds alpha / r * B A; absent = 8 (PEFT's default). */
    lora_alpha: z.number().positive().finite().optional(),
    /** Dropout on the adapters' input while training; absent = 0. */
    lora_dropout: z.number().min(0).lt(1).optional(),
    /** Projections that get adapters (PEFT's target_modules); absent = PEFT's default for the model type. */
    lora_target_modules: z.array(z.string().min(1)).min(1).optional(),
    /** A PEFT adapter folder to start from, on top of `policy` (its r, alpha, dropout and targets are used). */
    adapter: z.string().min(1).optional(),
    /** Folder of the reward model, for tasks scored by a learned one (tasks from files: added to the rewards). */
    reward_model: z.string().optional(),
    /** Weight of `reward_model` in the combined reward (tasks from files). */
    reward_model_weight: z.number().finite().optional(),
    /** Prompt file (JSONL with a `prompt` string per line, or text with one per line): the task from files. */
    prompts: z.string().min(1).optional(),
    /** Held-out prompt file; without it a fixed 10% of `prompts` is held out. */
    eval_prompts_file: z.string().min(1).optional(),
    /** Reward modules and their weights in the combined reward (tasks from files). */
    rewards: z
      .array(z.object({ path: z.string().min(1), weight: z.number().finite().default(1) }).strict())
      .optional(),
  })
  .strict();

export type TrainConfig = z.infer<typeof TrainConfigSchema> & {
  scale_rewards: (typeof ADVANTAGE_SCALES)[number];
  loss_type: (typeof LOSS_TYPES)[number];
  importance_sampling_level: (typeof IMPORTANCE_SAMPLING_LEVELS)[number];
  grpovi_weights: (typeof ADJUSTMENT_WEIGHTS)[number];
  backend: (typeof BACKENDS)[number];
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
  checkFloat32Fields(config, source);
  checkBatchLimits(config, source);
  const batch = config.prompts_per_step * config.num_generations;
  if (config.minibatch_size !== undefined && batch % config.minibatch_size !== 0) {
    throw new ConfigError(
      `${source}: field "minibatch_size" must divide the batch of prompts_per_step x num_generations = ${batch} (${config.minibatch_size})`,
      'minibatch_size',
    );
  }
  const steps = config.steps_per_generation;
  if (steps !== undefined && batch % steps !== 0) {
    throw new ConfigError(
      `${source}: field "steps_per_generation" must divide the batch of prompts_per_step x num_generations = ${batch} (${steps})`,
      'steps_per_generation',
    );
  }
  if (steps !== undefined && config.minibatch_size !== undefined && config.minibatch_size * steps !== batch) {
    throw new ConfigError(
      `${source}: field "steps_per_generation" must equal the batch ${batch} / minibatch_size ${config.minibatch_size} when both are given (${steps})`,
      'steps_per_generation',
    );
  }
  const accumulation = config.gradient_accumulation_steps;
  const minibatches = stepsPerGeneration(config);
  if (accumulation !== undefined && minibatches % accumulation !== 0) {
    throw new ConfigError(
      `${source}: field "gradient_accumulation_steps" must divide the ${minibatches} minibatch(es) of a generation batch (${accumulation})`,
      'gradient_accumulation_steps',
    );
  }
  if (config.reward_range !== undefined && !(config.reward_range[0] < config.reward_range[1])) {
    throw new ConfigError(
      `${source}: field "reward_range" must be [min, max] with min < max (${formatValue(config.reward_range)})`,
      'reward_range',
    );
  }
  const temperatures = config.reward_temperature_range;
  if (temperatures !== undefined && !(temperatures[0] <= temperatures[1])) {
    throw new ConfigError(
      `${source}: field "reward_temperature_range" must be [lo, hi] with lo <= hi (${formatValue(temperatures)})`,
      'reward_temperature_range',
    );
  }
  if (
    temperatures !== undefined &&
    config.reward_temperature !== undefined &&
    config.reward_temperature !== 1
  ) {
    throw new ConfigError(
      `${source}: field "reward_temperature" cannot be combined with reward_temperature_range (${config.reward_temperature})`,
      'reward_temperature',
    );
  }
  checkLoraFields(config, source);
  if (config.model !== undefined && config.model.width % config.model.heads !== 0) {
    throw new ConfigError(
      `${source}: field "model.heads" must divide model.width = ${config.model.width} (${config.model.heads})`,
      'model.heads',
    );
  }
}

/** LoRA's other fields need lora_r > 0 (or an adapter folder, which brings its own). */
function checkLoraFields(config: TrainConfig, source: string): void {
  if (loraEnabled(config)) return;
  for (const field of ['lora_alpha', 'lora_dropout', 'lora_target_modules'] as const) {
    if (config[field] !== undefined)
      throw new ConfigError(
        `${source}: field "${field}" needs lora_r above 0 (or an adapter folder) to mean anything (${formatValue(config[field])})`,
        field,
      );
  }
}

/** Whether the run trains LoRA adapters rather than every weight. */
export function loraEnabled(config: Pick<TrainConfig, 'lora_r' | 'adapter'>): boolean {
  return (config.lora_r ?? 0) > 0 || config.adapter !== undefined;
}

/** Minibatches per generation batch: `steps_per_generation`, else batch / `minibatch_size`, else 1. */
export function stepsPerGeneration(config: TrainConfig): number {
  if (config.steps_per_generation !== undefined) return config.steps_per_generation;
  if (config.minibatch_size === undefined) return 1;
  return (config.prompts_per_step * config.num_generations) / config.minibatch_size;
}

/** Minibatches per optimizer step: `gradient_accumulation_steps`, else all of a generation batch (TRL). */
export function accumulationSteps(config: TrainConfig): number {
  return config.gradient_accumulation_steps ?? stepsPerGeneration(config);
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
