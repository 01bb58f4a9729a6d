import { DEFAULT_BACKEND } from '../nn/backends/backendNames.js';

/**
 * The defaults of the training config: TrainConfigSchema (src/train/config.ts) takes its defaults from
 * here, and `grpovi train --help` shows them without loading zod.
 */
export const CONFIG_DEFAULTS = {
  algo: 'grpo',
  seed: 0,
  steps: 100,
  prompts_per_step: 8,
  num_generations: 8,
  learning_rate: 1e-4,
  lr_schedule: 'constant',
  warmup_steps: 0,
  min_lr_ratio: 0.1,
  weight_decay: 0,
  max_grad_norm: 1,
  adam_beta1: 0.9,
  adam_beta2: 0.99,
  adam_epsilon: 1e-8,
  // TRL's GRPOConfig defaults (beta 0.0, loss_type dapo); the built-in tasks pin their tuned 0.04 and grpo.
  beta: 0,
  epsilon: 0.2,
  num_iterations: 1,
  scale_rewards: 'group',
  advantage_epsilon: 1e-4,
  loss_type: 'dapo',
  importance_sampling_level: 'token',
  mask_truncated_completions: false,
  dynamic_sampling: false,
  dynamic_sampling_max_rounds: 4,
  temperature: 1,
  top_k: 0,
  top_p: 1,
  min_p: 0,
  repetition_penalty: 1,
  max_completion_length: 16,
  grpovi_weights: 'uniform',
  eval_every: 10,
  eval_prompts: 64,
  checkpoint_every: 50,
  backend: DEFAULT_BACKEND,
} as const;
