import type { BackendName } from '../../nn/backends/backendNames.js';

/** The options of `grpovi demo` as commander hands them to the action. */
export interface DemoFlags {
  out: string;
  seeds: number;
  steps: number;
  jobs: number;
  /** Overrides examples/demo.json's backend (auto). */
  backend?: BackendName;
}
