import type { ActiveBackend, BackendDescription } from '../nn/backends/backend.js';
import type { MetricsRow } from './metrics.js';
import type { SampleRow } from './samples.js';

/** What a trainer reports as it runs; the CLI shows it as a progress bar or log lines. */
export interface TrainObserver {
  onStart?(info: {
    backend: ActiveBackend;
    /** The library and threads behind `blas`. */
    backendDetails?: BackendDescription;
    task: string;
    algo: string;
    steps: number;
    startStep: number;
    outDir: string;
    parameters: number;
  }): void;
  onStep?(row: MetricsRow, totalSteps: number): void;
  onCheckpoint?(path: string, step: number): void;
  /** Held-out completions of an evaluation with their rewards (also appended to `samples.jsonl`). */
  onSamples?(step: number, samples: readonly SampleRow[]): void;
  onEnd?(info: { step: number; interrupted: boolean }): void;
  /** Something the user should know that is not an error (e.g. a run folder started again). */
  onNote?(message: string): void;
}
