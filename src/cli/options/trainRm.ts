import type { BackendName } from '../../nn/backends/backendNames.js';

/** The options of `grpovi train-rm` as commander hands them to the action. */
export interface TrainRmFlags {
  policy: string;
  preferences?: string;
  out: string;
  pairs: number;
  heldOutPairs: number;
  labelNoise: number;
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  backend: BackendName;
  force?: boolean;
}
