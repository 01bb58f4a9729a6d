import type { DecoderDescription } from '../architecture.js';
import type { HfConfigReader, HfFamily, HfFamilyConfig, HfFamilyFields } from '../hfFamily.js';
import { llamaDescription, parseLlamaFields } from './llama.js';

/**
 * Qwen2 (`model_type` "qwen2", modeling_qwen2.py): Llama's block and names with biases on q, k and v
 * and none on the output or MLP projections, whatever the config says (parseQwen2Fields sets them
 * so; `attention_bias` is still checked, `mlp_bias` not read). No sliding-window attention.
 */
export function qwen2Description(config: HfFamilyConfig): DecoderDescription {
  return llamaDescription({ ...config, qkvBias: true, outBias: false, mlpBias: false });
}

export function parseQwen2Fields(r: HfConfigReader): HfFamilyFields {
  return parseLlamaFields(r, {
    checks: () => {
      if (r.raw.use_sliding_window === true) r.fail('"use_sliding_window" true is not supported');
    },
    biases: () => ({ qkvBias: true, outBias: false, mlpBias: false }),
  });
}

export const qwen2Family: HfFamily = {
  architectures: { causal: 'Qwen2ForCausalLM', classifier: 'Qwen2ForSequenceClassification' },
  parse: parseQwen2Fields,
  describe: qwen2Description,
};
