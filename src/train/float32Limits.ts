import { formatValue } from '../adjust/errors.js';
import { ConfigError } from './configError.js';

/**
 * The trainer computes in float32 (TF.js tensors), so a config value that float32 cannot hold, or
 * whose use it cannot hold, breaks a run many steps later as a NaN that looks like a bad learning
 * rate. These checks refuse such values up front, naming the field and the value:
 *
 * - every real-valued field: at most FLOAT32_MAX in magnitude (beyond it the value becomes Infinity);
 * - a nonzero value: at least FLOAT32_MIN_NORMAL in magnitude. Below it float32 has only subnormals
 *   (precision lost, flushed to 0 by some kernels) and dividing by it overflows: 1 / T for a
 *   temperature of 1e-40 is Infinity, and every sampled logit with it;
 * - a field used as `1 - x` (Adam's betas, the clip range): x must round below 1 in float32, or the
 *   bias correction divides by zero.
 */
export const FLOAT32_MAX = 3.4028234663852886e38;
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * The real-valued fields of the training config that reach float32 computation (the optimizer, the
 * loss, the sampled logits). The reward side (reward_range, the GRPOVI solver, advantages before
 * they become a tensor) computes in float64 and keeps its own checks.
 */
export const FLOAT32_FIELDS = [
  'learning_rate',
  'min_lr_ratio',
  'weight_decay',
  'max_grad_norm',
  'adam_beta1',
  'adam_beta2',
  'adam_epsilon',
  'beta',
  'epsilon',
  'epsilon_high',
  'delta',
  'temperature',
  'top_p',
  'min_p',
  'repetition_penalty',
] as const;

/** Fields used as `1 - x`: x must stay below 1 once rounded to float32. */
const BELOW_ONE_FIELDS = ['adam_beta1', 'adam_beta2', 'epsilon'] as const;

/** Fields that may be 0 (the others must be positive, which the schema checks first). */
const ZERO_ALLOWED = new Set<string>([
  'min_lr_ratio',
  'weight_decay',
  'max_grad_norm',
  'adam_beta1',
  'adam_beta2',
  'beta',
  'min_p',
]);

/** Why a number cannot be used in float32 computation, or undefined when it can. */
export function float32Problem(value: number, zeroAllowed = true): string | undefined {
  const size = Math.abs(value);
  if (size > FLOAT32_MAX)
    return `must be at most ${FLOAT32_MAX.toPrecision(8)} in magnitude, the largest float32 (the trainer computes in float32)`;
  if (size !== 0 && size < FLOAT32_MIN_NORMAL) {
    return (
      `must be ${zeroAllowed ? '0 or ' : ''}at least ${FLOAT32_MIN_NORMAL.toPrecision(8)} in magnitude, the smallest normal float32 ` +
      `(the trainer computes in float32; dividing by a smaller value overflows)`
    );
  }
  return undefined;
}

/** Refuses the first config value float32 computation cannot use; `source` names where the config came from. */
export function checkFloat32Fields(config: Record<string, unknown>, source: string): void {
  for (const field of FLOAT32_FIELDS) {
    const value = config[field];
    const values = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const v of values) {
      if (typeof v !== 'number') continue;
      const problem = float32Problem(v, ZERO_ALLOWED.has(field));
      if (problem !== undefined)
        throw new ConfigError(`${source}: field "${field}" ${problem} (${formatValue(value)})`, field);
    }
  }
  for (const field of BELOW_ONE_FIELDS) {
    const value = config[field];
    if (typeof value === 'number' && Math.fround(value) >= 1) {
      throw new ConfigError(
        `${source}: field "${field}" must be below 1 once rounded to float32, which the trainer computes in ` +
          `(${formatValue(value)} rounds to 1, so 1 - ${field} is 0)`,
        field,
      );
    }
  }
}
