import { Rng } from '../../util/rng.js';
import type { NamedTensor } from '../weights/safetensors.js';
import { Decoder, initialTensors, loadParams } from './decoder.js';
import { type GptConfig, grpoviGptDescription, validateGptConfig } from './families/grpoviGpt.js';
import type * as tf from '@tensorflow/tfjs';

/**
 * grpovi's own GPT (families/grpoviGpt.ts): the decoder with learned positions, LayerNorm, the quick
 * GELU and the output tied to the token embedding, built from a `GptConfig`, with the parameter
 * names of grpovi's model folders and checkpoints.
 */
export class Gpt extends Decoder<GptConfig> {
  private constructor(config: GptConfig, params: Map<string, tf.Tensor>) {
    super(config, grpoviGptDescription(config), params);
  }

  /** A freshly initialized model; the same seed gives the same weights on every backend. */
  static init(config: GptConfig, seed: number, options: { trainable?: boolean } = {}): Gpt {
    validateGptConfig(config);
    const specs = grpoviGptDescription(config).layout.specs;
    const values = initialTensors(specs, config.depth, Rng.derive(seed, 'gpt-init'));
    return Gpt.fromTensors(config, values, { trainable: options.trainable ?? true, source: 'init' });
  }

  /** A model from named tensors (e.g. a checkpoint), checking every name and shape. */
  static fromTensors(
    config: GptConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source?: string; prefix?: string } = {},
  ): Gpt {
    const source = options.source ?? 'tensors';
    validateGptConfig(config, source);
    const params = loadParams(grpoviGptDescription(config).layout.specs, tensors, {
      trainable: options.trainable,
      source,
      prefix: options.prefix,
    });
    return new Gpt({ ...config }, params);
  }

  copy(options: { trainable?: boolean } = {}): Gpt {
    return Gpt.fromTensors(this.config, this.toTensors(), {
      trainable: options.trainable ?? false,
      source: 'copy',
    });
  }
}
