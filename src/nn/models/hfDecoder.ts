import type * as tf from '@tensorflow/tfjs';
import { Rng } from '../../util/rng.js';
import type { NamedTensor } from '../weights/safetensors.js';
import { Decoder, initialTensors, loadParams } from './decoder.js';
import { hfDescription } from './families/index.js';
import type { HfDecoderConfig } from './hfConfig.js';
import type { PolicyModel } from './policyModel.js';

/** What a Hugging Face folder holds besides the weights. */
export interface HfOrigin {
  rawConfig: Record<string, unknown>;
  sideFiles: Record<string, string>;
}

/**
 * A Hugging Face GPT-2, Llama or Qwen2 model (see `HfDecoderConfig`): the decoder with the family's
 * architecture and layout (families/). Parameters carry transformers' names without the body
 * prefix; grpovi stores nn.Linear weights transposed ([in, out]), see the family files.
 */
export class HfDecoder extends Decoder<HfDecoderConfig> {
  /** The folder's config.json and tokenizer files, written back by checkpoints and export. */
  origin?: HfOrigin;

  private constructor(config: HfDecoderConfig, params: Map<string, tf.Tensor>) {
    super(config, hfDescription(config), params);
  }

  /** Seeded random weights of a config's shapes (benchmarks, tests). */
  static init(config: HfDecoderConfig, seed: number, options: { trainable?: boolean } = {}): HfDecoder {
    const values = initialTensors(
      hfDescription(config).layout.specs,
      config.depth,
      Rng.derive(seed, 'hf-init'),
    );
    return HfDecoder.fromTensors(config, values, { trainable: options.trainable ?? true, source: 'init' });
  }

  /**
   * From tensors named and laid out as in a transformers file (body prefix already removed):
   * transposes the nn.Linear weights into grpovi's [in, out] layout.
   */
  static fromHfTensors(
    config: HfDecoderConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source: string },
  ): HfDecoder {
    const params = loadParams(hfDescription(config).layout.specs, tensors, {
      ...options,
      fileLayout: true,
      shapesFrom: 'config.json',
    });
    return new HfDecoder({ ...config }, params);
  }

  /** From tensors in grpovi's layout (`toTensors` of another HfDecoder). */
  static fromTensors(
    config: HfDecoderConfig,
    tensors: Record<string, NamedTensor>,
    options: { trainable?: boolean; source?: string } = {},
  ): HfDecoder {
    const params = loadParams(hfDescription(config).layout.specs, tensors, {
      trainable: options.trainable,
      source: options.source ?? 'tensors',
      shapesFrom: 'config.json',
    });
    return new HfDecoder({ ...config }, params);
  }

  /** Weights named and laid out as transformers stores them (without the body prefix). */
  toHfTensors(): Record<string, NamedTensor> {
    return this.toFileTensors();
  }

  copy(options: { trainable?: boolean } = {}): HfDecoder {
    const copy = HfDecoder.fromTensors(this.config, this.toTensors(), {
      trainable: options.trainable ?? false,
      source: 'copy',
    });
    copy.origin = this.origin;
    return copy;
  }

  override assign(from: PolicyModel): void {
    if (!(from instanceof HfDecoder))
      throw new TypeError('a Hugging Face model can only take the weights of another');
    super.assign(from);
  }
}
