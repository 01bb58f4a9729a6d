/**
 * GPT-2's tanh GELU (`gelu_new`) and its derivative as one pass each over the wasm heap, in place
 * of the six TF.js ops of 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (a Pow and a Tanh among
 * them, each a full pass with its own output) and their gradients. Uses 0.5 (1 + tanh(u)) =
 * sigmoid(2u): one exp per value, in float64, stored as float32.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Input x; returns gelu_new(x). */
export const GELU_NEW = 'GrpoviGeluNew';
/** Inputs dy, x; returns dy * gelu_new'(x). */
export const GELU_NEW_GRAD = 'GrpoviGeluNewGrad';

const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;

/** gelu_new of one value in float64 (the reference the kernels and tests share). */
export function geluNewValue(x: number): number {
  return x / (1 + Math.exp(-2 * C * (x + A * x * x * x)));
}

/** The derivative of gelu_new at one value in float64. */
export function geluNewDerivative(x: number): number {
  const s = 1 / (1 + Math.exp(-2 * C * (x + A * x * x * x)));
  return s + 2 * C * x * s * (1 - s) * (1 + 3 * A * x * x);
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
}

function floatInput(name: string, info: tf.TensorInfo | undefined, kernel: string): tf.TensorInfo {
  if (info === undefined || info.dtype !== 'float32')
    throw new TypeError(`${kernel} needs a float32 input ${name}${info ? ` (got ${info.dtype})` : ''}`);
  return info;
}

function geluNewKernel(args: KernelArgs): tf.TensorInfo {
  const x = floatInput('x', args.inputs.x, GELU_NEW);
  const { backend } = args;
  const out = backend.makeOutput([...x.shape], 'float32');
  // Views after the allocation (it may grow the heap and detach earlier ones).
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ys = backend.typedArrayFromHeap(out) as Float32Array;
  // geluNewValue written out (the call was not inlined): the same operations in the same order.
  const c2 = -2 * C;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    ys[i] = v / (1 + Math.exp(c2 * (v + A * v * v * v)));
  }
  return out;
}

function geluNewGradKernel(args: KernelArgs): tf.TensorInfo {
  const dy = floatInput('dy', args.inputs.dy, GELU_NEW_GRAD);
  const x = floatInput('x', args.inputs.x, GELU_NEW_GRAD);
  if (dy.shape.join() !== x.shape.join())
    throw new RangeError(
      `${GELU_NEW_GRAD}: dy [${dy.shape.join(', ')}] and x [${x.shape.join(', ')}] differ`,
    );
  const { backend } = args;
  const out = backend.makeOutput([...x.shape], 'float32');
  const xs = backend.typedArrayFromHeap(x) as Float32Array;
  const ds = backend.typedArrayFromHeap(dy) as Float32Array;
  const gs = backend.typedArrayFromHeap(out) as Float32Array;
  for (let i = 0; i < xs.length; i++) gs[i] = ds[i] * geluNewDerivative(xs[i]);
  return out;
}

/** Registers both kernels for the wasm backend (once). */
export function registerGeluNewKernels(): void {
  if (tf.getKernel(GELU_NEW, 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: GELU_NEW,
    backendName: 'wasm',
    kernelFunc: geluNewKernel as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: GELU_NEW_GRAD,
    backendName: 'wasm',
    kernelFunc: geluNewGradKernel as unknown as tf.KernelFunc,
  });
}
