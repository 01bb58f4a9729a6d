import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from './checkpointError.js';
import type { NamedTensor } from './safetensors.js';

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

/** AdamW (Loshchilov & Hutter) with global-norm gradient clipping; state saved as named tensors. */
export class AdamW {
  readonly options: AdamWOptions;
  private readonly params: TrainableParam[];
  private readonly firstMoment = new Map<string, tf.Variable>();
  private readonly secondMoment = new Map<string, tf.Variable>();
  /** Updates applied so far (drives the bias correction). */
  stepCount = 0;

  constructor(params: TrainableParam[], options: AdamWOptions) {
    this.params = params;
    this.options = options;
    for (const p of params) {
      this.firstMoment.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
      this.secondMoment.set(p.name, tf.variable(tf.zerosLike(p.variable), false));
    }
  }

  /**
   * Applies one update with learning rate `lr` from gradients keyed by parameter name.
   * Returns the global gradient norm before clipping.
   */
  apply(grads: Map<string, tf.Tensor>, lr: number): { gradNorm: number } {
    const { beta1, beta2, epsilon, weightDecay, maxGradNorm } = this.options;
    const gradNorm = tf.tidy(() => {
      const squares = this.params.map((p) => tf.sum(tf.square(this.gradOf(grads, p.name))));
      return Math.sqrt(tf.addN(squares).dataSync()[0]);
    });
    if (!Number.isFinite(gradNorm)) throw new Error(`the gradient is not finite (norm ${gradNorm})`);
    const scale = maxGradNorm > 0 && gradNorm > maxGradNorm ? maxGradNorm / (gradNorm + 1e-6) : 1;
    this.stepCount++;
    const correction1 = 1 - beta1 ** this.stepCount;
    const correction2 = 1 - beta2 ** this.stepCount;
    tf.tidy(() => {
      for (const p of this.params) {
        const g = this.gradOf(grads, p.name).mul(scale);
        const m = this.firstMoment.get(p.name)!;
        const v = this.secondMoment.get(p.name)!;
        m.assign(m.mul(beta1).add(g.mul(1 - beta1)));
        v.assign(v.mul(beta2).add(g.square().mul(1 - beta2)));
        let update = m.div(correction1).div(v.div(correction2).sqrt().add(epsilon));
        if (p.decay && weightDecay > 0) update = update.add(p.variable.mul(weightDecay));
        p.variable.assign(p.variable.sub(update.mul(lr)));
      }
    });
    return { gradNorm };
  }

  /** Moments as named tensors `m.<param>` and `v.<param>`. */
  stateTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const p of this.params) {
      const shape = p.variable.shape;
      out[`m.${p.name}`] = {
        dtype: 'F32',
        shape,
        data: this.firstMoment.get(p.name)!.dataSync() as Float32Array,
      };
      out[`v.${p.name}`] = {
        dtype: 'F32',
        shape,
        data: this.secondMoment.get(p.name)!.dataSync() as Float32Array,
      };
    }
    return out;
  }

  /** Restores moments saved by `stateTensors` and the step count. */
  loadState(tensors: Record<string, NamedTensor>, stepCount: number, source: string): void {
    for (const p of this.params) {
      for (const [prefix, moments] of [
        ['m', this.firstMoment],
        ['v', this.secondMoment],
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
        moments.get(p.name)!.assign(tf.tensor(Float32Array.from(entry.data), shape, 'float32'));
      }
    }
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const v of this.firstMoment.values()) v.dispose();
    for (const v of this.secondMoment.values()) v.dispose();
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
