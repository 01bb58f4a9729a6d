/**
 * A loss, gradient or weight that is NaN or infinite: training has diverged (typically a learning
 * rate far too large). Thrown before the bad values reach the weights or a checkpoint.
 */
export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
  /** What is not finite. */
  readonly quantity: 'loss' | 'gradient' | 'weights';

  constructor(quantity: 'loss' | 'gradient' | 'weights', message: string) {
    super(message);
    this.quantity = quantity;
  }
}
