/**
 * Entry point of a comparison's child process: `node workerMain.js RUN_DIR [--resume]`.
 * Progress goes to stdout as JSON lines; errors to stderr. Exit codes: 0 finished, 128 + the
 * signal's number when stopped by SIGINT, SIGTERM or SIGHUP or when the comparison process is gone
 * (the run checkpointed and can be resumed), 1 failed.
 */
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
// The first signal stops after the current step with a checkpoint; a second one quits at once.
const interrupts = watchInterrupts(() => {});

if (dir === undefined) {
  process.stderr.write('usage: workerMain RUN_DIR [--resume]\n');
  process.exitCode = 2;
} else {
  runWorker({
    dir,
    resume: flags.includes('--resume'),
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
