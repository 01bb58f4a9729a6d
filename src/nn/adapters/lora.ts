import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/rng.js';
import { matMul } from '../ops/layers.js';
import type { TrainableParam } from '../training/optimizer.js';
import { CheckpointError } from '../weights/checkpointError.js';
import type { NamedTensor } from '../weights/safetensors.js';
import {
  type AdaptableSpec,
  type AdapterFamily,
  adaptableProjections,
  fanInFanOut,
  peftKey,
  PEFT_DEFAULT_TARGETS,
  type ProjectionShape,
  selectTargets,
  type TargetModules,
} from './loraTargets.js';

/**
 * LoRA adapters (Hu et al. 2021, as PEFT implements them): each targeted projection y = x W (+ b)
 * becomes y = x W (+ b) + dropout(x) A^T B^T * alpha / r, with W frozen, A [r, in] and B [out, r]
 * trained. A starts Kaiming-uniform (PyTorch's kaiming_uniform_ with a = sqrt(5), i.e. uniform in
 * +-1/sqrt(in)), B at zero, so an untrained adapter leaves the model exactly as it was.
 */

export interface LoraOptions {
  /** Rank; at least 1. */
  r: number;
  alpha: number;
  /** Dropout probability on the adapter's input while training, in [0, 1). */
  dropout: number;
  /** PEFT's target_modules; PEFT's default for the family when absent. */
  targetModules?: TargetModules;
  /** PEFT's use_rslora: scale alpha / sqrt(r) instead of alpha / r. */
  rsLora?: boolean;
}

/** alpha / r (or alpha / sqrt(r) with rsLoRA). */
export function loraScale(options: Pick<LoraOptions, 'r' | 'alpha' | 'rsLora'>): number {
  return options.alpha / (options.rsLora === true ? Math.sqrt(options.r) : options.r);
}

/** A [r, in] as PEFT initializes it: uniform in [-1/sqrt(in), 1/sqrt(in)) (Kaiming-uniform, a = sqrt(5)). */
export function kaimingUniformA(r: number, inputs: number, rng: Rng): Float32Array {
  const bound = 1 / Math.sqrt(inputs);
  const data = new Float32Array(r * inputs);
  for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * bound;
  return data;
}

/**
 * W + scale * (B A)^T for a weight stored [in, out] (grpovi's layout for every family): the merged
 * weight of one projection, accumulated in float64 and rounded once.
 */
export function mergeLora(
  weight: Float32Array,
  a: Float32Array,
  b: Float32Array,
  shape: { r: number; inputs: number; outputs: number },
  scale: number,
): Float32Array {
  const { r, inputs, outputs } = shape;
  if (weight.length !== inputs * outputs || a.length !== r * inputs || b.length !== outputs * r)
    throw new RangeError(
      `mergeLora: sizes ${weight.length}, ${a.length}, ${b.length} do not fit r ${r}, in ${inputs}, out ${outputs}`,
    );
  const out = new Float32Array(weight.length);
  for (let i = 0; i < inputs; i++) {
    for (let o = 0; o < outputs; o++) {
      let sum = 0;
      for (let k = 0; k < r; k++) sum += a[k * inputs + i] * b[o * r + k];
      out[i * outputs + o] = weight[i * outputs + o] + scale * sum;
    }
  }
  return out;
}

/** Keeps each value with probability 1 - p, scaled by 1 / (1 - p) (inverted dropout), from a seeded stream. */
export function dropoutMask(size: number, p: number, rng: Rng): Float32Array {
  const mask = new Float32Array(size);
  const keep = 1 / (1 - p);
  const threshold = p * 2 ** 32;
  for (let i = 0; i < size; i++) mask[i] = rng.nextUint32() >= threshold ? keep : 0;
  return mask;
}

interface AdapterPair {
  shape: ProjectionShape;
  a: tf.Variable;
  b: tf.Variable;
}

/** The tensors of an adapter by PEFT key, checked against the targeted projections. */
function checkPeftTensors(
  family: AdapterFamily,
  targets: readonly ProjectionShape[],
  r: number,
  tensors: Record<string, NamedTensor>,
  source: string,
): void {
  const expected = new Map<string, number[]>();
  for (const t of targets) {
    expected.set(peftKey(family, t.module, 'A'), [r, t.inputs]);
    expected.set(peftKey(family, t.module, 'B'), [t.outputs, r]);
  }
  for (const [key, shape] of expected) {
    const entry = tensors[key];
    if (entry === undefined) throw new CheckpointError(source, `tensor "${key}" is missing`);
    if (entry.shape.length !== 2 || entry.shape[0] !== shape[0] || entry.shape[1] !== shape[1])
      throw new CheckpointError(
        source,
        `tensor "${key}" has shape [${entry.shape.join(', ')}] but r and the base model need [${shape.join(', ')}]`,
      );
  }
  for (const key of Object.keys(tensors))
    if (!expected.has(key))
      throw new CheckpointError(
        source,
        `tensor "${key}" is not a LoRA matrix of the targeted modules of this base model`,
      );
}

/**
 * The trainable LoRA matrices of one model, and the delta each adapted projection adds. The model
 * calls `apply(module, x, base)` in its one projection method; the reference pass runs inside
 * `withAdaptersOff`, so the base weights double as the reference policy (no copy).
 */
export class LoraAdapter {
  readonly family: AdapterFamily;
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly scale: number;
  readonly rsLora: boolean;
  /** The target list as given (or PEFT's default), for adapter_config.json. */
  readonly targetModules: TargetModules;
  private readonly pairs: Map<string, AdapterPair>;
  private enabled = true;
  private dropoutSeed: number | undefined;
  private dropoutLabel = '';
  /** Adapted projections run since `setDropout`: each gets its own mask stream. */
  private dropoutCalls = 0;

  private constructor(
    family: AdapterFamily,
    options: LoraOptions & { targetModules: TargetModules },
    pairs: Map<string, AdapterPair>,
  ) {
    this.family = family;
    this.r = options.r;
    this.alpha = options.alpha;
    this.dropout = options.dropout;
    this.rsLora = options.rsLora === true;
    this.scale = loraScale(options);
    this.targetModules = options.targetModules;
    this.pairs = pairs;
  }

  /** Fresh adapters on the targeted projections of a model with these parameter specs. */
  static init(
    family: AdapterFamily,
    specs: readonly AdaptableSpec[],
    options: LoraOptions,
    seed: number,
  ): LoraAdapter {
    checkOptions(options);
    const targetList = options.targetModules ?? defaultTargets(family);
    const targets = selectTargets(family, adaptableProjections(family, specs), targetList);
    const tensors: Record<string, NamedTensor> = {};
    for (const t of targets) {
      // One stream per module, so adding a target leaves the others' initial values unchanged.
      const rng = Rng.derive(seed, `lora-init:${t.module}`);
      tensors[peftKey(family, t.module, 'A')] = {
        dtype: 'F32',
        shape: [options.r, t.inputs],
        data: kaimingUniformA(options.r, t.inputs, rng),
      };
      tensors[peftKey(family, t.module, 'B')] = {
        dtype: 'F32',
        shape: [t.outputs, options.r],
        data: new Float32Array(t.outputs * options.r),
      };
    }
    return LoraAdapter.fromPeftTensors(
      family,
      specs,
      { ...options, targetModules: targetList },
      tensors,
      'init',
    );
  }

  /** Adapters from tensors under PEFT's keys (a PEFT folder or a checkpoint), every name and shape checked first. */
  static fromPeftTensors(
    family: AdapterFamily,
    specs: readonly AdaptableSpec[],
    options: LoraOptions,
    tensors: Record<string, NamedTensor>,
    source: string,
  ): LoraAdapter {
    checkOptions(options);
    const targetList = options.targetModules ?? defaultTargets(family);
    const targets = selectTargets(family, adaptableProjections(family, specs), targetList, source);
    checkPeftTensors(family, targets, options.r, tensors, source);
    const pairs = new Map<string, AdapterPair>();
    const variable = (key: string) => {
      const entry = tensors[key];
      const data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
      const initial = tf.tensor2d(data, entry.shape as [number, number], 'float32');
      const v = tf.variable(initial, true);
      initial.dispose();
      return v;
    };
    for (const t of targets) {
      pairs.set(t.module, {
        shape: t,
        a: variable(peftKey(family, t.module, 'A')),
        b: variable(peftKey(family, t.module, 'B')),
      });
    }
    return new LoraAdapter(family, { ...options, targetModules: targetList }, pairs);
  }

  /** The adapted projections, in the model's parameter order. */
  modules(): ProjectionShape[] {
    return [...this.pairs.values()].map((p) => p.shape);
  }

  /** Whether `module` (e.g. `h.0.attn.c_attn`) carries an adapter. */
  adapts(module: string): boolean {
    return this.pairs.has(module);
  }

  /**
   * base + dropout(x) A^T B^T * scale for an adapted module while adapters are on; `base` itself
   * otherwise. `x` is the projection's input [rows, in], `base` its output x W (+ b) [rows, out];
   * `inference` passes (no gradient) run plain products.
   */
  apply(module: string, x: tf.Tensor2D, base: tf.Tensor2D, inference = false): tf.Tensor2D {
    const pair = this.pairs.get(module);
    if (pair === undefined || !this.enabled) return base;
    let input = x;
    if (this.dropout > 0 && this.dropoutSeed !== undefined) {
      const rng = Rng.derive(this.dropoutSeed, `${this.dropoutLabel}:${this.dropoutCalls++}:${module}`);
      input = tf.mul(x, tf.tensor2d(dropoutMask(x.size, this.dropout, rng), x.shape)) as tf.Tensor2D;
    }
    // Inference passes (sampling, scoring) skip the custom-gradient scope, as the model's own products do.
    const product = (p: tf.Tensor2D, q: tf.Tensor2D): tf.Tensor2D =>
      inference ? tf.matMul(p, q, false, true) : matMul(p, q, true);
    const delta = product(product(input, pair.a as tf.Tensor2D), pair.b as tf.Tensor2D);
    return tf.add(base, tf.mul(delta, tf.scalar(this.scale))) as tf.Tensor2D;
  }

  /**
   * The matrices of `module` when an inference pass may apply them as a plain product (the adapter
   * on, no dropout mask drawn): A [r, in], B [out, r] and the scale, for the BLAS path's one-kernel
   * projection. `undefined` where `apply` would return the base or draw a mask.
   */
  inferenceMatrices(module: string): { a: tf.Tensor2D; b: tf.Tensor2D; scale: number } | undefined {
    const pair = this.pairs.get(module);
    if (pair === undefined || !this.enabled) return undefined;
    if (this.dropout > 0 && this.dropoutSeed !== undefined) return undefined;
    return { a: pair.a as tf.Tensor2D, b: pair.b as tf.Tensor2D, scale: this.scale };
  }

  /** Runs `fn` with every adapter off: the base model, e.g. the reference policy's pass. */
  withAdaptersOff<T>(fn: () => T): T {
    const before = this.enabled;
    this.enabled = false;
    try {
      return fn();
    } finally {
      this.enabled = before;
    }
  }

  /**
   * Turns dropout on for the passes that follow, its masks drawn from `seed`, `label` (e.g. the
   * step, so that a resumed run draws the same ones) and a count of the adapted projections run
   * since (so every pass and minibatch gets fresh masks); `undefined` turns it off (inference).
   */
  setDropout(seed: number | undefined, label = ''): void {
    this.dropoutSeed = seed;
    this.dropoutLabel = label;
    this.dropoutCalls = 0;
  }

  /** The adapter matrices as the optimizer's parameters; decayed like every matrix (as transformers' Trainer does). */
  variables(): TrainableParam[] {
    const out: TrainableParam[] = [];
    for (const pair of this.pairs.values()) {
      out.push({ name: peftKey(this.family, pair.shape.module, 'A'), variable: pair.a, decay: true });
      out.push({ name: peftKey(this.family, pair.shape.module, 'B'), variable: pair.b, decay: true });
    }
    return out;
  }

  /** The matrices under PEFT's keys, as float32 arrays (adapter_model.safetensors, checkpoints). */
  toPeftTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const pair of this.pairs.values()) {
      const { module } = pair.shape;
      out[peftKey(this.family, module, 'A')] = {
        dtype: 'F32',
        shape: [...pair.a.shape],
        data: pair.a.dataSync() as Float32Array,
      };
      out[peftKey(this.family, module, 'B')] = {
        dtype: 'F32',
        shape: [...pair.b.shape],
        data: pair.b.dataSync() as Float32Array,
      };
    }
    return out;
  }

  /**
   * The base weights with every adapter merged in, by parameter name (`<module>.weight`, stored
   * [in, out]); other tensors are returned as they are.
   */
  mergeInto(base: Record<string, NamedTensor>): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = { ...base };
    for (const pair of this.pairs.values()) {
      const { module, inputs, outputs } = pair.shape;
      const name = `${module}.weight`;
      const weight = base[name];
      if (weight === undefined) throw new Error(`mergeInto: the base has no tensor ${name}`);
      const data = weight.data instanceof Float32Array ? weight.data : Float32Array.from(weight.data);
      out[name] = {
        dtype: 'F32',
        shape: [inputs, outputs],
        data: mergeLora(
          data,
          pair.a.dataSync() as Float32Array,
          pair.b.dataSync() as Float32Array,
          { r: this.r, inputs, outputs },
          this.scale,
        ),
      };
    }
    return out;
  }

  /**
   * Merged weights in the family's file layout (`<module>.weight` as transformers names it without
   * the body prefix): Conv1D weights [in, out] get W + scale (B A)^T, nn.Linear weights [out, in]
   * W + scale B A, as PEFT's merge_and_unload writes them. Other tensors are returned as they are.
   */
  mergeIntoFileLayout(file: Record<string, NamedTensor>): Record<string, NamedTensor> {
    if (fanInFanOut(this.family)) return this.mergeInto(file);
    const asInOut: Record<string, NamedTensor> = {};
    for (const { module, inputs, outputs } of this.modules()) {
      const t = file[`${module}.weight`];
      if (t === undefined) throw new Error(`mergeIntoFileLayout: the base has no tensor ${module}.weight`);
      const data = t.data instanceof Float32Array ? t.data : Float32Array.from(t.data);
      asInOut[`${module}.weight`] = {
        dtype: 'F32',
        shape: [inputs, outputs],
        data: transpose(data, outputs, inputs),
      };
    }
    const merged = this.mergeInto(asInOut);
    const out: Record<string, NamedTensor> = { ...file };
    for (const { module, inputs, outputs } of this.modules()) {
      const t = merged[`${module}.weight`];
      out[`${module}.weight`] = {
        dtype: 'F32',
        shape: [outputs, inputs],
        data: transpose(t.data as Float32Array, inputs, outputs),
      };
    }
    return out;
  }

  /** Overwrites the matrices with another adapter's of the same targets. */
  assign(from: LoraAdapter): void {
    for (const [module, pair] of this.pairs) {
      const other = from.pairs.get(module);
      if (other === undefined) throw new Error(`assign: the other adapter has no module ${module}`);
      pair.a.assign(other.a);
      pair.b.assign(other.b);
    }
  }

  /** Adapter parameters in all. */
  parameterCount(): number {
    let n = 0;
    for (const p of this.pairs.values()) n += p.a.size + p.b.size;
    return n;
  }

  dispose(): void {
    for (const pair of this.pairs.values()) {
      pair.a.dispose();
      pair.b.dispose();
    }
    this.pairs.clear();
  }
}

/** [rows, cols] row-major -> [cols, rows]. */
function transpose(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c];
  return out;
}

function defaultTargets(family: AdapterFamily): string[] {
  return [...PEFT_DEFAULT_TARGETS[family]];
}

/** Checks r, alpha and dropout, naming the field and value. */
export function checkOptions(options: LoraOptions): void {
  if (!Number.isInteger(options.r) || options.r < 1)
    throw new RangeError(`lora_r must be a positive integer (${options.r})`);
  if (!Number.isFinite(options.alpha) || options.alpha <= 0)
    throw new RangeError(`lora_alpha must be a positive number (${options.alpha})`);
  if (!Number.isFinite(options.dropout) || options.dropout < 0 || options.dropout >= 1)
    throw new RangeError(`lora_dropout must be in [0, 1) (${options.dropout})`);
}
