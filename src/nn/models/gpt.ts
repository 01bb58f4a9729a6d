import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/rng.js';
import { CheckpointError } from '../weights/checkpointError.js';
import { type GptConfig, gptParamSpecs, type ParamSpec, validateGptConfig } from './gptConfig.js';
import { fusedKernels, productsThroughBlas } from '../backends/backend.js';
import { DECODE_ATTENTION, DECODE_LAYER_NORM } from '../backends/blas/decodeKernels.js';
import {
  columnSums,
  embeddingLookup,
  gelu,
  groupedMatMul,
  layerNorm,
  linear,
  matMul,
  stridedGroupedMatMul,
} from '../ops/layers.js';
import type { NamedTensor } from '../weights/safetensors.js';
import type { SequenceInput } from './sequenceBatch.js';
import type { KvCache, KvCacheEntry } from './kvCache.js';

/** x @ w + b as `linear` computes it, outside a custom gradient (inference only). */
function inferenceLinear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor2D {
  return tf.fused.matMul({ a: x as tf.Tensor2D, b: weight as tf.Tensor2D, bias }) as tf.Tensor2D;
}

/** LayerNorm through the decode kernel (no gradient), with `layerNorm`'s epsilon. */
function decodeLayerNorm(x: tf.Tensor, gain: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(DECODE_LAYER_NORM, { x, gain, bias }, { eps: 1e-5 }) as tf.Tensor;
}

/**
 * Whether a decode step of this model goes through the decode kernel: the BLAS path's fused kernels
 * are on and the head width suits its 4-wide SIMD loops.
 */
function usesDecodeKernel(config: GptConfig): boolean {
  return (config.width / config.heads) % 4 === 0 && fusedKernels();
}

/** Most new tokens per sequence that a cached pass runs through the decode attention kernel. */
const DECODE_KERNEL_QUERIES = 8;

const INIT_STD = 0.02;

/** Fills a parameter as its spec says, from the seeded generator. */
function initialValues(spec: ParamSpec, depth: number, rng: Rng): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  if (spec.init === 'ones') data.fill(1);
  if (spec.init === 'normal' || spec.init === 'residual') {
    // Residual projections are scaled down so the stream's variance does not grow with depth.
    const std = spec.init === 'normal' ? INIT_STD : INIT_STD / Math.sqrt(2 * depth);
    for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
  }
  return data;
}

/**
 * A GPT: pre-LayerNorm blocks, causal self-attention, GELU MLP, learned positions and an output
 * projection tied to the token embedding. Holds TF.js variables when trainable, plain tensors otherwise.
 */
export class Gpt {
  readonly config: GptConfig;
  readonly specs: ParamSpec[];
  private readonly params: Map<string, tf.Tensor>;

  private constructor(config: GptConfig, params: Map<string, tf.Tensor>) {
    this.config = config;
    this.specs = gptParamSpecs(config);
    this.params = params;
  }

  /** A freshly initialized model; the same seed gives the same weights on every backend. */
  static init(config: GptConfig, seed: number, options: { trainable?: boolean } = {}): Gpt {
    validateGptConfig(config);
    const rng = Rng.derive(seed, 'gpt-init');
    const values: Record<string, NamedTensor> = {};
    for (const spec of gptParamSpecs(config)) {
      values[spec.name] = { dtype: 'F32', shape: spec.shape, data: initialValues(spec, config.depth, rng) };
    }
    return Gpt.fromTensors(config, values, { trainable: options.trainable ?? true, source: 'init' });
  }

  /** A model from named tensors (e.g. a checkpoint), checking every name and shape. */
  static fromTensors(
    config: GptConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source?: string; prefix?: string } = {},
  ): Gpt {
    const source = options.source ?? 'tensors';
    const prefix = options.prefix ?? '';
    validateGptConfig(config, source);
    // Every name and shape is checked before the first tensor is made, so a bad file leaks nothing.
    const specs = gptParamSpecs(config);
    for (const spec of specs) {
      const entry = tensors[prefix + spec.name];
      if (entry === undefined) throw new CheckpointError(source, `tensor "${prefix + spec.name}" is missing`);
      if (entry.shape.length !== spec.shape.length || entry.shape.some((n, i) => n !== spec.shape[i])) {
        throw new CheckpointError(
          source,
          `tensor "${prefix + spec.name}" has shape [${entry.shape.join(', ')}] but the config needs [${spec.shape.join(', ')}]`,
        );
      }
    }
    const params = new Map<string, tf.Tensor>();
    for (const spec of specs) {
      const entry = tensors[prefix + spec.name];
      const data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
      const tensor = tf.tensor(data, spec.shape, 'float32');
      params.set(spec.name, options.trainable === false ? tensor : tf.variable(tensor, true));
      if (options.trainable !== false) tensor.dispose();
    }
    return new Gpt({ ...config }, params);
  }

  /** Weights as named float32 arrays (for checkpoints). */
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

  /** An independent copy, e.g. the frozen reference policy. */
  copy(options: { trainable?: boolean } = {}): Gpt {
    return Gpt.fromTensors(this.config, this.toTensors(), {
      trainable: options.trainable ?? false,
      source: 'copy',
    });
  }

  param(name: string): tf.Tensor {
    const p = this.params.get(name);
    if (p === undefined) throw new Error(`no parameter named ${name}`);
    return p;
  }

  /** The trainable variables with their names, in spec order. */
  variables(): { name: string; variable: tf.Variable; decay: boolean }[] {
    return this.specs.map((spec) => {
      const p = this.param(spec.name);
      if (!(p instanceof tf.Variable)) throw new Error(`parameter ${spec.name} is not trainable`);
      return { name: spec.name, variable: p, decay: spec.decay };
    });
  }

  /** Overwrites the weights with another model's (same config). */
  assign(from: Gpt): void {
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
   * Final hidden states [batch * length, width] for `input`, after `past` cached tokens if given,
   * and the cache extended by this input's keys and values.
   *
   * A `past` cache, even an empty one (the sampler's prefill), marks the pass as KV-cached
   * inference: on the BLAS path with its fused kernels, LayerNorm then runs as the decode kernel
   * and so does attention at up to 8 new tokens per sequence (blas/decodeKernels.ts; it writes the
   * cache in place); neither has a gradient.
   *
   * Inside, rows are token-major (position, then sequence): attention then needs fewer transposes
   * (values and the attention output are already in the layout its grouped products use).
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

  private run(
    input: SequenceInput,
    past: KvCache | undefined,
    lastOnly: boolean,
  ): { hidden: tf.Tensor2D; present: KvCache } {
    const { batchSize: B, length: T, keyLength: S } = input;
    const { contextLength, width } = this.config;
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
    const tokens = embeddingLookup(this.param('wte') as tf.Tensor2D, ids);
    let x: tf.Tensor = tokens.add(embeddingLookup(this.param('wpe') as tf.Tensor2D, positions));
    // Broadcast over heads: scores are [queries, batch, heads, keys].
    const biasTensor = tf.tensor4d(bias, [T, B, 1, S]);
    const present: KvCache = [];
    const cachedDecode = past !== undefined && usesDecodeKernel(this.config);
    // The kernel's softmax runs in JS: beyond a few queries per sequence (a long prompt's prefill,
    // the completions after a shared prompt) sgemm attention after the cache is faster.
    const kernelAttention = cachedDecode && T <= DECODE_KERNEL_QUERIES;
    // A cached pass is inference only: LayerNorm as one kernel, and neither it nor the dense layers
    // inside a custom gradient's scopes (the same product kernel, so the same values).
    const norm = cachedDecode ? decodeLayerNorm : layerNorm;
    const dense = cachedDecode ? inferenceLinear : linear;
    for (let l = 0; l < this.config.depth; l++) {
      const h = `h.${l}`;
      // Token-major rows: the last position's rows are the final B.
      const lastBlock = lastOnly && l === this.config.depth - 1 && T > 1;
      const normed = norm(x, this.param(`${h}.ln_1.weight`), this.param(`${h}.ln_1.bias`));
      const attended = kernelAttention
        ? this.cachedAttention(normed, l, B, T, biasTensor, past[l])
        : this.attention(normed, l, B, T, biasTensor, past?.[l], lastBlock);
      present.push({ k: attended.k, v: attended.v, length: attended.length });
      let out = attended.out;
      if (lastBlock) {
        x = x.slice([(T - 1) * B, 0], [B, width]);
        // The decode kernel attends every query; the last position's rows are the final B.
        if (kernelAttention) out = out.slice([(T - 1) * B, 0], [B, width]);
      }
      x = x.add(out);
      const normed2 = norm(x, this.param(`${h}.ln_2.weight`), this.param(`${h}.ln_2.bias`));
      const inner = gelu(
        dense(normed2, this.param(`${h}.mlp.c_fc.weight`), this.param(`${h}.mlp.c_fc.bias`)),
      );
      x = x.add(dense(inner, this.param(`${h}.mlp.c_proj.weight`), this.param(`${h}.mlp.c_proj.bias`)));
    }
    const normed = norm(x, this.param('ln_f.weight'), this.param('ln_f.bias'));
    const hidden = T === 1 || lastOnly ? normed : normed.reshape([T, B, width]).transpose([1, 0, 2]);
    return { hidden: hidden.reshape([lastOnly ? B : B * T, width]) as tf.Tensor2D, present };
  }

  /** The output projection [width, vocab]: the token embedding transposed (tied weights). */
  outputProjection(): tf.Tensor2D {
    return tf.transpose(this.param('wte')) as tf.Tensor2D;
  }

  /**
   * Next-token logits [rows, vocab] from hidden states, through the tied embedding. Callers that
   * run many steps with fixed weights pass one `outputProjection()` (saves the transpose, and the
   * matmul reuses its packed weights). Through BLAS the embedding goes in as it is, transposed by
   * sgemm's flag.
   */
  logits(hidden: tf.Tensor2D, projection?: tf.Tensor2D): tf.Tensor2D {
    if (productsThroughBlas()) return matMul(hidden, this.param('wte') as tf.Tensor2D, true);
    return matMul(hidden, projection ?? this.outputProjection());
  }

  /**
   * Causal self-attention over token-major rows x [T * B, width]; groups g = (sequence, head).
   * Several queries (a full sequence): every product through `groupedMatMul`, the scores computed
   * transposed (keys as the input) so that the value layout serves the second product as it is.
   * One query (a decode step): elementwise products and sums, which beat the convolution's set-up
   * cost at this size. Through BLAS, both cases are strided sgemm calls per group on the token-major
   * tensors as they are (see `stridedGroupedMatMul`). With `lastQuery`, only the last position
   * queries (`out` is [B, width]); the full-sequence products still run, with one query row.
   * KV-cached passes with the fused kernels on go through `cachedAttention` instead.
   */
  private attention(
    x: tf.Tensor,
    layer: number,
    B: number,
    inputLength: number,
    inputBias: tf.Tensor4D,
    past?: KvCacheEntry,
    lastQuery = false,
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D; length?: number } {
    const { width, heads } = this.config;
    const headWidth = width / heads;
    const groups = B * heads;
    const h = `h.${layer}`;
    // Column blocks q | k | v, each [T * B, width] = [T, groups, headWidth]: with token-major rows
    // this is already the layout the products below take, so no transpose is needed.
    const [allQueries, kPart, vPart] = tf
      .split(linear(x, this.param(`${h}.attn.c_attn.weight`), this.param(`${h}.attn.c_attn.bias`)), 3, 1)
      .map((p) => p.reshape([inputLength, groups, headWidth]) as tf.Tensor3D);
    const T = lastQuery ? 1 : inputLength;
    const qPart = lastQuery ? allQueries.slice([inputLength - 1, 0, 0], [1, groups, headWidth]) : allQueries;
    const bias = lastQuery ? inputBias.slice([inputLength - 1, 0, 0, 0], [1, -1, -1, -1]) : inputBias;
    // A cache with spare rows (from the decode kernel) contributes its filled rows only.
    const filled = (t: tf.Tensor3D) =>
      past?.length === undefined || past.length === t.shape[0] ? t : t.slice(0, past.length);
    const k = past ? (tf.concat([filled(past.k), kPart], 0) as tf.Tensor3D) : kPart; // [j, g, d]
    const v = past ? (tf.concat([filled(past.v), vPart], 0) as tf.Tensor3D) : vPart; // [j, g, d]
    const S = k.shape[0];
    let mixed: tf.Tensor;
    const queries = qPart.mul(1 / Math.sqrt(headWidth));
    if (productsThroughBlas()) {
      // Strided sgemm per group straight on the token-major tensors: no transposes at all.
      const scores = stridedGroupedMatMul(queries as tf.Tensor3D, k, true)
        .reshape([T, B, heads, S])
        .add(bias); // [i, g, j]
      const probs = tf.softmax(scores).reshape([T, groups, S]) as tf.Tensor3D;
      mixed = stridedGroupedMatMul(probs, v); // [i, g, d]
    } else if (inputLength === 1) {
      const scores = tf.sum(queries.mul(k), -1).transpose().reshape([1, B, heads, S]).add(bias); // [g, j]
      const probs = tf.softmax(scores).reshape([groups, S]).transpose().reshape([S, groups, 1]);
      mixed = columnSums(probs.mul(v).reshape([S, groups * headWidth]) as tf.Tensor2D);
    } else {
      const keys = k.transpose([0, 2, 1]) as tf.Tensor3D; // [j, d, g]
      const scores = groupedMatMul(keys, queries.transpose([2, 1, 0]) as tf.Tensor3D) // [j, g, i]
        .transpose([2, 1, 0])
        .reshape([T, B, heads, S])
        .add(bias);
      const probs = tf.softmax(scores).reshape([T, groups, S]).transpose([0, 2, 1]) as tf.Tensor3D; // [i, j, g]
      mixed = groupedMatMul(probs, v); // [i, g, d]
    }
    return { out: this.attentionOutput(mixed, layer, T * B), k, v };
  }

  /**
   * KV-cached attention (the sampler's prefill and decode steps) through the decode kernel (see
   * decodeKernels.ts): this input's keys and values are written into the cache's spare rows in
   * place, the cache grown (doubling, at most to the context) when it has too few. Inference only:
   * the cache buffers are written.
   */
  private cachedAttention(
    x: tf.Tensor,
    layer: number,
    B: number,
    T: number,
    bias: tf.Tensor4D,
    past: KvCacheEntry | undefined,
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D; length: number } {
    const { heads, width, contextLength } = this.config;
    const groups = B * heads;
    const headWidth = width / heads;
    const h = `h.${layer}`;
    const qkv = inferenceLinear(
      x,
      this.param(`${h}.attn.c_attn.weight`),
      this.param(`${h}.attn.c_attn.bias`),
    );
    const filled = past === undefined ? 0 : (past.length ?? past.k.shape[0]);
    const keys = filled + T;
    let k = past?.k;
    let v = past?.v;
    if (k === undefined || v === undefined || k.shape[0] < keys) {
      const capacity = Math.max(keys, Math.min(contextLength, 2 * keys));
      // Each cache gets a buffer of its own (the kernel writes into it): fresh zeros, never a clone.
      const grow = (t: tf.Tensor3D | undefined) => {
        const room = tf.zeros([capacity - filled, groups, headWidth]) as tf.Tensor3D;
        return t === undefined || filled === 0
          ? room
          : (tf.concat([t.slice(0, filled), room], 0) as tf.Tensor3D);
      };
      k = grow(k);
      v = grow(v);
    }
    const [mixed, kOut, vOut] = tf
      .engine()
      .runKernel(
        DECODE_ATTENTION,
        { qkv, k, v, bias: bias.reshape([T * B, keys]) },
        { heads, keys, queries: T },
      ) as tf.Tensor[];
    return {
      out: this.attentionOutput(mixed, layer, T * B, inferenceLinear),
      k: kOut as tf.Tensor3D,
      v: vOut as tf.Tensor3D,
      length: keys,
    };
  }

  /** Attention's output projection of the mixed values [rows, groups, headWidth]. */
  private attentionOutput(mixed: tf.Tensor, layer: number, rows: number, dense = linear): tf.Tensor {
    const h = `h.${layer}`;
    return dense(
      mixed.reshape([rows, this.config.width]),
      this.param(`${h}.attn.c_proj.weight`),
      this.param(`${h}.attn.c_proj.bias`),
    );
  }
}
