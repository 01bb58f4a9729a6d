import type { DecoderDescription } from '../architecture.js';
import type { HfDecoderConfig } from '../hfConfig.js';
import { llamaDescription } from './llama.js';

/**
 * Qwen2 (`model_type` "qwen2", modeling_qwen2.py): Llama's block and names with biases on q, k and v
 * and none on the output or MLP projections, whatever the config says (parseHfConfig sets them so).
 */
export function qwen2Description(config: HfDecoderConfig): DecoderDescription {
  return llamaDescription({ ...config, qkvBias: true, outBias: false, mlpBias: false });
}
