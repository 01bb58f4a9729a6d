import type { TrainConfigInput } from '../train/config.js';

/**
 * The built-in tasks' training defaults (above the global defaults, below the config file and the
 * flags). Each task takes its `defaults` from here, and `grpovi train --help` shows them without
 * loading the tasks (which load TF.js and the corpora).
 */
export const TASK_DEFAULTS = {
  toy: {
    max_completion_length: 8,
    learning_rate: 3e-3,
    // grpovi's tuned settings before the TRL defaults (beta 0, dapo): the README's numbers use them.
    beta: 0.04,
    loss_type: 'grpo',
    prompts_per_step: 8,
    num_generations: 8,
    eval_every: 5,
    eval_prompts: 64,
  },
  sentiment: {
    max_completion_length: 16,
    prompts_per_step: 8,
    num_generations: 8,
    learning_rate: 3e-4,
    // grpovi's tuned settings before the TRL defaults (beta 0, dapo): the README's numbers use them.
    beta: 0.04,
    loss_type: 'grpo',
    eval_every: 10,
    eval_prompts: 128,
  },
  arithmetic: {
    max_completion_length: 5,
    prompts_per_step: 16,
    num_generations: 8,
    // The base policy is sharp: Adam's first, sign-like steps at 1e-4 already push KL past 1 per token.
    learning_rate: 2e-5,
    warmup_steps: 10,
    // grpovi's tuned settings before the TRL defaults (beta 0, dapo): the README's numbers use them.
    beta: 0.04,
    loss_type: 'grpo',
    eval_every: 10,
    eval_prompts: 256,
  },
} as const satisfies Record<string, Partial<TrainConfigInput>>;
