import { CheckpointError, describeJsonValue } from '../weights/checkpointError.js';
import { HF_FAMILIES, type HfModelType, isHfModelType } from './families/index.js';
import type { HfActivation, HfConfigReader, HfFamilyConfig } from './hfFamily.js';

/**
 * The Hugging Face `config.json` of a decoder-only language model, read into one description. This
 * file is the dispatch on `model_type` and the checks every family shares (the object, the model
 * type, `architectures`, the labels of a classifier, the token ids); each family reads its own
 * fields in its file under `families/` (GPT-2: LayerNorm, learned positions, fused qkv, GELU MLP;
 * Llama, and Qwen2 which adds q/k/v biases: RMSNorm, RoPE, separate q/k/v with grouped-query
 * attention, gated SiLU MLP). Pure: no tensors, no file system.
 */
export type { HfActivation } from './hfFamily.js';
export { isClassifier } from './hfFamily.js';
export type { HfModelType } from './families/index.js';

export interface HfDecoderConfig extends HfFamilyConfig {
  modelType: HfModelType;
}

/** Architectures by model type: causal LM heads and sequence-classification (reward model) heads. */
export const HF_ARCHITECTURES = Object.fromEntries(
  Object.entries(HF_FAMILIES).map(([type, family]) => [type, family.architectures]),
) as Record<HfModelType, { causal: string; classifier: string }>;

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

/** The field readers of one config object; every problem is a CheckpointError naming `source`. */
function configReader(c: Record<string, unknown>, source: string): HfConfigReader {
  const fail = (problem: string): never => {
    throw new CheckpointError(source, problem);
  };
  return {
    raw: c,
    fail,
    int(field, fallback) {
      const value = c[field] ?? fallback;
      if (!Number.isInteger(value) || (value as number) < 1)
        fail(`"${field}" must be a positive integer (${describeJsonValue(c[field])})`);
      return value as number;
    },
    positive(field, fallback) {
      const value = c[field] ?? fallback;
      if (typeof value !== 'number' || !(value > 0))
        fail(`"${field}" must be a positive number (${describeJsonValue(c[field])})`);
      return value as number;
    },
    flag(field, fallback) {
      const value = c[field] ?? fallback;
      if (typeof value !== 'boolean')
        fail(`"${field}" must be true or false (${describeJsonValue(c[field])})`);
      return value as boolean;
    },
    activation(field, fallback) {
      const raw = c[field] ?? fallback;
      const name = typeof raw === 'string' ? (ACTIVATION_ALIASES[raw] ?? raw) : raw;
      if (!ACTIVATIONS.includes(name as HfActivation))
        fail(`"${field}" ${describeJsonValue(raw)} is not supported (supported: ${ACTIVATIONS.join(', ')})`);
      return name as HfActivation;
    },
  };
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
  if (!isHfModelType(modelType)) {
    return fail(
      `"model_type" ${describeJsonValue(modelType)} is not supported (supported: ${Object.keys(HF_FAMILIES).join(', ')})`,
    );
  }
  const family = HF_FAMILIES[modelType];
  const known = family.architectures;
  const architectures = c.architectures;
  const architecture =
    Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : known.causal;
  if (architecture !== known.causal && architecture !== known.classifier) {
    fail(
      `"architectures" ${describeJsonValue(architectures)} is not supported for model_type ${modelType} (supported: ${known.causal}, ${known.classifier})`,
    );
  }
  const numLabels = architecture === known.classifier ? labelCount(c, fail) : 1;
  const { family: layout, ...fields } = family.parse(configReader(c, source));
  const tokenId = (field: string): number | undefined => {
    let value = c[field];
    if (Array.isArray(value)) value = value[0];
    if (value === undefined || value === null) return undefined;
    if (!Number.isInteger(value) || (value as number) < 0)
      fail(`"${field}" must be a token id (${describeJsonValue(c[field])})`);
    return value as number;
  };
  return {
    modelType,
    family: layout,
    architecture,
    ...fields,
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
