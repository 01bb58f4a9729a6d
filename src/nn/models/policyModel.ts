import type * as tf from '@tensorflow/tfjs';
import type { KvCache } from './kvCache.js';
import type { ParamSpec } from './paramSpec.js';
import type { TrainableParam } from '../training/optimizer.js';
import type { NamedTensor } from '../weights/safetensors.js';
import type { SequenceInput } from './sequenceBatch.js';
import type { LoraAdapter } from '../adapters/lora.js';

/** The sizes every caller of a policy reads (grpovi's GptConfig and HfDecoderConfig both have them). */
export interface PolicyShape {
  vocabSize: number;
  contextLength: number;
  /** Width of the final hidden states that `logits` maps to the vocabulary. */
  width: number;
}

/**
 * What the trainer, the sampler, log-prob scoring and checkpoints need from a language model:
 * the one `Decoder` (decoder.ts) implements it for every family (grpovi's GPT, gpt2, llama, qwen2).
 */
export interface PolicyModel {
  readonly config: PolicyShape;
  readonly specs: readonly ParamSpec[];
  /** Final hidden states [batch * length, width] (row-major) and the extended KV cache. */
  forward(input: SequenceInput, past?: KvCache): { hidden: tf.Tensor2D; present: KvCache };
  /** The output projection [width, vocab]; callers with fixed weights compute it once. */
  outputProjection(): tf.Tensor2D;
  logits(hidden: tf.Tensor2D, projection?: tf.Tensor2D): tf.Tensor2D;
  variables(): TrainableParam[];
  /** Overwrites the weights with those of a model of the same family and config. */
  assign(from: PolicyModel): void;
  /** An independent copy (frozen unless asked otherwise), e.g. the reference policy. */
  copy(options?: { trainable?: boolean }): PolicyModel;
  /** Weights by parameter name, as float32 arrays. */
  toTensors(): Record<string, NamedTensor>;
  dispose(): void;
  /**
   * LoRA: puts `adapter` on the projections it targets (undefined takes it off). While attached,
   * `variables()` are the adapter's (the base is frozen); the model does not own or dispose it.
   */
  attachAdapter?(adapter: LoraAdapter | undefined): void;
}
