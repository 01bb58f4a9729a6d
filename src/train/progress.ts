import { adapterLine } from '../nn/backends/webgpu/adapterInfo.js';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { MetricsRow } from './metrics.js';
import type { TrainObserver } from './observer.js';

/** Where progress goes and how it looks. */
export interface ProgressOptions {
  /** Default `process.stderr`, so that stdout stays clean for results. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Draw a progress bar (default: when the stream is a terminal); otherwise print plain log lines. */
  bar?: boolean;
  /** Print nothing but notes (the Ctrl-C message). */
  quiet?: boolean;
  /** Without a bar, log a line every this many steps (default 10), on every evaluation step, and at the last step. */
  logEvery?: number;
  /**
   * Whether the run computes its KL to the reference (`needsReference`; default true). When it does
   * not (beta 0), the rows' kl 0 is a placeholder: lines leave it out and the bar shows "–".
   */
  klComputed?: boolean;
}

type StartInfo = Parameters<NonNullable<TrainObserver['onStart']>>[0];

function fixed(value: number | undefined, digits: number): string {
  return value === undefined ? '-' : value.toFixed(digits);
}

/** A number for a progress line: 3 decimals, or 2 significant digits when small (KL is often 1e-4). */
function short(value: number | undefined): string {
  if (value === undefined) return '-';
  if (value !== 0 && Math.abs(value) < 0.01) return value.toPrecision(2);
  return value.toFixed(3);
}

function blasText(info: StartInfo): string {
  const details = info.backendDetails;
  if (details?.webgpu_adapter !== undefined) return ` (adapter ${adapterLine(details.webgpu_adapter)})`;
  if (details?.blas_library === undefined) return '';
  return ` (${details.blas_library}, ${details.blas_threads} BLAS thread(s))`;
}

/** The first line of a run: what runs where. */
export function formatStartLine(info: StartInfo): string {
  const params = info.parameters.toLocaleString('en-US');
  const span =
    info.startStep > 0 ? `resuming at step ${info.startStep} of ${info.steps}` : `${info.steps} steps`;
  return `training task ${info.task} with ${info.algo} on the ${info.backend} backend${blasText(info)}: ${params} parameters, ${span}, run folder ${info.outDir}`;
}

/**
 * One plain progress line, e.g. `step 20/100  reward 0.412  eval 0.455  kl 0.0031  1.21 s/step`.
 * Fields the row does not have are left out (step 0 is the evaluation of the starting policy).
 */
export function formatStepLine(row: MetricsRow, totalSteps: number, secondsPerStep?: number): string {
  const parts = [`step ${row.step}/${totalSteps}`];
  if (row.reward_mean !== undefined) parts.push(`reward ${short(row.reward_mean)}`);
  if (row.eval_reward !== undefined) parts.push(`eval ${short(row.eval_reward)}`);
  if (row.eval_gold !== undefined) parts.push(`gold ${short(row.eval_gold)}`);
  if (row.kl !== undefined) parts.push(`kl ${short(row.kl)}`);
  if (secondsPerStep !== undefined && Number.isFinite(secondsPerStep))
    parts.push(`${fixed(secondsPerStep, 2)} s/step`);
  return parts.join('  ');
}

/**
 * Shows a run's progress: a bar with step/total, ETA, the last reward, eval reward and KL on a
 * terminal; plain log lines elsewhere (CI, pipes), one per evaluation and every `logEvery` steps.
 */
export class TrainProgress implements TrainObserver {
  private readonly stream: NodeJS.WritableStream;
  private readonly useBar: boolean;
  private readonly quiet: boolean;
  private readonly logEvery: number;
  private readonly klComputed: boolean;
  private bars?: MultiBar;
  private bar?: SingleBar;
  private lastEval?: number;
  private lastLineTime = 0;
  private lastLineStep = 0;

  constructor(options: ProgressOptions = {}) {
    const stream = options.stream ?? process.stderr;
    this.stream = stream;
    this.useBar = options.bar ?? stream.isTTY === true;
    this.quiet = options.quiet ?? false;
    this.logEvery = Math.max(1, options.logEvery ?? 10);
    this.klComputed = options.klComputed ?? true;
  }

  onStart(info: StartInfo): void {
    this.lastLineTime = performance.now();
    this.lastLineStep = info.startStep;
    if (this.quiet) return;
    this.stream.write(`${formatStartLine(info)}\n`);
    if (!this.useBar) return;
    this.bars = new MultiBar({
      stream: this.stream,
      // Short enough for an 80-column terminal.
      format: 'step {value}/{total} [{bar}] ETA {eta_formatted}  reward {reward}  eval {eval}  kl {kl}',
      barsize: 16,
      hideCursor: false,
      // Trim to the terminal's width rather than switch wrapping off: a hard kill cannot restore it.
      linewrap: true,
      gracefulExit: false,
      etaBuffer: 20,
    });
    this.bar = this.bars.create(info.steps, info.startStep, {
      reward: '-',
      eval: '-',
      kl: this.klComputed ? '-' : '–',
    });
  }

  onStep(row: MetricsRow, totalSteps: number): void {
    if (row.eval_reward !== undefined) this.lastEval = row.eval_reward;
    if (this.quiet) return;
    if (this.bar) {
      const payload: Record<string, string> = { eval: short(this.lastEval) };
      if (row.reward_mean !== undefined) payload.reward = short(row.reward_mean);
      if (row.kl !== undefined && this.klComputed) payload.kl = short(row.kl);
      this.bar.update(row.step, payload);
      return;
    }
    const due = row.step % this.logEvery === 0 || row.eval_reward !== undefined || row.step === totalSteps;
    if (!due) return;
    const time = performance.now();
    const steps = row.step - this.lastLineStep;
    const perStep = steps > 0 ? (time - this.lastLineTime) / 1000 / steps : undefined;
    this.lastLineTime = time;
    this.lastLineStep = row.step;
    const shown = this.klComputed ? row : { ...row, kl: undefined };
    this.stream.write(`${formatStepLine(shown, totalSteps, perStep)}\n`);
  }

  onCheckpoint(path: string, step: number): void {
    if (this.quiet || this.useBar) return;
    this.stream.write(`checkpoint at step ${step}: ${path}\n`);
  }

  onEnd(): void {
    this.close();
  }

  onNote(message: string): void {
    this.note(`grpovi: note: ${message}`);
  }

  /** Prints a message (even when quiet) without breaking the bar. */
  note(message: string): void {
    if (this.bars && this.bar) {
      this.bars.log(`${message}\n`);
      this.bars.update();
    } else {
      this.stream.write(`${message}\n`);
    }
  }

  /** Stops the bar, leaving its last state on screen; safe to call more than once. */
  close(): void {
    this.bars?.stop();
    this.bars = undefined;
    this.bar = undefined;
  }
}
