/**
 * AdamW's elementwise update as one 128-bit SIMD loop of our own (adamw.wat), in place of the
 * dozen TF.js elementwise ops (and their temporaries) or a JS loop over values copied out of the
 * wasm heap. Two ways to run it:
 * - `ADAMW_UPDATE`, a kernel of the wasm backend registered through TF.js's kernel registry: weights,
 *   gradient and moments all on the heap, the moments updated in place, no copy at all;
 * - `MomentMemory`: the moments in a WebAssembly memory of their own (outside the heap, which the
 *   weights, the reference, the gradients and the activations share), the same loop run there on
 *   copies of the gradient and the weights, a chunk at a time (plain memory copies, no readSync).
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ADAMW_WASM } from './adamwWasm.js';
import { base64Bytes } from '../../../util/base64.js';

/** Inputs w, g, m, v (float32, one shape); attrs below. Returns the new weights; m and v are updated in place. */
export const ADAMW_UPDATE = 'GrpoviAdamWUpdate';

/** The float32 scalars of one update (see adamw.wat for the formula). */
export interface AdamWScalars {
  b1: number;
  b2: number;
  gradWeight1: number;
  gradWeight2: number;
  eps: number;
  stepSize: number;
  /** 1 - lr * weight decay, or 1 for parameters without decay. */
  decay: number;
}

type AdamWLoop = (
  w: number,
  g: number,
  m: number,
  v: number,
  out: number,
  n: number,
  b1: number,
  b2: number,
  gradWeight1: number,
  gradWeight2: number,
  eps: number,
  stepSize: number,
  decay: number,
) => void;

/** What this file uses of the WebAssembly API (the project's TS lib has no DOM typings). */
interface WasmMemory {
  buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}

const wasmApi = (): WasmApi => (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;
const loops = new WeakMap<object, AdamWLoop>();

/** The loop instantiated on `memory` (one instance per memory). */
function loopOn(memory: object): AdamWLoop {
  let loop = loops.get(memory);
  if (loop === undefined) {
    const api = wasmApi();
    compiled ??= new api.Module(base64Bytes(ADAMW_WASM));
    loop = new api.Instance(compiled, { env: { memory } }).exports.adamw as AdamWLoop;
    loops.set(memory, loop);
  }
  return loop;
}

function run(
  loop: AdamWLoop,
  at: { w: number; g: number; m: number; v: number; out: number },
  n: number,
  s: AdamWScalars,
): void {
  loop(
    at.w,
    at.g,
    at.m,
    at.v,
    at.out,
    n,
    s.b1,
    s.b2,
    s.gradWeight1,
    s.gradWeight2,
    s.eps,
    s.stepSize,
    s.decay,
  );
}

interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}

function adamwKernel(args: KernelArgs): tf.TensorInfo {
  const { w, g, m, v } = args.inputs;
  if (w === undefined || g === undefined || m === undefined || v === undefined)
    throw new TypeError(`${ADAMW_UPDATE} needs inputs w, g, m and v`);
  const shape = w.shape.join();
  if ([w, g, m, v].some((t) => t.dtype !== 'float32' || t.shape.join() !== shape))
    throw new RangeError(
      `${ADAMW_UPDATE}: w [${w.shape.join(', ')}], g [${g.shape.join(', ')}], m [${m.shape.join(', ')}] and v [${v.shape.join(', ')}] must be float32 of one shape`,
    );
  const { backend } = args;
  // Allocate first: allocation may grow the heap (the loop reads the memory object, not a view).
  const out = backend.makeOutput([...w.shape], 'float32');
  const memory = (backend.wasm as unknown as { asm: { memory: object } }).asm.memory;
  const at = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset as number;
  const s = args.attrs as unknown as AdamWScalars;
  run(
    loopOn(memory),
    { w: at(w), g: at(g), m: at(m), v: at(v), out: at(out) },
    tf.util.sizeFromShape(w.shape),
    s,
  );
  return out;
}

/** Registers `ADAMW_UPDATE` for the wasm backend (once). */
export function registerAdamWKernel(): void {
  if (tf.getKernel(ADAMW_UPDATE, 'wasm') !== undefined) return;
  tf.registerKernel({
    kernelName: ADAMW_UPDATE,
    backendName: 'wasm',
    kernelFunc: adamwKernel as unknown as tf.KernelFunc,
  });
}

/** Whether the update can run as `ADAMW_UPDATE` now (the wasm backend is active). */
export function adamwKernelAvailable(): boolean {
  return tf.getBackend() === 'wasm';
}

/**
 * One update on the heap: returns the new weights (a new tensor; `w` is left as it is, since other
 * tensors may share its buffer) and updates `m` and `v` in place (they must be buffers only the
 * optimizer holds).
 */
export function adamwOnHeap(
  w: tf.Tensor,
  g: tf.Tensor,
  m: tf.Tensor,
  v: tf.Tensor,
  s: AdamWScalars,
): tf.Tensor {
  registerAdamWKernel();
  return tf.engine().runKernel(ADAMW_UPDATE, { w, g, m, v }, s as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const PAGE_BYTES = 65536;
/** A wasm32 memory holds 4 GiB at most. */
const MAX_PAGES = 65536;
/** Values per pass through the scratch: large enough that a call costs nothing, small beside the moments. */
const CHUNK = 1 << 20;

/**
 * The two moments of every parameter in one WebAssembly memory of their own, plus a scratch of one
 * chunk of gradient and weights, where the SIMD loop runs. Sized once (views stay valid).
 */
export class MomentMemory {
  private readonly memory: WasmMemory;
  private readonly loop: AdamWLoop;
  private readonly offsets = new Map<string, number>();
  private readonly scratch: number;

  /** The bytes a memory for parameters of these sizes takes (null beyond a wasm32 memory's 4 GiB). */
  static bytesFor(sizes: number[]): number | null {
    const values = 2 * sizes.reduce((a, b) => a + b, 0) + 2 * Math.min(CHUNK, Math.max(0, ...sizes));
    const pages = Math.ceil((4 * values) / PAGE_BYTES);
    return pages <= MAX_PAGES ? pages * PAGE_BYTES : null;
  }

  constructor(params: { name: string; size: number }[]) {
    const bytes = MomentMemory.bytesFor(params.map((p) => p.size));
    if (bytes === null) throw new RangeError('the AdamW moments do not fit one WebAssembly memory (4 GiB)');
    const pages = Math.max(1, bytes / PAGE_BYTES);
    this.memory = new (wasmApi().Memory)({ initial: pages, maximum: pages });
    this.loop = loopOn(this.memory);
    let at = 0;
    for (const p of params) {
      this.offsets.set(p.name, at);
      at += 8 * p.size;
    }
    this.scratch = at;
  }

  /** The first (`m`) or second (`v`) moment of a parameter, as a view of this memory. */
  moment(which: 'm' | 'v', name: string, size: number): Float32Array {
    const at = this.offsets.get(name);
    if (at === undefined) throw new Error(`no moments for parameter ${name}`);
    return new Float32Array(this.memory.buffer, at + (which === 'm' ? 0 : 4 * size), size);
  }

  /**
   * Updates the moments of parameter `name` from gradient values `g` and writes the new weights,
   * computed from `w`, into `out` (which may be `w`), a chunk at a time through the scratch.
   */
  update(name: string, w: Float32Array, g: Float32Array, out: Float32Array, s: AdamWScalars): void {
    const n = w.length;
    const at = this.offsets.get(name);
    if (at === undefined) throw new Error(`no moments for parameter ${name}`);
    const chunk = Math.min(CHUNK, n);
    const gView = new Float32Array(this.memory.buffer, this.scratch, chunk);
    const wAt = this.scratch + 4 * chunk;
    const wView = new Float32Array(this.memory.buffer, wAt, chunk);
    for (let begin = 0; begin < n; begin += chunk) {
      const end = Math.min(n, begin + chunk);
      gView.set(g.subarray(begin, end));
      wView.set(w.subarray(begin, end));
      const places = { w: wAt, g: this.scratch, m: at + 4 * begin, v: at + 4 * (n + begin), out: wAt };
      run(this.loop, places, end - begin, s);
      out.set(wView.subarray(0, end - begin), begin);
    }
  }
}

/** A new float32 tensor on the wasm heap, its values not yet written (the caller fills them). */
export function uninitializedHeapTensor(shape: number[]): tf.Tensor {
  const backend = tf.backend() as BackendWasm;
  return tf.engine().makeTensorFromTensorInfo(backend.makeOutput([...shape], 'float32'));
}

/** A float32 tensor's values as a view of the wasm heap (no copy; valid until the heap grows). */
export function heapView(t: tf.Tensor): Float32Array {
  const backend = tf.backend() as BackendWasm;
  return backend.typedArrayFromHeap({ dataId: t.dataId, shape: t.shape, dtype: 'float32' }) as Float32Array;
}
