/**
 * Entry point of a comparison's child process: `node workerMain.js RUN_DIR [--resume] [--backend NAME]`.
 * Progress goes to stdout as JSON lines; errors to stderr. Exit codes: 0 finished, 128 + the
 * signal's number when stopped by SIGINT, SIGTERM or SIGHUP, 129 (SIGHUP) or 141 (SIGPIPE) when the
 * comparison process is gone (the run checkpointed and can be resumed), 1 failed. With the
 * comparison process gone nobody reads stderr, so the worker then appends its end to worker.log.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKENDS, type BackendName } from '../nn/backends/backendNames.js';
import { INTERRUPTED_EXIT_CODE, stdioBroken, watchInterrupts } from '../train/interrupt.js';
import { WORKER_LOG } from './runFolder.js';
import { runWorker } from './worker.js';

const USER_ERRORS = new Set([
  'RunFolderError',
  'CheckpointError',
  'ConfigError',
  'TrainingDivergedError',
  'RewardRangeError',
  'RewardFunctionError',
]);
const startupSeconds = process.uptime();
const [dir, ...flags] = process.argv.slice(2);
const backendAt = flags.indexOf('--backend');
const backend = backendAt >= 0 ? flags[backendAt + 1] : undefined;
// The first signal stops after the current step with a checkpoint; a second one quits at once.
const interrupts = watchInterrupts(() => {});
const parentPid = process.ppid;
let lastStep: number | undefined;

/** Whether the comparison process that reads this worker's output is gone. */
const orphaned = (): boolean => stdioBroken() || process.ppid !== parentPid;

/** The worker's end (`stopped`, `finished`, `failed`, then `rest`), in its worker.log, for when its stderr has no reader. */
function logEnd(runDir: string, outcome: string, rest = ''): void {
  const step = lastStep === undefined ? '' : ` after step ${lastStep}`;
  const line =
    `--- ${new Date().toISOString()} the comparison process is gone: ${outcome}${step}${rest}` +
    ` (exit ${String(process.exitCode)})\n`;
  try {
    appendFileSync(join(runDir, WORKER_LOG), line);
  } catch {
    // The folder is gone too: the exit status is all that is left.
  }
}

if (dir === undefined || (backendAt >= 0 && !(BACKENDS as readonly string[]).includes(backend ?? ''))) {
  process.stderr.write(`usage: workerMain RUN_DIR [--resume] [--backend ${BACKENDS.join('|')}]\n`);
  process.exitCode = 2;
} else {
  runWorker({
    dir,
    resume: flags.includes('--resume'),
    backend: backend as BackendName | undefined,
    startupSeconds,
    shouldStop: () => interrupts.requested,
    emit: (event) => {
      if (event.event !== 'start') lastStep = event.step;
      process.stdout.write(`${JSON.stringify(event)}\n`);
    },
  }).then(
    ({ interrupted }) => {
      process.exitCode = interrupted ? (interrupts.exitCode ?? INTERRUPTED_EXIT_CODE) : 0;
      if (orphaned()) {
        if (interrupted) logEnd(dir, 'stopped', ' with a checkpoint; rerun the comparison to resume');
        else logEnd(dir, 'finished');
      }
    },
    (error: unknown) => {
      // A user-caused failure (a held folder, a bad checkpoint, a diverged run) is its message alone.
      const userCaused = error instanceof Error && USER_ERRORS.has(error.name) ? error.message : undefined;
      process.stderr.write(
        `${userCaused ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
      );
      process.exitCode = 1;
      if (orphaned()) logEnd(dir, 'failed', '; see the lines above');
    },
  );
}
