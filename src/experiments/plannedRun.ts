/**
 * One run of a planned comparison (`grpovi compare ... --plan`), started by its printed command
 * `grpovi compare-run RUN_DIR` on any machine that shares the folder: it finds where the run stands
 * and does what `compare` would do for it (skip it finished, resume it from its checkpoint, or start
 * it afresh), then trains it with the comparison worker.
 */
import type { BackendName } from '../nn/backends/backendNames.js';
import { clearRun, inspectRun, readRunFile, type RunState } from './runFolder.js';
import { runWorker, type WorkerEvent } from './worker.js';

export interface PlannedRunOptions {
  dir: string;
  emit: (event: WorkerEvent) => void;
  shouldStop?: () => boolean;
  startupSeconds?: number;
  /** Train on this backend instead of the one in run.json. */
  backend?: BackendName;
}

export interface PlannedRunResult {
  /** Where the run stood when the command started. */
  state: RunState;
  /** `already-finished`: nothing to do; `interrupted`: stopped with a checkpoint (rerun to resume). */
  status: 'finished' | 'already-finished' | 'interrupted';
}

export async function runPlannedRun(options: PlannedRunOptions): Promise<PlannedRunResult> {
  const { config } = readRunFile(options.dir);
  const { state } = inspectRun(options.dir, config.steps);
  if (state === 'finished') return { state, status: 'already-finished' };
  if (state === 'restart') clearRun(options.dir);
  const { interrupted } = await runWorker({
    dir: options.dir,
    resume: state === 'resume',
    emit: options.emit,
    shouldStop: options.shouldStop,
    startupSeconds: options.startupSeconds,
    backend: options.backend,
  });
  return { state, status: interrupted ? 'interrupted' : 'finished' };
}
