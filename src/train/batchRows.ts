import type { CompletionBatch } from '../nn/generation/logProbs.js';
import { completionInput } from '../nn/generation/logProbs.js';
import type { Generation } from '../nn/generation/sampler.js';
import type { SequenceInput } from '../nn/models/sequenceBatch.js';
import type { Scores } from '../rewards/rewardFunction.js';
import type { Rng } from '../util/rng.js';
import type { Rollout } from './rollout.js';

/**
 * Row bookkeeping of a generation batch: shuffled minibatches (TRL's `shuffle_sequence_dict` before
 * `split_tensor_dict` in `GRPOTrainer._prepare_inputs`), and batches put together from the groups
 * of several rollouts (dynamic sampling).
 */

/** The row order of a generation batch split into `minibatches`: shuffled when there are several. */
export function minibatchOrder(rows: number, minibatches: number, rng: Rng): Int32Array {
  const order = Int32Array.from({ length: rows }, (_, i) => i);
  // One minibatch sees every row whatever the order: keep it, so the default path does not change.
  if (minibatches <= 1) return order;
  for (let i = rows - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/** Rows `indices` of a per-token array laid out [rows, length]. */
export function gatherRowValues<T extends Float32Array | Int32Array>(
  values: T,
  indices: ArrayLike<number>,
  length: number,
): T {
  const out = new (values.constructor as new (n: number) => T)(indices.length * length);
  for (let r = 0; r < indices.length; r++) {
    out.set(values.subarray(indices[r] * length, (indices[r] + 1) * length), r * length);
  }
  return out;
}

/** Rows `indices` of a batch (same token length), with their model input. */
export function gatherBatch(
  batch: CompletionBatch,
  indices: ArrayLike<number>,
  padId: number,
): { batch: CompletionBatch; input: SequenceInput } {
  const L = batch.length;
  const part: CompletionBatch = {
    prompts: Array.from(indices, (i) => batch.prompts[i]),
    completions: gatherRowValues(batch.completions, indices, L),
    mask: gatherRowValues(batch.mask, indices, L),
    length: L,
  };
  return { batch: part, input: completionInput(part, padId) };
}

/** One completion of one of several rollouts. */
export interface RowPick {
  part: number;
  row: number;
}

/** The picked rows of several rollouts, in order, re-padded to the longest picked completion. */
export function gatherRollout(parts: readonly Rollout[], picks: readonly RowPick[], padId: number): Rollout {
  let length = 1;
  for (const { part, row } of picks) length = Math.max(length, parts[part].generation.lengths[row]);
  const n = picks.length;
  const tokens = new Int32Array(n * length).fill(padId);
  const mask = new Float32Array(n * length);
  const logProbs = new Float32Array(n * length);
  const lengths = new Int32Array(n);
  const finished = new Uint8Array(n);
  const texts: string[] = [];
  picks.forEach(({ part, row }, r) => {
    const g: Generation = parts[part].generation;
    const len = g.lengths[row];
    const from = row * g.length;
    tokens.set(g.tokens.subarray(from, from + len), r * length);
    // Copied, not refilled: tool-message tokens inside a completion stay out of the loss.
    mask.set(g.mask.subarray(from, from + len), r * length);
    logProbs.set(g.logProbs.subarray(from, from + len), r * length);
    lengths[r] = len;
    finished[r] = g.finished[row];
    if (g.texts.length > 0) texts.push(g.texts[row]);
  });
  const generation: Generation = { tokens, mask, logProbs, lengths, finished, length, texts };
  return {
    promptTexts: picks.map(({ part, row }) => parts[part].promptTexts[row]),
    completionTexts: picks.map(({ part, row }) => parts[part].completionTexts[row]),
    batch: {
      prompts: picks.map(({ part, row }) => parts[part].batch.prompts[row]),
      completions: tokens,
      mask,
      length,
    },
    generation,
    groupSize: parts[0].groupSize,
  };
}

/** The picked rows' scores of several rollouts, in order. */
export function gatherScores(parts: readonly Scores[], picks: readonly RowPick[]): Scores {
  const total = Float64Array.from(picks, ({ part, row }) => parts[part].total[row]);
  const byFunction = new Map<string, Float64Array>();
  for (const name of parts[0].byFunction.keys()) {
    byFunction.set(
      name,
      Float64Array.from(picks, ({ part, row }) => (parts[part].byFunction.get(name) as Float64Array)[row]),
    );
  }
  return { total, byFunction };
}

/** The loss mask with truncated completions (no EOS within max_completion_length) zeroed (TRL's `mask_truncated_completions`). */
export function maskTruncated(mask: Float32Array, finished: Uint8Array, length: number): Float32Array {
  const out = mask.slice();
  for (let b = 0; b < finished.length; b++) if (!finished[b]) out.fill(0, b * length, (b + 1) * length);
  return out;
}
