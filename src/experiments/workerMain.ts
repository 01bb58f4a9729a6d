/**
 * Entry point of a comparison's child process: `node workerMain.js RUN_DIR [--resume] [--backend NAME]`.
 * Progress goes to stdout as JSON lines; errors to stderr. Exit codes: 0 finished, 128 + the
 * signal's number when stopped by SIGINT, SIGTERM or SIGHUP or when the comparison process is gone
 * (the run checkpointed and can be resumed), 1 failed.
 */
import { BACKENDS, type BackendName } from '../nn/backends/backendNames.js';
import { INTERRUPTED_EXIT_CODE, watchInterrupts } from '../train/interrupt.js';
import { runWorker } from './worker.js';

const USER_ERRORS = new Set([
  'RunFolderError',
  'CheckpointError',
  'ConfigError',
  'TrainingDivergedError',
  'RewardFunctionError',
]);
const startupSeconds = process.uptime();
const [dir, ...flags] = process.argv.slice(2);
const backendAt = flags.indexOf('--backend');
const backend = backendAt >= 0 ? flags[backendAt + 1] : undefined;
// The first signal stops after the current step with a checkpoint; a second one quits at once.
const interrupts = watchInterrupts(() => {});

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
    emit: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
  }).then(
    ({ interrupted }) => {
      process.exitCode = interrupted ? (interrupts.exitCode ?? INTERRUPTED_EXIT_CODE) : 0;
    },
    (error: unknown) => {
      // A user-caused failure (a held folder, a bad checkpoint, a diverged run) is its message alone.
      const userCaused = error instanceof Error && USER_ERRORS.has(error.name) ? error.message : undefined;
      process.stderr.write(
        `${userCaused ?? (error instanceof Error ? (error.stack ?? error.message) : String(error))}\n`,
      );
      process.exitCode = 1;
    },
  );
}
