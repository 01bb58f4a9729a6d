import type { DecoderDescription } from '../architecture.js';
import type { HfDecoderConfig, HfModelType } from '../hfConfig.js';
import { gpt2Description } from './gpt2.js';
import { llamaDescription } from './llama.js';
import { qwen2Description } from './qwen2.js';

/** The Hugging Face families by `model_type`: a new family is one file and one line here. */
const HF_FAMILIES: Record<HfModelType, (config: HfDecoderConfig) => DecoderDescription> = {
  gpt2: gpt2Description,
  llama: llamaDescription,
  qwen2: qwen2Description,
};

/** The architecture and parameter layout of a Hugging Face config. */
export function hfDescription(config: HfDecoderConfig): DecoderDescription {
  return HF_FAMILIES[config.modelType](config);
}
