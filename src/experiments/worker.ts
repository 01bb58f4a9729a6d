/**
 * One run of a comparison, in its own process: trains the config in the run folder's `run.json`
 * (resuming from the folder's checkpoint when asked) and reports progress as JSON lines.
 */
import type { BackendName } from '../nn/backends/backendNames.js';
import { changedUserFiles } from '../tasks/sources/userFiles.js';
import { loadTask, taskContext } from '../train/setup.js';
import { ComparisonError } from './errors.js';
import { train } from '../train/trainer.js';
import { readRunFile, readWorkerRecord, writeWorkerRecord } from './runFolder.js';

/** What a worker prints on stdout, one JSON object per line, for the comparison's progress display. */
export type WorkerEvent =
  | { event: 'start'; backend: string; start_step: number; steps: number }
  | { event: 'step'; step: number; steps: number; eval_reward?: number }
  | { event: 'end'; step: number; interrupted: boolean };

export interface WorkerOptions {
  dir: string;
  resume: boolean;
  emit: (event: WorkerEvent) => void;
  shouldStop?: () => boolean;
  /** Seconds this process has run before training started (counted in the run's wall time). */
  startupSeconds?: number;
  /** Train on this backend instead of the one in run.json (it changes speed, not what is trained). */
  backend?: BackendName;
}

/** Trains the run; resolves to whether it was interrupted before its last step. */
export async function runWorker(options: WorkerOptions): Promise<{ interrupted: boolean }> {
  const started = performance.now();
  const planned = readRunFile(options.dir);
  const userFiles = planned.user_files;
  const config =
    options.backend === undefined ? planned.config : { ...planned.config, backend: options.backend };
  const changed = changedUserFiles(userFiles ?? [], 'since the comparison started this run');
  if (changed.length > 0)
    throw new ComparisonError(`${changed.join('; ')}: the run would not train on what was planned`);
  const task = await loadTask(config.task, taskContext(config));
  const previous = readWorkerRecord(options.dir);
  let backend: string | null = previous?.backend ?? null;
  let finished = false;
  const record = () =>
    writeWorkerRecord(options.dir, {
      wall_seconds:
        (options.resume ? (previous?.wall_seconds ?? 0) : 0) +
        (options.startupSeconds ?? 0) +
        (performance.now() - started) / 1000,
      sessions: (options.resume ? (previous?.sessions ?? 0) : 0) + 1,
      backend,
      finished,
      updated_at: new Date().toISOString(),
    });
  try {
    const result = await train({
      config,
      task,
      outDir: options.dir,
      resumeFrom: options.resume ? options.dir : undefined,
      lockAs: 'compare worker',
      shouldStop: options.shouldStop,
      observer: {
        onStart(info) {
          backend = info.backend;
          options.emit({
            event: 'start',
            backend: info.backend,
            start_step: info.startStep,
            steps: info.steps,
          });
        },
        onNote(message) {
          process.stderr.write(`grpovi: note: ${message}\n`);
        },
        onStep(row, totalSteps) {
          const event: WorkerEvent = { event: 'step', step: row.step, steps: totalSteps };
          if (typeof row.eval_reward === 'number') event.eval_reward = row.eval_reward;
          options.emit(event);
        },
      },
    });
    finished = !result.interrupted && result.step === config.steps;
    options.emit({ event: 'end', step: result.step, interrupted: result.interrupted });
    return { interrupted: result.interrupted };
  } finally {
    record();
    task.dispose?.();
  }
}
