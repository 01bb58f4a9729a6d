/**
 * Shared-prefix inference: a GRPO batch holds each prompt G times, so the inference passes over it
 * (the sampler's prefill, reference scoring, the reward model) compute each distinct prompt once and
 * give its keys and values (the KV cache) to every row that starts with it.
 */
import * as tf from '@tensorflow/tfjs';
import type { KvCache } from '../models/kvCache.js';

let sharingWanted = true;

/**
 * Turns shared-prefix inference on or off for the whole process (on by default); off, every row runs
 * its own prompt, for measurements and for the tests' unshared reference.
 */
export function setSharedPrefix(enabled: boolean): void {
  sharingWanted = enabled;
}

/** Whether inference passes share the prompts' keys and values among the rows that repeat them. */
export function sharedPrefixEnabled(): boolean {
  return sharingWanted;
}

/** Rows grouped by identical token sequences. */
export interface DistinctRows {
  /** The first row of each distinct sequence, in order of first appearance. */
  representatives: Int32Array;
  /** For every row, the index (into `representatives`) of its sequence. */
  source: Int32Array;
}

/**
 * Groups rows whose token ids are identical, in any order (not only contiguous groups); null when
 * no two rows are, so callers skip the expansion.
 */
export function distinctRows(sequences: readonly (readonly number[])[]): DistinctRows | null {
  const index = new Map<string, number>();
  const representatives: number[] = [];
  const source = new Int32Array(sequences.length);
  for (let row = 0; row < sequences.length; row++) {
    const key = sequences[row].join(',');
    let at = index.get(key);
    if (at === undefined) {
      at = representatives.length;
      index.set(key, at);
      representatives.push(row);
    }
    source[row] = at;
  }
  if (representatives.length === sequences.length) return null;
  return { representatives: Int32Array.from(representatives), source };
}

/** Rows [rows, width] of row-major `data`: row b is row source[b] of the distinct rows. */
export function expandRows(data: Float32Array, source: Int32Array, width: number): Float32Array {
  const out = new Float32Array(source.length * width);
  for (let b = 0; b < source.length; b++) {
    const from = source[b] * width;
    out.set(data.subarray(from, from + width), b * width);
  }
  return out;
}

/**
 * The cache of the distinct rows, given to every row: each layer's k and v [tokens, distinct *
 * perRow, headWidth] become [tokens, rows * perRow, headWidth] (perRow: the heads a row's keys
 * have), spare rows and `length` kept (the spare rows zero). Fresh buffers, so a decode kernel may
 * write them in place. Copied in JS, a slice per (token, row): TF.js's gather on the middle axis
 * took ~3 ms a tensor at the sentiment shape.
 */
export function expandCache(cache: KvCache, source: Int32Array, distinct: number): KvCache {
  const expand = (t: tf.Tensor3D, filled: number): tf.Tensor3D => {
    const [capacity, groups, headWidth] = t.shape;
    const slot = (groups / distinct) * headWidth;
    const rows = source.length;
    const from = t.dataSync() as Float32Array;
    const out = new Float32Array(capacity * rows * slot);
    for (let token = 0; token < filled; token++) {
      for (let b = 0; b < rows; b++) {
        const at = (token * distinct + source[b]) * slot;
        out.set(from.subarray(at, at + slot), (token * rows + b) * slot);
      }
    }
    return tf.tensor3d(out, [capacity, rows * (groups / distinct), headWidth]);
  };
  return cache.map(({ k, v, length }) => ({
    k: expand(k, length ?? k.shape[0]),
    v: expand(v, length ?? v.shape[0]),
    ...(length === undefined ? {} : { length }),
  }));
}
