/**
 * Training diverged: a loss, gradient or updated weight became NaN or infinite at `step`. Nothing
 * of that step was logged or checkpointed; the latest checkpoint (if any) is from before it.
 * Light (no TF.js) so that the CLI can recognize it.
 */
export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
  readonly step: number;

  /** `cause`: the likely cause and what to try, only where one is likely (see `divergenceCause`). */
  constructor(step: number, problem: string, cause: string | undefined, lastCheckpoint?: string) {
    super(
      `training stopped at step ${step}: ${problem}${cause === undefined ? '' : ` (${cause})`}; ` +
        (lastCheckpoint === undefined
          ? 'no checkpoint was written'
          : `the last good checkpoint is ${lastCheckpoint}`),
    );
    this.step = step;
  }
}

/**
 * A step's reward outside the reward range GRPOVI adjusts within. The message names the range and
 * where it came from, the step, the prompt and completion, and the reward functions that made the
 * value; nothing of the step was logged or checkpointed. Light (no TF.js) so that the CLI can
 * recognize it.
 */
export class RewardRangeError extends Error {
  override readonly name = 'RewardRangeError';
  readonly step: number;
  /** Everything but the step and the checkpoint: the value, the sample, the range and its source. */
  readonly detail: string;

  /** `lastCheckpoint`: the checkpoint the folder can resume from; null when none was written; undefined to leave it out. */
  constructor(step: number, detail: string, lastCheckpoint?: string | null) {
    super(
      `training stopped at step ${step}: ${detail}` +
        (lastCheckpoint === undefined
          ? ''
          : lastCheckpoint === null
            ? '; no checkpoint was written'
            : `; the last good checkpoint is ${lastCheckpoint}`),
    );
    this.step = step;
    this.detail = detail;
  }
}

/** What a run had done when it diverged, for naming the likely cause. */
export interface DivergenceContext {
  /** What became non-finite: the loss or gradient (from the weights before this update), or the updated weights. */
  quantity: 'loss' | 'gradient' | 'weights';
  /** Optimizer updates applied to the policy so far (0: the weights are the initial ones). */
  updates: number;
  learningRate: number;
}

/**
 * The likely cause of a divergence, or undefined when none stands out. Finite weights updated into
 * non-finite ones point at the step size (the learning rate); a loss or gradient that is not finite
 * before any update cannot be the learning rate's doing (it has not been used yet).
 */
export function divergenceCause(context: DivergenceContext): string | undefined {
  const { quantity, updates, learningRate } = context;
  if (quantity === 'weights')
    return `the update overflowed: learning_rate ${learningRate} is likely too large; try a smaller one`;
  if (updates === 0) {
    return (
      'before any update, so not the learning rate: the policy as loaded, its sampling settings or the ' +
      'rewards give a non-finite value'
    );
  }
  return `after ${updates} update(s): if grad_norm grew over the last steps, try a smaller learning_rate than ${learningRate}`;
}
