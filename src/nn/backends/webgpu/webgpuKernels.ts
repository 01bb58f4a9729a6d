import * as tf from '@tensorflow/tfjs';

/**
 * Kernels grpovi puts into TF.js's webgpu backend, through its kernel registry (as the BLAS path
 * does for wasm).
 *
 * AddN: TF.js binds every input of `tf.addN` as one storage buffer of a single shader, and a
 * WebGPU device offers 8 storage buffers per shader stage by default: with more than 7 inputs the
 * pipeline is invalid and the sum is garbage (the AdamW gradient norm sums one square per
 * parameter). Sums of more inputs are done in groups the device accepts.
 */
const ADD_N_GROUP = 4;

let installed = false;

export function installWebgpuKernels(): void {
  if (installed) return;
  const original = tf.getKernel('AddN', 'webgpu');
  if (original === undefined) return;
  installed = true;
  const addN = original.kernelFunc;
  const grouped: tf.KernelFunc = ({ inputs, backend, attrs }) => {
    let level = Object.values(inputs) as tf.TensorInfo[];
    const made: tf.TensorInfo[] = [];
    while (level.length > ADD_N_GROUP) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < level.length; i += ADD_N_GROUP) {
        const group = level.slice(i, i + ADD_N_GROUP);
        if (group.length === 1) next.push(group[0]);
        else {
          const sum = addN({
            inputs: group as unknown as tf.NamedTensorInfoMap,
            backend,
            attrs,
          }) as tf.TensorInfo;
          made.push(sum);
          next.push(sum);
        }
      }
      level = next;
    }
    const result = addN({
      inputs: level as unknown as tf.NamedTensorInfoMap,
      backend,
      attrs,
    }) as tf.TensorInfo;
    for (const partial of made) (backend as tf.KernelBackend).disposeData(partial.dataId);
    return result;
  };
  tf.unregisterKernel('AddN', 'webgpu');
  tf.registerKernel({ kernelName: 'AddN', backendName: 'webgpu', kernelFunc: grouped });
}
