import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { Rng } from '../../src/util/rng.js';
import { makeFixtures, PYTHON, reference, SKIP_REASON } from './hfFixtures.js';

const CAUSAL = [
  'gpt2-tied-f32',
  'gpt2-f16',
  'gpt2-untied-bf16',
  'llama-gqa-bf16-sharded',
  'llama-tied-bias-f32',
  'qwen2-f16',
];
// "The meaning of life is" and "I" in GPT-2's ids, and a third of another length (left padding).
const PROMPTS = [[464, 3616, 286, 1204, 318], [40], [1212, 318, 257]];

describe.skipIf(PYTHON === undefined)(
  `Hugging Face models against the NumPy reference (${SKIP_REASON})`,
  () => {
    let root = '';
    let cleanup = () => {};
    beforeAll(async () => {
      await selectBackend('wasm');
      ({ root, cleanup } = makeFixtures());
    });
    afterAll(() => cleanup());

    it.each(CAUSAL)(
      '%s: logits of a left-padded batch match to 1e-4, greedy continuations are identical',
      (name) => {
        const dir = join(root, name);
        const source = loadPolicyFolder(dir);
        expect(source.format).toBe('hf');
        const model = source.create({ trainable: false });
        const ref = reference(dir, PROMPTS, 8, true);
        const vocab = model.config.vocabSize;
        const input = buildSequenceInput(PROMPTS, new Int32Array(0), 0, source.tokenizer.padId);
        const logits = tf.tidy(() => model.logits(model.forward(input).hidden).dataSync() as Float32Array);
        const T = input.length;
        let offset = 0;
        let worst = 0;
        PROMPTS.forEach((prompt, b) => {
          const pad = T - prompt.length;
          for (let i = 0; i < prompt.length; i++) {
            const ours = logits.subarray((b * T + pad + i) * vocab, (b * T + pad + i + 1) * vocab);
            const theirs = (ref.logits as Float32Array).subarray(
              (offset + i) * vocab,
              (offset + i + 1) * vocab,
            );
            for (let v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(ours[v] - theirs[v]));
          }
          offset += prompt.length;
        });
        expect(worst).toBeLessThan(1e-4);
        // Greedy decoding through the KV cache (top-k 1), all prompts in one batch.
        const gen = generate(model, PROMPTS, {
          maxNewTokens: 8,
          eosId: source.tokenizer.eosId,
          padId: source.tokenizer.padId,
          rng: new Rng(1),
          topK: 1,
        });
        const ours = PROMPTS.map((_, b) =>
          Array.from(gen.tokens.subarray(b * gen.length, b * gen.length + gen.lengths[b])),
        );
        expect(ours).toEqual(ref.greedy);
        model.dispose();
      },
    );

    it('reads the tokenizer, EOS and pad of the folder', () => {
      const { tokenizer } = loadPolicyFolder(join(root, 'gpt2-tied-f32'));
      expect(tokenizer.encode('The meaning of life is')).toEqual([464, 3616, 286, 1204, 318]);
      expect(tokenizer.eosId).toBe(50256);
      expect(tokenizer.padId).toBe(50256);
      expect(tokenizer.decode([464, 3616, 50256])).toBe('The meaning');
    });

    it('a random HfDecoder has the parameter count of its config', () => {
      const model = loadPolicyFolder(join(root, 'llama-gqa-bf16-sharded')).create({
        trainable: false,
      }) as HfDecoder;
      // embed + lm_head + per layer (2 norms, q 16x16, k 16x8, v 16x8, o 16x16, 3 MLP 16x40) + final norm.
      const perLayer = 2 * 16 + 16 * 16 + 2 * 16 * 8 + 16 * 16 + 3 * 16 * 40;
      const count = model.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
      expect(count).toBe(2 * 50257 * 16 + 2 * perLayer + 16);
      expect(existsSync(join(root, 'llama-gqa-bf16-sharded', 'model.safetensors.index.json'))).toBe(true);
      model.dispose();
    });
  },
);
