import { constants } from 'node:os';

/**
 * Stopping a training run cleanly. Ctrl-C (SIGINT), SIGTERM (`kill`, a service manager) and SIGHUP
 * (the terminal closed) only ask the trainer to stop after the current step; it then writes a
 * checkpoint and the process exits with 128 + the signal's number. The handlers remove themselves at
 * the first signal, so a second one takes Node's default action and ends the process at once, even in
 * the middle of a step. Nothing is corrupted by that: checkpoints are written to a temporary folder
 * and renamed into place, and a resume drops a half-appended metrics line.
 *
 * A trainer whose parent process is gone (the `npx` or shell that started it was killed) stops the
 * same way: nobody is left to see it, and it would otherwise hold its run folder forever. So does one
 * whose stdout or stderr lost its reader (`grpovi train ... | head`, a comparison process killed
 * with SIGKILL under its workers): Node ignores SIGPIPE, so the next write fails with EPIPE instead,
 * and that counts as SIGPIPE (exit 141) rather than ending the process before its checkpoint.
 */
export interface InterruptWatch {
  /** Whether a stop was asked for; pass as the trainer's `shouldStop`. */
  readonly requested: boolean;
  /** The signal that asked (`SIGHUP` when the parent went away, `SIGPIPE` when a write found no reader), once one did. */
  readonly signal: NodeJS.Signals | undefined;
  /** 128 + the signal's number, once a stop was asked for (the status a shell reports for it). */
  readonly exitCode: number | undefined;
  /** Removes the handlers (if the first signal has not already done so). */
  dispose(): void;
}

/** The signals that stop a run after its current step (SIGPIPE also does, as a write error). */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface WatchOptions {
  /** Also stop when the parent process goes away (checked whenever `requested` is read). Default true. */
  watchParent?: boolean;
  /** The parent's pid to watch; default the parent at the time of the call. */
  parentPid?: number;
  /** Also stop (as SIGPIPE) when a write to stdout or stderr finds its reader gone. Default true. */
  watchPipes?: boolean;
}

/** 128 + the signal's number: the exit status of a process ended by that signal. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 0);
}

/**
 * Watches for the stop signals. `onFirst` is told once, with the signal (or `SIGHUP` and
 * `parentGone` when the parent went away).
 */
export function watchInterrupts(
  onFirst: (signal: NodeJS.Signals, parentGone: boolean) => void,
  signals: NodeJS.Signals | readonly NodeJS.Signals[] = STOP_SIGNALS,
  options: WatchOptions = {},
): InterruptWatch {
  const list = typeof signals === 'string' ? [signals] : signals;
  const parentPid = options.parentPid ?? process.ppid;
  const watchParent = options.watchParent ?? true;
  let received: NodeJS.Signals | undefined;
  const remove = (): void => {
    for (const [signal, handler] of handlers) process.removeListener(signal, handler);
  };
  const stop = (signal: NodeJS.Signals, parentGone: boolean): void => {
    if (received !== undefined) return;
    received = signal;
    remove();
    onFirst(signal, parentGone);
  };
  const handlers = list.map((signal) => [signal, () => stop(signal, false)] as const);
  for (const [signal, handler] of handlers) process.on(signal, handler);
  const unwatchPipes =
    options.watchPipes === false ? () => {} : watchBrokenPipe(() => stop('SIGPIPE', false));
  return {
    get requested() {
      // Reparented (to init or a subreaper): the process that started us is gone. One cheap
      // system call, made once per training step.
      if (received === undefined && watchParent && process.ppid !== parentPid) stop('SIGHUP', true);
      return received !== undefined;
    },
    get signal() {
      return received;
    },
    get exitCode() {
      return received === undefined ? undefined : signalExitCode(received);
    },
    dispose() {
      remove();
      unwatchPipes();
    },
  };
}

/** Whether a stream error says the reader is gone (the write end of a closed pipe or socket). */
export function isBrokenPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return code === 'EPIPE' || code === 'ECONNRESET' || code === 'ERR_STREAM_DESTROYED';
}

let pipeWatchers = 0;
let pipeBroken = false;

/** Whether some running work stops by itself (with a checkpoint) when stdout or stderr loses its reader. */
export function brokenPipeWatched(): boolean {
  return pipeWatchers > 0;
}

/** Whether a write to stdout or stderr of this process has already found its reader gone. */
export function stdioBroken(): boolean {
  return pipeBroken;
}

/** Records that stdout or stderr lost its reader (for the CLI's own last-resort stream handler). */
export function markStdioBroken(): void {
  pipeBroken = true;
}

/**
 * Calls `onBroken` when a write to stdout or stderr fails because its reader is gone; while it
 * watches, such an error is handled (it does not end the process). Returns the function that stops
 * watching. A broken stream is destroyed, so later writes to it are dropped silently.
 */
export function watchBrokenPipe(onBroken: () => void): () => void {
  const listener = (error: Error) => {
    if (!isBrokenPipe(error)) return;
    pipeBroken = true;
    onBroken();
  };
  const streams = [process.stdout, process.stderr];
  for (const stream of streams) stream.on('error', listener);
  pipeWatchers++;
  let watching = true;
  return () => {
    if (!watching) return;
    watching = false;
    pipeWatchers--;
    // Keep a listener that swallows later pipe errors: with none, a late EPIPE would be an
    // uncaught 'error' event and end the process before its exit status is set.
    for (const stream of streams) {
      stream.off('error', listener);
      if (stream.listenerCount('error') === 0) stream.on('error', ignoreBrokenPipe);
    }
  };
}

function ignoreBrokenPipe(error: Error): void {
  if (!isBrokenPipe(error)) throw error;
  pipeBroken = true;
}

/** The exit status of a process stopped by Ctrl-C (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;

/** Exit statuses of a run stopped by a signal after checkpointing (SIGHUP, SIGINT, SIGTERM, SIGPIPE). */
export const STOPPED_EXIT_CODES: readonly number[] = [...STOP_SIGNALS, 'SIGPIPE' as const].map(
  signalExitCode,
);
