/**
 * Kernels for the log-probability of each row's target token, the one vocabulary-wide step of the
 * loss: they read the softmax the wasm backend already computed instead of reducing over the
 * vocabulary again (max of the logits, max of the probabilities, a one-hot, a cast, a subtraction).
 * Registered for the wasm backend together with the BLAS kernels.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** [logProbs, logNormalizers] per row from `probs` = softmax(`logits`) and `targets` (attr). */
export const TARGET_LOG_PROBS = 'GrpoviTargetLogProbs';
/** `x[r, targets[r]] += values[r]`, in place: only for a tensor made for it and used nowhere else. */
export const ADD_AT_TARGETS = 'GrpoviAddAtTargets';

/**
 * Below this a float32 softmax entry has lost relative precision (or flushed to zero), so the log
 * comes from the logits instead.
 */
const SMALLEST_RELIABLE = 1e-30;

/**
 * log softmax(logits)[target] and log Z per row. log Z = x_t - log p_t where p_t is reliable (the
 * softmax is accurate to a few float32 ulps there), else max + log sum exp(x - max) in float64.
 */
export function targetLogProbs(
  probs: Float32Array,
  logits: Float32Array,
  targets: ArrayLike<number>,
  vocab: number,
  logProbs: Float32Array,
  logNormalizers: Float32Array,
): void {
  for (let r = 0; r < targets.length; r++) {
    const row = r * vocab;
    const target = targets[r];
    const x = logits[row + target];
    const p = probs[row + target];
    let logZ: number;
    if (p >= SMALLEST_RELIABLE) {
      logZ = x - Math.log(p);
    } else {
      let max = -Infinity;
      for (let j = 0; j < vocab; j++) max = Math.max(max, logits[row + j]);
      let sum = 0;
      for (let j = 0; j < vocab; j++) sum += Math.exp(logits[row + j] - max);
      logZ = max + Math.log(sum);
    }
    logNormalizers[r] = logZ;
    logProbs[r] = x - logZ;
  }
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

function checkedTargets(attrs: tf.NamedAttrMap, rows: number, vocab: number, kernel: string): Int32Array {
  const targets = attrs.targets as unknown as Int32Array;
  if (!(targets instanceof Int32Array) || targets.length !== rows)
    throw new TypeError(`${kernel} needs ${rows} int32 targets`);
  for (let r = 0; r < rows; r++) {
    if (!(targets[r] >= 0 && targets[r] < vocab))
      throw new RangeError(
        `${kernel}: target ${targets[r]} of row ${r} is outside the vocabulary of ${vocab}`,
      );
  }
  return targets;
}

function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function targetLogProbsKernel(args: KernelArgs): tf.TensorInfo[] {
  const { probs, logits } = args.inputs;
  if (probs === undefined || logits === undefined || probs.dtype !== 'float32' || logits.dtype !== 'float32')
    throw new TypeError(`${TARGET_LOG_PROBS} takes float32 probs and logits`);
  const [rows, vocab] = logits.shape;
  const targets = checkedTargets(args.attrs, rows, vocab, TARGET_LOG_PROBS);
  // Outputs first: allocating may grow the heap and detach earlier views.
  const logProbs = args.backend.makeOutput([rows], 'float32');
  const logNormalizers = args.backend.makeOutput([rows], 'float32');
  const { backend } = args;
  targetLogProbs(
    heap(backend, probs),
    heap(backend, logits),
    targets,
    vocab,
    heap(backend, logProbs),
    heap(backend, logNormalizers),
  );
  return [logProbs, logNormalizers];
}

function addAtTargetsKernel(args: KernelArgs): tf.TensorInfo {
  const { x, values } = args.inputs;
  if (x === undefined || values === undefined || x.dtype !== 'float32' || values.dtype !== 'float32')
    throw new TypeError(`${ADD_AT_TARGETS} takes float32 x and values`);
  const [rows, vocab] = x.shape;
  const targets = checkedTargets(args.attrs, rows, vocab, ADD_AT_TARGETS);
  const out = heap(args.backend, x);
  const add = heap(args.backend, values);
  for (let r = 0; r < rows; r++) out[r * vocab + targets[r]] += add[r];
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

export const LOG_PROB_KERNELS: {
  name: string;
  kernel: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}[] = [
  { name: TARGET_LOG_PROBS, kernel: targetLogProbsKernel },
  { name: ADD_AT_TARGETS, kernel: addAtTargetsKernel },
];
