/**
 * The comparison's progress display: `run k/n (setting, algo, seed s): step i/N`. On a terminal one
 * status line is redrawn with every running run; elsewhere (logs, CI) a line is printed when a run
 * starts, at each evaluation and when it ends.
 */

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface RunLabel {
  index: number;
  total: number;
  setting: string;
  algo: string;
  seed: number;
}

export function describeRun(run: RunLabel): string {
  return `run ${run.index}/${run.total} (${run.setting}, ${run.algo}, seed ${run.seed})`;
}

function formatNumber(value: number): string {
  return value.toFixed(3);
}

export class ComparisonProgress {
  private readonly stream: ProgressStream;
  private readonly active = new Map<number, string>();
  private statusShown = false;

  constructor(stream: ProgressStream) {
    this.stream = stream;
  }

  private get live(): boolean {
    return this.stream.isTTY === true;
  }

  /** Prints a permanent line (above the status line on a terminal). */
  line(text: string): void {
    this.clearStatus();
    this.stream.write(`${text}\n`);
    this.drawStatus();
  }

  started(run: RunLabel, startStep: number, steps: number, resumed: boolean): void {
    const from = resumed ? `resuming at step ${startStep}/${steps}` : `starting (${steps} steps)`;
    this.active.set(run.index, `${describeRun(run)}: step ${startStep}/${steps}`);
    this.line(`${describeRun(run)}: ${from}`);
  }

  step(run: RunLabel, step: number, steps: number, evalReward?: number): void {
    const text = `${describeRun(run)}: step ${step}/${steps}`;
    this.active.set(run.index, text);
    if (this.live) {
      this.clearStatus();
      this.drawStatus();
    } else if (evalReward !== undefined) {
      this.stream.write(`${text}, eval reward ${formatNumber(evalReward)}\n`);
    }
  }

  finished(run: RunLabel, message: string): void {
    this.active.delete(run.index);
    this.line(`${describeRun(run)}: ${message}`);
  }

  /** Removes the status line (before other output, and at the end). */
  clearStatus(): void {
    if (this.live && this.statusShown) this.stream.write('\r\x1b[K');
    this.statusShown = false;
  }

  private drawStatus(): void {
    if (!this.live || this.active.size === 0) return;
    const width = Math.max(20, (this.stream.columns ?? 120) - 1);
    let text = [...this.active.values()].join(' | ');
    if (text.length > width) text = `${text.slice(0, width - 1)}…`;
    this.stream.write(text);
    this.statusShown = true;
  }
}
