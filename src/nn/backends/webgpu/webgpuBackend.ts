import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../backendError.js';
import { type WebgpuAdapterInfo, adapterLine, readAdapterInfo } from './adapterInfo.js';
import { GpuUnavailableError, gpuEntryPoint, missingAdapterHint, releaseNodeGpu } from './nodeGpu.js';
import { installWebgpuKernels } from './webgpuKernels.js';
import { type WebgpuBackendInternals, readSynchronouslyThroughDawn } from './syncRead.js';

/** The adapter the webgpu backend runs on in this process, once it started. */
let active: WebgpuAdapterInfo | undefined;

/** The adapter of the running webgpu backend, if it runs. */
export function webgpuAdapter(): WebgpuAdapterInfo | undefined {
  return tf.getBackend() === 'webgpu' ? active : undefined;
}

/**
 * Starts TF.js's WebGPU backend and resolves to its adapter. In Node, Dawn's GPU is put on
 * `navigator` first: the backend registers itself only if it finds one when imported. Small ops
 * stay on the GPU (`WEBGPU_CPU_FORWARD` off): otherwise TF.js runs them on the CPU and the GPU
 * waits for their uploads. No adapter, or a backend that does not start, is a BackendError naming
 * what is missing.
 */
export async function activateWebgpu(): Promise<WebgpuAdapterInfo> {
  if (active !== undefined && tf.findBackend('webgpu') !== null) {
    if (tf.getBackend() !== 'webgpu' && !(await tf.setBackend('webgpu')))
      throw new BackendError('backend "webgpu": TF.js could not switch back to its webgpu backend');
    return active;
  }
  let gpu;
  try {
    gpu = await gpuEntryPoint();
  } catch (error) {
    if (error instanceof GpuUnavailableError) throw new BackendError(`backend "webgpu": ${error.message}`);
    throw error;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (adapter === null) {
    releaseNodeGpu();
    throw new BackendError(`backend "webgpu": no WebGPU adapter found (${missingAdapterHint()})`);
  }
  const info = readAdapterInfo(adapter.info ?? {}, adapter.isFallbackAdapter);
  await import('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  // GRPOVI_WEBGPU_SOFTWARE_KERNELS=0 keeps TF.js's shaders on a software adapter (for measurements).
  const keepTfjsShaders = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env?.GRPOVI_WEBGPU_SOFTWARE_KERNELS;
  installWebgpuKernels(info.fallback && keepTfjsShaders !== '0');
  let started = false;
  try {
    started = await tf.setBackend('webgpu');
  } catch {
    started = false;
  }
  if (!started) {
    releaseNodeGpu();
    throw new BackendError(
      `backend "webgpu": TF.js's webgpu backend did not start on the adapter ${adapterLine(info)}`,
    );
  }
  await tf.ready();
  guardSynchronousReads();
  active = info;
  return info;
}

/**
 * In Node, TF.js's synchronous read needs OffscreenCanvas: read through Dawn instead (syncRead.ts).
 * The browser keeps TF.js's own.
 */
function guardSynchronousReads(): void {
  if (typeof (globalThis as { OffscreenCanvas?: unknown }).OffscreenCanvas !== 'undefined') return;
  readSynchronouslyThroughDawn(tf.backend() as unknown as WebgpuBackendInternals);
}

/** Downloads the values of tensors on the GPU so that later synchronous reads of them succeed. */
export async function downloadValues(tensors: readonly tf.Tensor[]): Promise<void> {
  if (tf.getBackend() !== 'webgpu') return;
  await Promise.all(tensors.map((t) => t.data()));
}

export { adapterLine, releaseNodeGpu as releaseWebgpu, type WebgpuAdapterInfo };
