import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { jsonProblem, parseJson } from '../util/boundedJson.js';

export type { MetricsRow } from './core/metricsRow.js';
import type { MetricsRow } from './core/metricsRow.js';

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
