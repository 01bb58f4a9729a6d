import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { parseJson } from '../util/boundedJson.js';

/** `samples.jsonl` in a run folder: held-out completions with their rewards, written at every evaluation. */
export const SAMPLES_FILE = 'samples.jsonl';

/** Held-out prompts per evaluation whose completions are kept in `samples.jsonl`. */
export const SAMPLES_PER_EVAL = 8;

/** One line of `samples.jsonl`. */
export interface SampleRow {
  step: number;
  prompt: string;
  completion: string;
  /** The weighted sum the trainer optimizes. */
  reward: number;
  /** Each reward function's raw score, by name. */
  rewards: Record<string, number>;
  /** The task's gold reward, when it has one. */
  gold?: number;
}

function parseLines(text: string): SampleRow[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => parseJson(line, `line ${i + 1}`) as SampleRow);
}

/** The rows of a samples file (none when it does not exist); a torn last line is ignored. */
export function readSamples(path: string): SampleRow[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  return parseLines(text.slice(0, text.lastIndexOf('\n') + 1));
}

/** Appends evaluation samples; on resume keeps only those of steps up to the checkpoint. */
export class SamplesLog {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  truncateAfter(step: number): void {
    if (!existsSync(this.path)) return;
    const kept = readSamples(this.path).filter((row) => row.step <= step);
    writeFileAtomic(this.path, kept.map((row) => `${JSON.stringify(row)}\n`).join(''));
  }

  append(rows: readonly SampleRow[]): void {
    if (rows.length > 0) appendFileSync(this.path, rows.map((row) => `${JSON.stringify(row)}\n`).join(''));
  }
}
