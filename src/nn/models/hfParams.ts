import { hfDescription } from './families/index.js';
import type { HfDecoderConfig } from './hfConfig.js';
import type { DecoderParamSpec } from './paramSpec.js';

export { isClassifier } from './hfConfig.js';
export { transpose2d } from './paramSpec.js';

/**
 * The parameters of a Hugging Face decoder, by the names transformers gives them once the
 * `transformer.` (GPT-2) or `model.` (Llama, Qwen2) prefix is removed, and how grpovi stores each
 * one: the family files (families/) say which, from transformers' modeling files.
 */
export function hfParamSpecs(config: HfDecoderConfig): DecoderParamSpec[] {
  return hfDescription(config).layout.specs;
}

/** The key prefix of the body in transformers' files: `transformer.` (GPT-2) or `model.` (Llama). */
export function bodyPrefix(config: HfDecoderConfig): string {
  return config.family === 'gpt2' ? 'transformer.' : 'model.';
}
