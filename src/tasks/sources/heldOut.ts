import { Rng } from '../../util/rng.js';

/** The held-out split of a prompt list (node-free: the file task and the browser's prompts task share it). */

/** The seed of the fixed data splits (datasets.ts's DATA_SPLIT_SEED; kept here so that this module needs no corpus). */
const SPLIT_SEED = 20251121;

/** Share of a prompt file held out for evaluation when no eval file is given. */
export const HELD_OUT_SHARE = 0.1;

/**
 * Splits prompt records into train and held-out ones: a shuffle with a fixed seed (not the run's, so
 * that every seed of a comparison evaluates on the same prompts), about 10% and at least one held out.
 */
export function holdOutPrompts<T>(records: readonly T[]): { train: T[]; heldOut: T[] } {
  const n = records.length;
  const heldOutCount = Math.max(1, Math.round(HELD_OUT_SHARE * n));
  const order = Rng.derive(SPLIT_SEED, 'prompt-file-held-out').shuffle(records.map((_, i) => i));
  const heldOut = new Set(order.slice(0, heldOutCount));
  return {
    train: records.filter((_, i) => !heldOut.has(i)),
    heldOut: records.filter((_, i) => heldOut.has(i)),
  };
}
