import * as tf from '@tensorflow/tfjs';

/** What the webgpu backend keeps for a tensor, as far as placement goes. */
interface TensorPlacement {
  values?: unknown;
  resource?: unknown;
}
interface PlacementBackend {
  tensorMap: { get(dataId: object): TensorPlacement | undefined };
}

/** A watch on where the kernels of the webgpu backend leave their results. */
export interface KernelPlacementWatch {
  /** Kernel names (with counts) whose result was computed in CPU memory since the last reset. */
  offGpu(): Map<string, number>;
  reset(): void;
  /** Puts the original kernels back. */
  stop(): void;
}

/**
 * Wraps every kernel registered for the webgpu backend to check where its outputs are: a result
 * that holds values in CPU memory and no GPU buffer was computed on the CPU (TF.js's
 * WEBGPU_CPU_FORWARD, or a kernel with a CPU implementation only). Outputs that are one of the
 * kernel's inputs (Reshape, Identity share the input's data) are not counted: they were computed
 * wherever the input was. For tests and benchmarks: it adds a map lookup per kernel.
 */
export function watchKernelPlacement(): KernelPlacementWatch {
  if (tf.getBackend() !== 'webgpu') throw new Error('watchKernelPlacement: the webgpu backend is not active');
  const backend = tf.backend() as unknown as PlacementBackend;
  const counts = new Map<string, number>();
  const originals = tf.getKernelsForBackend('webgpu');
  for (const kernel of originals) {
    const run = kernel.kernelFunc;
    const watched: tf.KernelFunc = (args) => {
      const out = run(args);
      const inputs = new Set(Object.values(args.inputs).map((t) => t?.dataId));
      for (const info of Array.isArray(out) ? out : [out]) {
        if (inputs.has(info.dataId)) continue;
        const data = backend.tensorMap.get(info.dataId);
        if (data !== undefined && data.values != null && data.resource == null)
          counts.set(kernel.kernelName, (counts.get(kernel.kernelName) ?? 0) + 1);
      }
      return out;
    };
    tf.unregisterKernel(kernel.kernelName, 'webgpu');
    tf.registerKernel({ ...kernel, kernelFunc: watched });
  }
  return {
    offGpu: () => new Map(counts),
    reset: () => counts.clear(),
    stop: () => {
      for (const kernel of originals) {
        tf.unregisterKernel(kernel.kernelName, 'webgpu');
        tf.registerKernel(kernel);
      }
    },
  };
}
