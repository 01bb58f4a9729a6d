/**
 * Counters on TF.js's webgpu backend for bench:webgpu-profile: pipelines compiled (and the time
 * spent in createComputePipeline), programs dispatched, synchronous reads (and the time waiting in
 * them), kernels whose result was computed on the CPU.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { watchKernelPlacement } from '../src/nn/backends/webgpu/kernelPlacement.js';

export interface KernelCounts {
  pipelines: number;
  compileMs: number;
  dispatches: number;
  syncReads: number;
  syncReadMs: number;
  offGpu: string;
}

interface Internals {
  device: { createComputePipeline(d: unknown): unknown };
  recordAndSubmit(...args: unknown[]): void;
  readSync(dataId: object): unknown;
}

export function countKernels(backend: unknown): {
  reset(): void;
  read(): KernelCounts;
  uninstall(): void;
} {
  const b = backend as Internals;
  const c = { pipelines: 0, compileMs: 0, dispatches: 0, syncReads: 0, syncReadMs: 0 };
  const device = b.device;
  const create = device.createComputePipeline.bind(device);
  device.createComputePipeline = (d: unknown) => {
    const t0 = performance.now();
    try {
      return create(d);
    } finally {
      c.pipelines++;
      c.compileMs += performance.now() - t0;
    }
  };
  const record = b.recordAndSubmit.bind(b);
  b.recordAndSubmit = (...args: unknown[]) => {
    c.dispatches++;
    record(...args);
  };
  const read = b.readSync;
  b.readSync = (dataId: object) => {
    const t0 = performance.now();
    try {
      return read.call(b, dataId);
    } finally {
      c.syncReads++;
      c.syncReadMs += performance.now() - t0;
    }
  };
  const placement = watchKernelPlacement();
  return {
    reset: () => {
      Object.assign(c, { pipelines: 0, compileMs: 0, dispatches: 0, syncReads: 0, syncReadMs: 0 });
      placement.reset();
    },
    read: () => ({
      ...c,
      offGpu:
        placement.offGpu().size === 0
          ? 'none'
          : [...placement.offGpu()].map(([k, n]) => `${k} x${n}`).join(', '),
    }),
    uninstall: () => {
      device.createComputePipeline = create;
      b.recordAndSubmit = record;
      b.readSync = read;
      placement.stop();
    },
  };
}

/**
 * Time per kernel name: each webgpu kernel is followed by a synchronous read of its outputs, so
 * that the GPU's time lands on the kernel that caused it. Slows everything down; for finding the
 * slow kernels only.
 */
export function timeKernels(): { table(): string; stop(): void } {
  const backend = tf.backend() as unknown as { readSync(dataId: object): unknown };
  const totals = new Map<string, { ms: number; calls: number }>();
  const originals = tf.getKernelsForBackend('webgpu');
  for (const kernel of originals) {
    const run = kernel.kernelFunc;
    const timed: tf.KernelFunc = (args) => {
      const t0 = performance.now();
      const out = run(args);
      for (const info of Array.isArray(out) ? out : [out]) backend.readSync(info.dataId);
      const entry = totals.get(kernel.kernelName) ?? { ms: 0, calls: 0 };
      entry.ms += performance.now() - t0;
      entry.calls++;
      totals.set(kernel.kernelName, entry);
      return out;
    };
    tf.unregisterKernel(kernel.kernelName, 'webgpu');
    tf.registerKernel({ ...kernel, kernelFunc: timed });
  }
  return {
    table: () =>
      [...totals]
        .sort((x, y) => y[1].ms - x[1].ms)
        .slice(0, 15)
        .map(([k, v]) => `${k} ${v.calls}x ${(v.ms / 1000).toFixed(2)} s`)
        .join('; '),
    stop: () => {
      for (const kernel of originals) {
        tf.unregisterKernel(kernel.kernelName, 'webgpu');
        tf.registerKernel(kernel);
      }
    },
  };
}
