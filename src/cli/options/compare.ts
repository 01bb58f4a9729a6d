import type { BackendName } from '../../nn/backends/backendNames.js';
import type { Algo } from '../../experiments/algos.js';

/** The options of `grpovi compare` (and of `grpovi demo`, which runs a comparison) as the action takes them. */
export interface CompareFlags {
  task?: string;
  allowChangedFiles?: boolean;
  /** Config values of the task flags (--task, --prompts, --reward, ...), filled in by the command. */
  taskValues?: Record<string, unknown>;
  seeds?: number;
  seedList?: number[];
  steps?: number;
  out: string;
  algos: Algo[];
  config?: string;
  sweep: string[];
  jobs: number;
  plan?: boolean;
  planCommand?: string;
  /** Overrides the runs' configured backend. */
  backend?: BackendName;
}
