/**
 * grpovi: GRPO and GRPOVI (GRPO with reward variance increase) for language models.
 * The reward adjustment is usable on its own from any RL pipeline.
 */
export * from './adjust/index.js';
