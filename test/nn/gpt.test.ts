import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { completionInput, completionLogProbs } from '../../src/nn/generation/logProbs.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { Rng } from '../../src/util/rng.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED, PRODUCT_PATHS } from '../backends.js';

const config = { vocabSize: 11, contextLength: 24, width: 16, depth: 2, heads: 2 };
const EOS = 1;
const PAD = 0;

function randomPrompts(rng: Rng, rows: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length: 1 + rng.int(6) }, () => 2 + rng.int(9)));
}

for (const path of PRODUCT_PATHS) {
  describe.skipIf(path.skip)(`Gpt on the ${path.backend} product kernels${path.note}`, () => {
    beforeAll(async () => {
      await selectBackend(path.backend);
    });

    it('initializes identically from the same seed and differently from another', () => {
      const a = Gpt.init(config, 7);
      const b = Gpt.init(config, 7);
      const c = Gpt.init(config, 8);
      expect(Array.from(a.param('wte').dataSync())).toEqual(Array.from(b.param('wte').dataSync()));
      expect(Array.from(a.param('wte').dataSync())).not.toEqual(Array.from(c.param('wte').dataSync()));
      for (const m of [a, b, c]) m.dispose();
    });

    it('KV-cached sampling returns the log-probs of a full forward pass over the same tokens', () => {
      const model = Gpt.init(config, 3);
      const rng = new Rng(11);
      const prompts = randomPrompts(rng, 6);
      const gen = generate(model, prompts, {
        maxNewTokens: 10,
        eosId: EOS,
        padId: PAD,
        rng,
        temperature: 0.8,
      });
      const batch = { prompts, completions: gen.tokens, mask: gen.mask, length: gen.length };
      const full = tf.tidy(() =>
        completionLogProbs(model, batch, completionInput(batch, PAD), {
          temperature: 0.8,
        }).logProbs.dataSync(),
      );
      let checked = 0;
      for (let i = 0; i < gen.mask.length; i++) {
        if (gen.mask[i] === 0) continue;
        expect(Math.abs(full[i] - gen.logProbs[i])).toBeLessThan(1e-5);
        checked++;
      }
      expect(checked).toBeGreaterThan(20);
      model.dispose();
    });

    it('a left-padded prompt gives the same log-probs as the same prompt alone', () => {
      const model = Gpt.init(config, 5);
      const short = [3, 4, 5];
      const long = [6, 7, 8, 9, 10, 2, 3];
      const completion = Int32Array.from([4, 6, 1]);
      const alone = {
        prompts: [short],
        completions: completion,
        mask: new Float32Array(3).fill(1),
        length: 3,
      };
      const both = {
        prompts: [long, short],
        completions: Int32Array.from([5, 5, 5, ...completion]),
        mask: new Float32Array(6).fill(1),
        length: 3,
      };
      const a = tf.tidy(() =>
        completionLogProbs(model, alone, completionInput(alone, PAD)).logProbs.dataSync(),
      );
      const b = tf.tidy(() =>
        completionLogProbs(model, both, completionInput(both, PAD)).logProbs.dataSync(),
      );
      for (let i = 0; i < 3; i++) expect(b[3 + i]).toBeCloseTo(a[i], 5);
      model.dispose();
    });

    it('sampling is reproducible with the same seed', () => {
      const model = Gpt.init(config, 3);
      const prompts = randomPrompts(new Rng(1), 4);
      const run = (seed: number) =>
        Array.from(
          generate(model, prompts, { maxNewTokens: 8, eosId: EOS, padId: PAD, rng: new Rng(seed) }).tokens,
        );
      expect(run(5)).toEqual(run(5));
      expect(run(5)).not.toEqual(run(6));
      model.dispose();
    });
  });
}

describe.skipIf(!BLAS_AVAILABLE)(`Gpt: the BLAS and wasm product paths agree${BLAS_SKIPPED}`, () => {
  it('same log-probs and gradients (to float32 rounding), each path bit-identical with itself', async () => {
    const rng = new Rng(21);
    const prompts = randomPrompts(rng, 5);
    const length = 6;
    const completions = Int32Array.from({ length: 5 * length }, () => 1 + rng.int(10));
    const batch = { prompts, completions, mask: new Float32Array(5 * length).fill(1), length };
    const run = async (backend: 'wasm' | 'blas') => {
      await selectBackend(backend);
      const model = Gpt.init(config, 9);
      const vars = model.variables().map((v) => v.variable);
      const { value, grads } = tf.variableGrads(
        () => completionLogProbs(model, batch, completionInput(batch, PAD)).logProbs.sum() as tf.Scalar,
        vars,
      );
      const out = [value.dataSync()[0], ...vars.flatMap((v) => Array.from(grads[v.name].dataSync()))];
      tf.dispose([value, ...Object.values(grads)]);
      model.dispose();
      return out;
    };
    const wasm = await run('wasm');
    const blas = await run('blas');
    const blasAgain = await run('blas');
    expect(blasAgain).toEqual(blas);
    const scale = Math.max(...wasm.map(Math.abs));
    let differ = 0;
    for (let i = 0; i < wasm.length; i++) {
      expect(Math.abs(blas[i] - wasm[i])).toBeLessThan(1e-5 * scale);
      if (blas[i] !== wasm[i]) differ++;
    }
    // Different kernels: the two paths are not the same computation (they differ in the last bits).
    expect(differ).toBeGreaterThan(0);
    await selectBackend('wasm');
  });
});
