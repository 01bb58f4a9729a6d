import { describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';

const LLAMA = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
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
  bos_token_id: 0,
  eos_token_id: 0,
};
const GPT2 = {
  model_type: 'gpt2',
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 6,
  n_head: 12,
};

describe('config.json', () => {
  it('reads SmolLM2-135M-like and distilgpt2-like configs with the defaults transformers applies', () => {
    const llama = parseHfConfig(LLAMA, 'c');
    expect(llama).toMatchObject({ family: 'llama', heads: 9, kvHeads: 3, headWidth: 64, ropeTheta: 100000 });
    expect(llama).toMatchObject({ activation: 'silu', qkvBias: false, tiedEmbeddings: true, eosId: 0 });
    const gpt2 = parseHfConfig(GPT2, 'c');
    expect(gpt2).toMatchObject({ family: 'gpt2', innerWidth: 3072, activation: 'gelu_new', normEps: 1e-5 });
    expect(gpt2).toMatchObject({ architecture: 'GPT2LMHeadModel', tiedEmbeddings: true });
    expect(
      parseHfConfig({ ...LLAMA, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'] }, 'c'),
    ).toMatchObject({ qkvBias: true, outBias: false });
    expect(parseHfConfig({ ...LLAMA, eos_token_id: [128001, 128009] }, 'c').eosId).toBe(128001);
  });

  it.each([
    [{ ...GPT2, model_type: 'mistral' }, /"model_type" "mistral" is not supported/],
    [
      { ...LLAMA, rope_scaling: { rope_type: 'llama3', factor: 8 } },
      /"rope_scaling" of type "llama3" is not supported/,
    ],
    [{ ...LLAMA, rope_parameters: { rope_type: 'yarn' } }, /"rope_parameters" of type "yarn"/],
    [{ ...LLAMA, num_key_value_heads: 4 }, /"num_key_value_heads" 4 must divide "num_attention_heads" 9/],
    [{ ...LLAMA, hidden_act: 'gelu_10' }, /"hidden_act" "gelu_10" is not supported/],
    [{ ...GPT2, n_embd: 'big' }, /"n_embd" must be a positive integer \("big"\)/],
    [
      { ...GPT2, architectures: ['GPT2DoubleHeadsModel'] },
      /"architectures" \["GPT2DoubleHeadsModel"\] is not supported/,
    ],
    [{ ...GPT2, scale_attn_by_inverse_layer_idx: true }, /scale_attn_by_inverse_layer_idx/],
  ])('refuses %j in one line naming the field', (config, message) => {
    expect(() => parseHfConfig(config, 'dir/config.json')).toThrow(message);
    try {
      parseHfConfig(config, 'dir/config.json');
    } catch (error) {
      expect((error as Error).message).toMatch(/^dir\/config\.json/);
      expect((error as Error).message).not.toContain('\n');
    }
  });
});
