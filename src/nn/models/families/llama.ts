import type { BlockNames, DecoderDescription } from '../architecture.js';
import {
  type HfConfigReader,
  type HfFamily,
  type HfFamilyConfig,
  type HfFamilyFields,
  isClassifier,
} from '../hfFamily.js';
import { describeJsonValue } from '../../weights/checkpointError.js';
import { type DecoderParamSpec, projectionSpec, tableSpec, vectorSpec } from '../paramSpec.js';

/**
 * Llama (`model_type` "llama", modeling_llama.py): RMSNorm, rotary positions, separate q/k/v
 * projections with grouped-query attention (kvHeads key/value heads), the gated SiLU MLP
 * down(act(gate(x)) * up(x)), biases as the config says (attention_bias, mlp_bias). Projections are
 * nn.Linear, [out, in] in the file: grpovi stores them transposed. Names as in the file under the
 * `model.` prefix; `lm_head.weight` when the embedding is not tied.
 */
function llamaBlockNames(l: number): BlockNames {
  const h = `layers.${l}`;
  return {
    attentionNorm: `${h}.input_layernorm`,
    query: `${h}.self_attn.q_proj`,
    key: `${h}.self_attn.k_proj`,
    value: `${h}.self_attn.v_proj`,
    attentionOut: `${h}.self_attn.o_proj`,
    mlpNorm: `${h}.post_attention_layernorm`,
    gate: `${h}.mlp.gate_proj`,
    up: `${h}.mlp.up_proj`,
    down: `${h}.mlp.down_proj`,
  };
}

/** The Llama layout and architecture; Qwen2 (qwen2.ts) is this with its own biases. */
export function llamaDescription(config: HfFamilyConfig): DecoderDescription {
  const { vocabSize: V, width: d, depth, innerWidth: f, heads, kvHeads, headWidth: hd } = config;
  const specs: DecoderParamSpec[] = [tableSpec('embed_tokens.weight', V, d)];
  const blocks: BlockNames[] = [];
  const projection = (name: string, inputs: number, outputs: number, bias: boolean, residual = false) => {
    specs.push(projectionSpec(`${name}.weight`, inputs, outputs, 'linear', residual));
    if (bias) specs.push(vectorSpec(`${name}.bias`, outputs, 'zeros'));
  };
  for (let l = 0; l < depth; l++) {
    const n = llamaBlockNames(l);
    blocks.push(n);
    specs.push(vectorSpec(`${n.attentionNorm}.weight`, d, 'ones'));
    projection(n.query as string, d, heads * hd, config.qkvBias);
    projection(n.key as string, d, kvHeads * hd, config.qkvBias);
    projection(n.value as string, d, kvHeads * hd, config.qkvBias);
    projection(n.attentionOut, heads * hd, d, config.outBias, true);
    specs.push(vectorSpec(`${n.mlpNorm}.weight`, d, 'ones'));
    projection(n.gate as string, d, f, config.mlpBias);
    projection(n.up, d, f, config.mlpBias);
    projection(n.down, f, d, config.mlpBias, true);
  }
  specs.push(vectorSpec('norm.weight', d, 'ones'));
  const untied = !config.tiedEmbeddings && !isClassifier(config);
  if (untied) specs.push(tableSpec('lm_head.weight', V, d));
  return {
    architecture: {
      vocabSize: V,
      contextLength: config.contextLength,
      width: d,
      depth,
      heads,
      kvHeads,
      headWidth: hd,
      innerWidth: f,
      positions: { kind: 'rope', theta: config.ropeTheta },
      norm: { kind: 'rms', eps: config.normEps },
      activation: config.activation,
      gatedMlp: true,
      fusedQkv: false,
      qkvBias: config.qkvBias,
      outBias: config.outBias,
      mlpBias: config.mlpBias,
      tiedEmbeddings: config.tiedEmbeddings,
    },
    layout: {
      tokenTable: 'embed_tokens.weight',
      blocks,
      finalNorm: 'norm',
      outputTable: untied ? 'lm_head.weight' : undefined,
      specs,
    },
  };
}

/** The biases of a Llama-family block, from `attention_bias` (and, for Llama, `mlp_bias`). */
export type LlamaBiases = (
  attentionBias: boolean,
  r: HfConfigReader,
) => Pick<HfFamilyFields, 'qkvBias' | 'outBias' | 'mlpBias'>;

/** Llama has both attention biases or neither (attention_bias), and MLP biases as mlp_bias says. */
const llamaBiases: LlamaBiases = (attentionBias, r) => ({
  qkvBias: attentionBias,
  outBias: attentionBias,
  mlpBias: r.flag('mlp_bias', false),
});

/**
 * config.json of the Llama family (hidden_size, num_attention_heads, num_key_value_heads, head_dim,
 * RoPE, ...), checked. A family built on it (Qwen2) adds its own checks before RoPE's and its biases.
 */
export function parseLlamaFields(
  r: HfConfigReader,
  variant: { checks?: (r: HfConfigReader) => void; biases?: LlamaBiases } = {},
): HfFamilyFields {
  const c = r.raw;
  const width = r.int('hidden_size');
  const heads = r.int('num_attention_heads');
  const kvHeads = r.int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0)
    r.fail(`"num_key_value_heads" ${kvHeads} must divide "num_attention_heads" ${heads}`);
  if (c.head_dim === undefined && width % heads !== 0)
    r.fail(`"num_attention_heads" ${heads} must divide "hidden_size" ${width} (or set "head_dim")`);
  const headWidth = r.int('head_dim', width / heads);
  if (headWidth % 2 !== 0) r.fail(`the head width must be even for RoPE (${headWidth})`);
  variant.checks?.(r);
  const ropeTheta = readRope(r);
  const attentionBias = r.flag('attention_bias', false);
  const vocabSize = r.int('vocab_size');
  const contextLength = r.int('max_position_embeddings');
  const depth = r.int('num_hidden_layers');
  const innerWidth = r.int('intermediate_size');
  const normEps = r.positive('rms_norm_eps', 1e-6);
  const activation = r.activation('hidden_act', 'silu');
  const biases = (variant.biases ?? llamaBiases)(attentionBias, r);
  return {
    family: 'llama',
    vocabSize,
    contextLength,
    width,
    depth,
    heads,
    kvHeads,
    headWidth,
    innerWidth,
    normEps,
    activation,
    ropeTheta,
    qkvBias: biases.qkvBias,
    outBias: biases.outBias,
    mlpBias: biases.mlpBias,
    tiedEmbeddings: r.flag('tie_word_embeddings', false),
  };
}

/**
 * The RoPE base. Only plain RoPE is implemented: a `rope_scaling` (transformers 4) or a
 * `rope_parameters.rope_type` (transformers 5) other than "default" is refused by name.
 */
function readRope(r: HfConfigReader): number {
  const c = r.raw;
  const params = c.rope_parameters;
  let theta = c.rope_theta;
  for (const [field, value] of [
    ['rope_scaling', c.rope_scaling],
    ['rope_parameters', params],
  ] as const) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'object') r.fail(`"${field}" must be an object (${describeJsonValue(value)})`);
    const v = value as Record<string, unknown>;
    const kind = v.rope_type ?? v.type ?? 'default';
    if (kind !== 'default')
      r.fail(`"${field}" of type ${describeJsonValue(kind)} is not supported (only plain RoPE, "default")`);
    if (field === 'rope_parameters' && v.rope_theta !== undefined) theta = v.rope_theta;
  }
  theta ??= 10000;
  if (typeof theta !== 'number' || !(theta > 0))
    r.fail(`"rope_theta" must be a positive number (${describeJsonValue(theta)})`);
  return theta as number;
}

export const llamaFamily: HfFamily = {
  architectures: { causal: 'LlamaForCausalLM', classifier: 'LlamaForSequenceClassification' },
  parse: (r) => parseLlamaFields(r),
  describe: llamaDescription,
};
