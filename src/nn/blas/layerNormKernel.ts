/**
 * LayerNorm's forward pass over the last axis as one pass per row (the tensor-op form is nine
 * kernel calls, whose fixed costs dominate at a decode step's 64 rows). Registered for the wasm
 * backend together with the BLAS kernels; the backward pass stays tensor ops.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** [y, normalized, invStd] from x [..., width], gain [width], bias [width]; attr `eps`. */
export const LAYER_NORM = 'GrpoviLayerNorm';

/**
 * Row by row, in float64: invStd = 1 / sqrt(mean((x - mean x)^2) + eps), normalized = (x - mean x)
 * * invStd, y = normalized * gain + bias.
 */
export function layerNormRows(
  x: Float32Array,
  gain: Float32Array,
  bias: Float32Array,
  eps: number,
  out: { y: Float32Array; normalized: Float32Array; invStd: Float32Array },
): void {
  const width = gain.length;
  const rows = x.length / width;
  for (let r = 0; r < rows; r++) {
    const start = r * width;
    let sum = 0;
    for (let j = 0; j < width; j++) sum += x[start + j];
    const mean = sum / width;
    let squares = 0;
    for (let j = 0; j < width; j++) squares += (x[start + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(squares / width + eps);
    out.invStd[r] = inv;
    for (let j = 0; j < width; j++) {
      const n = (x[start + j] - mean) * inv;
      out.normalized[start + j] = n;
      out.y[start + j] = n * gain[j] + bias[j];
    }
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

export function layerNormKernel(args: KernelArgs): tf.TensorInfo[] {
  const { x, gain, bias } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  if (x === undefined || gain === undefined || bias === undefined)
    throw new TypeError(`${LAYER_NORM} needs inputs x, gain and bias`);
  const width = x.shape[x.shape.length - 1];
  if (
    [x, gain, bias].some((t) => t.dtype !== 'float32') ||
    gain.shape.join() !== String(width) ||
    bias.shape.join() !== String(width)
  )
    throw new TypeError(`${LAYER_NORM} takes float32 x [..., ${width}] with gain and bias [${width}]`);
  const { backend } = args;
  // Outputs first: allocating may grow the heap and detach earlier views.
  const y = backend.makeOutput([...x.shape], 'float32');
  const normalized = backend.makeOutput([...x.shape], 'float32');
  const invStd = backend.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
  layerNormRows(heap(backend, x), heap(backend, gain), heap(backend, bias), Number(args.attrs.eps), {
    y: heap(backend, y),
    normalized: heap(backend, normalized),
    invStd: heap(backend, invStd),
  });
  return [y, normalized, invStd];
}
