import { describe, expect, it } from 'vitest';
import {
  adapterParameterCount,
  adaptableProjections,
  selectTargets,
} from '../../src/nn/adapters/loraTargets.js';
import { countParams } from '../../src/nn/models/gptConfig.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { hfParamSpecs } from '../../src/nn/models/hfParams.js';
import { parseTrainConfig } from '../../src/train/config.js';
import { plannedAdapterParameters } from '../../src/train/loraRun.js';
import { estimateMemory, type ModelShape, type TrainingSize } from '../../src/train/limits.js';
import { checkTrainingFits } from '../../src/train/trainingFits.js';

/** SmolLM2's shapes as their config.json files give them (tied embeddings). */
function smolLm2(hidden: number, layers: number, heads: number, kvHeads: number, intermediate: number) {
  const config = parseHfConfig(
    {
      model_type: 'llama',
      architectures: ['LlamaForCausalLM'],
      vocab_size: 49152,
      max_position_embeddings: 8192,
      hidden_size: hidden,
      num_hidden_layers: layers,
      num_attention_heads: heads,
      num_key_value_heads: kvHeads,
      intermediate_size: intermediate,
      tie_word_embeddings: true,
      rope_theta: 100000,
    },
    'SmolLM2 config',
  );
  const specs = hfParamSpecs(config);
  const shape: ModelShape = {
    vocabSize: config.vocabSize,
    contextLength: config.contextLength,
    width: config.width,
    depth: config.depth,
    heads: config.heads,
    parameters: countParams(specs),
  };
  return { specs, shape };
}

// The batch: 2 prompts x 4 completions, 16 prompt + 16 new tokens, a KL term (so a full
// update keeps a reference copy), updated in minibatches of 2 with the gradients accumulated.
const SIZE: TrainingSize = {
  prompts_per_step: 2,
  num_generations: 4,
  max_completion_length: 16,
  minibatch_size: 2,
  gradient_accumulation_steps: 4,
  eval_prompts: 8,
  beta: 0.04,
  backend: 'wasm',
};
const MACHINE = 128 * 1024 ** 3;

describe('memory estimate with LoRA adapters', () => {
  const { specs, shape } = smolLm2(960, 32, 15, 5, 2560);
  const P = shape.parameters as number;

  it('counts adapter parameters as r (in + out) per targeted projection', () => {
    expect(P).toBe(361_821_120);
    const projections = adaptableProjections('llama', specs);
    // q_proj 960 -> 960 and v_proj 960 -> 320 in each of 32 layers, rank 8.
    expect(adapterParameterCount(selectTargets('llama', projections, undefined), 8)).toBe(
      32 * 8 * (1920 + 1280),
    );
    // What the trainer counts before allocating, from the config.
    const config = (values: Record<string, unknown>) => parseTrainConfig({ task: 'toy', ...values });
    expect(plannedAdapterParameters('llama', specs, config({ lora_r: 16 }))).toBe(1_638_400);
    expect(
      plannedAdapterParameters('llama', specs, config({ lora_r: 2, lora_target_modules: ['down_proj'] })),
    ).toBe(32 * 2 * (2560 + 960));
    expect(plannedAdapterParameters('llama', specs, config({}))).toBeUndefined();
    expect(
      plannedAdapterParameters('llama', specs, config({ lora_r: 2, lora_target_modules: ['c_fc'] })),
    ).toBeUndefined();
  });

  it('a LoRA update of SmolLM2-360M is estimated to fit the wasm heap; a full one is estimated as before and does not', () => {
    const adapters = adapterParameterCount(
      selectTargets('llama', adaptableProjections('llama', specs), undefined),
      16,
    );
    const lora = estimateMemory(shape, { ...SIZE, adapterParameters: adapters }, 16);
    const full = estimateMemory(shape, SIZE, 16);
    // Full: the policy and its reference copy, every gradient (twice, accumulated) plus the tied
    // table's two parts, AdamW moments for every weight (in JS memory above 16M parameters).
    const table = 4 * 49152 * 960;
    expect(full.weights).toBe(2 * 4 * P);
    expect(full.gradients).toBe(2 * 4 * P + 2 * table);
    expect(full.optimizerMoments).toBe(2 * 4 * P);
    expect(estimateMemory(shape, { ...SIZE, adapterParameters: 0 }, 16)).toEqual(full);
    // LoRA: the frozen base once (it is the reference), gradients and moments of the adapters only.
    expect(lora.weights).toBe(4 * P + 4 * adapters);
    expect(lora.gradients).toBe(2 * 4 * adapters);
    expect(lora.optimizerMoments).toBe(2 * 4 * adapters);
    expect(lora.tensorBytes).toBeLessThan(full.tensorBytes - 4 * P);
    checkTrainingFits(shape, { ...SIZE, adapterParameters: adapters }, 16, { machineBytes: MACHINE });
    expect(() => checkTrainingFits(shape, SIZE, 16, { machineBytes: MACHINE })).toThrow(
      /needs about .* GiB of memory, more than the 4\.0 GiB the wasm backend can use here \(361821120 parameters;/,
    );
  });

  it('a full update of SmolLM2-135M is estimated to fit', () => {
    const small = smolLm2(576, 30, 9, 3, 1536);
    expect(small.shape.parameters).toBe(134_515_008);
    checkTrainingFits(small.shape, SIZE, 16, { machineBytes: MACHINE });
  });
});
