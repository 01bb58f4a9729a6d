/**
 * What a run folder holds, read for reports and the dashboard: its resolved config (`config.json`),
 * its metrics rows (`metrics.jsonl`), its sample completions (`samples.jsonl`) and whether it is
 * still running. Reading never writes and tolerates a run that is being written: a torn last line
 * (an append in progress) is left for the next read.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { MetricsRow } from '../train/metrics.js';
import { CHECKPOINTS_DIR } from '../train/runCheckpoint.js';
import { SAMPLES_FILE, type SampleRow } from '../train/samples.js';
import { ComparisonError } from './errors.js';
import { rowsWithComputedKl } from './stats.js';
import { jsonProblem, parseJson } from '../util/boundedJson.js';

export const CONFIG_FILE = 'config.json';
export const METRICS_FILE = 'metrics.jsonl';
// The trainer's samples.jsonl: one format, defined where it is written.
export { SAMPLES_FILE, type SampleRow } from '../train/samples.js';

/**
 * `finished`: the last configured step is logged; `running`: a process writes it (the metrics file
 * changed recently); `interrupted`: it stopped before its last step; `new`: no step logged yet.
 */
export type RunActivity = 'finished' | 'running' | 'interrupted' | 'new';

export interface RunView {
  dir: string;
  /** The resolved config as written by the trainer; empty when config.json is missing. */
  config: Record<string, unknown>;
  rows: MetricsRow[];
  samples: SampleRow[];
  state: RunActivity;
  /** The last logged step (0 before the first training step). */
  step: number;
  /** When the trainer last wrote one of its files (ms since the epoch); null if none exists. */
  lastWriteMs: number | null;
}

/** A metrics file this recent counts as written by a live process. */
export const RUNNING_WINDOW_MS = 120_000;

/** Parses one line of a run's JSON files, bounded (util/boundedJson). */
function parseLine(text: string, source: string): unknown {
  try {
    return parseJson(text, source);
  } catch (error) {
    throw new ComparisonError(`${source} ${jsonProblem(error)}`);
  }
}

/** The complete lines of a JSONL file that may be being appended to, with their 1-based numbers. */
function completeLines(path: string): Array<{ line: string; number: number }> {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const complete = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .map((line, i) => ({ line, number: i + 1 }))
    .filter(({ line }) => line.trim() !== '');
}

export function readMetricsRows(dir: string): MetricsRow[] {
  const path = join(dir, METRICS_FILE);
  return completeLines(path).map(({ line, number }) => {
    const row = parseLine(line, `${path} line ${number}`) as Partial<MetricsRow> | null;
    if (typeof row !== 'object' || row === null || typeof row.step !== 'number')
      throw new ComparisonError(
        `${path} line ${number}: a metrics row needs a "step" number (${line.slice(0, 80)})`,
      );
    return row as MetricsRow;
  });
}

function isSample(value: unknown): value is SampleRow {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s.step === 'number' &&
    typeof s.prompt === 'string' &&
    typeof s.completion === 'string' &&
    typeof s.reward === 'number'
  );
}

export function readSamples(dir: string): SampleRow[] {
  const path = join(dir, SAMPLES_FILE);
  return completeLines(path).map(({ line, number }) => {
    const sample = parseLine(line, `${path} line ${number}`);
    if (!isSample(sample)) {
      throw new ComparisonError(
        `${path} line ${number}: a sample needs "step", "prompt", "completion" and "reward" (${line.slice(0, 80)})`,
      );
    }
    return { ...sample, rewards: typeof sample.rewards === 'object' && sample.rewards ? sample.rewards : {} };
  });
}

export function readRunConfig(dir: string): Record<string, unknown> {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) return {};
  const config = parseLine(readFileSync(path, 'utf8'), path);
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new ComparisonError(`${path}: the config must be a JSON object`);
  return config as Record<string, unknown>;
}

/** Where a run stands, from its last logged step, its configured steps and how recently it wrote. */
export function runActivity(
  lastStep: number | null,
  steps: number | null,
  lastWriteMs: number | null,
  nowMs: number,
): RunActivity {
  if (lastStep !== null && steps !== null && lastStep >= steps) return 'finished';
  if (lastWriteMs !== null && nowMs - lastWriteMs <= RUNNING_WINDOW_MS) return 'running';
  return lastStep === null ? 'new' : 'interrupted';
}

function lastWrite(dir: string): number | null {
  let latest: number | null = null;
  for (const file of [METRICS_FILE, SAMPLES_FILE, CONFIG_FILE]) {
    const path = join(dir, file);
    if (existsSync(path)) latest = Math.max(latest ?? 0, statSync(path).mtimeMs);
  }
  return latest;
}

/** Reads a run folder; `now` is injectable for tests. */
export function readRunView(dir: string, now = Date.now()): RunView {
  const config = readRunConfig(dir);
  // A run at beta 0 logs kl 0 without computing it: its rows leave kl out, so it shows as not computed.
  const rows = rowsWithComputedKl(readMetricsRows(dir), config);
  const samples = readSamples(dir);
  const lastStep = rows.length > 0 ? Math.max(...rows.map((row) => row.step)) : null;
  const steps = typeof config.steps === 'number' ? config.steps : null;
  const lastWriteMs = lastWrite(dir);
  return {
    dir,
    config,
    rows,
    samples,
    state: runActivity(lastStep, steps, lastWriteMs, now),
    step: lastStep ?? 0,
    lastWriteMs,
  };
}

/** A run folder is a folder the trainer writes: it holds config.json or metrics.jsonl. */
export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, CONFIG_FILE)) || existsSync(join(dir, METRICS_FILE));
}

/** Folders never searched for runs. */
const SKIPPED = new Set([CHECKPOINTS_DIR, 'node_modules', '.git']);

/**
 * Every run folder at or under `root` (a run, a comparison folder, or a folder of runs), as paths
 * relative to `root` ('' for `root` itself), sorted; `maxDepth` bounds the search.
 */
export function findRunFolders(root: string, maxDepth = 5): string[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number) => {
    if (isRunFolder(dir)) {
      found.push(relative(root, dir));
      return;
    }
    if (depth >= maxDepth) return;
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && !SKIPPED.has(e.name) && !e.name.startsWith('.'))
        .map((e) => e.name);
    } catch {
      return;
    }
    for (const name of entries.sort()) visit(join(dir, name), depth + 1);
  };
  visit(root, 0);
  return found;
}

/** The samples of the first and the last evaluation step that logged any. */
export function firstAndLastSamples(samples: readonly SampleRow[]): {
  first: { step: number; samples: SampleRow[] } | null;
  last: { step: number; samples: SampleRow[] } | null;
} {
  if (samples.length === 0) return { first: null, last: null };
  const steps = [...new Set(samples.map((s) => s.step))].sort((a, b) => a - b);
  const at = (step: number) => ({ step, samples: samples.filter((s) => s.step === step) });
  return { first: at(steps[0]), last: steps.length > 1 ? at(steps[steps.length - 1]) : null };
}
