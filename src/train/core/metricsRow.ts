/**
 * One line of `metrics.jsonl`. Training steps carry every training field; step 0 is the evaluation
 * of the starting policy and carries evaluation fields only. Evaluation fields appear on the steps
 * after which an evaluation ran.
 */
export interface MetricsRow {
  step: number;
  reward_mean?: number;
  /** Std of the whole batch's rewards (TRL's `reward_std`). Runs before TRL parity logged the mean group std here. */
  reward_std?: number;
  /** Mean over groups of each group's reward std; readers fall back to `reward_std` for older runs. */
  reward_std_group?: number;
  /** Mean over groups of the std of the rewards the advantages use (after the GRPOVI adjustment). */
  adjusted_reward_std?: number;
  /** TRL's `frac_reward_zero_std`: fraction of completions whose advantage divisor is zero (no learning signal). */
  frac_reward_zero_std?: number;
  kl?: number;
  loss?: number;
  /** Same as `clip_ratio/region_mean` (the name before TRL parity). */
  clip_frac?: number;
  /** Fraction of tokens (sequences for GSPO) whose ratio is below 1 - epsilon with a negative advantage. */
  'clip_ratio/low_mean'?: number;
  /** Fraction whose ratio is above 1 + epsilon_high with a positive advantage. */
  'clip_ratio/high_mean'?: number;
  /** Either of the two: the tokens the clip takes the gradient from. */
  'clip_ratio/region_mean'?: number;
  /** Dynamic sampling: extra rollouts made this step. */
  'dynamic_sampling/rounds'?: number;
  /** Dynamic sampling: prompts sampled in the extra rollouts. */
  'dynamic_sampling/extra_prompts'?: number;
  /** Dynamic sampling: zero-std groups seen this step. */
  'dynamic_sampling/zero_std_groups'?: number;
  /** Dynamic sampling: zero-std groups kept because the bound on extra rollouts was reached. */
  'dynamic_sampling/filled_groups'?: number;
  /** Tool calls per completion (tasks with tools; TRL's name). */
  'tools/call_frequency'?: number;
  /** Share of the tool calls that failed: unknown tool, bad JSON, an error or a timeout (TRL's name). */
  'tools/failure_frequency'?: number;
  entropy?: number;
  grad_norm?: number;
  completion_length?: number;
  learning_rate?: number;
  step_seconds?: number;
  tokens_per_second?: number;
  rollout_seconds?: number;
  reward_seconds?: number;
  transform_seconds?: number;
  update_seconds?: number;
  /** The part of `update_seconds` spent scoring the batch under the reference (and sampling) policy. */
  score_seconds?: number;
  eval_reward?: number;
  /** With `reward_temperature(_range)`: the evaluation reward of the uncompressed reward (temperature 1). */
  eval_reward_raw?: number;
  eval_gold?: number;
  eval_completion_length?: number;
  /** Per reward function means, keyed `rewards/<name>`. */
  [key: `rewards/${string}`]: number;
}
