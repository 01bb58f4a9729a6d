import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { jsonProblem, parseJson } from '../util/boundedJson.js';

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

/** Fields that measure time and so differ between otherwise identical runs. */
export const TIMING_FIELDS = [
  'step_seconds',
  'tokens_per_second',
  'rollout_seconds',
  'reward_seconds',
  'transform_seconds',
  'update_seconds',
  'score_seconds',
] as const;

/** Reads a metrics file; a bad line is reported with its number. */
export function readMetrics(path: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const row = parseJson(line, `line ${i + 1}`) as MetricsRow;
      if (typeof row.step !== 'number') throw new Error('no "step" number');
      rows.push(row);
    } catch (error) {
      throw new Error(`${path}: line ${i + 1} is not a metrics row (${jsonProblem(error)})`);
    }
  });
  return rows;
}

/** Appends rows to `metrics.jsonl`, one JSON object per line. */
export class MetricsLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /**
   * Keeps only rows up to `step` (used when resuming from a checkpoint at that step). A last line
   * without its newline is the remains of an interrupted append and is dropped.
   */
  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const text = readFileSync(this.path, 'utf8');
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    if (complete.length < text.length) writeFileAtomic(this.path, complete);
    const kept = readMetrics(this.path).filter((row) => row.step <= step);
    writeFileAtomic(this.path, kept.map((row) => `${JSON.stringify(row)}\n`).join(''));
  }

  append(row: MetricsRow): void {
    appendFileSync(this.path, `${JSON.stringify(row)}\n`);
  }
}
