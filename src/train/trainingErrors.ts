/**
 * Training diverged: a loss, gradient or updated weight became NaN or infinite at `step`. Nothing
 * of that step was logged or checkpointed; the latest checkpoint (if any) is from before it.
 * Light (no TF.js) so that the CLI can recognize it.
 */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  readonly step: number;

  constructor(step: number, problem: string, learningRate: number, lastCheckpoint?: string) {
    super(
      `training stopped at step ${step}: ${problem} (learning_rate ${learningRate}; try a smaller one); ` +
        (lastCheckpoint === undefined
          ? 'no checkpoint was written'
          : `the last good checkpoint is ${lastCheckpoint}`),
    );
    this.step = step;
  }
}
