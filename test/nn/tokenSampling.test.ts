import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { completionInput, completionLogProbs } from '../../src/nn/generation/logProbs.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { penalizeRepetitions, sampleToken, softmaxRow } from '../../src/nn/generation/tokenSampling.js';
import { Rng } from '../../src/util/rng.js';
import { type HfSampling, hfNextTokenDistribution } from './hfSamplingReference.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

/** A stand-in generator whose next uniform draw is fixed. */
function fixedUniform(u: number): Rng {
  return { uniform: () => u } as unknown as Rng;
}

/** The distribution sampleToken draws from, read off a fine grid of uniform draws. */
function gridDistribution(
  probs: ArrayLike<number>,
  vocab: number,
  options: HfSampling,
  points: number,
): number[] {
  const counts = new Array<number>(vocab).fill(0);
  for (let i = 0; i < points; i++) {
    counts[sampleToken(probs, 0, vocab, options, fixedUniform((i + 0.5) / points)).token]++;
  }
  return counts.map((c) => c / points);
}

/** grpovi's path: penalty on the logits, then the temperature softmax, then sampleToken's truncation. */
function grpoviProbs(logits: number[], seen: number[], o: HfSampling): Float64Array {
  const row = Float64Array.from(logits);
  if (o.repetitionPenalty !== 1) penalizeRepetitions(row, 0, seen, o.repetitionPenalty);
  return softmaxRow(row, 0, row.length, o.temperature);
}

describe('token sampling against HF transformers’ logits processors (plain-JS reference)', () => {
  it('draws from the same distribution for min_p, repetition_penalty, top-k, top-p and their combinations', () => {
    const rng = new Rng(21);
    const vocab = 12;
    const points = 20000;
    let truncated = 0;
    for (let trial = 0; trial < 60; trial++) {
      const logits = Array.from({ length: vocab }, () => rng.normal() * 2);
      const seen = Array.from({ length: rng.int(6) }, () => rng.int(vocab));
      const options: HfSampling = {
        temperature: [1, 0.7, 1.5][rng.int(3)],
        topK: [0, 0, 4, 8][rng.int(4)],
        topP: [1, 1, 0.9, 0.6][rng.int(4)],
        minP: [0, 0.05, 0.2, 0.5][rng.int(4)],
        repetitionPenalty: [1, 1.3, 2, 0.7][rng.int(4)],
      };
      const reference = hfNextTokenDistribution(logits, seen, options);
      const drawn = gridDistribution(grpoviProbs(logits, seen, options), vocab, options, points);
      for (let v = 0; v < vocab; v++) {
        if (reference[v] === 0) expect(drawn[v], `token ${v} must be excluded`).toBe(0);
        expect(Math.abs(drawn[v] - reference[v])).toBeLessThanOrEqual(1.5 / points);
      }
      if (reference.filter((p) => p > 0).length < vocab) truncated++;
    }
    expect(truncated).toBeGreaterThan(20);
  });

  it('penalizes as HF does: positive logits divided, negative multiplied, each seen token once', () => {
    const logits = Float32Array.from([2, -1, 0.5, -3, 4]);
    penalizeRepetitions(logits, 0, [0, 1, 1, 3], 2);
    expect(Array.from(logits)).toEqual([1, -2, 0.5, -6, 4]);
  });

  it('min_p keeps the likeliest token even when min_p is 1', () => {
    const probs = softmaxRow([0.1, 3, 0.2, 2.9], 0, 4, 1);
    for (const u of [0.01, 0.5, 0.99]) {
      expect(sampleToken(probs, 0, 4, { topK: 0, topP: 1, minP: 1 }, fixedUniform(u)).token).toBe(1);
    }
  });
});

describe('generate with repetition_penalty and min_p', () => {
  const config = { vocabSize: 11, contextLength: 24, width: 16, depth: 2, heads: 2 };
  const EOS = 1;
  const PAD = 0;
  const sampling = { temperature: 0.9, topK: 0, topP: 1, minP: 0.1, repetitionPenalty: 1.8 };

  it('KV-cached sampling draws what a full forward pass with the HF reference draws, and is reproducible', () => {
    const model = Gpt.init(config, 3);
    const prompt = [3, 4, 5, 4];
    for (const seed of [1, 2, 3]) {
      const gen = generate(model, [prompt], {
        maxNewTokens: 12,
        eosId: EOS,
        padId: PAD,
        rng: new Rng(seed),
        ...sampling,
      });
      const again = generate(model, [prompt], {
        maxNewTokens: 12,
        eosId: EOS,
        padId: PAD,
        rng: new Rng(seed),
        ...sampling,
      });
      expect(Array.from(again.tokens)).toEqual(Array.from(gen.tokens));
      const L = gen.length;
      const batch = { prompts: [prompt], completions: gen.tokens, mask: gen.mask, length: L };
      // One sequence: the model's rows are its positions; position prompt+t-1 predicts completion token t.
      const logits = tf.tidy(() => {
        const { hidden } = model.forward(completionInput(batch, PAD));
        return model.logits(hidden).arraySync() as number[][];
      });
      const replay = new Rng(seed);
      const tokens = Array.from(gen.tokens.subarray(0, gen.lengths[0]));
      tokens.forEach((token, t) => {
        const seen = [...prompt, ...tokens.slice(0, t)];
        const reference = hfNextTokenDistribution(logits[prompt.length - 1 + t], seen, sampling);
        expect(reference[token]).toBeGreaterThan(0);
        expect(sampleToken(reference, 0, config.vocabSize, sampling, replay).token).toBe(token);
      });
      // The log-probs stay the policy's (temperature only): those of a full forward pass.
      const full = tf.tidy(() =>
        completionLogProbs(model, batch, completionInput(batch, PAD), {
          temperature: 0.9,
        }).logProbs.dataSync(),
      );
      for (let t = 0; t < tokens.length; t++) expect(Math.abs(full[t] - gen.logProbs[t])).toBeLessThan(1e-5);
    }
    model.dispose();
  });

  it('the penalty changes what is sampled', () => {
    const model = Gpt.init(config, 4);
    const prompts = [
      [3, 4, 5],
      [6, 6, 7],
      [2, 9],
    ];
    const run = (repetitionPenalty: number) =>
      Array.from(
        generate(model, prompts, {
          maxNewTokens: 10,
          eosId: EOS,
          padId: PAD,
          rng: new Rng(7),
          temperature: 1,
          repetitionPenalty,
        }).tokens,
      );
    // A fresh model's logits are near 0, so only a strong penalty moves them visibly.
    expect(run(100)).not.toEqual(run(1));
    model.dispose();
  });
});
