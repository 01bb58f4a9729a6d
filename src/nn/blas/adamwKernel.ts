/**
 * AdamW's update of one parameter as one pass over its values (the tensor-op form costs about 14
 * kernel calls per parameter, each a pass of its own), and the squared norm of the gradients read
 * straight off the wasm heap. Registered for the wasm backend together with the BLAS kernels.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** [param, m, v] after one AdamW update of `param` with gradient `grad` and moments `m`, `v`. */
export const ADAMW_UPDATE = 'GrpoviAdamWUpdate';

/** The update's scalars, with the bias corrections, clipping and decay already folded in. */
export interface AdamWCoefficients {
  beta1: number;
  beta2: number;
  /** (1 - beta1) times the clipping scale. */
  gradWeight1: number;
  /** (1 - beta2) times the clipping scale squared. */
  gradWeight2: number;
  /** lr * sqrt(1 - beta2^t) / (1 - beta1^t). */
  stepSize: number;
  /** epsilon * sqrt(1 - beta2^t). */
  denominatorEps: number;
  /** 1 - lr * weightDecay for decayed parameters, else 1. */
  decay: number;
}

/** The same arithmetic as `AdamW.apply`'s tensor ops, element by element (in float64, stored as float32). */
export function adamwUpdate(
  param: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grad: Float32Array,
  out: { param: Float32Array; m: Float32Array; v: Float32Array },
  c: AdamWCoefficients,
): void {
  for (let i = 0; i < param.length; i++) {
    const g = grad[i];
    const m1 = c.beta1 * m[i] + c.gradWeight1 * g;
    const v1 = c.beta2 * v[i] + c.gradWeight2 * g * g;
    out.m[i] = m1;
    out.v[i] = v1;
    out.param[i] = param[i] * c.decay - (c.stepSize * m1) / (Math.sqrt(v1) + c.denominatorEps);
  }
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

export function adamwKernel(args: KernelArgs): tf.TensorInfo[] {
  const { param, m, v, grad } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (param === undefined || m === undefined || v === undefined || grad === undefined)
    throw new TypeError(`${ADAMW_UPDATE} needs inputs param, m, v and grad`);
  const shape = param.shape.join();
  if ([param, m, v, grad].some((t) => t.dtype !== 'float32' || t.shape.join() !== shape))
    throw new TypeError(`${ADAMW_UPDATE} takes float32 param, m, v and grad of one shape`);
  const { backend } = args;
  // Outputs first: allocating may grow the heap and detach earlier views.
  const outs = [param, m, v].map((t) => backend.makeOutput([...t.shape], 'float32'));
  const [p1, m1, v1] = outs.map((t) => heap(backend, t));
  adamwUpdate(
    heap(backend, param),
    heap(backend, m),
    heap(backend, v),
    heap(backend, grad),
    { param: p1, m: m1, v: v1 },
    args.attrs as unknown as AdamWCoefficients,
  );
  return outs;
}

/** Sum of the squares of every value of `tensors` (float32 tensors of the active wasm backend), in float64. */
export function sumOfSquares(tensors: readonly tf.Tensor[]): number {
  const backend = tf.backend() as BackendWasm;
  let sum = 0;
  for (const t of tensors) {
    const values = heap(backend, t);
    for (let i = 0; i < values.length; i++) sum += values[i] * values[i];
  }
  return sum;
}
