/**
 * The two Hugging Face model shapes the benchmarks measure (random weights, nothing downloaded):
 * distilgpt2's and SmolLM2-135M's, as their config.json files give them.
 */
import { parseHfConfig } from '../src/nn/models/hfConfig.js';

/** distilgpt2's config.json, as far as the shape goes. */
export const DISTILGPT2_CONFIG = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 6,
  n_head: 12,
  eos_token_id: 50256,
};

export const DISTILGPT2 = parseHfConfig(DISTILGPT2_CONFIG, 'distilgpt2 shape');

/** SmolLM2-135M's config.json, as far as the shape goes. */
export const SMOLLM2_135M_CONFIG = {
  model_type: 'llama',
  vocab_size: 49152,
  max_position_embeddings: 8192,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  eos_token_id: 0,
};

export const SMOLLM2_135M = parseHfConfig(SMOLLM2_135M_CONFIG, 'SmolLM2-135M shape');
