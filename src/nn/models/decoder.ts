import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../util/rng.js';
import { fusedKernels, productsThroughBlas } from '../backends/kernelRoute.js';
import { LORA_PROJECTION } from '../backends/blas/blasKernels.js';
import {
  DECODE_GELU_NEW,
  DECODE_LAYER_NORM,
  DECODE_RMS_NORM,
  DECODE_ROPE_QKV,
  DECODE_SWIGLU,
} from '../backends/blas/decodeKernels.js';
import {
  embeddingLookup,
  frozen,
  layerNorm,
  linear,
  matMul,
  saveForGradient,
  tidyCustomGrad,
  unusedGradient,
} from '../ops/layers.js';
import type { LoraAdapter } from '../adapters/lora.js';
import type { TrainableParam } from '../training/optimizer.js';
import { CheckpointError } from '../weights/checkpointError.js';
import type { NamedTensor } from '../weights/safetensors.js';
import { activate } from './activation.js';
import type { BlockNames, DecoderArchitecture, DecoderDescription, DecoderLayout } from './architecture.js';
import { type AttentionHeads, attend, decodeAttention } from './attention.js';
import type { KvCache, KvCacheEntry } from './kvCache.js';
import { type DecoderParamSpec, transpose2d } from './paramSpec.js';
import type { PolicyModel, PolicyShape } from './policyModel.js';
import { applyRope, ropeTables } from './rope.js';
import type { SequenceInput } from './sequenceBatch.js';

/** Most new tokens per sequence that a cached pass runs through the decode attention kernel. */
const DECODE_KERNEL_QUERIES = 8;

const INIT_STD = 0.02;

/** RoPE tables of a pass's rows (token-major), when the architecture rotates q and k. */
type RopeTables = { cos: tf.Tensor; sin: tf.Tensor } | undefined;

/** How a pass runs: `inference` for KV-cached passes (no gradient), `kernels` when the decode kernels serve it. */
interface PassMode {
  inference: boolean;
  kernels: boolean;
}

/** Seeded initial values of every parameter (the same seed gives the same weights on every backend). */
export function initialTensors(
  specs: readonly DecoderParamSpec[],
  depth: number,
  rng: Rng,
): Record<string, NamedTensor> {
  const values: Record<string, NamedTensor> = {};
  for (const spec of specs) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.init === 'ones') data.fill(1);
    if (spec.init === 'normal' || spec.init === 'residual') {
      // Residual projections are scaled down so the stream's variance does not grow with depth.
      const std = spec.init === 'normal' ? INIT_STD : INIT_STD / Math.sqrt(2 * depth);
      for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
    }
    values[spec.name] = { dtype: 'F32', shape: spec.shape, data };
  }
  return values;
}

export interface LoadOptions {
  trainable?: boolean;
  /** Names the file or origin in errors. */
  source: string;
  /** A prefix of every tensor name in `tensors`. */
  prefix?: string;
  /** The tensors are laid out as in the family's files (`fileShape`), not as grpovi stores them. */
  fileLayout?: boolean;
  /** What the shapes come from, for errors ("the config", "config.json"). */
  shapesFrom?: string;
}

/**
 * The parameters of `specs` from named tensors, as variables when trainable. Every name and shape is
 * checked before the first tensor is made, so a bad file leaks nothing.
 */
export function loadParams(
  specs: readonly DecoderParamSpec[],
  tensors: Record<string, NamedTensor>,
  options: LoadOptions,
): Map<string, tf.Tensor> {
  const prefix = options.prefix ?? '';
  for (const spec of specs) {
    const entry = tensors[prefix + spec.name];
    const shape = options.fileLayout ? spec.fileShape : spec.shape;
    if (entry === undefined)
      throw new CheckpointError(options.source, `tensor "${prefix + spec.name}" is missing`);
    if (entry.shape.length !== shape.length || entry.shape.some((n, i) => n !== shape[i])) {
      throw new CheckpointError(
        options.source,
        `tensor "${prefix + spec.name}" has shape [${entry.shape.join(', ')}] but ${options.shapesFrom ?? 'the config'} needs [${shape.join(', ')}]`,
      );
    }
  }
  const params = new Map<string, tf.Tensor>();
  for (const spec of specs) {
    const entry = tensors[prefix + spec.name];
    let data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
    if (options.fileLayout && spec.transposed) data = transpose2d(data, spec.fileShape[0], spec.fileShape[1]);
    const tensor = tf.tensor(data, spec.shape, 'float32');
    params.set(spec.name, options.trainable === false ? tensor : tf.variable(tensor, true));
    if (options.trainable !== false) tensor.dispose();
  }
  return params;
}

/**
 * hidden @ table^T for a table stored [vocab, width] (the embedding, or lm_head), differentiable in
 * both. Neither direction keeps a transposed copy of the table: through BLAS the transpose is a flag;
 * on the wasm kernels (whose transposed matmuls are slow) the forward transposes into a temporary
 * that is freed at once, and the gradient, d^T @ hidden, transposes only d ([rows, vocab]). A
 * vocabulary-wide table is the largest tensor of these models (147 MB at distilgpt2's size); a
 * transposed copy kept on the gradient tape, its gradient in the transposed layout and that gradient
 * transposed back cost three more.
 */
function projectOnTable(hidden: tf.Tensor2D, table: tf.Tensor2D): tf.Tensor2D {
  const flags = productsThroughBlas();
  const op = tidyCustomGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const h = inputs[0] as tf.Tensor2D;
    const w = inputs[1] as tf.Tensor2D;
    const restore = saveForGradient(inputs[2] as tf.GradSaveFunc, [h, w]);
    return {
      value: flags ? tf.matMul(h, w, false, true) : tf.matMul(h, tf.transpose(w)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [hs, ws] = restore(saved) as tf.Tensor2D[];
        const d = dy as tf.Tensor2D;
        if (frozen(table)) return [tf.matMul(d, ws), unusedGradient()];
        const dTable = flags ? tf.matMul(d, hs, true, false) : tf.matMul(tf.transpose(d), hs);
        return [tf.matMul(d, ws), dTable];
      },
    };
  });
  return op(hidden, table) as tf.Tensor2D;
}

/**
 * The one decoder-only transformer: pre-norm blocks of causal self-attention (multi-head or
 * grouped-query, with its KV cache and decode step) and an MLP (plain or gated), learned or rotary
 * positions, LayerNorm or RMSNorm, a tied or separate output table. A family (families/) is a
 * `DecoderArchitecture` (what is computed) and a `DecoderLayout` (where each weight is); grpovi's GPT
 * (`Gpt`) and the Hugging Face families (`HfDecoder`) are thin subclasses that build one from their
 * config. Holds TF.js variables when trainable, plain tensors otherwise.
 *
 * Every projection goes through `project` (the one place an adapter such as LoRA hooks in).
 * Inside, rows are token-major (position, then sequence): attention then needs fewer transposes
 * (values and the attention output are already in the layout its grouped products use).
 */
export abstract class Decoder<C extends PolicyShape = PolicyShape> implements PolicyModel {
  readonly config: C;
  readonly architecture: DecoderArchitecture;
  readonly layout: DecoderLayout;
  readonly specs: DecoderParamSpec[];
  private readonly params: Map<string, tf.Tensor>;
  /** LoRA adapters on the projections they target (see `project`); not owned. */
  private adapter: LoraAdapter | undefined;

  protected constructor(config: C, description: DecoderDescription, params: Map<string, tf.Tensor>) {
    this.config = config;
    this.architecture = description.architecture;
    this.layout = description.layout;
    this.specs = description.layout.specs;
    this.params = params;
  }

  /** An independent copy (frozen unless asked otherwise), e.g. the reference policy. */
  abstract copy(options?: { trainable?: boolean }): Decoder<C>;

  param(name: string): tf.Tensor {
    const p = this.params.get(name);
    if (p === undefined) throw new Error(`no parameter named ${name}`);
    return p;
  }

  /** Weights as named float32 arrays in grpovi's layout (for checkpoints). */
  toTensors(prefix = ''): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const spec of this.specs) {
      out[prefix + spec.name] = {
        dtype: 'F32',
        shape: spec.shape,
        data: this.param(spec.name).dataSync() as Float32Array,
      };
    }
    return out;
  }

  /** Weights named and laid out as the family's files hold them. */
  toFileTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const spec of this.specs) {
      let data = this.param(spec.name).dataSync() as Float32Array;
      if (spec.transposed) data = transpose2d(data, spec.shape[0], spec.shape[1]);
      out[spec.name] = { dtype: 'F32', shape: spec.fileShape, data };
    }
    return out;
  }

  /**
   * Puts LoRA adapters on the projections they target (undefined takes them off): `project` adds
   * their delta, and `variables()` become theirs, so the base stays frozen. Not owned: the caller
   * disposes the adapter.
   */
  attachAdapter(adapter: LoraAdapter | undefined): void {
    this.adapter = adapter;
    // The base's variables are marked untrainable while adapters are on, so the custom gradients
    // skip their weight gradients (see `frozen` in ops/layers.ts); taken off, they train again.
    for (const p of this.params.values()) if (p instanceof tf.Variable) p.trainable = adapter === undefined;
  }

  /** The trainable variables with their names, in spec order (the adapter's when one is attached). */
  variables(): TrainableParam[] {
    if (this.adapter !== undefined) return this.adapter.variables();
    return this.specs.map((spec) => {
      const p = this.param(spec.name);
      if (!(p instanceof tf.Variable)) throw new Error(`parameter ${spec.name} is not trainable`);
      return { name: spec.name, variable: p, decay: spec.decay };
    });
  }

  /** Overwrites the weights with another model's (same family and config). */
  assign(from: PolicyModel): void {
    if (!(from instanceof Decoder) || from.specs.length !== this.specs.length)
      throw new TypeError('a model can only take the weights of one of the same family and config');
    for (const spec of this.specs) {
      const p = this.param(spec.name);
      if (!(p instanceof tf.Variable)) throw new Error(`parameter ${spec.name} is not trainable`);
      p.assign(from.param(spec.name));
    }
  }

  dispose(): void {
    for (const p of this.params.values()) p.dispose();
    this.params.clear();
  }

  /**
   * Final hidden states [batch * length, width] (row-major) for `input`, after `past` cached tokens
   * if given, and the cache extended by this input's keys and values.
   *
   * A `past` cache, even an empty one (the sampler's prefill), marks the pass as KV-cached
   * inference: projections then run outside custom-gradient scopes, and on the BLAS path with its
   * fused kernels LayerNorm runs as the decode kernel and so does attention at up to 8 new tokens
   * per sequence (blas/decodeKernels.ts; it writes the cache in place); neither has a gradient.
   */
  forward(input: SequenceInput, past?: KvCache): { hidden: tf.Tensor2D; present: KvCache } {
    return this.run(input, past, false);
  }

  /**
   * The final hidden state of each sequence's last position, [batch, width], as `forward` computes
   * it (the same rows of its result), for readers of one position such as a reward model's head.
   * The last block works on those positions only (its keys and values still cover every position),
   * which saves most of that block's products. After a `past` cache (inference, as in `forward`).
   */
  lastHidden(input: SequenceInput, past?: KvCache): tf.Tensor2D {
    return this.run(input, past, true).hidden;
  }

  /** The output table [vocab, width]: lm_head when untied, else the token embedding. */
  private outputTable(): tf.Tensor2D {
    return this.param(this.layout.outputTable ?? this.layout.tokenTable) as tf.Tensor2D;
  }

  /** The output projection [width, vocab] (the output table transposed). */
  outputProjection(): tf.Tensor2D {
    return tf.transpose(this.outputTable()) as tf.Tensor2D;
  }

  /**
   * Next-token logits [rows, vocab] from hidden states. Callers that run many steps with fixed
   * weights pass one `outputProjection()` (on the wasm kernels it saves the transpose, and the
   * matmul reuses its packed weights); through BLAS the table goes in as it is, transposed by
   * sgemm's flag.
   */
  logits(hidden: tf.Tensor2D, projection?: tf.Tensor2D): tf.Tensor2D {
    if (projection !== undefined && !productsThroughBlas()) return matMul(hidden, projection);
    return projectOnTable(hidden, this.outputTable());
  }

  /**
   * x @ W (+ b) for the projection module `name` (`name.weight` [in, out], `name.bias` when the
   * architecture has it): every projection of the model goes through here, so an adapter hooks in
   * at this one place. In inference passes, outside a custom gradient (the same product kernel,
   * so the same values).
   */
  protected project(name: string, x: tf.Tensor, mode: PassMode): tf.Tensor2D {
    const weight = this.param(`${name}.weight`);
    const bias = this.params.get(`${name}.bias`);
    const lora = mode.inference ? this.adapter?.inferenceMatrices(name) : undefined;
    if (lora !== undefined && productsThroughBlas()) {
      // The adapted projection in one kernel (base product, the two thin products, the scaled sum
      // added by sgemm), within float32 rounding of the op path below (see LORA_PROJECTION).
      return tf
        .engine()
        .runKernel(
          LORA_PROJECTION,
          { x, weight, ...(bias === undefined ? {} : { bias }), a: lora.a, b: lora.b },
          { scale: lora.scale },
        ) as tf.Tensor2D;
    }
    let base: tf.Tensor2D;
    if (mode.inference && bias !== undefined && productsThroughBlas()) {
      // The BLAS kernel takes 2-D operands as they are: without the op's reshapes to 3-D and its
      // custom-gradient wrapper, which cost more than the product at a decode step's few rows.
      base = tf
        .engine()
        .runKernel(
          tf._FusedMatMul,
          { a: x, b: weight, bias },
          { transposeA: false, transposeB: false, activation: 'linear' },
        ) as tf.Tensor2D;
    } else if (mode.inference) {
      base = (
        bias === undefined
          ? tf.matMul(x as tf.Tensor2D, weight as tf.Tensor2D)
          : tf.fused.matMul({ a: x as tf.Tensor2D, b: weight as tf.Tensor2D, bias })
      ) as tf.Tensor2D;
    } else {
      base = bias === undefined ? matMul(x as tf.Tensor2D, weight as tf.Tensor2D) : linear(x, weight, bias);
    }
    // LoRA: + dropout(x) A^T B^T alpha/r where an adapter targets this module (and adapters are on).
    return this.adapter === undefined
      ? base
      : this.adapter.apply(name, x as tf.Tensor2D, base, mode.inference);
  }

  /** The norm module `name` (LayerNorm: weight and bias; RMSNorm: weight) over the last axis. */
  private norm(name: string, x: tf.Tensor, mode: PassMode): tf.Tensor {
    const { kind, eps } = this.architecture.norm;
    const weight = this.param(`${name}.weight`);
    if (kind === 'rms') {
      if (mode.kernels)
        return tf.engine().runKernel(DECODE_RMS_NORM, { x, gain: weight }, { eps }) as tf.Tensor;
      // transformers computes it in float32 whatever the weights' dtype; here everything is float32.
      return x.mul(tf.rsqrt(tf.mean(tf.square(x), -1, true).add(eps))).mul(weight);
    }
    const bias = this.param(`${name}.bias`);
    if (mode.kernels)
      return tf.engine().runKernel(DECODE_LAYER_NORM, { x, gain: weight, bias }, { eps }) as tf.Tensor;
    return layerNorm(x, weight, bias, eps);
  }

  private mlp(block: BlockNames, x: tf.Tensor, mode: PassMode): tf.Tensor {
    const act = this.architecture.activation;
    const gated = this.architecture.gatedMlp && block.gate !== undefined;
    let inner: tf.Tensor;
    if (gated && act === 'silu' && mode.kernels) {
      const gate = this.project(block.gate as string, x, mode);
      inner = tf
        .engine()
        .runKernel(DECODE_SWIGLU, { gate, up: this.project(block.up, x, mode) }, {}) as tf.Tensor;
    } else if (gated) {
      inner = activate(act, this.project(block.gate as string, x, mode)).mul(this.project(block.up, x, mode));
    } else if (act === 'gelu_new' && mode.kernels) {
      inner = tf.engine().runKernel(DECODE_GELU_NEW, { x: this.project(block.up, x, mode) }, {}) as tf.Tensor;
    } else inner = activate(act, this.project(block.up, x, mode));
    return this.project(block.down, inner, mode);
  }

  /** q, k, v rows [rows, heads * headWidth] (k and v [rows, kvHeads * headWidth]), positions applied. */
  private queryKeyValue(
    block: BlockNames,
    x: tf.Tensor,
    rope: RopeTables,
    mode: PassMode,
    rotate = true,
  ): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const { heads, kvHeads, headWidth } = this.architecture;
    let q: tf.Tensor;
    let k: tf.Tensor;
    let v: tf.Tensor;
    if (this.architecture.fusedQkv && block.qkv !== undefined) {
      const qkv = this.project(block.qkv, x, mode);
      [q, k, v] =
        kvHeads === heads
          ? tf.split(qkv, 3, 1)
          : tf.split(qkv, [heads * headWidth, kvHeads * headWidth, kvHeads * headWidth], 1);
    } else {
      q = this.project(block.query as string, x, mode);
      k = this.project(block.key as string, x, mode);
      v = this.project(block.value as string, x, mode);
    }
    if (rope && rotate) {
      q = applyRope(q, heads, headWidth, rope);
      k = applyRope(k, kvHeads, headWidth, rope);
    }
    return [q, k, v];
  }

  private heads(batch: number): AttentionHeads {
    const { heads, kvHeads, headWidth } = this.architecture;
    return { batch, heads, kvHeads, headWidth };
  }

  /**
   * Causal self-attention over token-major rows x [T * B, width] (see `attend`). With `lastQuery`,
   * only the last position queries (`out` is [B, width]); keys and values still cover every
   * position. A cache with spare rows (from the decode kernel) contributes its filled rows only.
   */
  private attention(
    block: BlockNames,
    x: tf.Tensor,
    B: number,
    inputLength: number,
    inputBias: tf.Tensor4D,
    rope: RopeTables,
    past: KvCacheEntry | undefined,
    lastQuery: boolean,
    mode: PassMode,
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D; length?: number } {
    const { heads, kvHeads, headWidth } = this.architecture;
    // Each [T * B, heads * headWidth] = [T, B * heads, headWidth]: with token-major rows this is
    // already the layout the attention products take, so no transpose is needed.
    const [qRows, kRows, vRows] = this.queryKeyValue(block, x, rope, mode);
    const allQueries = qRows.reshape([inputLength, B * heads, headWidth]) as tf.Tensor3D;
    const kPart = kRows.reshape([inputLength, B * kvHeads, headWidth]) as tf.Tensor3D;
    const vPart = vRows.reshape([inputLength, B * kvHeads, headWidth]) as tf.Tensor3D;
    const T = lastQuery ? 1 : inputLength;
    const q = lastQuery ? allQueries.slice([inputLength - 1, 0, 0], [1, B * heads, headWidth]) : allQueries;
    const bias = lastQuery ? inputBias.slice([inputLength - 1, 0, 0, 0], [1, -1, -1, -1]) : inputBias;
    const filled = (t: tf.Tensor3D) =>
      past?.length === undefined || past.length === t.shape[0] ? t : t.slice(0, past.length);
    const k = past ? (tf.concat([filled(past.k), kPart], 0) as tf.Tensor3D) : kPart; // [j, g, d]
    const v = past ? (tf.concat([filled(past.v), vPart], 0) as tf.Tensor3D) : vPart; // [j, g, d]
    const mixed = attend(q, k, v, bias, this.heads(B), inputLength === 1);
    const out = this.project(block.attentionOut, mixed.reshape([T * B, heads * headWidth]), mode);
    return { out, k, v };
  }

  /**
   * KV-cached attention (the sampler's prefill and decode steps) through the decode kernel: the
   * kernel takes each token's q | k | v in one row (a fused projection as it comes; separate ones,
   * rotated, side by side).
   */
  private cachedAttention(
    block: BlockNames,
    x: tf.Tensor,
    B: number,
    T: number,
    bias: tf.Tensor4D,
    rope: RopeTables,
    past: KvCacheEntry | undefined,
    mode: PassMode,
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D; length: number } {
    const { heads, kvHeads, headWidth } = this.architecture;
    let qkv: tf.Tensor2D;
    if (this.architecture.fusedQkv && block.qkv !== undefined && rope === undefined) {
      qkv = this.project(block.qkv, x, mode);
    } else if (rope !== undefined) {
      // Rotated and laid side by side in one kernel (the same values as applyRope and a concat).
      const [q, k, v] = this.queryKeyValue(block, x, rope, mode, false);
      qkv = tf
        .engine()
        .runKernel(
          DECODE_ROPE_QKV,
          { q, k, v, cos: rope.cos, sin: rope.sin },
          { heads, kvHeads },
        ) as tf.Tensor2D;
    } else {
      qkv = tf.concat(this.queryKeyValue(block, x, rope, mode), 1) as tf.Tensor2D;
    }
    const attended = decodeAttention(qkv, bias, past, this.heads(B), T, this.architecture.contextLength);
    const out = this.project(block.attentionOut, attended.mixed.reshape([T * B, heads * headWidth]), mode);
    return { out, k: attended.k, v: attended.v, length: attended.length };
  }

  /**
   * Whether a cached pass goes through the decode kernels: the BLAS path's fused kernels are on and
   * the head width suits their 4-wide SIMD loops.
   */
  private decodeKernelsServe(): boolean {
    return this.architecture.headWidth % 4 === 0 && fusedKernels();
  }

  private run(
    input: SequenceInput,
    past: KvCache | undefined,
    lastOnly: boolean,
  ): { hidden: tf.Tensor2D; present: KvCache } {
    const { batchSize: B, length: T, keyLength: S } = input;
    const { contextLength, width, depth, positions: positionKind } = this.architecture;
    for (let i = 0; i < input.positions.length; i++) {
      if (input.positions[i] >= contextLength) {
        throw new RangeError(
          `sequence position ${input.positions[i]} is beyond the model's context of ${contextLength} tokens`,
        );
      }
    }
    const ids = new Int32Array(B * T);
    const positions = new Int32Array(B * T);
    const bias = new Float32Array(T * B * S);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        ids[t * B + b] = input.ids[b * T + t];
        positions[t * B + b] = input.positions[b * T + t];
        bias.set(input.attentionBias.subarray((b * T + t) * S, (b * T + t + 1) * S), (t * B + b) * S);
      }
    }
    let x: tf.Tensor = embeddingLookup(this.param(this.layout.tokenTable) as tf.Tensor2D, ids);
    let rope: RopeTables;
    if (positionKind.kind === 'learned') {
      const table = this.param(this.layout.positionTable as string) as tf.Tensor2D;
      x = x.add(embeddingLookup(table, positions));
    } else {
      rope = ropeTables(positions, this.architecture.headWidth, positionKind.theta);
    }
    // Broadcast over heads: scores are [queries, batch, heads, keys].
    const biasTensor = tf.tensor4d(bias, [T, B, 1, S]);
    const present: KvCache = [];
    const kernels = past !== undefined && this.decodeKernelsServe();
    const mode: PassMode = { inference: past !== undefined, kernels };
    // The kernel's softmax runs in JS: beyond a few queries per sequence (a long prompt's prefill,
    // the completions after a shared prompt) sgemm attention after the cache is faster.
    const kernelAttention = kernels && T <= DECODE_KERNEL_QUERIES;
    for (let l = 0; l < depth; l++) {
      const block = this.layout.blocks[l];
      // Token-major rows: the last position's rows are the final B.
      const lastBlock = lastOnly && l === depth - 1 && T > 1;
      const before = x;
      // One scope per layer: a layer's intermediates are freed when it ends (a gradient keeps what
      // it saved), so scoring and sampling hold one layer's temporaries, not the whole stack's.
      const layer = tf.tidy(() => {
        const normed = this.norm(block.attentionNorm, before, mode);
        const attended = kernelAttention
          ? this.cachedAttention(block, normed, B, T, biasTensor, rope, past[l], mode)
          : this.attention(block, normed, B, T, biasTensor, rope, past?.[l], lastBlock, mode);
        let residual = before;
        let out = attended.out;
        if (lastBlock) {
          residual = before.slice([(T - 1) * B, 0], [B, width]);
          // The decode kernel attends every query; the last position's rows are the final B.
          if (kernelAttention) out = out.slice([(T - 1) * B, 0], [B, width]);
        }
        const mid = residual.add(out);
        const normed2 = this.norm(block.mlpNorm, mid, mode);
        // The decode kernel's caches have spare rows: `length` says how many hold tokens.
        const length: number = attended.length ?? -1;
        return { out: mid.add(this.mlp(block, normed2, mode)), k: attended.k, v: attended.v, length };
      });
      present.push(
        layer.length >= 0 ? { k: layer.k, v: layer.v, length: layer.length } : { k: layer.k, v: layer.v },
      );
      x = layer.out;
    }
    const normed = this.norm(this.layout.finalNorm, x, mode);
    const hidden = T === 1 || lastOnly ? normed : normed.reshape([T, B, width]).transpose([1, 0, 2]);
    return { hidden: hidden.reshape([lastOnly ? B : B * T, width]) as tf.Tensor2D, present };
  }
}
