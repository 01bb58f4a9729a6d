import type * as tf from '@tensorflow/tfjs';

/**
 * Keys and values of every layer for the tokens seen so far, each [tokens, batch * heads, headWidth]:
 * token-major, so that a decode step appends with a contiguous concat.
 */
export type KvCache = KvCacheEntry[];

/** One layer's cached keys and values. */
export type KvCacheEntry = {
  k: tf.Tensor3D;
  v: tf.Tensor3D;
  /**
   * Rows of `k` and `v` that hold tokens, when fewer than their first dimension: the rest is room
   * that later decode steps write in place (see `decodeAttention` in attention.ts). Absent: every row.
   */
  length?: number;
};
