import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';

/**
 * One line of `metrics.jsonl`. Training steps carry every training field; step 0 is the evaluation
 * of the starting policy and carries evaluation fields only. Evaluation fields appear on the steps
 * after which an evaluation ran.
 */
export interface MetricsRow {
  step: number;
  reward_mean?: number;
  reward_std?: number;
  adjusted_reward_std?: number;
  /** Fraction of groups whose rewards are all equal (no learning signal). */
  frac_reward_zero_std?: number;
  kl?: number;
  loss?: number;
  clip_frac?: number;
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
  eval_reward?: number;
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
] as const;

/** Reads a metrics file; a bad line is reported with its number. */
export function readMetrics(path: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const row = JSON.parse(line) as MetricsRow;
      if (typeof row.step !== 'number') throw new Error('no "step" number');
      rows.push(row);
    } catch (error) {
      throw new Error(`${path}: line ${i + 1} is not a metrics row (${(error as Error).message})`);
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
