import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { parseJson } from '../util/boundedJson.js';

/** `samples.jsonl` in a run folder: held-out completions with their rewards, written at every evaluation. */
export const SAMPLES_FILE = 'samples.jsonl';

export { SAMPLES_PER_EVAL, type SampleRow } from './core/sampleRow.js';
import type { SampleRow } from './core/sampleRow.js';

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
