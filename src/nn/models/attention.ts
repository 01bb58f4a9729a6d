import * as tf from '@tensorflow/tfjs';
import { productsThroughBlas } from '../backends/kernelRoute.js';
import { DECODE_ATTENTION } from '../backends/blas/decodeKernels.js';
import { columnSums, groupedMatMul, stridedGroupedMatMul } from '../ops/layers.js';
import type { KvCacheEntry } from './kvCache.js';

/** The heads of one attention: `heads / kvHeads` consecutive query heads share a key/value head. */
export interface AttentionHeads {
  /** Sequences in the batch. */
  batch: number;
  heads: number;
  kvHeads: number;
  headWidth: number;
}

/**
 * Causal self-attention of token-major tensors: queries q [T, batch * heads, headWidth], keys and
 * values k, v [S, batch * kvHeads, headWidth], the additive bias [T, batch, 1, S]; returns the mixed
 * values [T, batch * heads, headWidth] (flat [batch * heads * headWidth] for a decode step on the
 * wasm kernels). `decodeStep`: the input is one token per sequence (the cache holds the rest).
 *
 * Grouped-query attention never repeats keys and values: the rep = heads / kvHeads query heads
 * that share a key/value head become `rep` more query rows of that kv group, so each kv group is one
 * product of [T * rep, headWidth] queries with its keys (queries [T, rep, kvGroups, headWidth]).
 * With rep = 1 that is plain multi-head attention, and no reordering happens.
 *
 * Through BLAS, both products are strided sgemm calls per group on the token-major tensors as they
 * are (see `stridedGroupedMatMul`). On the wasm kernels, several queries use `groupedMatMul`
 * (scores computed transposed, keys as the input, so the value layout serves the second product as
 * it is); a decode step uses elementwise products and sums, which beat the convolution's set-up
 * cost at one query.
 */
export function attend(
  q: tf.Tensor3D,
  k: tf.Tensor3D,
  v: tf.Tensor3D,
  bias: tf.Tensor4D,
  shape: AttentionHeads,
  decodeStep: boolean,
): tf.Tensor {
  const { batch: B, heads, kvHeads, headWidth } = shape;
  const T = q.shape[0];
  const S = k.shape[0];
  const groups = B * heads;
  const kvGroups = B * kvHeads;
  const rep = heads / kvHeads;
  const queries = q.mul(1 / Math.sqrt(headWidth));
  /** Queries [T * rep, kvGroups, headWidth]: each kv group's query heads as rows. */
  const grouped = (): tf.Tensor3D =>
    rep === 1
      ? (queries as tf.Tensor3D)
      : (queries
          .reshape([T, kvGroups, rep, headWidth])
          .transpose([0, 2, 1, 3])
          .reshape([T * rep, kvGroups, headWidth]) as tf.Tensor3D);
  /** The mixed values back in the query heads' order, [T, groups, headWidth]. */
  const ungrouped = (mixed: tf.Tensor): tf.Tensor =>
    rep === 1
      ? mixed
      : mixed.reshape([T, rep, kvGroups, headWidth]).transpose([0, 2, 1, 3]).reshape([T, groups, headWidth]);
  /** Biased softmax of scores [T * rep, kvGroups, S] (the bias is per sequence, shared by heads). */
  const probabilities = (scores: tf.Tensor): tf.Tensor3D =>
    rep === 1
      ? (tf.softmax(scores.reshape([T, B, heads, S]).add(bias)).reshape([T, groups, S]) as tf.Tensor3D)
      : (tf
          .softmax(scores.reshape([T, rep, B, kvHeads, S]).add(bias.reshape([T, 1, B, 1, S])))
          .reshape([T * rep, kvGroups, S]) as tf.Tensor3D);
  if (productsThroughBlas()) {
    const probs = probabilities(stridedGroupedMatMul(grouped(), k, true)); // [i, g, j]
    return ungrouped(stridedGroupedMatMul(probs, v)); // [i, g, d]
  }
  if (decodeStep) {
    // One query per group: scores[j, g] = q[g] . k[j, g], then out[g] = sum_j p[g, j] v[j, g].
    const products =
      rep === 1
        ? queries.mul(k)
        : queries.reshape([1, kvGroups, rep, headWidth]).mul(k.reshape([S, kvGroups, 1, headWidth]));
    const scores = tf.sum(products, -1).reshape([S, groups]).transpose().reshape([1, B, heads, S]).add(bias);
    const probs = tf.softmax(scores).reshape([groups, S]).transpose(); // [j, g]
    const weighted =
      rep === 1
        ? probs.reshape([S, groups, 1]).mul(v)
        : probs.reshape([S, kvGroups, rep, 1]).mul(v.reshape([S, kvGroups, 1, headWidth]));
    return columnSums(weighted.reshape([S, groups * headWidth]) as tf.Tensor2D);
  }
  const keys = k.transpose([0, 2, 1]) as tf.Tensor3D; // [j, d, g]
  const scores = groupedMatMul(keys, grouped().transpose([2, 1, 0]) as tf.Tensor3D).transpose([2, 1, 0]); // [i, g, j]
  const probs = probabilities(scores).transpose([0, 2, 1]) as tf.Tensor3D; // [i, j, g]
  return ungrouped(groupedMatMul(probs, v)); // [i, g, d]
}

/**
 * KV-cached attention through the decode kernel (blas/decodeKernels.ts) for `queries` new tokens
 * per sequence: `qkv` [queries * batch, (heads + 2 kvHeads) * headWidth] holds each token's q | k | v
 * (positions already applied). This input's keys and values are written into the cache's spare rows
 * in place, the cache grown (doubling, at most to `contextLength`) when it has too few. Inference
 * only: the cache buffers are written. Returns the mixed values [queries * batch, heads * headWidth].
 */
export function decodeAttention(
  qkv: tf.Tensor2D,
  bias: tf.Tensor4D,
  past: KvCacheEntry | undefined,
  shape: AttentionHeads,
  queries: number,
  contextLength: number,
): { mixed: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D; length: number } {
  const { batch: B, heads, kvHeads, headWidth } = shape;
  const kvGroups = B * kvHeads;
  const filled = past === undefined ? 0 : (past.length ?? past.k.shape[0]);
  const keys = filled + queries;
  let k = past?.k;
  let v = past?.v;
  if (k === undefined || v === undefined || k.shape[0] < keys) {
    const capacity = Math.max(keys, Math.min(contextLength, 2 * keys));
    // Each cache gets a buffer of its own (the kernel writes into it): fresh zeros, never a clone.
    const grow = (t: tf.Tensor3D | undefined) => {
      const room = tf.zeros([capacity - filled, kvGroups, headWidth]) as tf.Tensor3D;
      return t === undefined || filled === 0
        ? room
        : (tf.concat([t.slice(0, filled), room], 0) as tf.Tensor3D);
    };
    k = grow(k);
    v = grow(v);
  }
  const [mixed, kOut, vOut] = tf
    .engine()
    .runKernel(
      DECODE_ATTENTION,
      { qkv, k, v, bias: bias.reshape([queries * B, keys]) },
      { heads, kvHeads, keys, queries },
    ) as tf.Tensor[];
  return { mixed, k: kOut as tf.Tensor3D, v: vOut as tf.Tensor3D, length: keys };
}
