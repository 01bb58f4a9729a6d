import { CheckpointError, describeJsonValue } from '../weights/checkpointError.js';
import type { Activation, DecoderShape } from './architecture.js';

/**
 * The Hugging Face `config.json` of a decoder-only language model, read into one description that
 * covers GPT-2 (`model_type` "gpt2": LayerNorm, learned positions, fused qkv, GELU MLP) and the
 * Llama family ("llama", and "qwen2" which adds q/k/v biases: RMSNorm, RoPE, separate q/k/v with
 * grouped-query attention, gated SiLU MLP). Pure: no tensors, no file system.
 */
export type HfModelType = 'gpt2' | 'llama' | 'qwen2';
export type HfActivation = Activation;

export interface HfDecoderConfig extends DecoderShape {
  modelType: HfModelType;
  /** Which block layout the weights follow. */
  family: 'gpt2' | 'llama';
  /** `architectures[0]` as written, e.g. "GPT2LMHeadModel" or "LlamaForSequenceClassification". */
  architecture: string;
  normEps: number;
  activation: HfActivation;
  /** RoPE base (Llama family only). */
  ropeTheta: number;
  /** Biases on q, k and v (GPT-2: always; Llama: attention_bias; Qwen2: always). */
  qkvBias: boolean;
  /** Bias on the attention output projection (GPT-2: always; Llama: attention_bias; Qwen2: never). */
  outBias: boolean;
  /** Biases in the MLP (GPT-2: always; Llama: mlp_bias). */
  mlpBias: boolean;
  /** The output projection is the token embedding (no separate lm_head tensor). */
  tiedEmbeddings: boolean;
  bosId?: number;
  /** The first EOS id when the config lists several (Llama 3 style). */
  eosId?: number;
  padId?: number;
  /** Labels of a ForSequenceClassification head. */
  numLabels: number;
}

/** Architectures by model type: causal LM heads and sequence-classification (reward model) heads. */
export const HF_ARCHITECTURES: Record<HfModelType, { causal: string; classifier: string }> = {
  gpt2: { causal: 'GPT2LMHeadModel', classifier: 'GPT2ForSequenceClassification' },
  llama: { causal: 'LlamaForCausalLM', classifier: 'LlamaForSequenceClassification' },
  qwen2: { causal: 'Qwen2ForCausalLM', classifier: 'Qwen2ForSequenceClassification' },
};

const ACTIVATIONS: readonly HfActivation[] = ['gelu_new', 'gelu', 'quick_gelu', 'silu', 'relu'];
/** Names transformers uses for the same functions. */
const ACTIVATION_ALIASES: Record<string, HfActivation> = {
  gelu_pytorch_tanh: 'gelu_new',
  gelu_fast: 'gelu_new',
  swish: 'silu',
};

/** Whether a parsed JSON object looks like a Hugging Face model config (has `model_type`). */
export function isHfConfig(json: unknown): boolean {
  return (
    typeof json === 'object' &&
    json !== null &&
    typeof (json as { model_type?: unknown }).model_type === 'string'
  );
}

/** Reads and checks a config.json object; every problem is a CheckpointError naming `source` and the field. */
export function parseHfConfig(json: unknown, source: string): HfDecoderConfig {
  const fail = (problem: string): never => {
    throw new CheckpointError(source, problem);
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    fail(`must hold a JSON object (${describeJsonValue(json)})`);
  }
  const c = json as Record<string, unknown>;
  const modelType = c.model_type;
  if (modelType !== 'gpt2' && modelType !== 'llama' && modelType !== 'qwen2') {
    fail(`"model_type" ${describeJsonValue(modelType)} is not supported (supported: gpt2, llama, qwen2)`);
  }
  const type = modelType as HfModelType;
  const int = (field: string, fallback?: number): number => {
    const value = c[field] ?? fallback;
    if (!Number.isInteger(value) || (value as number) < 1)
      fail(`"${field}" must be a positive integer (${describeJsonValue(c[field])})`);
    return value as number;
  };
  const positive = (field: string, fallback: number): number => {
    const value = c[field] ?? fallback;
    if (typeof value !== 'number' || !(value > 0))
      fail(`"${field}" must be a positive number (${describeJsonValue(c[field])})`);
    return value as number;
  };
  const flag = (field: string, fallback: boolean): boolean => {
    const value = c[field] ?? fallback;
    if (typeof value !== 'boolean') fail(`"${field}" must be true or false (${describeJsonValue(c[field])})`);
    return value as boolean;
  };
  const tokenId = (field: string): number | undefined => {
    let value = c[field];
    if (Array.isArray(value)) value = value[0];
    if (value === undefined || value === null) return undefined;
    if (!Number.isInteger(value) || (value as number) < 0)
      fail(`"${field}" must be a token id (${describeJsonValue(c[field])})`);
    return value as number;
  };
  const activation = (field: string, fallback: string): HfActivation => {
    const raw = c[field] ?? fallback;
    const name = typeof raw === 'string' ? (ACTIVATION_ALIASES[raw] ?? raw) : raw;
    if (!ACTIVATIONS.includes(name as HfActivation))
      fail(`"${field}" ${describeJsonValue(raw)} is not supported (supported: ${ACTIVATIONS.join(', ')})`);
    return name as HfActivation;
  };
  const architectures = c.architectures;
  const architecture =
    Array.isArray(architectures) && typeof architectures[0] === 'string'
      ? architectures[0]
      : HF_ARCHITECTURES[type].causal;
  const known = HF_ARCHITECTURES[type];
  if (architecture !== known.causal && architecture !== known.classifier) {
    fail(
      `"architectures" ${describeJsonValue(architectures)} is not supported for model_type ${type} (supported: ${known.causal}, ${known.classifier})`,
    );
  }
  const numLabels = architecture === known.classifier ? labelCount(c, fail) : 1;

  if (type === 'gpt2') {
    // GPT-2 options that change the computation and that this implementation does not have.
    if (c.scale_attn_by_inverse_layer_idx === true)
      fail('"scale_attn_by_inverse_layer_idx" true is not supported');
    if (c.scale_attn_weights === false) fail('"scale_attn_weights" false is not supported');
    if (c.add_cross_attention === true) fail('"add_cross_attention" true is not supported');
    const width = int('n_embd');
    const heads = int('n_head');
    if (width % heads !== 0) fail(`"n_head" ${heads} must divide "n_embd" ${width}`);
    return {
      modelType: type,
      family: 'gpt2',
      architecture,
      vocabSize: int('vocab_size'),
      contextLength: int('n_positions'),
      width,
      depth: int('n_layer'),
      heads,
      kvHeads: heads,
      headWidth: width / heads,
      innerWidth: int('n_inner', 4 * width),
      normEps: positive('layer_norm_epsilon', 1e-5),
      activation: activation('activation_function', 'gelu_new'),
      ropeTheta: 0,
      qkvBias: true,
      outBias: true,
      mlpBias: true,
      tiedEmbeddings: flag('tie_word_embeddings', true),
      bosId: tokenId('bos_token_id'),
      eosId: tokenId('eos_token_id'),
      padId: tokenId('pad_token_id'),
      numLabels,
    };
  }

  const width = int('hidden_size');
  const heads = int('num_attention_heads');
  const kvHeads = int('num_key_value_heads', heads);
  if (heads % kvHeads !== 0)
    fail(`"num_key_value_heads" ${kvHeads} must divide "num_attention_heads" ${heads}`);
  if (c.head_dim === undefined && width % heads !== 0)
    fail(`"num_attention_heads" ${heads} must divide "hidden_size" ${width} (or set "head_dim")`);
  const headWidth = int('head_dim', width / heads);
  if (headWidth % 2 !== 0) fail(`the head width must be even for RoPE (${headWidth})`);
  if (type === 'qwen2' && c.use_sliding_window === true) fail('"use_sliding_window" true is not supported');
  const ropeTheta = readRope(c, fail);
  const attentionBias = flag('attention_bias', false);
  return {
    modelType: type,
    family: 'llama',
    architecture,
    vocabSize: int('vocab_size'),
    contextLength: int('max_position_embeddings'),
    width,
    depth: int('num_hidden_layers'),
    heads,
    kvHeads,
    headWidth,
    innerWidth: int('intermediate_size'),
    normEps: positive('rms_norm_eps', 1e-6),
    activation: activation('hidden_act', 'silu'),
    ropeTheta,
    // Qwen2 always has q/k/v biases and never an output bias; Llama has both or neither.
    qkvBias: type === 'qwen2' ? true : attentionBias,
    outBias: type === 'qwen2' ? false : attentionBias,
    mlpBias: type === 'qwen2' ? false : flag('mlp_bias', false),
    tiedEmbeddings: flag('tie_word_embeddings', false),
    bosId: tokenId('bos_token_id'),
    eosId: tokenId('eos_token_id'),
    padId: tokenId('pad_token_id'),
    numLabels,
  };
}

function labelCount(c: Record<string, unknown>, fail: (problem: string) => never): number {
  if (Number.isInteger(c.num_labels)) return c.num_labels as number;
  const labels = c.id2label;
  if (typeof labels === 'object' && labels !== null) return Object.keys(labels).length;
  // transformers' default when neither is given.
  if (labels === undefined) return 2;
  return fail(`"id2label" must be an object (${describeJsonValue(labels)})`);
}

/**
 * The RoPE base. Only plain RoPE is implemented: a `rope_scaling` (transformers 4) or a
 * `rope_parameters.rope_type` (transformers 5) other than "default" is refused by name.
 */
function readRope(c: Record<string, unknown>, fail: (problem: string) => never): number {
  const params = c.rope_parameters;
  let theta = c.rope_theta;
  for (const [field, value] of [
    ['rope_scaling', c.rope_scaling],
    ['rope_parameters', params],
  ] as const) {
    if (value === undefined || value === null) continue;
    if (typeof value !== 'object') fail(`"${field}" must be an object (${describeJsonValue(value)})`);
    const v = value as Record<string, unknown>;
    const kind = v.rope_type ?? v.type ?? 'default';
    if (kind !== 'default')
      fail(`"${field}" of type ${describeJsonValue(kind)} is not supported (only plain RoPE, "default")`);
    if (field === 'rope_parameters' && v.rope_theta !== undefined) theta = v.rope_theta;
  }
  theta ??= 10000;
  if (typeof theta !== 'number' || !(theta > 0))
    fail(`"rope_theta" must be a positive number (${describeJsonValue(theta)})`);
  return theta as number;
}

/** Whether the config describes a sequence-classification (reward) model rather than a causal LM. */
export function isClassifier(config: HfDecoderConfig): boolean {
  return config.architecture.endsWith('ForSequenceClassification');
}
