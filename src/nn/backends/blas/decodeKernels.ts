/**
 * Kernels for one KV-cached decode step (one new token per sequence), registered for the wasm
 * backend together with the BLAS kernels. At one query per (sequence, head) group, attention is a
 * few thousand multiply-adds per group: as products it took 2 x 256 sgemm calls per layer (each
 * costing more in call overhead than in arithmetic) plus a scale, a bias add, a softmax and
 * reshapes, all TF.js ops. Here the two products run as 128-bit SIMD loops of our own
 * (decodeKernels.wat) straight on the wasm heap, and the softmax in between in JS. Inference only
 * (no gradient): the KV-cached sampler is its only user.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { DECODE_KERNELS_WASM } from './decodeKernelsWasm.js';
import { base64Bytes } from '../../../util/base64.js';

/**
 * KV-cached attention of one layer for `queries` new tokens per sequence (1 at a decode step, the
 * prompt at the prefill). Inputs: qkv [queries * B, (heads + 2 kvHeads) * d] (token-major rows:
 * q | k | v), the caches k and v [capacity, B * kvHeads, d] with `keys - queries` rows filled, bias
 * [queries * B, keys]; attrs heads, kvHeads (default heads; grouped-query attention when fewer:
 * query head h reads kv head floor(h / (heads / kvHeads))), keys, queries. Writes the new keys and values into the caches' next rows (in place: they
 * must be buffers only the sampler's cache holds) and returns [out [queries * B, width], k, v].
 */
export const DECODE_ATTENTION = 'GrpoviDecodeAttention';

/**
 * In place over `weights` [G, keys] (the scaled scores): adds the bias of each group's sequence
 * (`bias` [B, keys]), then takes the softmax of every row, in float64 and stored as float32.
 */
export function biasedSoftmaxRows(
  weights: Float32Array,
  bias: Float32Array,
  groups: number,
  heads: number,
  keys: number,
): void {
  for (let g = 0; g < groups; g++) {
    const row = g * keys;
    const biasRow = ((g / heads) | 0) * keys;
    let max = -Infinity;
    for (let j = 0; j < keys; j++) max = Math.max(max, weights[row + j] + bias[biasRow + j]);
    let total = 0;
    for (let j = 0; j < keys; j++) {
      const w = Math.exp(weights[row + j] + bias[biasRow + j] - max);
      weights[row + j] = w;
      total += w;
    }
    const scale = 1 / total;
    for (let j = 0; j < keys; j++) weights[row + j] *= scale;
  }
}

/** What this file uses of the WebAssembly API (the project's TS lib has no DOM typings). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** The SIMD loops of decodeKernels.wat, instantiated on the wasm backend's own memory. */
interface DecodeProducts {
  memory: object;
  layerNorm: (
    x: number,
    gain: number,
    bias: number,
    out: number,
    rows: number,
    width: number,
    eps: number,
  ) => void;
  scores: (
    q: number,
    k: number,
    scores: number,
    groups: number,
    keys: number,
    d: number,
    scale: number,
  ) => void;
  mix: (weights: number, v: number, out: number, groups: number, keys: number, d: number) => void;
}

let products: DecodeProducts | null = null;

function decodeProducts(backend: BackendWasm): DecodeProducts {
  const memory = (backend.wasm as unknown as { asm: { memory: object } }).asm.memory;
  if (products === null || products.memory !== memory) {
    const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const module = new api.Module(base64Bytes(DECODE_KERNELS_WASM));
    const { exports } = new api.Instance(module, { env: { memory } });
    products = {
      memory,
      scores: exports.scores as DecodeProducts['scores'],
      mix: exports.mix as DecodeProducts['mix'],
      layerNorm: exports.layerNorm as DecodeProducts['layerNorm'],
    };
  }
  return products;
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function decodeAttentionKernel(args: KernelArgs): tf.TensorInfo[] {
  const { qkv, k, v, bias } = args.inputs;
  if (qkv === undefined || k === undefined || v === undefined || bias === undefined)
    throw new TypeError(`${DECODE_ATTENTION} needs inputs qkv, k, v and bias`);
  if ([qkv, k, v, bias].some((t) => t.dtype !== 'float32'))
    throw new TypeError(`${DECODE_ATTENTION} takes float32 tensors`);
  const heads = Number(args.attrs.heads);
  const kvHeads = Number(args.attrs.kvHeads ?? heads);
  const keys = Number(args.attrs.keys);
  const queries = Number(args.attrs.queries ?? 1);
  const [capacity, kvGroups, headWidth] = k.shape;
  const rows = kvGroups / kvHeads;
  const repeat = heads / kvHeads;
  const groups = rows * heads;
  const width = heads * headWidth;
  const kvWidth = kvHeads * headWidth;
  const sizes = `qkv [${qkv.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}], bias [${bias.shape.join(', ')}], heads ${heads}, kvHeads ${kvHeads}, keys ${keys}, queries ${queries}`;
  const fits =
    k.shape.length === 3 &&
    v.shape.join() === k.shape.join() &&
    Number.isInteger(heads) &&
    Number.isInteger(kvHeads) &&
    kvHeads > 0 &&
    Number.isInteger(repeat) &&
    Number.isInteger(rows) &&
    heads > 0 &&
    Number.isInteger(queries) &&
    queries >= 1 &&
    Number.isInteger(keys) &&
    keys >= queries &&
    keys <= capacity &&
    qkv.shape.join() === [queries * rows, width + 2 * kvWidth].join() &&
    bias.shape.join() === [queries * rows, keys].join();
  if (!fits) throw new RangeError(`${DECODE_ATTENTION}: shapes do not fit (${sizes})`);
  if (headWidth % 4 !== 0)
    throw new RangeError(`${DECODE_ATTENTION}: the head width must be a multiple of 4 (${sizes})`);
  const { backend } = args;
  const wasm = decodeProducts(backend);
  // Allocate first: allocating may grow the heap and detach earlier views.
  const out = backend.makeOutput([queries * rows, width], 'float32');
  // Per query: the queries [groups, d], the weights [groups, keys] and, with shared kv heads, the
  // mixed values before they go back into the query heads' order [groups, d].
  const perQuery = groups * (headWidth + keys) + (repeat > 1 ? groups * headWidth : 0);
  const scratch = backend.makeOutput([queries * perQuery], 'float32');
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  const words = new Float32Array((backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.buffer);
  const biasValues = heap(backend, bias);
  const filled = keys - queries;
  // Token-major rows t * B + b of qkv are q | k | v ([heads, d], [kvHeads, d], [kvHeads, d]): q
  // goes to the scratch, k and v into the caches' row filled + t (whose [kvGroups, d] layout has
  // sequence b's kv heads at b * kvWidth). Every key is in place before the first query attends.
  // With shared kv heads (repeat > 1) the scratch holds the queries replica-major, [repeat,
  // kvGroups, d] (query head h = kh * repeat + r at replica r, kv group b * kvHeads + kh), so each
  // replica is one pass of the products over the kv groups.
  for (let t = 0; t < queries; t++) {
    const cacheRow = (filled + t) * kvGroups * headWidth;
    const query = at(scratch) / 4 + t * perQuery;
    for (let b = 0; b < rows; b++) {
      const row = at(qkv) / 4 + (t * rows + b) * (width + 2 * kvWidth);
      if (repeat === 1) {
        words.copyWithin(query + b * width, row, row + width);
      } else {
        for (let h = 0; h < heads; h++) {
          const to = query + (((h % repeat) * rows + b) * kvHeads + Math.floor(h / repeat)) * headWidth;
          words.copyWithin(to, row + h * headWidth, row + (h + 1) * headWidth);
        }
      }
      words.copyWithin(at(k) / 4 + cacheRow + b * kvWidth, row + width, row + width + kvWidth);
      words.copyWithin(at(v) / 4 + cacheRow + b * kvWidth, row + width + kvWidth, row + width + 2 * kvWidth);
    }
  }
  for (let t = 0; t < queries; t++) {
    // Query t sees keys up to filled + t; the bias masks the later ones (and the left padding).
    const query = at(scratch) + 4 * t * perQuery;
    const weights = query + 4 * groups * headWidth;
    const tokenBias = biasValues.subarray(t * rows * keys, (t + 1) * rows * keys);
    if (repeat === 1) {
      wasm.scores(query, at(k), weights, groups, keys, headWidth, 1 / Math.sqrt(headWidth));
      biasedSoftmaxRows(
        words.subarray(weights / 4, weights / 4 + groups * keys),
        tokenBias,
        groups,
        heads,
        keys,
      );
      wasm.mix(weights, at(v), at(out) + 4 * t * rows * width, groups, keys, headWidth);
      continue;
    }
    const mixed = weights + 4 * groups * keys;
    for (let r = 0; r < repeat; r++) {
      const replicaWeights = weights + 4 * r * kvGroups * keys;
      const replicaMixed = mixed + 4 * r * kvGroups * headWidth;
      wasm.scores(
        query + 4 * r * kvGroups * headWidth,
        at(k),
        replicaWeights,
        kvGroups,
        keys,
        headWidth,
        1 / Math.sqrt(headWidth),
      );
      biasedSoftmaxRows(
        words.subarray(replicaWeights / 4, replicaWeights / 4 + kvGroups * keys),
        tokenBias,
        kvGroups,
        kvHeads,
        keys,
      );
      wasm.mix(replicaWeights, at(v), replicaMixed, kvGroups, keys, headWidth);
    }
    // Back into the query heads' order: out row t * B + b, head h.
    const outRows = at(out) / 4 + t * rows * width;
    for (let b = 0; b < rows; b++) {
      for (let h = 0; h < heads; h++) {
        const from = mixed / 4 + (((h % repeat) * rows + b) * kvHeads + Math.floor(h / repeat)) * headWidth;
        words.copyWithin(outRows + b * width + h * headWidth, from, from + headWidth);
      }
    }
  }
  backend.disposeData(scratch.dataId);
  // The caches come back as new handles on the same buffers, now holding `keys` rows.
  backend.incRef(k.dataId);
  backend.incRef(v.dataId);
  return [
    out,
    { dataId: k.dataId, shape: [...k.shape], dtype: 'float32' },
    { dataId: v.dataId, shape: [...v.shape], dtype: 'float32' },
  ];
}

/** LayerNorm over the last axis of x [rows, width] (width a multiple of 4); inputs x, gain, bias; attr eps. */
export const DECODE_LAYER_NORM = 'GrpoviDecodeLayerNorm';

function layerNormKernel(args: KernelArgs): tf.TensorInfo {
  const { x, gain, bias } = args.inputs;
  if (x === undefined || gain === undefined || bias === undefined)
    throw new TypeError(`${DECODE_LAYER_NORM} needs inputs x, gain and bias`);
  const width = x.shape[x.shape.length - 1];
  const fits =
    [x, gain, bias].every((t) => t.dtype === 'float32') &&
    width % 4 === 0 &&
    gain.shape.join() === String(width) &&
    bias.shape.join() === String(width);
  if (!fits)
    throw new RangeError(
      `${DECODE_LAYER_NORM}: x [${x.shape.join(', ')}] (${x.dtype}) with gain [${gain.shape.join(', ')}] and bias [${bias.shape.join(', ')}] do not fit`,
    );
  const { backend } = args;
  const wasm = decodeProducts(backend);
  const out = backend.makeOutput([...x.shape], 'float32');
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
  const rows = x.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  wasm.layerNorm(at(x), at(gain), at(bias), at(out), rows, width, Number(args.attrs.eps));
  return out;
}

export const DECODE_KERNELS: {
  name: string;
  kernel: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}[] = [
  { name: DECODE_ATTENTION, kernel: decodeAttentionKernel },
  { name: DECODE_LAYER_NORM, kernel: layerNormKernel },
];
