import type { BackendName } from '../../nn/backends/backendNames.js';
import { runPlannedRun } from '../../experiments/plannedRun.js';
import type { WorkerEvent } from '../../experiments/worker.js';
import { watchBrokenPipe } from '../../train/interrupt.js';
import { UserInputError } from '../errors.js';
import { asUserError } from './compare.js';

/** One human-readable progress line per evaluation (and at start and end), on stderr. */
function describe(dir: string, event: WorkerEvent): string | undefined {
  if (event.event === 'start')
    return `${dir}: ${event.start_step > 0 ? `resuming at step ${event.start_step}` : 'starting'} of ${event.steps} on ${event.backend}`;
  if (event.event === 'step' && event.eval_reward !== undefined)
    return `${dir}: step ${event.step}/${event.steps}, eval reward ${event.eval_reward.toFixed(3)}`;
  if (event.event === 'end')
    return `${dir}: ${event.interrupted ? 'stopped with a checkpoint' : 'finished'} at step ${event.step}`;
  return undefined;
}

/** `grpovi compare-run RUN_DIR`: trains one planned run; Ctrl-C or SIGTERM stops it with a checkpoint. */
export async function executeCompareRun(dir: string, backend?: BackendName): Promise<void> {
  const startupSeconds = process.uptime();
  let stop = false;
  let signals = 0;
  const onSignal = () => {
    signals++;
    if (signals > 1) process.exit(130);
    stop = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed stdout or stderr stops it the same way (a write error, not a signal: Node ignores SIGPIPE).
  let pipeClosed = false;
  const unwatchPipes = watchBrokenPipe(() => {
    pipeClosed = true;
    stop = true;
  });
  try {
    const result = await runPlannedRun({
      dir,
      startupSeconds,
      backend,
      shouldStop: () => stop,
      emit: (event) => {
        const line = describe(dir, event);
        if (line !== undefined) process.stderr.write(`${line}\n`);
      },
    });
    if (result.status === 'already-finished')
      process.stderr.write(`${dir}: already finished, nothing to do\n`);
    if (result.status === 'interrupted')
      throw new UserInputError(
        `${dir}: stopped with a checkpoint; run the same command again to resume`,
        pipeClosed ? 141 : 130,
      );
  } catch (error) {
    throw asUserError(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    unwatchPipes();
  }
}
