/**
 * The files a comparison keeps in each run folder besides the trainer's own (config.json,
 * metrics.jsonl, checkpoints/): the run's exact config, its time record and the worker's log.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseTrainConfig, type TrainConfig } from '../train/config.js';
import { type MetricsRow, readMetrics } from '../train/metrics.js';
import { CHECKPOINTS_DIR } from '../train/runCheckpoint.js';
import type { UserFile } from '../tasks/sources/userFiles.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { ComparisonError } from './errors.js';
import { configDifferences } from './plan.js';
import { describeValue, jsonProblem, parseJson, readJsonFile } from '../util/boundedJson.js';

/** The resolved config of a run, written before it starts; the worker trains exactly this. */
export const RUN_FILE = 'run.json';
/** Wall time of the run's worker sessions and the backend it ran on. */
export const WORKER_FILE = 'worker.json';
/** The worker's stderr, appended across sessions. */
export const WORKER_LOG = 'worker.log';

export interface RunFile {
  format: 'grpovi-compare-run';
  version: 1;
  setting: string;
  config: TrainConfig;
  /** The user's files with their hashes when the comparison wrote this file; the worker refuses changed ones. */
  user_files?: UserFile[];
}

export interface WorkerRecord {
  /** Wall time of every session of this run (start of process to end of training), summed. */
  wall_seconds: number;
  sessions: number;
  backend: string | null;
  finished: boolean;
  updated_at: string;
}

/**
 * `finished`: the last step is logged and checkpointed; `resume`: a checkpoint before the last step
 * exists; `restart`: files of a run that never checkpointed (they are cleared); `new`: nothing yet.
 */
export type RunState = 'finished' | 'resume' | 'restart' | 'new';

export function writeRunFile(dir: string, run: RunFile): void {
  writeFileAtomic(join(dir, RUN_FILE), `${JSON.stringify(run, null, 2)}\n`);
}

export function readRunFile(dir: string): RunFile {
  const path = join(dir, RUN_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ComparisonError(`cannot read run file ${path}: ${(error as Error).message}`);
  }
  let parsed: Partial<RunFile>;
  try {
    parsed = (parseJson(text, path) ?? {}) as Partial<RunFile>;
  } catch (error) {
    throw new ComparisonError(`run file ${path} ${jsonProblem(error)}`);
  }
  if (parsed.format !== 'grpovi-compare-run')
    throw new ComparisonError(`${path}: not a comparison run file (${describeValue(parsed.format)})`);
  return { ...parsed, config: parseTrainConfig(parsed.config, path) } as RunFile;
}

/** Refuses a run folder whose recorded config is not the planned one (it was made by another comparison). */
export function checkRunFile(dir: string, config: TrainConfig): void {
  if (!existsSync(join(dir, RUN_FILE))) return;
  const recorded = readRunFile(dir).config;
  const differences = configDifferences(
    recorded as Record<string, unknown>,
    config as Record<string, unknown>,
  );
  if (differences.length > 0) {
    throw new ComparisonError(
      `run folder ${dir} holds a run with another config (${differences.join('; ')})`,
    );
  }
}

function latestCheckpointStep(dir: string): number | null {
  try {
    const latest = readJsonFile(join(dir, CHECKPOINTS_DIR, 'latest.json')) as { step?: unknown } | null;
    return typeof latest?.step === 'number' ? latest.step : null;
  } catch {
    return null;
  }
}

/** The metrics rows of a run folder; a torn last line (interrupted append) is ignored. */
export function readRunMetrics(dir: string): MetricsRow[] {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  if (text.endsWith('\n') || text === '') return readMetrics(path);
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => parseJson(line, `${path} line ${i + 1}`) as MetricsRow);
}

/** Where a run folder stands, for a run of `steps` steps. */
export function inspectRun(dir: string, steps: number): { state: RunState; step: number } {
  const checkpoint = latestCheckpointStep(dir);
  if (checkpoint !== null) {
    if (checkpoint >= steps) {
      let rows: MetricsRow[] = [];
      try {
        rows = readRunMetrics(dir);
      } catch {
        // An unreadable log cannot count as finished; resuming rewrites it from the checkpoint.
      }
      if (rows.some((row) => row.step === steps)) return { state: 'finished', step: steps };
    }
    if (checkpoint < steps) return { state: 'resume', step: checkpoint };
    // A checkpoint at the last step whose metrics are gone: the run cannot be trusted; start over.
    return { state: 'restart', step: 0 };
  }
  const trainerFiles = ['metrics.jsonl', 'config.json', CHECKPOINTS_DIR].some((f) =>
    existsSync(join(dir, f)),
  );
  return { state: trainerFiles ? 'restart' : 'new', step: 0 };
}

/** Removes the trainer's files of a run that never checkpointed, so a fresh run can start there. */
export function clearRun(dir: string): void {
  for (const file of ['metrics.jsonl', 'config.json', CHECKPOINTS_DIR, WORKER_FILE]) {
    rmSync(join(dir, file), { recursive: true, force: true });
  }
}

export function readWorkerRecord(dir: string): WorkerRecord | null {
  try {
    return readJsonFile(join(dir, WORKER_FILE)) as WorkerRecord;
  } catch {
    return null;
  }
}

export function writeWorkerRecord(dir: string, record: WorkerRecord): void {
  writeFileAtomic(join(dir, WORKER_FILE), `${JSON.stringify(record, null, 2)}\n`);
}
