import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../weights/checkpointError.js';
import { NonFiniteError } from './nonFiniteError.js';
import type { NamedTensor } from '../weights/safetensors.js';
import {
  adamwKernelAvailable,
  adamwOnHeap,
  type AdamWScalars,
  heapView,
  MomentMemory,
  uninitializedHeapTensor,
} from '../backends/heapKernels/adamwKernel.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Decoupled weight decay, applied to parameters marked `decay` only. */
  weightDecay: number;
  /** Clip the global gradient norm to this; 0 or Infinity disables clipping. */
  maxGradNorm: number;
}

export interface TrainableParam {
  name: string;
  variable: tf.Variable;
  decay: boolean;
}

const f32 = Math.fround;

import { JS_MOMENTS_ABOVE_PARAMETERS } from './momentStorage.js';

export { JS_MOMENTS_ABOVE_PARAMETERS } from './momentStorage.js';

/** A non-trainable zero variable shaped like `like`. tf.variable copies its initial value, which is freed here. */
function zeroVariable(like: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(like);
  const variable = tf.variable(zeros, false);
  zeros.dispose();
  return variable;
}

/**
 * AdamW (Loshchilov & Hutter) with global-norm gradient clipping; state saved as named tensors.
 *
 * For models above JS_MOMENTS_ABOVE_PARAMETERS the two moments live outside the backend's memory:
 * for a model of 100M parameters they are 800 MB the wasm heap (4 GB at most, shared with the
 * policy, the reference, the gradients and the activations) does not have to hold. They sit in a
 * WebAssembly memory of their own (`MomentMemory`), where the SIMD loop of adamw.wat updates them;
 * beyond its 4 GiB, in Float32Arrays updated by a JS loop. Below the threshold on the wasm backend
 * the same loop runs on the heap as a kernel (`ADAMW_UPDATE`), with the moments as backend tensors.
 *
 * Every path rounds each operation to float32 in the order the tensor formula below applies them
 * (m * b1 + g * w1, ...): float32 +, -, *, / and sqrt are correctly rounded, wasm has no fused
 * multiply-add, and a float64 result rounded once to float32 is correctly rounded too, so the
 * weights come out bit for bit as the backend's elementwise kernels computed them.
 */
export class AdamW {
  readonly options: AdamWOptions;
  private readonly params: TrainableParam[];
  private readonly firstMoment = new Map<string, Float32Array>();
  private readonly secondMoment = new Map<string, Float32Array>();
  /** The moments as backend tensors, for models at most JS_MOMENTS_ABOVE_PARAMETERS large. */
  private readonly firstTensor = new Map<string, tf.Variable>();
  private readonly secondTensor = new Map<string, tf.Variable>();
  /** The moments outside the backend, in a WebAssembly memory of their own (when they fit one). */
  private readonly momentMemory: MomentMemory | null = null;
  /** Whether the moments live in JS memory. */
  readonly momentsInJs: boolean;
  /** Updates applied so far (drives the bias correction). */
  stepCount = 0;

  /**
   * `momentsInJs` overrides the choice by size; `simd` false keeps the moments of `momentsInJs` in
   * Float32Arrays updated by the JS loop (the path beyond a WebAssembly memory's 4 GiB, for tests).
   */
  constructor(params: TrainableParam[], options: AdamWOptions, momentsInJs?: boolean, simd = true) {
    this.params = params;
    this.options = options;
    const total = params.reduce((n, p) => n + p.variable.size, 0);
    this.momentsInJs = momentsInJs ?? total > JS_MOMENTS_ABOVE_PARAMETERS;
    const sizes = params.map((p) => ({ name: p.name, size: p.variable.size }));
    if (this.momentsInJs && simd && MomentMemory.bytesFor(sizes.map((p) => p.size)) !== null)
      this.momentMemory = new MomentMemory(sizes);
    for (const p of params) {
      if (this.momentMemory !== null) {
        this.firstMoment.set(p.name, this.momentMemory.moment('m', p.name, p.variable.size));
        this.secondMoment.set(p.name, this.momentMemory.moment('v', p.name, p.variable.size));
      } else if (this.momentsInJs) {
        this.firstMoment.set(p.name, new Float32Array(p.variable.size));
        this.secondMoment.set(p.name, new Float32Array(p.variable.size));
      } else {
        this.firstTensor.set(p.name, zeroVariable(p.variable));
        this.secondTensor.set(p.name, zeroVariable(p.variable));
      }
    }
  }

  /**
   * Applies the output of `tf.variableGrads` over this optimizer's parameters: reads the loss,
   * updates, and frees the loss and the gradients whatever happens.
   */
  applyVariableGrads(
    result: { value: tf.Scalar; grads: tf.NamedTensorMap },
    lr: number,
  ): { loss: number; gradNorm: number } {
    const { value, grads } = result;
    try {
      const loss = value.dataSync()[0];
      const byName = new Map<string, tf.Tensor>();
      for (const p of this.params) byName.set(p.name, grads[p.variable.name]);
      return { loss, ...this.apply(byName, lr) };
    } finally {
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
    }
  }

  /**
   * Applies one update with learning rate `lr` from gradients keyed by parameter name.
   * Returns the global gradient norm before clipping.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): { gradNorm: number } {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.options;
    // One scope per parameter, so that only one squared gradient exists at a time; the scalars are
    // summed as before (same kernels, same order, same bits).
    const squares = this.params.map((p) => tf.tidy(() => tf.sum(tf.square(this.gradOf(grads, p.name)))));
    const total = tf.addN(squares);
    const gradNorm = Math.sqrt(total.dataSync()[0]);
    total.dispose();
    for (const s of squares) s.dispose();
    if (!Number.isFinite(gradNorm))
      throw new NonFiniteError('gradient', `the gradient is not finite (norm ${gradNorm})`);
    const scale = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / (gradNorm + 1e-6) : 1;
    this.stepCount++;
    const correction1 = 1 - beta1 ** this.stepCount;
    const correction2 = 1 - beta2 ** this.stepCount;
    // The usual update lr * (m / c1) / (sqrt(v / c2) + eps) with its scalars folded together,
    // lr * sqrt(c2) / c1 * m / (sqrt(v) + eps * sqrt(c2)), and the clipping scale folded into the
    // moment coefficients. Every scalar is a float32, as a scalar operand of a tensor op is.
    const rootC2 = Math.sqrt(correction2);
    const b1 = f32(beta1);
    const b2 = f32(beta2);
    const stepSize = f32((lr * rootC2) / correction1);
    const denominatorEps = f32(epsilon * rootC2);
    const gradWeight1 = f32((1 - beta1) * scale);
    const gradWeight2 = f32((1 - beta2) * scale * scale);
    const scalars = (p: TrainableParam): AdamWScalars => ({
      b1,
      b2,
      gradWeight1,
      gradWeight2,
      eps: denominatorEps,
      stepSize,
      decay: p.decay && weightDecay > 0 ? f32(1 - lr * weightDecay) : 1,
    });
    const onWasm = adamwKernelAvailable();
    if (!this.momentsInJs && onWasm) {
      for (const p of this.params) {
        const m = this.firstTensor.get(p.name)!;
        const v = this.secondTensor.get(p.name)!;
        const next = adamwOnHeap(p.variable, this.gradOf(grads, p.name), m, v, scalars(p));
        p.variable.assign(next);
        next.dispose();
      }
      return { gradNorm };
    }
    if (this.momentMemory !== null) {
      for (const p of this.params) {
        const g = this.gradOf(grads, p.name);
        if (onWasm) {
          // Allocate first (it may grow the heap), then views of the heap: no readSync copies.
          const next = uninitializedHeapTensor(p.variable.shape);
          this.momentMemory.update(p.name, heapView(p.variable), heapView(g), heapView(next), scalars(p));
          p.variable.assign(next);
          next.dispose();
        } else {
          const w = new Float32Array(p.variable.size);
          const values = (t: tf.Tensor) => t.dataSync() as Float32Array;
          this.momentMemory.update(p.name, values(p.variable), values(g), w, scalars(p));
          const next = tf.tensor(w, p.variable.shape, 'float32');
          p.variable.assign(next);
          next.dispose();
        }
      }
      return { gradNorm };
    }
    if (!this.momentsInJs) {
      // One scope per parameter: the temporaries of a scope live until it ends.
      for (const p of this.params) {
        tf.tidy(() => {
          const g = this.gradOf(grads, p.name);
          const m = this.firstTensor.get(p.name)!;
          const v = this.secondTensor.get(p.name)!;
          const m1 = m.mul(beta1).add(g.mul((1 - beta1) * scale));
          const v1 = v.mul(beta2).add(g.square().mul((1 - beta2) * scale * scale));
          m.assign(m1);
          v.assign(v1);
          const step = m1.div(v1.sqrt().add(epsilon * rootC2)).mul((lr * rootC2) / correction1);
          // Decoupled weight decay: p - lr * (adam + wd * p) = p * (1 - lr * wd) - lr * adam.
          const decayed = p.decay && weightDecay > 0 ? p.variable.mul(1 - lr * weightDecay) : p.variable;
          p.variable.assign(decayed.sub(step));
        });
      }
      return { gradNorm };
    }
    for (const p of this.params) {
      const g = this.gradOf(grads, p.name).dataSync() as Float32Array;
      const m = this.firstMoment.get(p.name)!;
      const v = this.secondMoment.get(p.name)!;
      // A fresh copy: the backend's own buffer must not be written.
      const w = Float32Array.from(p.variable.dataSync() as Float32Array);
      const decay = p.decay && weightDecay > 0 ? f32(1 - lr * weightDecay) : 1;
      for (let i = 0; i < w.length; i++) {
        const gi = g[i];
        const m1 = f32(f32(m[i] * b1) + f32(gi * gradWeight1));
        const v1 = f32(f32(v[i] * b2) + f32(f32(gi * gi) * gradWeight2));
        m[i] = m1;
        v[i] = v1;
        const step = f32(f32(m1 / f32(f32(Math.sqrt(v1)) + denominatorEps)) * stepSize);
        // Decoupled weight decay: p - lr * (adam + wd * p) = p * (1 - lr * wd) - lr * adam.
        const decayed = decay === 1 ? w[i] : f32(w[i] * decay);
        w[i] = f32(decayed - step);
      }
      const next = tf.tensor(w, p.variable.shape, 'float32');
      p.variable.assign(next);
      next.dispose();
    }
    return { gradNorm };
  }

  /** Moments as named tensors `m.<param>` and `v.<param>`. */
  stateTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const p of this.params) {
      const shape = p.variable.shape;
      const m = this.firstMoment.get(p.name) ?? (this.firstTensor.get(p.name)!.dataSync() as Float32Array);
      const v = this.secondMoment.get(p.name) ?? (this.secondTensor.get(p.name)!.dataSync() as Float32Array);
      out[`m.${p.name}`] = { dtype: 'F32', shape, data: m };
      out[`v.${p.name}`] = { dtype: 'F32', shape, data: v };
    }
    return out;
  }

  /** Restores moments saved by `stateTensors` and the step count. */
  loadState(tensors: Record<string, NamedTensor>, stepCount: number, source: string): void {
    for (const p of this.params) {
      for (const [prefix, moments, onBackend] of [
        ['m', this.firstMoment, this.firstTensor],
        ['v', this.secondMoment, this.secondTensor],
      ] as const) {
        const entry = tensors[`${prefix}.${p.name}`];
        if (entry === undefined) throw new CheckpointError(source, `tensor "${prefix}.${p.name}" is missing`);
        const shape = p.variable.shape;
        if (entry.shape.length !== shape.length || entry.shape.some((n, i) => n !== shape[i])) {
          throw new CheckpointError(
            source,
            `tensor "${prefix}.${p.name}" has shape [${entry.shape.join(', ')}], expected [${shape.join(', ')}]`,
          );
        }
        if (this.momentsInJs) moments.get(p.name)!.set(entry.data);
        else {
          const value = tf.tensor(Float32Array.from(entry.data), shape, 'float32');
          onBackend.get(p.name)!.assign(value);
          value.dispose();
        }
      }
    }
    this.stepCount = stepCount;
  }

  /** Bytes of the two moments (in JS memory when `momentsInJs`, else backend tensors). */
  stateBytes(): number {
    return 8 * this.params.reduce((n, p) => n + p.variable.size, 0);
  }

  dispose(): void {
    for (const v of [...this.firstTensor.values(), ...this.secondTensor.values()]) v.dispose();
    this.firstTensor.clear();
    this.secondTensor.clear();
    this.firstMoment.clear();
    this.secondMoment.clear();
  }

  private gradOf(grads: Map<string, tf.Tensor>, name: string): tf.Tensor {
    const g = grads.get(name);
    if (g === undefined) throw new Error(`no gradient for parameter ${name}`);
    return g;
  }
}

/** Learning-rate schedules: constant after warmup, or cosine decay to `minRatio * base` after warmup. */
export interface ScheduleOptions {
  kind: 'constant' | 'cosine';
  base: number;
  warmupSteps: number;
  totalSteps: number;
  minRatio: number;
}

/** Learning rate for the update at 0-based `step`. */
export function learningRateAt(step: number, s: ScheduleOptions): number {
  if (s.warmupSteps > 0 && step < s.warmupSteps) return (s.base * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return s.base;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
  return s.base * (s.minRatio + (1 - s.minRatio) * cosine);
}
