/**
 * Matrix-product kernels of TF.js's wasm backend that call the system's `cblas_sgemm` on views of
 * the wasm heap (no copies), registered in place of the wasm ones through TF.js's kernel registry.
 * Autodiff and every other op stay TF.js; the original kernels stay at hand for what is not handled
 * here (other dtypes, bias shapes the wasm kernel itself rejects).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
// The constants from their own module: the kernels must not pull the Node loader into a browser bundle.
import { CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS } from './cblasConstants.js';
import type { CblasLibrary } from './cblasLibrary.js';
import { batchMatMulPlan, type GemmPlan, groupedMatMulPlan, isDegenerate } from './productPlan.js';
import { sliceRuns } from './slicePlan.js';
import { LOG_PROB_KERNELS } from './logProbKernels.js';
import { DECODE_KERNELS } from './decodeKernels.js';

/**
 * Our own kernel: products per group in the "group in the middle" layout (see `groupedMatMulPlan`).
 * Only registered while the BLAS kernels are installed.
 */
export const GROUPED_MATMUL = 'GrpoviGroupedMatMul';

/**
 * Entropy per row of a softmax, log Z - sum_j p_j x_j, from inputs `probs`, `logits` [rows, vocab]
 * and `logNormalizer` [rows]: one `cblas_sdot` per row instead of a vocabulary-wide product tensor
 * and the backend's scalar row sums. Only registered while the BLAS kernels are installed.
 */
export const SOFTMAX_ENTROPY = 'GrpoviSoftmaxEntropy';

/**
 * A LoRA-adapted projection for inference passes (the KV-cached sampler): x W (+ bias) + scale *
 * ((x A^T) B^T), from inputs x [rows, in], weight [in, out], optional bias [out], a [r, in],
 * b [out, r] and attr scale. Three sgemm calls on the 2-D operands as they are, the last adding
 * into the base product through sgemm's alpha (the scale) and beta (1), where the op path took
 * reshapes, two products, a scalar, a product and a sum per projection. The base product is the
 * op path's own sgemm call; the delta is scaled and added inside sgemm, so the result is within
 * float32 rounding of the ops (which round the delta, its scaling and the sum one by one). No
 * gradient. Only registered while the BLAS kernels are installed.
 */
export const LORA_PROJECTION = 'GrpoviLoraProjection';

const OVERRIDDEN = [tf.BatchMatMul, tf._FusedMatMul, tf.Identity, tf.Slice, tf.SplitV, tf.Concat] as const;

/** The wasm activation kernels the fused product hands its result to, as TF.js's own kernel does. */
const ACTIVATION_KERNELS: Record<string, string> = {
  relu: tf.Relu,
  relu6: tf.Relu6,
  elu: tf.Elu,
  sigmoid: tf.Sigmoid,
  leakyrelu: tf.LeakyRelu,
  prelu: tf.Prelu,
};

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

type KernelImpl = (args: KernelArgs) => tf.TensorInfo;

function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** The wasm heap as it is now (the module's typings omit its Emscripten views). */
function heapBufferOf(backend: BackendWasm): ArrayBufferLike {
  return (backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer;
}

let heapBuffer: ArrayBufferLike | null = null;
let heapBase = 0;

/**
 * The byte address of a tensor on the wasm heap. The heap's own address is looked up again whenever
 * its buffer changes (growth replaces the buffer object, and the memory may move with it).
 */
function address(lib: CblasLibrary, backend: BackendWasm, info: tf.TensorInfo): number {
  const buffer = heapBufferOf(backend);
  if (buffer !== heapBuffer) {
    heapBuffer = buffer;
    heapBase = lib.addressOf(buffer);
  }
  return heapBase + backend.dataIdMap.get(info.dataId).memoryOffset;
}

/**
 * Runs a plan's sgemm calls on byte addresses, C = alpha A B + beta C; `c` already holds the bias
 * rows (or what the product adds to) when `beta` is 1.
 */
function runPlan(
  lib: CblasLibrary,
  plan: GemmPlan,
  a: number,
  b: number,
  c: number,
  beta: number,
  alpha = 1,
): void {
  const ta = plan.transposeA ? CBLAS_TRANS : CBLAS_NO_TRANS;
  const tb = plan.transposeB ? CBLAS_TRANS : CBLAS_NO_TRANS;
  const { m, n, k, lda, ldb, ldc } = plan;
  for (const call of plan.calls) {
    lib.sgemmAt(
      CBLAS_ROW_MAJOR,
      ta,
      tb,
      m,
      n,
      k,
      alpha,
      a + 4 * call.aOffset,
      lda,
      b + 4 * call.bOffset,
      ldb,
      beta,
      c + 4 * call.cOffset,
      ldc,
    );
  }
}

/** Every row of `c` set to `row`: one copy, then doubling copies inside `c`. */
function fillRows(c: Float32Array, row: Float32Array): void {
  if (row.length === 1) {
    c.fill(row[0]);
    return;
  }
  c.set(row);
  for (let filled = row.length; filled < c.length; filled *= 2)
    c.copyWithin(filled, 0, Math.min(filled, c.length - filled));
}

/** Allocates the output first: allocation may grow the heap, which moves or detaches earlier views. */
function compute(
  lib: CblasLibrary,
  backend: BackendWasm,
  plan: GemmPlan,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  bias?: tf.TensorInfo,
): tf.TensorInfo {
  const out = backend.makeOutput(plan.outShape, 'float32');
  let beta = 0;
  if (bias === undefined) {
    // beta 0 overwrites C; only an empty product (k = 0) leaves it to us.
    if (isDegenerate(plan)) heap(backend, out).fill(0);
  } else if (plan.outShape.every((d) => d > 0)) {
    fillRows(heap(backend, out), heap(backend, bias));
    beta = 1;
  }
  if (!isDegenerate(plan)) {
    const [pa, pb, pc] = [a, b, out].map((t) => address(lib, backend, t));
    runPlan(lib, plan, pa, pb, pc, beta);
  }
  return out;
}

function isFloat(...infos: (tf.TensorInfo | undefined)[]): boolean {
  return infos.every((t) => t === undefined || t.dtype === 'float32');
}

/** The two operands of a product kernel. */
function operands(inputs: tf.NamedTensorInfoMap): [tf.TensorInfo, tf.TensorInfo] {
  const { a, b } = inputs;
  if (a === undefined || b === undefined) throw new TypeError('a product kernel needs inputs a and b');
  return [a, b];
}

function batchMatMulKernel(lib: CblasLibrary, fallback: KernelImpl): KernelImpl {
  return (args) => {
    const [a, b] = operands(args.inputs);
    if (!isFloat(a, b)) return fallback(args);
    const plan = batchMatMulPlan(
      a.shape,
      b.shape,
      Boolean(args.attrs.transposeA),
      Boolean(args.attrs.transposeB),
    );
    return compute(lib, args.backend, plan, a, b);
  };
}

function fusedMatMulKernel(lib: CblasLibrary, fallback: KernelImpl): KernelImpl {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    const activation = String(args.attrs.activation ?? 'linear');
    const plan =
      a && b
        ? batchMatMulPlan(a.shape, b.shape, Boolean(args.attrs.transposeA), Boolean(args.attrs.transposeB))
        : null;
    // Bias along the last axis (rank 1, or a single value) is what sgemm's beta can add; the rest goes back.
    const biasFits =
      bias === undefined || (bias.shape.length <= 1 && [1, plan?.n].includes(bias.shape[0] ?? 1));
    const activationKernel = activation === 'linear' ? undefined : ACTIVATION_KERNELS[activation];
    if (
      !a ||
      !b ||
      !plan ||
      !isFloat(a, b, bias) ||
      !biasFits ||
      (activation !== 'linear' && !activationKernel)
    )
      return fallback(args);
    const product = compute(lib, args.backend, plan, a, b, bias);
    if (activationKernel === undefined) return product;
    const kernel = tf.getKernel(activationKernel, 'wasm');
    const activated = kernel.kernelFunc({
      inputs: { x: product, ...(preluActivationWeights ? { alpha: preluActivationWeights } : {}) },
      backend: args.backend,
      attrs: { alpha: args.attrs.leakyreluAlpha ?? 0.2 },
    }) as tf.TensorInfo;
    args.backend.disposeData(product.dataId);
    return activated;
  };
}

function groupedMatMulKernel(lib: CblasLibrary): KernelImpl {
  return (args) => {
    const [a, b] = operands(args.inputs);
    if (!isFloat(a, b))
      throw new TypeError(`${GROUPED_MATMUL} takes float32 tensors, got ${a.dtype} and ${b.dtype}`);
    const plan = groupedMatMulPlan(
      a.shape,
      b.shape,
      Boolean(args.attrs.transposeA),
      Boolean(args.attrs.transposeB),
    );
    return compute(lib, args.backend, plan, a, b);
  };
}

function softmaxEntropyKernel(lib: CblasLibrary): KernelImpl {
  return (args) => {
    const { probs, logits, logNormalizer } = args.inputs;
    if (!probs || !logits || !logNormalizer || !isFloat(probs, logits, logNormalizer))
      throw new TypeError(`${SOFTMAX_ENTROPY} takes float32 probs, logits and logNormalizer`);
    const [rows, vocab] = logits.shape;
    if (probs.shape.join() !== logits.shape.join() || logNormalizer.shape.join() !== `${rows}`)
      throw new RangeError(
        `${SOFTMAX_ENTROPY}: probs [${probs.shape.join(', ')}], logits [${logits.shape.join(', ')}] and logNormalizer [${logNormalizer.shape.join(', ')}] do not match`,
      );
    const { backend } = args;
    const out = backend.makeOutput([rows], 'float32');
    const entropy = heap(backend, out);
    const logZ = heap(backend, logNormalizer);
    const [p, x] = [probs, logits].map((t) => address(lib, backend, t));
    for (let r = 0; r < rows; r++)
      entropy[r] = logZ[r] - lib.sdotAt(vocab, p + 4 * r * vocab, 1, x + 4 * r * vocab, 1);
    return out;
  };
}

function loraProjectionKernel(lib: CblasLibrary): KernelImpl {
  return (args) => {
    const { x, weight, bias, a, b } = args.inputs as Record<string, tf.TensorInfo | undefined>;
    if (x === undefined || weight === undefined || a === undefined || b === undefined)
      throw new TypeError(`${LORA_PROJECTION} needs inputs x, weight, a and b`);
    if (!isFloat(x, weight, bias, a, b)) throw new TypeError(`${LORA_PROJECTION} takes float32 tensors`);
    const shapes = [x, weight, a, b].map((t) => t.shape);
    const outputs = weight.shape[1];
    const fits =
      shapes.every((shape) => shape.length === 2) &&
      (bias === undefined || bias.shape.join() === String(outputs));
    if (!fits)
      throw new RangeError(
        `${LORA_PROJECTION}: x [${x.shape}], weight [${weight.shape}], bias [${bias?.shape ?? ''}], a [${a.shape}], b [${b.shape}] do not fit`,
      );
    const { backend } = args;
    // The plans check the inner sizes (x's width against weight and a, a's rank against b).
    const out = compute(lib, backend, batchMatMulPlan(x.shape, weight.shape, false, false), x, weight, bias);
    const down = compute(lib, backend, batchMatMulPlan(x.shape, a.shape, false, true), x, a);
    const deltaPlan = batchMatMulPlan(down.shape, b.shape, false, true);
    if (deltaPlan.outShape.join() !== out.shape.join())
      throw new RangeError(`${LORA_PROJECTION}: b [${b.shape}] does not fit weight [${weight.shape}]`);
    // out += scale (x A^T) B^T as sgemm's alpha and beta: no delta tensor, no elementwise pass.
    if (!isDegenerate(deltaPlan)) {
      const [pDown, pB, pOut] = [down, b, out].map((t) => address(lib, backend, t));
      runPlan(lib, deltaPlan, pDown, pB, pOut, 1, Math.fround(Number(args.attrs.scale)));
    }
    backend.disposeData(down.dataId);
    return out;
  };
}

/**
 * TF.js clones every tensor a gradient saves through the Identity kernel, which on wasm copies the
 * buffer (the update saves about 160, some of them 16 MB of softmax). Tensors are immutable, so the
 * clone may share the buffer, as the wasm Reshape kernel and the cpu backend's Identity do.
 */
function sharingIdentityKernel(fallback: KernelImpl): KernelImpl {
  return (args) => {
    const x = args.inputs.x;
    if (x === undefined || x.dtype === 'string') return fallback(args);
    args.backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** Element size of the dtypes the heap-copy kernels handle (4 bytes); others go to the wasm kernel. */
function isWord(info: tf.TensorInfo): boolean {
  return info.dtype === 'float32' || info.dtype === 'int32';
}

/** One slice as contiguous copies inside the heap (the wasm kernel first copies the whole input out). */
function heapSlice(backend: BackendWasm, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo {
  const runs = sliceRuns(x.shape, begin, size);
  const out = backend.makeOutput(size, x.dtype);
  if (runs.length === 0) return out;
  const words = new Int32Array(heapBufferOf(backend));
  const from = backend.dataIdMap.get(x.dataId).memoryOffset / 4;
  let to = backend.dataIdMap.get(out.dataId).memoryOffset / 4;
  for (const start of runs.starts) {
    words.copyWithin(to, from + start, from + start + runs.length);
    to += runs.length;
  }
  return out;
}

function sliceKernel(fallback: KernelImpl): KernelImpl {
  return (args) => {
    const x = args.inputs.x;
    if (x === undefined || !isWord(x) || !fusedWanted) return fallback(args);
    const [begin, size] = tf.slice_util.parseSliceParams(
      x as tf.Tensor,
      args.attrs.begin as number | number[],
      args.attrs.size as number | number[] | undefined,
    );
    return heapSlice(args.backend, x, begin, size);
  };
}

function splitKernel(fallback: (args: KernelArgs) => tf.TensorInfo[]): (args: KernelArgs) => tf.TensorInfo[] {
  return (args) => {
    const x = args.inputs.x;
    if (x === undefined || !isWord(x) || !fusedWanted) return fallback(args);
    const axis = tf.util.parseAxisParam(args.attrs.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(
      x as tf.Tensor,
      args.attrs.numOrSizeSplits as number | number[],
      axis,
    );
    const begin = x.shape.map(() => 0);
    return sizes.map((part) => {
      const size = [...x.shape];
      size[axis] = part;
      const piece = heapSlice(args.backend, x, [...begin], size);
      begin[axis] += part;
      return piece;
    });
  };
}

/**
 * Concatenation as copies inside the heap, one `copyWithin` per (outer index, input): the wasm
 * kernel does the same copies through a new typed-array view each, which is most of its cost for the
 * backward pass of attention's q | k | v split (1280 rows of three pieces, 2 ms a call).
 */
function concatKernel(fallback: KernelImpl): KernelImpl {
  return (args) => {
    const all = Object.values(args.inputs) as tf.TensorInfo[];
    const parts = all.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (parts.length < 2 || !fusedWanted || !parts.every((t) => isWord(t) && t.dtype === parts[0].dtype))
      return fallback(args);
    const axis = tf.util.parseAxisParam(args.attrs.axis as number, all[0].shape)[0];
    const shapes = all.map((t) => t.shape);
    tf.backend_util.assertParamsConsistent(shapes, axis);
    const outShape = tf.backend_util.computeOutShape(shapes, axis);
    const { backend } = args;
    const out = backend.makeOutput(outShape, parts[0].dtype);
    const words = new Int32Array(heapBufferOf(backend));
    const outer = tf.util.sizeFromShape(outShape.slice(0, axis));
    const inner = parts.map((t) => tf.util.sizeFromShape(t.shape.slice(axis)));
    const from = parts.map((t) => backend.dataIdMap.get(t.dataId).memoryOffset / 4);
    let to = backend.dataIdMap.get(out.dataId).memoryOffset / 4;
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < parts.length; i++) {
        const start = from[i] + o * inner[i];
        words.copyWithin(to, start, start + inner[i]);
        to += inner[i];
      }
    }
    return out;
  };
}

let installed: { lib: CblasLibrary; originals: tf.KernelConfig[] } | null = null;
let fusedWanted = true;

/**
 * Whether the non-product kernels of the BLAS path (heap-copy slices and concatenations, target
 * log-probs, the sampler's decode kernels) are used while the BLAS kernels are installed; on by default. Off, the BLAS path runs
 * only its products natively: `npm run bench:train` measures what the rest gives this way.
 */
export function setFusedKernels(enabled: boolean): void {
  fusedWanted = enabled;
}

/** The fused kernels are in use: BLAS kernels installed and `setFusedKernels` not turned off. */
export function fusedKernelsActive(): boolean {
  return installed !== null && fusedWanted;
}

/** Puts the BLAS kernels in place of the wasm backend's products (idempotent for the same library). */
export function installBlasKernels(lib: CblasLibrary): void {
  if (installed?.lib === lib) return;
  uninstallBlasKernels();
  const originals = OVERRIDDEN.map((name) => tf.getKernel(name, 'wasm'));
  const [batch, fused, identity, slice, split, concat] = originals.map(
    (k) => k.kernelFunc as unknown as KernelImpl,
  );
  const replacements: Record<string, unknown> = {
    [tf.BatchMatMul]: batchMatMulKernel(lib, batch),
    [tf._FusedMatMul]: fusedMatMulKernel(lib, fused),
    [tf.Identity]: sharingIdentityKernel(identity),
    [tf.Slice]: sliceKernel(slice),
    [tf.SplitV]: splitKernel(split as unknown as (args: KernelArgs) => tf.TensorInfo[]),
    [tf.Concat]: concatKernel(concat),
  };
  for (const name of OVERRIDDEN) {
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: replacements[name] as unknown as tf.KernelFunc,
    });
  }
  tf.registerKernel({
    kernelName: GROUPED_MATMUL,
    backendName: 'wasm',
    kernelFunc: groupedMatMulKernel(lib) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: SOFTMAX_ENTROPY,
    backendName: 'wasm',
    kernelFunc: softmaxEntropyKernel(lib) as unknown as tf.KernelFunc,
  });
  tf.registerKernel({
    kernelName: LORA_PROJECTION,
    backendName: 'wasm',
    kernelFunc: loraProjectionKernel(lib) as unknown as tf.KernelFunc,
  });
  const ownKernels = [...LOG_PROB_KERNELS, ...DECODE_KERNELS];
  for (const { name, kernel } of ownKernels)
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: kernel as unknown as tf.KernelFunc,
    });
  installed = { lib, originals };
}

/** Restores the wasm backend's own product kernels. */
export function uninstallBlasKernels(): void {
  if (installed === null) return;
  for (const original of installed.originals) {
    tf.unregisterKernel(original.kernelName, 'wasm');
    tf.registerKernel(original);
  }
  tf.unregisterKernel(GROUPED_MATMUL, 'wasm');
  tf.unregisterKernel(SOFTMAX_ENTROPY, 'wasm');
  tf.unregisterKernel(LORA_PROJECTION, 'wasm');
  for (const { name } of [...LOG_PROB_KERNELS, ...DECODE_KERNELS]) tf.unregisterKernel(name, 'wasm');
  installed = null;
}

/** The library whose kernels are in place, if any. */
export function installedBlas(): CblasLibrary | null {
  return installed?.lib ?? null;
}
