import * as tf from '@tensorflow/tfjs';
import { fusedKernelsActive, installedBlas } from './blas/blasKernels.js';

/**
 * Which kernels the model code routes through, asked at every call. Node-free (the backend selection
 * in backend.ts is not), so that the model code runs in a browser bundle too.
 */

/**
 * Whether products fold transposes and strided groups into sgemm: then a transposed operand costs
 * nothing and `groupedMatMul` in the token-major layout is the fast attention product.
 */
export function productsThroughBlas(): boolean {
  return tf.getBackend() === 'wasm' && installedBlas() !== null;
}

/**
 * Whether the BLAS path's fused kernels (target log-probs, heap-copy slices and concatenations) serve
 * the model code now; `setFusedKernels(false)` keeps the BLAS products only (for measurements).
 */
export function fusedKernels(): boolean {
  return productsThroughBlas() && fusedKernelsActive();
}

/**
 * AdamW's `momentsInJs` for the active backend: on webgpu the moments stay on the GPU at every
 * size (moments in JS memory, AdamW's choice above 16M parameters for the wasm heap, would read
 * every gradient and weight back each step and update them on the CPU); elsewhere AdamW chooses.
 */
export function optimizerMomentsInJs(): boolean | undefined {
  return tf.getBackend() === 'webgpu' ? false : undefined;
}
