import * as tf from '@tensorflow/tfjs';
import { plainMatMul, plainReduce, plainSoftmax, plainTranspose } from './softwareAdapterKernels.js';

/**
 * Kernels grpovi puts into TF.js's webgpu backend, through its kernel registry (as the BLAS path
 * does for wasm): sums and products that give the same bits on every run.
 *
 * AddN: TF.js binds every input of `tf.addN` as one storage buffer of a single shader, and a
 * WebGPU device offers 8 storage buffers per shader stage by default: with more than 7 inputs the
 * pipeline is invalid and the sum is garbage (the AdamW gradient norm sums one square per
 * parameter). Sums of more inputs are done in groups the device accepts.
 */
const ADD_N_GROUP = 4;

/**
 * Matrix products: for a single product with a long inner dimension (2000 or more) and a small
 * output, TF.js picks a split-K shader whose partial sums meet through float atomics, in whatever
 * order the threads arrive, so reruns differ in the last bits (the gradient of a vocabulary-wide
 * output layer is such a product). Those products run with the small-output shader instead, which
 * also adds more workgroups for a small output but sums each element in one thread.
 */
const SPLIT_K_INNER = 2000;
const MATMUL_SMALL_OUTPUT_PROGRAM = 2;
const MATMUL_PROGRAM_FLAG = 'WEBGPU_MATMUL_PROGRAM_TYPE';

/** TF.js 4.22's choice of the split-K shader (BatchMatMul_impl.ts), repeated to avoid it. */
function wouldSplitK(
  a: number[],
  b: number[],
  attrs: { transposeA?: boolean; transposeB?: boolean } | undefined,
  backend: unknown,
): boolean {
  const rank = a.length;
  const batch = Math.max(
    a.slice(0, -2).reduce((n, d) => n * d, 1),
    b.slice(0, -2).reduce((n, d) => n * d, 1),
  );
  const inner = attrs?.transposeA ? a[rank - 2] : a[rank - 1];
  const outerA = attrs?.transposeA ? a[rank - 1] : a[rank - 2];
  const outerB = attrs?.transposeB ? b[b.length - 2] : b[b.length - 1];
  const threshold =
    tf.env().getNumber('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL') > 0
      ? tf.env().getNumber('WEBGPU_THRESHOLD_TO_INCREASE_WORKGROUPS_FOR_MATMUL')
      : (backend as { thresholdToIncreaseWorkgroups: number }).thresholdToIncreaseWorkgroups;
  const workgroups = batch * Math.ceil(outerA / 32) * Math.ceil(outerB / 32);
  const few = workgroups <= threshold || (outerA <= 8 && workgroups <= threshold * 2);
  return few && batch * outerA * outerB > 128 && batch === 1 && inner >= SPLIT_K_INNER;
}

interface MatMulInputs {
  a: tf.TensorInfo;
  b: tf.TensorInfo;
  bias?: tf.TensorInfo;
  preluActivationWeights?: tf.TensorInfo;
}
interface MatMulAttrs {
  transposeA?: boolean;
  transposeB?: boolean;
  activation?: string | null;
}

/**
 * Replaces a matmul kernel: on a software adapter by the barrier-free product of plainMatMul.ts
 * (where it applies), else by TF.js's kernel kept off the split-K shader.
 */
function replaceMatMul(kernelName: string, softwareAdapter: boolean): void {
  const original = tf.getKernel(kernelName, 'webgpu');
  if (original === undefined) return;
  const run = original.kernelFunc;
  const guarded: tf.KernelFunc = (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as MatMulInputs;
    const attrs = (args.attrs ?? {}) as MatMulAttrs;
    if (
      softwareAdapter &&
      preluActivationWeights === undefined &&
      (attrs.activation == null || attrs.activation === 'linear')
    ) {
      const backend = args.backend as unknown as Parameters<typeof plainMatMul>[0];
      const out = plainMatMul(backend, a, b, attrs, bias ?? undefined);
      if (out !== undefined) return out;
    }
    const env = tf.env();
    const chosen = env.getNumber(MATMUL_PROGRAM_FLAG);
    if (chosen >= 0 || !wouldSplitK(a.shape, b.shape, attrs, args.backend)) return run(args);
    env.set(MATMUL_PROGRAM_FLAG, MATMUL_SMALL_OUTPUT_PROGRAM);
    try {
      return run(args);
    } finally {
      env.set(MATMUL_PROGRAM_FLAG, chosen);
    }
  };
  tf.unregisterKernel(kernelName, 'webgpu');
  tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: guarded });
}

/** On a software adapter, 2-D transposes without workgroup memory (softwareAdapterKernels.ts). */
function replaceTranspose(): void {
  const original = tf.getKernel('Transpose', 'webgpu');
  if (original === undefined) return;
  const run = original.kernelFunc;
  const plain: tf.KernelFunc = (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const backend = args.backend as unknown as Parameters<typeof plainTranspose>[0];
    return plainTranspose(backend, x, perm) ?? run(args);
  };
  tf.unregisterKernel('Transpose', 'webgpu');
  tf.registerKernel({ kernelName: 'Transpose', backendName: 'webgpu', kernelFunc: plain });
}

type ProgramBackend = Parameters<typeof plainTranspose>[0];

/** Replaces a registered webgpu kernel by `f`, which returns undefined to run the original. */
function replaceKernel(
  kernelName: string,
  f: (args: Parameters<tf.KernelFunc>[0]) => tf.TensorInfo | undefined,
): void {
  const original = tf.getKernel(kernelName, 'webgpu');
  if (original === undefined) return;
  const run = original.kernelFunc;
  tf.unregisterKernel(kernelName, 'webgpu');
  tf.registerKernel({ kernelName, backendName: 'webgpu', kernelFunc: (args) => f(args) ?? run(args) });
}

/** On a software adapter, reductions over innermost axes without workgroup memory. */
function replaceReduce(op: 'Sum' | 'Mean' | 'Max' | 'Min'): void {
  replaceKernel(op, (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const attrs = args.attrs as {
      axis?: number | number[];
      reductionIndices?: number | number[];
      keepDims?: boolean;
    };
    const axis = attrs.axis ?? attrs.reductionIndices;
    if (axis === undefined) return undefined;
    return plainReduce(args.backend as unknown as ProgramBackend, op, x, axis, attrs.keepDims === true);
  });
}

/** On a software adapter, softmax over the last axis without workgroup memory. */
function replaceSoftmax(): void {
  replaceKernel('Softmax', (args) => {
    const { logits } = args.inputs as { logits: tf.TensorInfo };
    const { dim } = args.attrs as unknown as { dim: number };
    return plainSoftmax(args.backend as unknown as ProgramBackend, logits, dim);
  });
}

let installed = false;

/**
 * Registers grpovi's webgpu kernels (once per process). `softwareAdapter`: the adapter runs its
 * shaders on the CPU (SwiftShader and the like), which changes the best matrix product.
 */
export function installWebgpuKernels(softwareAdapter: boolean): void {
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
  replaceMatMul('BatchMatMul', softwareAdapter);
  replaceMatMul('_FusedMatMul', softwareAdapter);
  if (softwareAdapter) {
    replaceTranspose();
    for (const op of ['Sum', 'Mean', 'Max', 'Min'] as const) replaceReduce(op);
    replaceSoftmax();
  }
}
