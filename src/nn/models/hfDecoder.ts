import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/rng.js';
import { productsThroughBlas } from '../backends/backend.js';
import { CheckpointError } from '../weights/checkpointError.js';
import type { KvCache } from './kvCache.js';
import {
  columnSums,
  embeddingLookup,
  gelu,
  groupedMatMul,
  layerNorm,
  linear,
  matMul,
  saveForGradient,
  tidyCustomGrad,
} from '../ops/layers.js';
import type { TrainableParam } from '../training/optimizer.js';
import type { NamedTensor } from '../weights/safetensors.js';
import type { SequenceInput } from './sequenceBatch.js';
import type { HfActivation, HfDecoderConfig } from './hfConfig.js';
import { type HfParamSpec, hfParamSpecs, transpose2d } from './hfParams.js';
import type { PolicyModel } from './policyModel.js';

const INIT_STD = 0.02;

/** What a Hugging Face folder holds besides the weights. */
export interface HfOrigin {
  rawConfig: Record<string, unknown>;
  sideFiles: Record<string, string>;
}

/**
 * hidden @ table^T for a table stored [vocab, width] (the embedding, or lm_head in grpovi's layout),
 * differentiable in both. Neither direction keeps a transposed copy of the table: through BLAS the
 * transpose is a flag; on the wasm kernels (whose transposed matmuls are slow) the forward
 * transposes into a temporary that is freed at once, and the gradient, d^T @ hidden, transposes
 * only d ([rows, vocab]). A vocabulary-wide table is the largest tensor of these models (147 MB at
 * distilgpt2's size); a transposed copy kept on the gradient tape, its gradient in the transposed
 * layout and that gradient transposed back cost three more.
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
        const dTable = flags ? tf.matMul(d, hs, true, false) : tf.matMul(tf.transpose(d), hs);
        return [tf.matMul(d, ws), dTable];
      },
    };
  });
  return op(hidden, table) as tf.Tensor2D;
}

/** x @ w (+ b): Llama's projections may have no bias. */
function project(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  return bias ? linear(x, weight, bias) : matMul(x as tf.Tensor2D, weight as tf.Tensor2D);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** The MLP activations by their transformers names (activations.py). */
function activate(kind: HfActivation, x: tf.Tensor): tf.Tensor {
  switch (kind) {
    case 'gelu_new': // the tanh approximation (NewGELUActivation, GPT-2's default)
      return x.mul(0.5).mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(SQRT_2_OVER_PI)).add(1));
    case 'gelu': // the exact erf form
      return x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));
    case 'quick_gelu': // x * sigmoid(1.702 x), the form grpovi's own GPT uses
      return gelu(x);
    case 'silu':
      return x.mul(tf.sigmoid(x));
    case 'relu':
      return tf.relu(x);
  }
}

/**
 * Llama's RMSNorm: x / sqrt(mean(x^2) + eps) * weight. transformers computes it in float32 whatever
 * the weights' dtype; here everything is float32 already.
 */
function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return x.mul(tf.rsqrt(tf.mean(tf.square(x), -1, true).add(eps))).mul(weight);
}

/**
 * RoPE as transformers' Llama applies it: the head vector's two halves (x1 = first headWidth/2
 * entries, x2 = the rest) rotate together, x * cos + rotate_half(x) * sin with rotate_half(x) =
 * [-x2, x1], the angle of pair i at position p being p * theta^(-2i / headWidth). Angles in float64
 * here (transformers: float32); the difference is far below float32 rounding of the result.
 */
function ropeTables(
  positions: Int32Array,
  headWidth: number,
  theta: number,
): { cos: Float32Array; sin: Float32Array } {
  const half = headWidth / 2;
  const cos = new Float32Array(positions.length * headWidth);
  const sin = new Float32Array(positions.length * headWidth);
  for (let r = 0; r < positions.length; r++) {
    for (let i = 0; i < half; i++) {
      const angle = positions[r] * theta ** ((-2 * i) / headWidth);
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[r * headWidth + i] = c;
      cos[r * headWidth + half + i] = c;
      sin[r * headWidth + i] = s;
      sin[r * headWidth + half + i] = s;
    }
  }
  return { cos, sin };
}

function applyRope(
  x: tf.Tensor,
  rows: number,
  heads: number,
  headWidth: number,
  cos: tf.Tensor,
  sin: tf.Tensor,
): tf.Tensor {
  const half = headWidth / 2;
  const v = x.reshape([rows, heads, headWidth]);
  const x1 = v.slice([0, 0, 0], [rows, heads, half]);
  const x2 = v.slice([0, 0, half], [rows, heads, half]);
  const rotated = tf.concat([tf.neg(x2), x1], 2);
  return v
    .mul(cos)
    .add(rotated.mul(sin))
    .reshape([rows, heads * headWidth]);
}

function initialValues(spec: HfParamSpec, depth: number, rng: Rng): Float32Array {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  if (spec.init === 'ones') data.fill(1);
  if (spec.init === 'normal' || spec.init === 'residual') {
    const std = spec.init === 'normal' ? INIT_STD : INIT_STD / Math.sqrt(2 * depth);
    for (let i = 0; i < size; i++) data[i] = rng.normal() * std;
  }
  return data;
}

/**
 * A Hugging Face GPT-2 or Llama-family decoder (see `HfDecoderConfig`), with the same token-major
 * attention and KV cache as grpovi's own GPT. Parameters carry transformers' names without the
 * body prefix; see `hfParamSpecs` for how each is laid out.
 */
export class HfDecoder implements PolicyModel {
  readonly config: HfDecoderConfig;
  readonly specs: HfParamSpec[];
  /** The folder's config.json and tokenizer files, written back by checkpoints and export. */
  origin?: HfOrigin;
  private readonly params: Map<string, tf.Tensor>;

  private constructor(config: HfDecoderConfig, params: Map<string, tf.Tensor>) {
    this.config = config;
    this.specs = hfParamSpecs(config);
    this.params = params;
  }

  /** Seeded random weights of a config's shapes (benchmarks, tests). */
  static init(config: HfDecoderConfig, seed: number, options: { trainable?: boolean } = {}): HfDecoder {
    const rng = Rng.derive(seed, 'hf-init');
    const values: Record<string, NamedTensor> = {};
    for (const spec of hfParamSpecs(config)) {
      values[spec.name] = { dtype: 'F32', shape: spec.shape, data: initialValues(spec, config.depth, rng) };
    }
    return HfDecoder.fromTensors(config, values, { trainable: options.trainable ?? true, source: 'init' });
  }

  /**
   * From tensors named and laid out as in a transformers file (body prefix already removed):
   * transposes the nn.Linear weights into grpovi's [in, out] layout.
   */
  static fromHfTensors(
    config: HfDecoderConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source: string },
  ): HfDecoder {
    return HfDecoder.build(config, tensors, options, 'hf');
  }

  /** From tensors in grpovi's layout (`toTensors` of another HfDecoder). */
  static fromTensors(
    config: HfDecoderConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source?: string } = {},
  ): HfDecoder {
    return HfDecoder.build(
      config,
      tensors,
      { trainable: options.trainable, source: options.source ?? 'tensors' },
      'own',
    );
  }

  private static build(
    config: HfDecoderConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source: string },
    layout: 'hf' | 'own',
  ): HfDecoder {
    const specs = hfParamSpecs(config);
    // Every name and shape is checked before the first tensor is made, so a bad file leaks nothing.
    for (const spec of specs) {
      const entry = tensors[spec.name];
      const shape = layout === 'hf' ? spec.hfShape : spec.shape;
      if (entry === undefined) throw new CheckpointError(options.source, `tensor "${spec.name}" is missing`);
      if (entry.shape.length !== shape.length || entry.shape.some((n, i) => n !== shape[i])) {
        throw new CheckpointError(
          options.source,
          `tensor "${spec.name}" has shape [${entry.shape.join(', ')}] but config.json needs [${shape.join(', ')}]`,
        );
      }
    }
    const params = new Map<string, tf.Tensor>();
    for (const spec of specs) {
      const entry = tensors[spec.name];
      let data = entry.data instanceof Float32Array ? entry.data : Float32Array.from(entry.data);
      if (layout === 'hf' && spec.transposed) data = transpose2d(data, spec.hfShape[0], spec.hfShape[1]);
      const tensor = tf.tensor(data, spec.shape, 'float32');
      params.set(spec.name, options.trainable === false ? tensor : tf.variable(tensor, true));
      if (options.trainable !== false) tensor.dispose();
    }
    return new HfDecoder({ ...config }, params);
  }

  toTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const spec of this.specs) {
      out[spec.name] = {
        dtype: 'F32',
        shape: spec.shape,
        data: this.param(spec.name).dataSync() as Float32Array,
      };
    }
    return out;
  }

  /** Weights named and laid out as transformers stores them (without the body prefix). */
  toHfTensors(): Record<string, NamedTensor> {
    const out: Record<string, NamedTensor> = {};
    for (const spec of this.specs) {
      let data = this.param(spec.name).dataSync() as Float32Array;
      if (spec.transposed) data = transpose2d(data, spec.shape[0], spec.shape[1]);
      out[spec.name] = { dtype: 'F32', shape: spec.hfShape, data };
    }
    return out;
  }

  copy(options: { trainable?: boolean } = {}): HfDecoder {
    const copy = HfDecoder.fromTensors(this.config, this.toTensors(), {
      trainable: options.trainable ?? false,
      source: 'copy',
    });
    copy.origin = this.origin;
    return copy;
  }

  param(name: string): tf.Tensor {
    const p = this.params.get(name);
    if (p === undefined) throw new Error(`no parameter named ${name}`);
    return p;
  }

  private optional(name: string): tf.Tensor | undefined {
    return this.params.get(name);
  }

  variables(): TrainableParam[] {
    return this.specs.map((spec) => {
      const p = this.param(spec.name);
      if (!(p instanceof tf.Variable)) throw new Error(`parameter ${spec.name} is not trainable`);
      return { name: spec.name, variable: p, decay: spec.decay };
    });
  }

  assign(from: PolicyModel): void {
    if (!(from instanceof HfDecoder))
      throw new TypeError('a Hugging Face model can only take the weights of another');
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

  private embedding(): tf.Tensor2D {
    return this.param(this.config.family === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight') as tf.Tensor2D;
  }

  outputProjection(): tf.Tensor2D {
    return tf.transpose(
      this.config.tiedEmbeddings ? this.embedding() : this.param('lm_head.weight'),
    ) as tf.Tensor2D;
  }

  logits(hidden: tf.Tensor2D, projection?: tf.Tensor2D): tf.Tensor2D {
    if (projection !== undefined) return matMul(hidden, projection);
    return projectOnTable(
      hidden,
      (this.config.tiedEmbeddings ? this.embedding() : this.param('lm_head.weight')) as tf.Tensor2D,
    );
  }

  /** Final hidden states [batch * length, width] in row-major order, and the extended cache. */
  forward(input: SequenceInput, past?: KvCache): { hidden: tf.Tensor2D; present: KvCache } {
    const { batchSize: B, length: T, keyLength: S } = input;
    const { contextLength, width, family } = this.config;
    for (let i = 0; i < input.positions.length; i++) {
      if (input.positions[i] >= contextLength) {
        throw new RangeError(
          `sequence position ${input.positions[i]} is beyond the model's context of ${contextLength} tokens`,
        );
      }
    }
    // Token-major rows (position, then sequence), as in grpovi's GPT: fewer transposes in attention.
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
    let x: tf.Tensor = embeddingLookup(this.embedding(), ids);
    let rope: { cos: tf.Tensor; sin: tf.Tensor } | undefined;
    if (family === 'gpt2') {
      x = x.add(embeddingLookup(this.param('wpe.weight') as tf.Tensor2D, positions));
    } else {
      const hd = this.config.headWidth;
      const tables = ropeTables(positions, hd, this.config.ropeTheta);
      rope = { cos: tf.tensor3d(tables.cos, [B * T, 1, hd]), sin: tf.tensor3d(tables.sin, [B * T, 1, hd]) };
    }
    const biasTensor = tf.tensor4d(bias, [T, B, 1, S]);
    const present: KvCache = [];
    for (let l = 0; l < this.config.depth; l++) {
      // One scope per layer: a layer's intermediates are freed when it ends (a gradient keeps what
      // it saved), so scoring and sampling hold one layer's temporaries, not the whole stack's.
      const input = x;
      const layer = tf.tidy(() => {
        const normed = this.norm(input, family === 'gpt2' ? `h.${l}.ln_1` : `layers.${l}.input_layernorm`);
        const attended = this.attention(normed, l, B, T, biasTensor, rope, past?.[l]);
        const mid = input.add(attended.out);
        const normed2 = this.norm(
          mid,
          family === 'gpt2' ? `h.${l}.ln_2` : `layers.${l}.post_attention_layernorm`,
        );
        return { out: mid.add(this.mlp(normed2, l)), k: attended.k, v: attended.v };
      });
      present.push({ k: layer.k, v: layer.v });
      x = layer.out;
    }
    const normed = this.norm(x, family === 'gpt2' ? 'ln_f' : 'norm');
    const hidden = T === 1 ? normed : normed.reshape([T, B, width]).transpose([1, 0, 2]);
    return { hidden: hidden.reshape([B * T, width]) as tf.Tensor2D, present };
  }

  private norm(x: tf.Tensor, prefix: string): tf.Tensor {
    const eps = this.config.normEps;
    if (this.config.family === 'gpt2')
      return layerNorm(x, this.param(`${prefix}.weight`), this.param(`${prefix}.bias`), eps);
    return rmsNorm(x, this.param(`${prefix}.weight`), eps);
  }

  private mlp(x: tf.Tensor, layer: number): tf.Tensor {
    const act = this.config.activation;
    if (this.config.family === 'gpt2') {
      const m = `h.${layer}.mlp`;
      const inner = activate(act, linear(x, this.param(`${m}.c_fc.weight`), this.param(`${m}.c_fc.bias`)));
      return linear(inner, this.param(`${m}.c_proj.weight`), this.param(`${m}.c_proj.bias`));
    }
    // Llama: down(act(gate(x)) * up(x)).
    const m = `layers.${layer}.mlp`;
    const proj = (name: string, input: tf.Tensor) =>
      project(input, this.param(`${m}.${name}.weight`), this.optional(`${m}.${name}.bias`));
    return proj('down_proj', activate(act, proj('gate_proj', x)).mul(proj('up_proj', x)));
  }

  /** q, k, v rows [T * B, heads * headWidth] (k and v with kvHeads), RoPE applied for Llama. */
  private queryKeyValue(
    x: tf.Tensor,
    layer: number,
    rows: number,
    rope?: { cos: tf.Tensor; sin: tf.Tensor },
  ): [tf.Tensor, tf.Tensor, tf.Tensor] {
    const { heads, kvHeads, headWidth } = this.config;
    if (this.config.family === 'gpt2') {
      const a = `h.${layer}.attn`;
      const [q, k, v] = tf.split(
        linear(x, this.param(`${a}.c_attn.weight`), this.param(`${a}.c_attn.bias`)),
        3,
        1,
      );
      return [q, k, v];
    }
    const a = `layers.${layer}.self_attn`;
    const proj = (name: string) =>
      project(x, this.param(`${a}.${name}.weight`), this.optional(`${a}.${name}.bias`));
    let q: tf.Tensor = proj('q_proj');
    let k: tf.Tensor = proj('k_proj');
    const v = proj('v_proj');
    if (rope) {
      q = applyRope(q, rows, heads, headWidth, rope.cos, rope.sin);
      k = applyRope(k, rows, kvHeads, headWidth, rope.cos, rope.sin);
    }
    return [q, k, v];
  }

  /**
   * Causal self-attention over token-major rows; groups g = (sequence, head). The cache keeps the
   * kvHeads keys and values; for grouped-query attention each is repeated for the heads / kvHeads
   * consecutive query heads that share it (transformers' repeat_kv: query head h reads kv head
   * floor(h / (heads / kvHeads))).
   */
  private attention(
    x: tf.Tensor,
    layer: number,
    B: number,
    T: number,
    bias: tf.Tensor4D,
    rope: { cos: tf.Tensor; sin: tf.Tensor } | undefined,
    past?: { k: tf.Tensor3D; v: tf.Tensor3D },
  ): { out: tf.Tensor; k: tf.Tensor3D; v: tf.Tensor3D } {
    const { heads, kvHeads, headWidth } = this.config;
    const groups = B * heads;
    const [qRows, kRows, vRows] = this.queryKeyValue(x, layer, T * B, rope);
    const qPart = qRows.reshape([T, groups, headWidth]) as tf.Tensor3D;
    const kPart = kRows.reshape([T, B * kvHeads, headWidth]) as tf.Tensor3D;
    const vPart = vRows.reshape([T, B * kvHeads, headWidth]) as tf.Tensor3D;
    const kCached = past ? (tf.concat([past.k, kPart], 0) as tf.Tensor3D) : kPart;
    const vCached = past ? (tf.concat([past.v, vPart], 0) as tf.Tensor3D) : vPart;
    const S = kCached.shape[0];
    const repeat = heads / kvHeads;
    // Rank 4 at most: TF.js has no tile gradient for rank 5.
    const expand = (t: tf.Tensor3D): tf.Tensor3D =>
      repeat === 1
        ? t
        : (t
            .reshape([S * B, kvHeads, 1, headWidth])
            .tile([1, 1, repeat, 1])
            .reshape([S, groups, headWidth]) as tf.Tensor3D);
    const k = expand(kCached);
    const v = expand(vCached);
    const queries = qPart.mul(1 / Math.sqrt(headWidth));
    let mixed: tf.Tensor;
    if (T === 1) {
      const scores = tf.sum(queries.mul(k), -1).transpose().reshape([1, B, heads, S]).add(bias);
      const probs = tf.softmax(scores).reshape([groups, S]).transpose().reshape([S, groups, 1]);
      mixed = columnSums(probs.mul(v).reshape([S, groups * headWidth]) as tf.Tensor2D);
    } else {
      const keys = k.transpose([0, 2, 1]) as tf.Tensor3D;
      const scores = groupedMatMul(keys, queries.transpose([2, 1, 0]) as tf.Tensor3D)
        .transpose([2, 1, 0])
        .reshape([T, B, heads, S])
        .add(bias);
      const probs = tf.softmax(scores).reshape([T, groups, S]).transpose([0, 2, 1]) as tf.Tensor3D;
      mixed = groupedMatMul(probs, v);
    }
    const merged = mixed.reshape([T * B, heads * headWidth]);
    const out =
      this.config.family === 'gpt2'
        ? linear(
            merged,
            this.param(`h.${layer}.attn.c_proj.weight`),
            this.param(`h.${layer}.attn.c_proj.bias`),
          )
        : project(
            merged,
            this.param(`layers.${layer}.self_attn.o_proj.weight`),
            this.optional(`layers.${layer}.self_attn.o_proj.bias`),
          );
    return { out, k: kCached, v: vCached };
  }
}
