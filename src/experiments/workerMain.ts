/**
 * Entry point of a comparison's child process: `node workerMain.js RUN_DIR [--resume]`.
 * Progress goes to stdout as JSON lines; errors to stderr. Exit codes: 0 finished, 130 interrupted
 * (Ctrl-C; the run checkpointed and can be resumed), 1 failed.
 */
import { runWorker } from './worker.js';

const startupSeconds = process.uptime();
const [dir, ...flags] = process.argv.slice(2);
let stop = false;
process.on('SIGINT', () => {
  // The first Ctrl-C stops after the current step with a checkpoint; a second one quits at once.
  if (stop) process.exit(130);
  stop = true;
});
process.on('SIGTERM', () => {
  stop = true;
});

if (dir === undefined) {
  process.stderr.write('usage: workerMain RUN_DIR [--resume]\n');
  process.exitCode = 2;
} else {
  runWorker({
    dir,
    resume: flags.includes('--resume'),
    startupSeconds,
    shouldStop: () => stop,
    emit: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
  }).then(
    ({ interrupted }) => {
      process.exitCode = interrupted ? 130 : 0;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
