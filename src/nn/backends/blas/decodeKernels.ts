/**
 * Kernels for one KV-cached decode step (one new token per sequence), registered for the wasm
 * backend together with the BLAS kernels. At one query per (sequence, head) group, attention is a
 * few thousand multiply-adds per group: as products it took 2 x 256 sgemm calls per layer (each
 * costing more in call overhead than in arithmetic) plus a scale, a bias add, a softmax and
 * reshapes, all TF.js ops. Here the two products run as 128-bit SIMD loops of our own
 * (decodeKernels.wat) straight on the wasm heap, and the softmax in between in JS. Inference only
 * (no gradient): the KV-cached sampler is its only user.
 */
import * as tf from '@tensorflow/tfjs';
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

/**
 * words[to..to+n) = words[from..from+n) for short runs (a head's values): a plain loop, where
 * `copyWithin`'s per-call cost exceeded the copy at a few dozen values. The runs never overlap.
 */
function copyRun(words: Float32Array, to: number, from: number, n: number): void {
  for (let i = 0; i < n; i++) words[to + i] = words[from + i];
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
          copyRun(words, to, row + h * headWidth, headWidth);
        }
      }
      copyRun(words, at(k) / 4 + cacheRow + b * kvWidth, row + width, kvWidth);
      copyRun(words, at(v) / 4 + cacheRow + b * kvWidth, row + width + kvWidth, kvWidth);
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
        copyRun(words, outRows + b * width + h * headWidth, from, headWidth);
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

/**
 * RoPE on a decode step's queries and keys, written with the values into one q | k | v row per
 * token (what the attention kernel takes): inputs q [rows, heads * d], k and v [rows, kvHeads * d],
 * cos and sin [rows, d] (the tables of each row's position); attrs heads, kvHeads. Each rotated
 * value is fround(fround(x cos) + fround(r sin)) with r = [-x2, x1], the float32 operations of
 * `applyRope` (rope.ts) in its order, so the result is the same bit for bit; it replaces about ten
 * TF.js ops per layer (slices, a negation, a concatenation of many small runs, products, a sum) and
 * the concatenation of q, k and v.
 */
export const DECODE_ROPE_QKV = 'GrpoviDecodeRopeQkv';

function ropeQkvKernel(args: KernelArgs): tf.TensorInfo {
  const { q, k, v, cos, sin } = args.inputs;
  if (q === undefined || k === undefined || v === undefined || cos === undefined || sin === undefined)
    throw new TypeError(`${DECODE_ROPE_QKV} needs inputs q, k, v, cos and sin`);
  const heads = Number(args.attrs.heads);
  const kvHeads = Number(args.attrs.kvHeads);
  const rows = q.shape[0];
  const d = cos.shape[cos.shape.length - 1];
  const sizes = `q [${q.shape.join(', ')}], k [${k.shape.join(', ')}], v [${v.shape.join(', ')}], cos [${cos.shape.join(', ')}], sin [${sin.shape.join(', ')}], heads ${heads}, kvHeads ${kvHeads}`;
  const fits =
    [q, k, v, cos, sin].every((t) => t.dtype === 'float32') &&
    Number.isInteger(heads) &&
    Number.isInteger(kvHeads) &&
    heads > 0 &&
    kvHeads > 0 &&
    d % 2 === 0 &&
    q.shape.join() === [rows, heads * d].join() &&
    k.shape.join() === [rows, kvHeads * d].join() &&
    v.shape.join() === k.shape.join() &&
    tf.util.sizeFromShape(cos.shape) === rows * d &&
    sin.shape.join() === cos.shape.join();
  if (!fits) throw new RangeError(`${DECODE_ROPE_QKV}: shapes do not fit (${sizes})`);
  const { backend } = args;
  const width = (heads + 2 * kvHeads) * d;
  const out = backend.makeOutput([rows, width], 'float32');
  // Views after the allocation (it may grow the heap and detach earlier ones).
  const [qs, ks, vs, cs, ss, os] = [q, k, v, cos, sin, out].map((t) => heap(backend, t));
  const half = d / 2;
  const f = Math.fround;
  const rotate = (from: Float32Array, fromRow: number, to: number, count: number, table: number) => {
    for (let h = 0; h < count; h++) {
      const x = fromRow + h * d;
      const y = to + h * d;
      for (let i = 0; i < d; i++) {
        const r = i < half ? -from[x + i + half] : from[x + i - half];
        os[y + i] = f(f(from[x + i] * cs[table + i]) + f(r * ss[table + i]));
      }
    }
  };
  for (let row = 0; row < rows; row++) {
    const to = row * width;
    rotate(qs, row * heads * d, to, heads, row * d);
    rotate(ks, row * kvHeads * d, to + heads * d, kvHeads, row * d);
    os.set(vs.subarray(row * kvHeads * d, (row + 1) * kvHeads * d), to + (heads + kvHeads) * d);
  }
  return out;
}

/**
 * RMSNorm over the last axis of x [rows, width] (inputs x, gain; attr eps):
 * x / sqrt(mean(x^2) + eps) * gain, the mean in float64, one pass per row instead of six TF.js ops.
 */
export const DECODE_RMS_NORM = 'GrpoviDecodeRmsNorm';

function rmsNormKernel(args: KernelArgs): tf.TensorInfo {
  const { x, gain } = args.inputs;
  if (x === undefined || gain === undefined)
    throw new TypeError(`${DECODE_RMS_NORM} needs inputs x and gain`);
  const width = x.shape[x.shape.length - 1];
  if (!(x.dtype === 'float32' && gain.dtype === 'float32' && gain.shape.join() === String(width)))
    throw new RangeError(
      `${DECODE_RMS_NORM}: x [${x.shape.join(', ')}] (${x.dtype}) with gain [${gain.shape.join(', ')}] do not fit`,
    );
  const { backend } = args;
  const out = backend.makeOutput([...x.shape], 'float32');
  const [xs, gs, os] = [x, gain, out].map((t) => heap(backend, t));
  const eps = Number(args.attrs.eps);
  const rows = xs.length / width;
  for (let r = 0; r < rows; r++) {
    const at = r * width;
    let squares = 0;
    for (let i = 0; i < width; i++) squares += xs[at + i] * xs[at + i];
    const scale = 1 / Math.sqrt(squares / width + eps);
    for (let i = 0; i < width; i++) os[at + i] = xs[at + i] * scale * gs[i];
  }
  return out;
}

/**
 * silu(gate) * up elementwise (inputs gate, up of one shape): the backend's sigmoid, then
 * gate * sigmoid * up rounded as float32 products in that order, the same bits as the three ops
 * (`activate('silu', gate).mul(up)`) in one pass and without their two intermediate tensors.
 */
export const DECODE_SWIGLU = 'GrpoviDecodeSwiglu';

function swigluKernel(args: KernelArgs): tf.TensorInfo {
  const { gate, up } = args.inputs;
  if (gate === undefined || up === undefined)
    throw new TypeError(`${DECODE_SWIGLU} needs inputs gate and up`);
  if (!(gate.dtype === 'float32' && up.dtype === 'float32' && gate.shape.join() === up.shape.join()))
    throw new RangeError(
      `${DECODE_SWIGLU}: gate [${gate.shape.join(', ')}] (${gate.dtype}) and up [${up.shape.join(', ')}] (${up.dtype}) differ`,
    );
  const { backend } = args;
  // The backend's own (SIMD) sigmoid; the two products in JS, rounded as the ops round them.
  const sigmoid = tf
    .getKernel(tf.Sigmoid, 'wasm')
    .kernelFunc({ inputs: { x: gate }, backend, attrs: {} }) as tf.TensorInfo;
  const out = backend.makeOutput([...gate.shape], 'float32');
  const [gs, ss, us, os] = [gate, sigmoid, up, out].map((t) => heap(backend, t));
  // Each store into the float32 output rounds as a float32 product does.
  for (let i = 0; i < gs.length; i++) {
    os[i] = gs[i] * ss[i];
    os[i] *= us[i];
  }
  backend.disposeData(sigmoid.dataId);
  return out;
}

/**
 * GPT-2's tanh GELU (`gelu_new`) for cached passes: x * sigmoid(2 sqrt(2/pi) (x + 0.044715 x^3)) with
 * the backend's SIMD sigmoid, where the geluNew kernel takes one float64 exp per value in JS (the
 * MLP's widest tensor, every layer and token). Input x; within float32 rounding of geluNew.
 */
export const DECODE_GELU_NEW = 'GrpoviDecodeGeluNew';

const GELU_SCALE = 2 * Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

function geluNewDecodeKernel(args: KernelArgs): tf.TensorInfo {
  const { x } = args.inputs;
  if (x === undefined || x.dtype !== 'float32')
    throw new TypeError(`${DECODE_GELU_NEW} needs a float32 input x${x ? ` (got ${x.dtype})` : ''}`);
  const { backend } = args;
  const out = backend.makeOutput([...x.shape], 'float32');
  let [xs, os] = [x, out].map((t) => heap(backend, t));
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    os[i] = GELU_SCALE * (v + GELU_CUBIC * v * v * v);
  }
  const sigmoid = tf
    .getKernel(tf.Sigmoid, 'wasm')
    .kernelFunc({ inputs: { x: out }, backend, attrs: {} }) as tf.TensorInfo;
  // Views again: the sigmoid's output may have grown the heap.
  [xs, os] = [x, out].map((t) => heap(backend, t));
  const ss = heap(backend, sigmoid);
  for (let i = 0; i < xs.length; i++) os[i] = xs[i] * ss[i];
  backend.disposeData(sigmoid.dataId);
  return out;
}

export const DECODE_KERNELS: {
  name: string;
  kernel: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[];
}[] = [
  { name: DECODE_ATTENTION, kernel: decodeAttentionKernel },
  { name: DECODE_LAYER_NORM, kernel: layerNormKernel },
  { name: DECODE_ROPE_QKV, kernel: ropeQkvKernel },
  { name: DECODE_RMS_NORM, kernel: rmsNormKernel },
  { name: DECODE_SWIGLU, kernel: swigluKernel },
  { name: DECODE_GELU_NEW, kernel: geluNewDecodeKernel },
];
