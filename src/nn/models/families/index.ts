import type { DecoderDescription } from '../architecture.js';
import type { HfFamily, HfFamilyConfig } from '../hfFamily.js';
import { gpt2Family } from './gpt2.js';
import { llamaFamily } from './llama.js';
import { qwen2Family } from './qwen2.js';

/**
 * The Hugging Face families by `model_type`: a new family is one file (its config.json fields,
 * architectures and weight layout, an HfFamily) and one line here.
 */
export const HF_FAMILIES = {
  gpt2: gpt2Family,
  llama: llamaFamily,
  qwen2: qwen2Family,
} satisfies Record<string, HfFamily>;

/** The `model_type` values grpovi reads. */
export type HfModelType = keyof typeof HF_FAMILIES;

/** Whether `value` is a `model_type` grpovi reads. */
export function isHfModelType(value: unknown): value is HfModelType {
  return typeof value === 'string' && Object.hasOwn(HF_FAMILIES, value);
}

/** The family of a model type. */
export function hfFamily(modelType: HfModelType): HfFamily {
  return HF_FAMILIES[modelType];
}

/** The architecture and parameter layout of a Hugging Face config. */
export function hfDescription(config: HfFamilyConfig): DecoderDescription {
  if (!isHfModelType(config.modelType)) throw new RangeError(`unknown model_type ${config.modelType}`);
  return HF_FAMILIES[config.modelType].describe(config);
}
