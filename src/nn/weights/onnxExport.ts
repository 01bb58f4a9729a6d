import type { NamedTensor } from './safetensors.js';
import type { HfActivation, HfDecoderConfig } from '../models/hfConfig.js';
import { isClassifier, transpose2d } from '../models/hfParams.js';
import { OnnxGraphBuilder, onnxElementType, PROTOBUF_LIMIT } from './onnxGraph.js';

/** Where transformers.js looks for a decoder's float32 graph in a local model folder. */
export const ONNX_MODEL_FILE = 'onnx/model.onnx';
/** Its weights when they do not fit in the protobuf (the name transformers.js derives for one chunk). */
export const ONNX_DATA_FILE = 'onnx/model.onnx_data';
/** Room left in the protobuf for the graph itself when the weights are embedded. */
const GRAPH_MARGIN = 64 * 2 ** 20;

export interface OnnxExportOptions {
  producerVersion: string;
  /** Weights of more bytes than this go to onnx/model.onnx_data (default: what one protobuf holds). */
  externalDataAbove?: number;
}

/** The files of the ONNX export by folder-relative name, and whether the weights are external. */
export interface OnnxExport {
  files: Record<string, Uint8Array>;
  externalData: boolean;
}

/**
 * A Hugging Face causal LM (GPT-2 or Llama family) as the ONNX graph transformers.js runs
 * (`AutoModelForCausalLM`, device cpu, dtype fp32 -> `onnx/model.onnx`), with the interface its
 * decoder loop feeds (read from transformers.js 4's models/modeling_utils.js and configs.js):
 * - inputs `input_ids`, `attention_mask` [batch, past + new] and `position_ids` (int64), and
 *   `past_key_values.{l}.key|value` float [batch_size, kv heads, past_sequence_length, head width];
 *   transformers.js allocates the first, empty cache from those shapes (symbolic dims it does not know
 *   become 0), so the past length must be the only unnamed-size dimension besides batch_size;
 * - outputs `logits` [batch, new, vocab] and `present.{l}.key|value`, the cache with the new
 *   positions appended, which it renames to past_key_values for the next step.
 * The computation follows transformers' modeling_gpt2.py and modeling_llama.py (the same as hfDecoder.ts).
 * `tensors` are named as in the file without the body prefix, in the file's layout (Conv1D [in, out],
 * nn.Linear [out, in]), float32.
 */
export function onnxCausalLm(
  config: HfDecoderConfig,
  tensors: Record<string, NamedTensor>,
  options: OnnxExportOptions,
): OnnxExport {
  if (isClassifier(config))
    throw new Error(`ONNX export covers causal LMs only (${config.architecture} is a classifier)`);
  let weightBytes = 0;
  for (const t of Object.values(tensors)) weightBytes += t.data.byteLength;
  const external = weightBytes > (options.externalDataAbove ?? PROTOBUF_LIMIT - GRAPH_MARGIN);
  const g = new OnnxGraphBuilder(
    `${config.architecture} (grpovi export)`,
    external ? ONNX_DATA_FILE.slice('onnx/'.length) : undefined,
  );
  const weight = (name: string, transposeLinear = false): string => {
    const t = tensors[name];
    if (t === undefined) throw new Error(`ONNX export: tensor ${name} is missing`);
    if (!(t.data instanceof Float32Array)) throw new Error(`ONNX export: tensor ${name} is not float32`);
    if (!transposeLinear) return g.weight(name, t.shape, t.data);
    const [rows, cols] = t.shape;
    return g.weight(name, [cols, rows], transpose2d(t.data, rows, cols));
  };
  const kv = config.kvHeads;
  const hd = config.headWidth;
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positions = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const past = Array.from({ length: config.depth }, (_, l) => ({
    key: g.input(`past_key_values.${l}.key`, 'float', ['batch_size', kv, 'past_sequence_length', hd]),
    value: g.input(`past_key_values.${l}.value`, 'float', ['batch_size', kv, 'past_sequence_length', hd]),
  }));
  const allowed = attentionAllowed(g, ids, mask);
  const ops = new Ops(g);

  let x: string;
  let rope: Rope | undefined;
  if (config.family === 'gpt2') {
    x = g.op('Add', [
      g.op('Gather', [weight('wte.weight'), ids]),
      g.op('Gather', [weight('wpe.weight'), positions]),
    ]);
  } else {
    x = g.op('Gather', [weight('embed_tokens.weight'), ids]);
    rope = ropeTables(g, positions, hd, config.ropeTheta);
  }
  for (let l = 0; l < config.depth; l++) {
    const cache = (key: string, value: string) => {
      const k = g.op('Concat', [past[l].key, key], { axis: { int: 2 } });
      const v = g.op('Concat', [past[l].value, value], { axis: { int: 2 } });
      g.output(`present.${l}.key`, k, 'float', ['batch_size', kv, 'total_sequence_length', hd]);
      g.output(`present.${l}.value`, v, 'float', ['batch_size', kv, 'total_sequence_length', hd]);
      return { k, v };
    };
    if (config.family === 'gpt2') {
      const p = `h.${l}`;
      const norm = (name: string, input: string) =>
        g.op('LayerNormalization', [input, weight(`${p}.${name}.weight`), weight(`${p}.${name}.bias`)], {
          axis: { int: -1 },
          epsilon: { float: config.normEps },
        });
      const h = norm('ln_1', x);
      // c_attn is Conv1D [in, 3 * width], q | k | v along the output axis.
      const qkv = g.op('Add', [
        g.op('MatMul', [h, weight(`${p}.attn.c_attn.weight`)]),
        weight(`${p}.attn.c_attn.bias`),
      ]);
      const [q, k, v] = g.opMany('Split', [qkv, g.ints([config.width, config.width, config.width])], 3, {
        axis: { int: 2 },
      });
      const { k: keys, v: values } = cache(ops.heads(k, config.heads), ops.heads(v, config.heads));
      const context = ops.attention(
        ops.heads(q, config.heads),
        keys,
        values,
        allowed,
        hd,
        config.heads,
        config.heads,
      );
      const projected = g.op('MatMul', [
        ops.mergeHeads(context, config.width),
        weight(`${p}.attn.c_proj.weight`),
      ]);
      const attn = g.op('Add', [projected, weight(`${p}.attn.c_proj.bias`)]);
      x = g.op('Add', [x, attn]);
      const m = g.op('Add', [
        g.op('MatMul', [norm('ln_2', x), weight(`${p}.mlp.c_fc.weight`)]),
        weight(`${p}.mlp.c_fc.bias`),
      ]);
      const out = g.op('Add', [
        g.op('MatMul', [ops.activation(m, config.activation), weight(`${p}.mlp.c_proj.weight`)]),
        weight(`${p}.mlp.c_proj.bias`),
      ]);
      x = g.op('Add', [x, out]);
    } else {
      const p = `layers.${l}`;
      const a = `${p}.self_attn`;
      // nn.Linear weights are [out, in] in the file: stored transposed so each projection is x @ W.
      const linear = (input: string, name: string, bias: boolean) => {
        const y = g.op('MatMul', [input, weight(`${name}.weight`, true)]);
        return bias ? g.op('Add', [y, weight(`${name}.bias`)]) : y;
      };
      const h = ops.rmsNorm(x, weight(`${p}.input_layernorm.weight`), config.normEps);
      const q = ops.rotate(ops.heads(linear(h, `${a}.q_proj`, config.qkvBias), config.heads), rope!, hd);
      const k = ops.rotate(ops.heads(linear(h, `${a}.k_proj`, config.qkvBias), kv), rope!, hd);
      const { k: keys, v: values } = cache(k, ops.heads(linear(h, `${a}.v_proj`, config.qkvBias), kv));
      const context = ops.attention(q, keys, values, allowed, hd, config.heads, kv);
      x = g.op('Add', [x, linear(ops.mergeHeads(context, config.heads * hd), `${a}.o_proj`, config.outBias)]);
      const h2 = ops.rmsNorm(x, weight(`${p}.post_attention_layernorm.weight`), config.normEps);
      const gate = ops.activation(linear(h2, `${p}.mlp.gate_proj`, config.mlpBias), config.activation);
      const up = linear(h2, `${p}.mlp.up_proj`, config.mlpBias);
      x = g.op('Add', [x, linear(g.op('Mul', [gate, up]), `${p}.mlp.down_proj`, config.mlpBias)]);
    }
  }
  const final =
    config.family === 'gpt2'
      ? g.op('LayerNormalization', [x, weight('ln_f.weight'), weight('ln_f.bias')], {
          axis: { int: -1 },
          epsilon: { float: config.normEps },
        })
      : ops.rmsNorm(x, weight('norm.weight'), config.normEps);
  // The output projection is [vocab, width] (the tied embedding or lm_head): transposed at run time,
  // so a tied embedding is stored once.
  const embedding = config.family === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight';
  const head = config.tiedEmbeddings ? embedding : weight('lm_head.weight');
  const logits = g.op('MatMul', [final, g.op('Transpose', [head], { perm: { ints: [1, 0] } })]);
  g.output('logits', logits, 'float', ['batch_size', 'sequence_length', config.vocabSize]);
  const encoded = g.encode(options.producerVersion);
  const files: Record<string, Uint8Array> = { [ONNX_MODEL_FILE]: encoded.model };
  if (encoded.externalData) files[ONNX_DATA_FILE] = encoded.externalData;
  return { files, externalData: external };
}

/**
 * [batch, 1, new, total] booleans: key j is visible to the i-th new token when it is not padding
 * (attention_mask) and not in its future (j <= past + i).
 */
function attentionAllowed(g: OnnxGraphBuilder, ids: string, mask: string): string {
  const one = g.ints([1], []);
  const dim = (value: string, axis: number) =>
    g.op('Gather', [g.op('Shape', [value]), g.ints([axis], [])], { axis: { int: 0 } });
  const newLength = dim(ids, 1);
  const total = dim(mask, 1);
  const queries = g.op('Range', [g.op('Sub', [total, newLength]), total, one]);
  const keys = g.op('Range', [g.ints([0], []), total, one]);
  const causal = g.op('LessOrEqual', [
    g.op('Unsqueeze', [keys, g.ints([0])]),
    g.op('Unsqueeze', [queries, g.ints([1])]),
  ]);
  const notPad = g.op('Unsqueeze', [
    g.op('Cast', [mask], { to: { int: onnxElementType('bool') } }),
    g.ints([1, 2]),
  ]);
  return g.op('And', [causal, notPad]);
}

interface Rope {
  cos: string;
  sin: string;
}

/** cos and sin of RoPE's angles, [batch, 1, new, head width], as transformers' LlamaRotaryEmbedding. */
function ropeTables(g: OnnxGraphBuilder, positions: string, hd: number, theta: number): Rope {
  const inverse = Array.from({ length: hd / 2 }, (_, i) => 1 / theta ** ((2 * i) / hd));
  const angles = g.op('Mul', [
    g.op('Unsqueeze', [g.op('Cast', [positions], { to: { int: onnxElementType('float') } }), g.ints([2])]),
    g.floats(inverse),
  ]);
  const both = g.op('Concat', [angles, angles], { axis: { int: -1 } });
  const heads = g.ints([1]);
  return {
    cos: g.op('Unsqueeze', [g.op('Cos', [both]), heads]),
    sin: g.op('Unsqueeze', [g.op('Sin', [both]), heads]),
  };
}

/** The building blocks shared by both families. */
class Ops {
  constructor(private readonly g: OnnxGraphBuilder) {}

  /** [batch, new, heads * hd] -> [batch, heads, new, hd]. */
  heads(x: string, heads: number): string {
    const g = this.g;
    const split = g.op('Reshape', [x, g.ints([0, 0, heads, -1])]);
    return g.op('Transpose', [split], { perm: { ints: [0, 2, 1, 3] } });
  }

  /** [batch, heads, new, hd] -> [batch, new, width]. */
  mergeHeads(x: string, width: number): string {
    const g = this.g;
    const t = g.op('Transpose', [x], { perm: { ints: [0, 2, 1, 3] } });
    return g.op('Reshape', [t, g.ints([0, 0, width])]);
  }

  /**
   * softmax(q k^T / sqrt(hd), masked) v, with k and v over `repeat` fewer heads than q (grouped-query
   * attention: each kv head serves `repeat` consecutive query heads, as transformers' repeat_kv).
   */
  attention(
    q: string,
    k: string,
    v: string,
    allowed: string,
    hd: number,
    heads: number,
    kvHeads: number,
  ): string {
    const g = this.g;
    const repeat = heads / kvHeads;
    const expand = (t: string) => {
      if (repeat === 1) return t;
      const wide = g.op('Expand', [g.op('Unsqueeze', [t, g.ints([2])]), g.ints([1, 1, repeat, 1, 1])]);
      // [batch, kv, repeat, total, hd] -> [batch, kv * repeat, total, hd] (0 keeps the batch size).
      return g.op('Reshape', [wide, g.ints([0, kvHeads * repeat, -1, hd])]);
    };
    const keys = expand(k);
    const values = expand(v);
    const scores = g.op('Div', [
      g.op('MatMul', [q, g.op('Transpose', [keys], { perm: { ints: [0, 1, 3, 2] } })]),
      g.floats([Math.sqrt(hd)], []),
    ]);
    // Hidden keys get float32's lowest value, as transformers' masks: a row with every key hidden
    // (a padding query) softmaxes to uniform instead of NaN.
    const masked = g.op('Where', [allowed, scores, g.floats([-3.4028234663852886e38], [])]);
    return g.op('MatMul', [g.op('Softmax', [masked], { axis: { int: -1 } }), values]);
  }

  rmsNorm(x: string, w: string, eps: number): string {
    const g = this.g;
    const meanSquare = g.op('ReduceMean', [g.op('Mul', [x, x])], {
      axes: { ints: [-1] },
      keepdims: { int: 1 },
    });
    const scale = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [meanSquare, g.floats([eps], [])])])]);
    return g.op('Mul', [w, g.op('Mul', [x, scale])]);
  }

  /** x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1] for the halves x1, x2 of the head width. */
  rotate(x: string, rope: Rope, hd: number): string {
    const g = this.g;
    const [x1, x2] = g.opMany('Split', [x, g.ints([hd / 2, hd / 2])], 2, { axis: { int: -1 } });
    const rotated = g.op('Concat', [g.op('Neg', [x2]), x1], { axis: { int: -1 } });
    return g.op('Add', [g.op('Mul', [x, rope.cos]), g.op('Mul', [rotated, rope.sin])]);
  }

  /** transformers' activations.py by name. */
  activation(x: string, name: HfActivation): string {
    const g = this.g;
    const c = (v: number) => g.floats([v], []);
    switch (name) {
      case 'gelu_new': {
        // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
        const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
        const inner = g.op('Mul', [
          c(Math.sqrt(2 / Math.PI)),
          g.op('Add', [x, g.op('Mul', [c(0.044715), cube])]),
        ]);
        return g.op('Mul', [g.op('Mul', [c(0.5), x]), g.op('Add', [c(1), g.op('Tanh', [inner])])]);
      }
      case 'gelu': // 0.5 x (1 + erf(x / sqrt 2))
        return g.op('Mul', [
          g.op('Mul', [c(0.5), x]),
          g.op('Add', [c(1), g.op('Erf', [g.op('Div', [x, c(Math.SQRT2)])])]),
        ]);
      case 'quick_gelu': // x sigmoid(1.702 x)
        return g.op('Mul', [x, g.op('Sigmoid', [g.op('Mul', [c(1.702), x])])]);
      case 'silu':
        return g.op('Mul', [x, g.op('Sigmoid', [x])]);
      case 'relu':
        return g.op('Relu', [x]);
    }
  }
}
