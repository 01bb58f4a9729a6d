import * as tf from '@tensorflow/tfjs';
import { pumpDawnUntil } from './dawnPump.js';

/** TF.js's webgpu backend, as far as a synchronous read touches it. */
interface TensorData {
  values?: tf.backend_util.BackendValues | null;
  dtype: tf.DataType;
  resource?: unknown;
}
interface GpuBufferLike {
  size: number;
  mapState: string;
  mapAsync(mode: number): Promise<void>;
  getMappedRange(): ArrayBuffer;
  unmap(): void;
}
export interface WebgpuBackendInternals {
  readSync(dataId: object): tf.backend_util.BackendValues;
  tensorMap: { get(dataId: object): TensorData | undefined };
  bufferManager: {
    acquireBuffer(size: number, usage: number): GpuBufferLike;
    releaseBuffer(b: GpuBufferLike): void;
  };
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: {
    copyBufferToBuffer(a: GpuBufferLike, ao: number, b: GpuBufferLike, bo: number, n: number): void;
  };
}

const READ_TIMEOUT_MS = 120_000;

function webgpuConstants(): { copyDst: number; mapRead: number; read: number } {
  const g = globalThis as unknown as {
    GPUBufferUsage: { COPY_DST: number; MAP_READ: number };
    GPUMapMode: { READ: number };
  };
  return { copyDst: g.GPUBufferUsage.COPY_DST, mapRead: g.GPUBufferUsage.MAP_READ, read: g.GPUMapMode.READ };
}

function syncReadError(why: string): Error {
  return new Error(
    `webgpu backend: a tensor was read synchronously (dataSync/arraySync) and ${why}; read it with await tensor.data()`,
  );
}

/**
 * Replaces the backend's synchronous read, which needs OffscreenCanvas (absent in Node), by a copy
 * to a staging buffer whose mapping is awaited by pumping Dawn's events (see dawnPump.ts). The
 * values are cached on the tensor, as TF.js's own reads do.
 */
export function readSynchronouslyThroughDawn(backend: WebgpuBackendInternals): void {
  const original = backend.readSync.bind(backend);
  backend.readSync = (dataId: object) => {
    const data = backend.tensorMap.get(dataId);
    if (data === undefined || data.values != null || data.dtype === 'string' || data.dtype === 'complex64')
      return original(dataId);
    const buffer = data.resource as GpuBufferLike;
    const usage = webgpuConstants();
    const staging = backend.bufferManager.acquireBuffer(buffer.size, usage.copyDst | usage.mapRead);
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.commandEncoder.copyBufferToBuffer(buffer, 0, staging, 0, buffer.size);
    backend.submitQueue();
    let failure: unknown;
    staging.mapAsync(usage.read).catch((error: unknown) => {
      failure = error;
    });
    pumpDawnUntil(() => staging.mapState === 'mapped', READ_TIMEOUT_MS, {
      stalled: () => syncReadError('Dawn had no event processing scheduled to wait on'),
      late: () => syncReadError(`the GPU did not answer in ${READ_TIMEOUT_MS / 1000} s`),
      failed: () =>
        failure === undefined
          ? undefined
          : syncReadError(`mapping its staging buffer failed (${String(failure)})`),
    });
    const values = tf.util.convertBackendValuesAndArrayBuffer(staging.getMappedRange().slice(0), data.dtype);
    staging.unmap();
    backend.bufferManager.releaseBuffer(staging);
    data.values = values;
    return values;
  };
}
