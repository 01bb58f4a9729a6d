import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countParams, gptParamSpecs } from '../../src/nn/models/gptConfig.js';
import { ConfigError, parseTrainConfig } from '../../src/train/config.js';
import { estimateMemory, estimateTrainingBytes, LIMITS, parameterCount } from '../../src/train/limits.js';
import { checkTrainingFits, memoryBudget } from '../../src/train/trainingFits.js';

const TOY = { vocabSize: 30, contextLength: 16, width: 32, depth: 2, heads: 2 };
const SIZE = {
  prompts_per_step: 4,
  num_generations: 4,
  max_completion_length: 8,
  eval_prompts: 16,
  backend: 'wasm',
};

describe('resource limits', () => {
  it('counts parameters as the model builds them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 2, max: 64 }),
        (vocabSize, width, depth, contextLength) => {
          const shape = { vocabSize, width, depth, contextLength, heads: 1 };
          expect(parameterCount(shape)).toBe(countParams(gptParamSpecs(shape)));
        },
      ),
    );
  });

  it('counts the policy, the gradients, the moments and, when the run reads it, the reference', () => {
    const bytes = estimateTrainingBytes(TOY, SIZE, 4);
    expect(bytes).toBeGreaterThanOrEqual(4 * 4 * parameterCount(TOY));
    const withReference = estimateTrainingBytes(TOY, { ...SIZE, beta: 0.04 }, 4);
    expect(withReference - bytes).toBe(4 * parameterCount(TOY));
    expect(estimateTrainingBytes(TOY, { ...SIZE, algo: 'grpovi', grpovi_weights: 'probability' }, 4)).toBe(
      withReference,
    );
    // Above 16M parameters the moments leave the backend's tensors (the wasm heap) for JS memory,
    // which the cpu backend's tensors share.
    const big = { ...TOY, parameters: 20_000_000 };
    const wasm = estimateMemory(big, SIZE, 4);
    expect(wasm.totalBytes - wasm.tensorBytes).toBe(8 * 20_000_000);
    expect(estimateTrainingBytes(big, { ...SIZE, backend: 'cpu' }, 4)).toBe(wasm.totalBytes);
    expect(estimateTrainingBytes(big, SIZE, 4)).toBe(wasm.tensorBytes);
    // Doubling the batch never lowers the estimate.
    expect(estimateTrainingBytes(TOY, { ...SIZE, num_generations: 8 }, 4)).toBeGreaterThan(bytes);
  });

  it('refuses a completion that cannot fit the context, naming the field and the limit', () => {
    expect(() => checkTrainingFits(TOY, { ...SIZE, max_completion_length: 13 }, 4)).toThrow(
      /field "max_completion_length" .* context of 16 tokens, so be at most 12 \(13\)/,
    );
    checkTrainingFits(TOY, { ...SIZE, max_completion_length: 12 }, 4);
  });

  it('refuses a run whose memory estimate exceeds the budget, before allocating', () => {
    const big = { ...TOY, width: 4096, depth: 48, heads: 32, contextLength: 1024 };
    expect(() => checkTrainingFits(big, SIZE, 4)).toThrow(/needs about .* GiB of memory, more than/);
    expect(() => checkTrainingFits(TOY, SIZE, 4, { machineBytes: 1024 })).toThrow(ConfigError);
    expect(memoryBudget('wasm', 1e15)).toBe(4 * 1024 ** 3);
    expect(memoryBudget('cpu', 1e12)).toBe(0.8e12);
  });

  it('the config schema bounds every size field, naming it and its value', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ num_generations: 100_000 }, /"num_generations" .*<=4096 \(100000\)/],
      [{ prompts_per_step: 100_000 }, /"prompts_per_step" .*<=4096 \(100000\)/],
      [{ max_completion_length: 1e9 }, /"max_completion_length" .*<=65536 \(1000000000\)/],
      [{ model: { width: 1e5, depth: 1, heads: 1, context_length: 8 } }, /"model.width" .*<=16384/],
      [{ model: { width: 8, depth: 1e4, heads: 1, context_length: 8 } }, /"model.depth" .*<=512/],
      [{ model: { width: 8, depth: 1, heads: 1, context_length: 1e6 } }, /"model.context_length"/],
      [
        { num_generations: 4096, prompts_per_step: 4096 },
        /16777216 completions per step exceed the limit of 65536/,
      ],
    ];
    for (const [fields, message] of cases)
      expect(() => parseTrainConfig({ task: 'toy', ...fields })).toThrow(message);
    expect(LIMITS.batch_rows).toBeLessThan(LIMITS.num_generations * LIMITS.prompts_per_step);
  });
});
