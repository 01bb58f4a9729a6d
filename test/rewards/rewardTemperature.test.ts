import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { loadModelDir } from '../../src/nn/weights/modelDir.js';
import { RewardModel } from '../../src/nn/models/rewardModel.js';
import { rewardModelReward } from '../../src/rewards/rewardModel.js';
import {
  compressRewards,
  fnv1a32,
  promptTemperature,
  promptUnit,
  rewardCompression,
} from '../../src/rewards/rewardTemperature.js';
import { ASSET } from '../../src/tasks/assets.js';

describe('per-prompt temperatures', () => {
  it('FNV-1a matches the published 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('are fixed by the prompt text and lie in [lo, hi]', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: 1, max: 100, noNaN: true }),
        (prompt, lo, factor) => {
          const range = [lo, lo * factor] as const;
          const t = promptTemperature(prompt, range);
          expect(promptTemperature(prompt, range)).toBe(t);
          expect(t).toBeGreaterThanOrEqual(lo);
          expect(t).toBeLessThanOrEqual(lo * factor * (1 + 1e-12));
        },
      ),
    );
  });

  it('are log-uniform: log T spreads evenly over [log lo, log hi] across prompts', () => {
    const n = 4000;
    const counts = new Array(10).fill(0);
    for (let i = 0; i < n; i++) {
      const t = promptTemperature(`prompt number ${i} of the test`, [1, 10]);
      counts[Math.min(9, Math.floor(Math.log10(t) * 10))]++;
    }
    // Each decile of log T holds n/10 = 400 prompts; a binomial sd is 19, so 100 is over 5 sd.
    for (const c of counts) expect(Math.abs(c - n / 10)).toBeLessThan(100);
    expect(promptUnit('x')).toBeGreaterThan(0);
    expect(promptUnit('x')).toBeLessThan(1);
  });

  it('a config asks for no compression at temperature 1 without a range', () => {
    expect(rewardCompression({})).toBeUndefined();
    expect(rewardCompression({ reward_temperature: 1 })).toBeUndefined();
    expect(rewardCompression({ reward_temperature: 3 })).toEqual({ temperature: 3 });
    expect(rewardCompression({ reward_temperature_range: [1, 10] })).toEqual({
      temperature: 1,
      temperatureRange: [1, 10],
    });
  });
});

describe("the shipped sentiment reward model's compressed reward", () => {
  let model: RewardModel;
  const files = loadModelDir(ASSET.sentimentRewardModel, 'reward-model');
  const offset = files.info.scoreOffset as number;
  beforeAll(async () => {
    await selectBackend('wasm');
    model = RewardModel.fromTensors(files.config, files.tensors, ASSET.sentimentRewardModel);
  });
  afterAll(() => model.dispose());

  const prompts = ['the people of', 'we must', 'the congress has', 'our economy', 'this year the'];
  const completions = [
    'a great and good nation .',
    'fail to act .',
    'passed the law .',
    'is strong and growing .',
    'war and death and crisis .',
  ];

  it('is sigmoid((score - offset) / T) of the raw scores; T = 1 is the reward itself, bit for bit', async () => {
    const fn = rewardModelReward(() => model, files.tokenizer, offset);
    const plain = (await fn.score(prompts, completions)) as number[];
    const raw = Array.from(
      model.score(
        prompts.map((p, i) => [...files.tokenizer.encode(p), ...files.tokenizer.encode(completions[i])]),
        files.tokenizer.padId,
      ),
    );
    for (let i = 0; i < raw.length; i++) expect(plain[i]).toBe(1 / (1 + Math.exp(-(raw[i] - offset))));
    const [one] = compressRewards([{ fn, weight: 1 }], { temperature: 1 });
    expect(await one.fn.score(prompts, completions)).toEqual(plain);
    const [hot] = compressRewards([{ fn, weight: 1 }], { temperature: 5 });
    const compressed = (await hot.fn.score(prompts, completions)) as number[];
    for (let i = 0; i < raw.length; i++) {
      expect(compressed[i]).toBeCloseTo(1 / (1 + Math.exp(-(raw[i] - offset) / 5)), 14);
      for (let j = 0; j < raw.length; j++)
        if (plain[i] > plain[j]) expect(compressed[i]).toBeGreaterThan(compressed[j]);
    }
    const spread = (v: number[]) => Math.max(...v) - Math.min(...v);
    expect(spread(compressed)).toBeLessThan(spread(plain));
    expect(hot.fn.name).toBe(fn.name);
  });
});
