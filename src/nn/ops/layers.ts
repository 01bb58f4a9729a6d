import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { fusedKernels, productsThroughBlas } from '../backends/kernelRoute.js';
import { GROUPED_MATMUL, SOFTMAX_ENTROPY } from '../backends/blas/blasKernels.js';
import { ADD_AT_TARGETS, TARGET_LOG_PROBS } from '../backends/blas/logProbKernels.js';
// Frees saved tensors and intermediate gradients during backward passes (see the module).
import './leanBackprop.js';

/**
 * XNNPACK's multipass average pooling in TF.js 4.22's wasm backend writes out of bounds (corrupting
 * the wasm heap, which then fails far away) once a window of 8 or more rows meets 16384 channels;
 * `columnSums` pools at most this many columns at a time.
 */
const POOL_COLUMNS = 4096;

/**
 * tf.customGrad whose backward pass runs in its own scope. TF.js calls a custom gradient inside the
 * scope of the whole backward pass, so without this every temporary of every gradient (transposed
 * weights, vocabulary-wide one-hot rows) would live until the last gradient is computed.
 */
export function tidyCustomGrad<T extends tf.Tensor>(
  f: (...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    value: T;
    gradFunc: (dy: T, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
  },
): (...args: tf.Tensor[]) => T {
  return tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { value, gradFunc } = f(...inputs);
    return { value, gradFunc: (dy: T, saved: tf.Tensor[]) => tf.tidy(() => gradFunc(dy, saved)) };
  });
}

/**
 * Whether nobody can ask for a gradient by `t`: a variable marked untrainable (a base model's
 * weights while LoRA adapters are attached, see `Decoder.attachAdapter`). TF.js computes every
 * gradient a custom gradient returns, needed or not, and keeps it to the end of the backward pass:
 * for a frozen base that was every weight's gradient (its whole size again) and the products that
 * make them.
 */
export function frozen(t: tf.Tensor): boolean {
  return t instanceof tf.Variable && !t.trainable;
}

/**
 * What a custom gradient returns for a frozen input: TF.js wants a tensor for every input but
 * never reads those of inputs off the path to the differentiated variables (if one were read, its
 * shape check would fail loudly).
 */
export function unusedGradient(): tf.Tensor {
  return tf.scalar(0);
}

/**
 * Sums over the rows of a 2-D tensor, [rows, columns] -> [columns], as an average pool over all rows
 * times the row count. The wasm backend reduces a leading axis by transposing first, which is about
 * twenty times slower than XNNPACK's pooling (2 ms against 0.1 ms for 1280 x 384).
 */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  const [rows, columns] = x.shape;
  // On WebGPU the pool is a slow shader (about 95 ms for a 48-row decode step on SwiftShader); a
  // product with a row of ones is one matmul (bench:webgpu-profile --per-kernel).
  if (tf.getBackend() === 'webgpu') return tf.matMul(tf.ones([1, rows]), x).reshape([columns]) as tf.Tensor1D;
  const pool = (part: tf.Tensor2D, width: number) =>
    tf.avgPool(part.reshape([1, rows, 1, width]) as tf.Tensor4D, [rows, 1], 1, 'valid').reshape([width]);
  if (columns <= POOL_COLUMNS) return pool(x, columns).mul(rows) as tf.Tensor1D;
  const parts: tf.Tensor[] = [];
  for (let start = 0; start < columns; start += POOL_COLUMNS) {
    const width = Math.min(POOL_COLUMNS, columns - start);
    parts.push(pool(x.slice([0, start], [rows, width]) as tf.Tensor2D, width));
  }
  return tf.concat(parts).mul(rows) as tf.Tensor1D;
}

/**
 * LayerNorm over the last axis of [rows, width], with the gradient written out: the autodiff of
 * tf.moments adds a cast, a second subtraction and a JS-filled ones tensor per mean, and reduces the
 * gain and bias gradients over rows the slow way (see `columnSums`).
 */
export function layerNorm(x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor, eps = 1e-5): tf.Tensor {
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [input, g, b] = inputs as tf.Tensor[];
    const save = inputs[3] as tf.GradSaveFunc;
    const centered = input.sub(tf.mean(input, -1, true));
    const invStd = tf.rsqrt(tf.mean(tf.square(centered), -1, true).add(eps));
    const normalized = centered.mul(invStd);
    save([normalized, invStd, g]);
    return {
      value: normalized.mul(g).add(b),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xHat, inv, gs] = saved;
        const dxHat = dy.mul(gs);
        // d input = invStd * (dxHat - mean(dxHat) - xHat * mean(dxHat * xHat)), row by row.
        const dInput = dxHat
          .sub(tf.mean(dxHat, -1, true))
          .sub(xHat.mul(tf.mean(dxHat.mul(xHat), -1, true)))
          .mul(inv);
        const rows2d = (t: tf.Tensor) => t.reshape([-1, t.shape[t.shape.length - 1]]) as tf.Tensor2D;
        return [
          dInput,
          frozen(gain) ? unusedGradient() : columnSums(rows2d(dy.mul(xHat))),
          frozen(bias) ? unusedGradient() : columnSums(rows2d(dy)),
        ];
      },
    };
  });
  return op(x, gain, bias) as tf.Tensor;
}

/**
 * GELU in its sigmoid form x * sigmoid(1.702 x) (Hendrycks & Gimpel): on the wasm backend sigmoid
 * is vectorized while tanh, exp and erf are several times slower, and this form needs three ops.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return x.mul(tf.sigmoid(x.mul(1.702)));
}

/**
 * The values of a float32 tensor in place on the wasm backend's heap (valid until the next
 * allocation on the backend, which may grow the heap); undefined on other backends.
 */
function heapValues(t: tf.Tensor): Float32Array | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  return (tf.backend() as unknown as BackendWasm).typedArrayFromHeap(t) as Float32Array;
}

/**
 * The values of a tensor as a Float32Array: on wasm a view of the heap (no copy: a vocabulary-wide
 * table is 154 MB at distilgpt2's size, and a cached copy per model outlived every step); elsewhere
 * read once per data buffer and cached (TF.js tensors are immutable and a variable gets a new
 * buffer on every assign, so a buffer's values never change), so that the sampler's decode steps
 * read the tables once.
 */
const tableCache = new WeakMap<object, Float32Array>();
function tableValues(table: tf.Tensor): Float32Array {
  const onHeap = heapValues(table);
  if (onHeap !== undefined) return onHeap;
  let values = tableCache.get(table.dataId);
  if (values === undefined) {
    values = table.dataSync() as Float32Array;
    tableCache.set(table.dataId, values);
  }
  return values;
}

/**
 * The embedding gradient: the rows of `upstream` [ids, width] added at the rows `ids` of a zero
 * table [rows, width]. On wasm the table is filled and added into on the heap (no JS-side copy of
 * table size); the sums run in the same order either way.
 */
function scatterAddRows(upstream: tf.Tensor, ids: Int32Array, rows: number, width: number): tf.Tensor2D {
  const add = (grad: Float32Array, dy: Float32Array) => {
    for (let n = 0; n < ids.length; n++) {
      const dst = ids[n] * width;
      const src = n * width;
      for (let k = 0; k < width; k++) grad[dst + k] += dy[src + k];
    }
  };
  if (tf.getBackend() === 'wasm') {
    const grad = tf.fill([rows, width], 0, 'float32') as tf.Tensor2D;
    // Views after the allocation: allocating may grow the heap and detach earlier ones.
    add(heapValues(grad) as Float32Array, heapValues(upstream) as Float32Array);
    return grad;
  }
  const grad = new Float32Array(rows * width);
  add(grad, upstream.dataSync() as Float32Array);
  return tf.tensor2d(grad, [rows, width]);
}

/**
 * Rows of `table` for `ids`. Both directions run in JS: the wasm backend's gather costs microseconds
 * per row (about 5 ms for 1280 rows of 96), it has no gradient for gather, and a one-hot matmul would
 * cost as much as the output projection. The gradient is a scatter-add.
 */
export function embeddingLookup(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [rows, width] = table.shape;
  for (let n = 0; n < ids.length; n++) {
    if (!(ids[n] >= 0 && ids[n] < rows))
      throw new RangeError(`token id ${ids[n]} is outside the table of ${rows} rows`);
  }
  if (tf.getBackend() === 'webgpu') return gpuEmbeddingLookup(table, ids);
  const lookup = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const values = tableValues(inputs[0] as tf.Tensor);
    const out = new Float32Array(ids.length * width);
    for (let n = 0; n < ids.length; n++) {
      const src = ids[n] * width;
      out.set(values.subarray(src, src + width), n * width);
    }
    const gradFunc = (dy: tf.Tensor) =>
      frozen(table) ? unusedGradient() : scatterAddRows(dy, ids, rows, width);
    return { value: tf.tensor2d(out, [ids.length, width]), gradFunc };
  });
  return lookup(table) as tf.Tensor2D;
}

/** Above this many one-hot entries (256 MB of float32) the GPU gradient is TF.js's segment sum. */
const ONE_HOT_GRADIENT_LIMIT = 64 * 1024 * 1024;

/**
 * `embeddingLookup` on WebGPU: the table stays on the GPU. The gradient is the product
 * one_hot(ids)^T dy, whose sums run in a fixed order, so that a rerun gives the same bits; TF.js's
 * own gradient of gather (UnsortedSegmentSum) adds with float atomics in whatever order the
 * threads arrive. For tables times tokens above the limit the one-hot matrix would not be worth
 * its memory, and the segment sum serves (reruns then differ in the last bits).
 */
function gpuEmbeddingLookup(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const rows = table.shape[0];
  if (rows * ids.length > ONE_HOT_GRADIENT_LIMIT)
    return tf.tidy(() => tf.gather(table, tf.tensor1d(ids, 'int32')));
  const lookup = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const value = tf.tidy(() => tf.gather(inputs[0] as tf.Tensor2D, tf.tensor1d(ids, 'int32')));
    const gradFunc = (dy: tf.Tensor) =>
      frozen(table) ? unusedGradient() : tf.matMul(oneHotFloat(ids, rows), dy as tf.Tensor2D, true, false);
    return { value, gradFunc };
  });
  return lookup(table) as tf.Tensor2D;
}

/**
 * One-hot rows as float32. Built as int32 and cast: the wasm backend's oneHot with a float dtype
 * writes integer bit patterns (1 comes out as 1.4e-45).
 */
export function oneHotFloat(ids: Int32Array, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), depth), 'float32') as tf.Tensor2D);
}

/**
 * Saves a custom gradient's inputs for its backward pass and returns how to get them back there.
 * Variables are read from the closure: they outlive the tape, and `save` clones what it saves (on
 * the wasm backend a full copy, so saving every weight would hold a second copy of the model during
 * the backward pass). Other tensors go through `save`.
 */
export function saveForGradient(
  save: tf.GradSaveFunc,
  tensors: tf.Tensor[],
): (saved: tf.Tensor[]) => tf.Tensor[] {
  const isVariable = tensors.map((t) => t instanceof tf.Variable);
  save(tensors.filter((_, i) => !isVariable[i]));
  return (saved) => {
    let next = 0;
    return tensors.map((t, i) => (isVariable[i] ? t : saved[next++]));
  };
}

/**
 * a @ b (or a @ b^T) for 2-D tensors. On the wasm kernels a matmul with transposeA/transposeB runs
 * about ten times slower than a transpose followed by a plain matmul, so there the gradient
 * transposes explicitly (TF.js's own matmul gradient uses the transposed forms); through BLAS a
 * transpose is only a flag, so there the gradient passes the flags instead.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeB = false): tf.Tensor2D {
  const flags = productsThroughBlas();
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor2D;
    const y = inputs[1] as tf.Tensor2D;
    const restore = saveForGradient(inputs[2] as tf.GradSaveFunc, [x, y]);
    return {
      value: tf.matMul(x, y, false, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = restore(saved) as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        const unless = (input: tf.Tensor, gradient: () => tf.Tensor) =>
          frozen(input) ? unusedGradient() : gradient();
        if (transposeB) {
          // out = x y^T: dx = d y, dy^T = d^T x.
          return [
            unless(a, () => tf.matMul(d, ys)),
            unless(b, () => (flags ? tf.matMul(d, xs, true, false) : tf.matMul(tf.transpose(d), xs))),
          ];
        }
        return [
          unless(a, () => (flags ? tf.matMul(d, ys, false, true) : tf.matMul(d, tf.transpose(ys)))),
          unless(b, () => (flags ? tf.matMul(xs, d, true, false) : tf.matMul(tf.transpose(xs), d))),
        ];
      },
    };
  });
  return op(a, b) as tf.Tensor2D;
}

/**
 * Products per group with the group axis in the middle, through the BLAS kernel (strided sgemm per
 * group, no transposes): out[m, g, n] = sum_k a[m, g, k] b[k, g, n], or b[n, g, k] when
 * `transposeB`. Token-major attention tensors ([tokens, sequence * head, headWidth]) have this
 * layout as they come. Only while the BLAS kernels are installed (see `productsThroughBlas`).
 */
export function stridedGroupedMatMul(a: tf.Tensor3D, b: tf.Tensor3D, transposeB = false): tf.Tensor3D {
  const run = (x: tf.Tensor, y: tf.Tensor, ta: boolean, tb: boolean) =>
    tf.engine().runKernel<tf.Tensor3D>(GROUPED_MATMUL, { a: x, b: y }, { transposeA: ta, transposeB: tb });
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor3D;
    const y = inputs[1] as tf.Tensor3D;
    const save = inputs[2] as tf.GradSaveFunc;
    save([x, y]);
    return {
      value: run(x, y, false, transposeB),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved;
        // Per group, out = x y (or x y^T): dx = d y^T (or d y); dy = x^T d (or, stored as y, d^T x).
        return transposeB
          ? [run(dy, ys, false, false), run(dy, xs, true, false)]
          : [run(dy, ys, false, true), run(xs, dy, true, false)];
      },
    };
  });
  return op(a, b) as tf.Tensor3D;
}

/** The product itself: a depthwise convolution whose window spans the shared axis. */
function groupedProduct(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const [m, k, groups] = a.shape;
  const n = b.shape[2];
  const input = a.reshape([1, m, k, groups]) as tf.Tensor4D;
  const filter = b.reshape([1, k, groups, n]) as tf.Tensor4D;
  return tf.depthwiseConv2d(input, filter, 1, 'valid').reshape([m, groups, n]) as tf.Tensor3D;
}

/**
 * Many small matrix products at once: out[m, g, n] = sum_k a[m, k, g] * b[k, g, n], one product per
 * group g (e.g. per sequence and attention head). On the wasm backend a batched tf.matMul takes a
 * scalar fallback path (about 1 GFLOP/s); written as a depthwise convolution (input [1, m, k, groups],
 * filter [1, k, groups, n], a window as wide as k) it runs on XNNPACK several times faster. The layouts
 * are the convolution's: groups innermost in `a`, in the middle of `b` and of the result.
 */
export function groupedMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor3D;
    const y = inputs[1] as tf.Tensor3D;
    const save = inputs[2] as tf.GradSaveFunc;
    save([x, y]);
    return {
      value: groupedProduct(x, y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as tf.Tensor3D[];
        const dOut = dy as tf.Tensor3D;
        // dA[m, k, g] = sum_n dOut[m, g, n] b[k, g, n];  dB[k, g, n] = sum_m a[m, k, g] dOut[m, g, n].
        const dA = groupedProduct(tf.transpose(dOut, [0, 2, 1]), tf.transpose(ys, [2, 1, 0])).transpose([
          0, 2, 1,
        ]);
        const dB = groupedProduct(tf.transpose(xs, [1, 0, 2]), dOut);
        return [dA, dB];
      },
    };
  });
  return op(a, b) as tf.Tensor3D;
}

/**
 * x @ w + b for a 2-D input: one fused matmul (the kernel adds the bias), a gradient with explicit
 * transposes or transpose flags (see `matMul`), and the bias gradient from `columnSums`.
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  const flags = productsThroughBlas();
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const a = inputs[0] as tf.Tensor2D;
    const w = inputs[1] as tf.Tensor2D;
    const b = inputs[2] as tf.Tensor1D;
    const restore = saveForGradient(inputs[3] as tf.GradSaveFunc, [a, w]);
    return {
      value: tf.fused.matMul({ a, b: w, bias: b }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, ws] = restore(saved) as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        const dx = flags ? tf.matMul(d, ws, false, true) : tf.matMul(d, tf.transpose(ws));
        const dw = frozen(weight)
          ? unusedGradient()
          : flags
            ? tf.matMul(as, d, true, false)
            : tf.matMul(tf.transpose(as), d);
        return [dx, dw, frozen(bias) ? unusedGradient() : columnSums(d)];
      },
    };
  });
  return op(x, weight, bias) as tf.Tensor2D;
}

/**
 * log Z per row of logits, read off the softmax kernel: log Z = max(x) - log(max softmax(x)). The
 * largest probability is at least 1/vocab, so this never underflows, and it avoids the elementwise
 * exp, which is slow on the wasm backend.
 */
function logNormalizer(logits: tf.Tensor2D, probs: tf.Tensor2D): tf.Tensor1D {
  return tf.max(logits, 1).sub(tf.log(tf.max(probs, 1))) as tf.Tensor1D;
}

/** Flat indices row * vocab + target, to pick each row's target entry with one gather. */
function targetIndices(targets: Int32Array, vocab: number): tf.Tensor1D {
  const flat = new Int32Array(targets.length);
  for (let r = 0; r < targets.length; r++) flat[r] = r * vocab + targets[r];
  return tf.tensor1d(flat, 'int32');
}

/** softmax(logits) and log Z per row: what both the log-probs and the entropy are read from. */
export interface SoftmaxStats {
  probs: tf.Tensor2D;
  logNormalizer: tf.Tensor1D;
  /** log softmax(logits)[target] per row, when the stats were taken for `targets` on the BLAS path. */
  targetLogProbs?: tf.Tensor1D;
  targets?: Int32Array;
}

/**
 * On the BLAS path, log Z and the targets' log-probs come from one kernel reading the softmax (see
 * `logProbKernels.ts`); elsewhere log Z comes from two maxima over the vocabulary.
 */
export function softmaxStats(logits: tf.Tensor2D, targets?: Int32Array): SoftmaxStats {
  const probs = tf.softmax(logits);
  if (targets !== undefined && fusedKernels()) {
    const [targetLogProbs, logZ] = tf.engine().runKernel(TARGET_LOG_PROBS, { probs, logits }, {
      targets,
    } as unknown as tf.NamedAttrMap) as tf.Tensor1D[];
    return { probs, logNormalizer: logZ, targetLogProbs, targets };
  }
  return { probs, logNormalizer: logNormalizer(logits, probs) };
}

/**
 * log softmax(logits)[target] per row, with the gradient written out (onehot - softmax): cheaper
 * than differentiating logSumExp, whose internal max brings an elementwise comparison over the
 * whole vocabulary into the backward pass. `stats` of the same logits may be passed in when the
 * caller needs them too (e.g. for the entropy), so that the vocabulary-wide work is done once.
 * On the BLAS path the value is read off the softmax and the gradient is -softmax * dy with dy
 * added at the targets: one pass over the vocabulary each way.
 */
export function tokenLogProbs(logits: tf.Tensor2D, targets: Int32Array, stats?: SoftmaxStats): tf.Tensor1D {
  const [, vocab] = logits.shape;
  const fused = fusedKernels();
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor2D;
    const save = inputs[1] as tf.GradSaveFunc;
    if (fused) {
      const given = stats?.targets === targets ? stats : undefined;
      const { probs, targetLogProbs } = given ?? softmaxStats(x, targets);
      save([probs]);
      return {
        // A clone (it shares the buffer): stats made outside this op must not be its output, or
        // the tape would also try to differentiate the kernel that made them.
        value: given ? (targetLogProbs as tf.Tensor1D).clone() : (targetLogProbs as tf.Tensor1D),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf
            .engine()
            .runKernel(ADD_AT_TARGETS, { x: saved[0].mul(tf.neg(dy).reshape([-1, 1])), values: dy }, {
              targets,
            } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    }
    const { probs, logNormalizer: logZ } = stats ?? softmaxStats(x);
    const picked = tf.gather(x.reshape([-1]), targetIndices(targets, vocab));
    save([probs]);
    return {
      value: picked.sub(logZ) as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        oneHotFloat(targets, vocab)
          .sub(saved[0])
          .mul(dy.reshape([-1, 1])),
    };
  });
  return op(logits) as tf.Tensor1D;
}

/**
 * Entropy of softmax(logits) per row: log Z - sum p x (a diagnostic; not meant to be differentiated).
 * On the BLAS path the sums are one sdot per row (`SOFTMAX_ENTROPY`), which round differently from
 * the backend's sequential sums in the last bits; the entropy enters no loss.
 */
export function softmaxEntropy(logits: tf.Tensor2D, stats?: SoftmaxStats): tf.Tensor1D {
  return tf.tidy(() => {
    const { probs, logNormalizer: logZ } = stats ?? softmaxStats(logits);
    if (fusedKernels())
      return tf.engine().runKernel(SOFTMAX_ENTROPY, { probs, logits, logNormalizer: logZ }) as tf.Tensor1D;
    return logZ.sub(probs.mul(logits).sum(1)) as tf.Tensor1D;
  });
}

/**
 * Runs `compute` in a tidy scope and copies its result out as a Float32Array. The typed array is
 * read after the scope closes: a tidy callback that returns a large typed array makes TF.js walk
 * every element looking for tensors, which once cost more than the model itself.
 */
export function readFloats(compute: () => tf.Tensor): Float32Array {
  const tensor = tf.tidy(compute);
  try {
    return tensor.dataSync() as Float32Array;
  } finally {
    tensor.dispose();
  }
}
