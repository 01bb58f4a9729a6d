/**
 * Ctrl-C during training. The first SIGINT only asks the trainer to stop after the current step
 * (it then writes a checkpoint). The handler removes itself at once, so a second SIGINT takes
 * Node's default action and ends the process immediately, even in the middle of a step; the shell
 * reports status 130. Nothing is corrupted by that: checkpoints are written to a temporary folder
 * and renamed into place, and a resume drops a half-appended metrics line.
 */
export interface InterruptWatch {
  /** Whether Ctrl-C has been pressed; pass as the trainer's `shouldStop`. */
  readonly requested: boolean;
  /** Removes the handler (if the first Ctrl-C has not already done so). */
  dispose(): void;
}

export function watchInterrupts(onFirst: () => void, signal: NodeJS.Signals = 'SIGINT'): InterruptWatch {
  let requested = false;
  const handler = (): void => {
    requested = true;
    process.removeListener(signal, handler);
    onFirst();
  };
  process.on(signal, handler);
  return {
    get requested() {
      return requested;
    },
    dispose() {
      process.removeListener(signal, handler);
    },
  };
}

/** The exit status of a process stopped by Ctrl-C (128 + SIGINT). */
export const INTERRUPTED_EXIT_CODE = 130;
