import { describeValue } from '../util/describeValue.js';

/** Formats a bad value for an error message: short, and faithful for NaN, Infinity and -0. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number') {
    if (Object.is(value, -0)) return '-0';
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const view = value as unknown as ArrayLike<number>;
    value = Array.from({ length: Math.min(view.length, 81) }, (_, i) => view[i]);
  }
  // Bounded in length and depth whatever the value holds (a 5000-deep array would overflow String()).
  return describeValue(value);
}

/**
 * An input a user can get wrong: the message names the field and ends with the bad value in
 * parentheses, e.g. `rewards[3] is outside the range [0, 1] (1.5)`.
 */
export class RewardInputError extends Error {
  override readonly name = 'RewardInputError';
  /** The input that is wrong, e.g. `rewards[3]`, `weights`, `min`. */
  readonly field: string;
  /** The offending value. */
  readonly value: unknown;
  /** What is wrong, without the field's value. */
  readonly problem: string;

  constructor(field: string, problem: string, value: unknown) {
    super(`${field} ${problem} (${formatValue(value)})`);
    this.field = field;
    this.problem = problem;
    this.value = value;
  }
}
