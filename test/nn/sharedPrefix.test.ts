import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { setSharedPrefix } from '../../src/nn/generation/sharedPrefix.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import {
  type CompletionBatch,
  completionInput,
  completionLogProbs,
  sharedPromptLogProbs,
} from '../../src/nn/generation/logProbs.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { scoreLogProbs } from '../../src/nn/training/policyUpdate.js';
import { RewardModel, sharingPays } from '../../src/nn/models/rewardModel.js';
import { WordTokenizer } from '../../src/nn/tokenizers/tokenizer.js';
import { rewardModelReward } from '../../src/rewards/rewardModel.js';
import { type GenerateOptions, generate } from '../../src/nn/generation/sampler.js';
import { distinctRows } from '../../src/nn/generation/sharedPrefix.js';
import { Rng } from '../../src/util/rng.js';
import { PRODUCT_PATHS, TEST_BACKEND } from '../backends.js';
import { maxRelativeError } from './relativeError.js';

/**
 * A batch as GRPO builds it, but shuffled: `distinct` prompts of different lengths (so left padding),
 * each repeated `copies` times, plus `unique` prompts seen once, rows in a seeded random order.
 */
function mixedPrompts(
  seed: number,
  distinct: number,
  copies: number,
  unique: number,
  vocab: number,
): number[][] {
  const rng = new Rng(seed);
  const make = (length: number) => Array.from({ length }, () => 2 + rng.int(vocab - 2));
  const rows: number[][] = [];
  for (let p = 0; p < distinct; p++) {
    const prompt = make(1 + ((3 * p + rng.int(3)) % 9));
    for (let c = 0; c < copies; c++) rows.push(prompt);
  }
  for (let u = 0; u < unique; u++) rows.push(make(1 + rng.int(9)));
  for (let i = rows.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [rows[i], rows[j]] = [rows[j], rows[i]];
  }
  return rows;
}

const GPT = { vocabSize: 40, contextLength: 32, width: 48, depth: 2, heads: 2 };
/** Llama with grouped-query attention (one key/value head for two query heads) and RoPE. */
const LLAMA = {
  model_type: 'llama',
  vocab_size: 40,
  max_position_embeddings: 32,
  hidden_size: 16,
  intermediate_size: 24,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  tie_word_embeddings: false,
};

function models(): { name: string; model: PolicyModel }[] {
  return [
    { name: 'grpovi GPT', model: Gpt.init(GPT, 4) },
    { name: 'Llama (GQA)', model: HfDecoder.init(parseHfConfig(LLAMA, 'test'), 5) },
  ];
}

afterAll(async () => {
  setSharedPrefix(true);
  await selectBackend(TEST_BACKEND);
});

describe('distinctRows', () => {
  it('groups identical rows in any order, and is null without repeats', () => {
    const rows = [[3, 4], [5], [3, 4], [3], [5], [3, 4]];
    const groups = distinctRows(rows);
    expect(Array.from(groups?.representatives ?? [])).toEqual([0, 1, 3]);
    expect(Array.from(groups?.source ?? [])).toEqual([0, 1, 0, 2, 1, 0]);
    // A prefix of another prompt is a different prompt.
    expect(distinctRows([[3, 4], [3], [4]])).toBeNull();
  });

  it('sharingPays: at least a third of the tokens saved', () => {
    // 7 prompt tokens, 4 of them distinct: 3 saved of 9 tokens pays, of 10 not.
    expect(sharingPays([[1, 2, 3, 4], [1, 2, 3, 5], [9]], [3, 3, 1])).toBe(true);
    expect(
      sharingPays(
        [
          [1, 2, 3, 4],
          [1, 2, 3, 5],
          [9, 9],
        ],
        [3, 3, 1],
      ),
    ).toBe(false);
    expect(
      sharingPays(
        [
          [1, 2],
          [1, 3],
        ],
        [1, 2],
      ),
    ).toBe(false);
  });
});

for (const path of PRODUCT_PATHS) {
  describe.skipIf(path.skip)(`shared-prefix inference on ${path.backend}${path.note}`, () => {
    const exact = path.backend === 'wasm';

    it('sampling: the shared prefill samples what the unshared one does (bit-identical on wasm)', async () => {
      await selectBackend(path.backend);
      const cases: { prompts: number[][]; options: Partial<GenerateOptions> }[] = [
        { prompts: mixedPrompts(1, 4, 3, 2, 40), options: { temperature: 1.3 } },
        { prompts: mixedPrompts(2, 3, 4, 0, 40), options: { repetitionPenalty: 1.3, topP: 0.9 } },
        { prompts: mixedPrompts(3, 1, 8, 0, 40), options: { temperature: 0.7, topK: 5 } },
        { prompts: mixedPrompts(4, 0, 0, 5, 40), options: {} },
      ];
      for (const { name, model } of models()) {
        for (const { prompts, options } of cases) {
          // 18 new tokens after up to 9 prompt tokens: the BLAS cache doubles twice.
          const sample = (sharedPrefix: boolean) =>
            generate(model, prompts, {
              maxNewTokens: 18,
              eosId: 1,
              padId: 0,
              rng: new Rng(8),
              ...options,
              sharedPrefix,
            });
          const before = tf.memory().numTensors;
          const shared = sample(true);
          const context = `${name}, ${prompts.length} rows, ${JSON.stringify(options)}`;
          expect(tf.memory().numTensors, context).toBe(before);
          const plain = sample(false);
          if (exact) {
            expect(Array.from(shared.tokens), context).toEqual(Array.from(plain.tokens));
            expect(Array.from(shared.logProbs), context).toEqual(Array.from(plain.logProbs));
          } else {
            // sgemm may round a product of fewer rows differently in the last bits: a draw right at
            // a boundary could then flip, so compare each row up to its first differing token.
            let rowsEqual = 0;
            for (let b = 0; b < prompts.length; b++) {
              let i = 0;
              while (
                i < plain.length &&
                shared.tokens[b * plain.length + i] === plain.tokens[b * plain.length + i]
              ) {
                const at = b * plain.length + i;
                if (plain.mask[at] === 1)
                  expect(Math.abs(shared.logProbs[at] - plain.logProbs[at]), context).toBeLessThan(1e-5);
                i++;
              }
              if (i === plain.length) rowsEqual++;
            }
            expect(rowsEqual, context).toBeGreaterThanOrEqual(prompts.length - 1);
          }
          // Against the full forward pass of the sampled tokens (an independent reference).
          const batch = { prompts, completions: shared.tokens, mask: shared.mask, length: shared.length };
          const temperature = options.temperature ?? 1;
          const full = tf.tidy(() =>
            completionLogProbs(model, batch, completionInput(batch, 0), { temperature }).logProbs.dataSync(),
          );
          for (let i = 0; i < full.length; i++)
            if (shared.mask[i] === 1)
              expect(Math.abs(full[i] - shared.logProbs[i]), context).toBeLessThan(2e-5);
          // Same seed, same result.
          expect(Array.from(sample(true).logProbs), context).toEqual(Array.from(shared.logProbs));
        }
        model.dispose();
      }
    });

    it('sampling: greedy-like draws (top-k 1) give identical tokens shared and unshared', async () => {
      await selectBackend(path.backend);
      const model = Gpt.init(GPT, 6);
      const prompts = mixedPrompts(5, 3, 5, 1, 40);
      const sample = (sharedPrefix: boolean) =>
        generate(model, prompts, {
          maxNewTokens: 12,
          eosId: 1,
          padId: 0,
          rng: new Rng(2),
          topK: 1,
          sharedPrefix,
        });
      const shared = sample(true);
      const plain = sample(false);
      expect(Array.from(shared.tokens)).toEqual(Array.from(plain.tokens));
      expect(maxRelativeError(shared.logProbs, plain.logProbs)).toBeLessThanOrEqual(exact ? 0 : 1e-5);
      model.dispose();
    });

    it('scoring: shared-prompt log-probs and entropies equal the full-sequence ones', async () => {
      await selectBackend(path.backend);
      for (const { name, model } of models()) {
        const rng = new Rng(11);
        for (const [prompts, L] of [
          [mixedPrompts(6, 4, 3, 2, 40), 7],
          [mixedPrompts(7, 2, 4, 0, 40), 16],
          [mixedPrompts(8, 3, 2, 0, 40), 1],
          [mixedPrompts(9, 0, 0, 4, 40), 5],
        ] as const) {
          // Completions of random lengths (EOS 1 at the end), padding after them, as the sampler returns.
          const rows = prompts.length;
          const completions = new Int32Array(rows * L);
          const mask = new Float32Array(rows * L);
          for (let b = 0; b < rows; b++) {
            const n = 1 + rng.int(L);
            for (let i = 0; i < L; i++) {
              completions[b * L + i] = i < n - 1 ? 2 + rng.int(38) : i === n - 1 ? 1 : 0;
              mask[b * L + i] = i < n ? 1 : 0;
            }
          }
          const batch: CompletionBatch = { prompts, completions, mask, length: L };
          const input = completionInput(batch, 0);
          const context = `${name}, ${rows} rows, ${L} tokens`;
          for (const temperature of [1, 0.7]) {
            const [full, fullEntropy] = tf.tidy(() => {
              const out = completionLogProbs(model, batch, input, { temperature, entropy: true });
              return [out.logProbs.dataSync(), out.entropy?.dataSync() ?? new Float32Array(0)];
            });
            const before = tf.memory().numTensors;
            const [shared, sharedEntropy] = tf.tidy(() => {
              const out = sharedPromptLogProbs(model, batch, input, { temperature, entropy: true });
              return [out.logProbs.dataSync(), out.entropy?.dataSync() ?? new Float32Array(0)];
            });
            expect(tf.memory().numTensors, context).toBe(before);
            expect(shared.length, context).toBe(rows * L);
            expect(maxRelativeError(shared, full), context).toBeLessThan(1e-5);
            expect(maxRelativeError(sharedEntropy, fullEntropy), context).toBeLessThan(1e-5);
            // The trainer's entry point: shared by default, unshared when switched off.
            const scored = scoreLogProbs(model, batch, input, { temperature, entropy: true });
            setSharedPrefix(false);
            const unshared = scoreLogProbs(model, batch, input, { temperature, entropy: true });
            setSharedPrefix(true);
            expect(Array.from(scored.logProbs), context).toEqual(Array.from(shared));
            expect(Array.from(scored.entropy ?? []), context).toEqual(Array.from(sharedEntropy));
            expect(Array.from(unshared.logProbs), context).toEqual(Array.from(full));
          }
        }
        model.dispose();
      }
    });

    it('reward model: shared-prompt scores equal the whole sequences’ (identical prompts only share)', async () => {
      await selectBackend(path.backend);
      // Head widths 12 (the BLAS decode kernels) and 6 (its plain products).
      for (const config of [GPT, { vocabSize: 40, contextLength: 32, width: 12, depth: 2, heads: 2 }]) {
        const model = RewardModel.init(config, 3);
        const rng = new Rng(12);
        const prompts = [...mixedPrompts(10, 4, 3, 2, 40), [5, 6, 7], [5, 6, 8], [5, 6]];
        // Completions of 0 to 12 tokens: a row with none is scored at its prompt's last token.
        const sequences = prompts.map((p) => [
          ...p,
          ...Array.from({ length: rng.int(13) }, () => 2 + rng.int(38)),
        ]);
        sequences[1] = [...prompts[1]];
        const prefixLengths = prompts.map((p) => p.length);
        const before = tf.memory().numTensors;
        const [whole, shared] = tf.tidy(() => [
          model.lastPositionScores(sequences, 0).dataSync(),
          model.sharedPrefixScores(sequences, prefixLengths, 0).dataSync(),
        ]);
        expect(tf.memory().numTensors).toBe(before);
        expect(maxRelativeError(shared, whole)).toBeLessThan(1e-5);
        // score(): shared with the prompt lengths when that saves a third of the tokens, whole
        // sequences when it does not, when switched off, or without the lengths.
        const scored = model.score(sequences, 0, 256, prefixLengths);
        setSharedPrefix(false);
        const unshared = model.score(sequences, 0, 256, prefixLengths);
        setSharedPrefix(true);
        expect(Array.from(scored)).toEqual(
          Array.from(sharingPays(sequences, prefixLengths) ? shared : whole),
        );
        const short = sequences.map((s, b) => s.slice(0, prefixLengths[b] + 1));
        expect(sharingPays(short, prefixLengths)).toBe(true);
        const [shortShared] = tf.tidy(() => [model.sharedPrefixScores(short, prefixLengths, 0).dataSync()]);
        expect(Array.from(model.score(short, 0, 256, prefixLengths))).toEqual(Array.from(shortShared));
        expect(Array.from(unshared)).toEqual(Array.from(model.score(sequences, 0)));
        expect(Array.from(unshared)).toEqual(Array.from(whole));
        // A wrong prompt length would pair rows whose prefixes differ: the lengths are checked.
        expect(() => model.sharedPrefixScores(sequences, [99, ...prefixLengths.slice(1)], 0)).toThrow(
          /row 0 \(99\)/,
        );
        model.dispose();
      }
    });

    it('reward model reward: the prompt lengths it passes give the unshared scores', async () => {
      await selectBackend(path.backend);
      const words = ['<pad>', '<eos>', '<unk>', ...Array.from({ length: 37 }, (_, i) => `w${i}`)];
      const tokenizer = WordTokenizer.fromVocab(words, 'test vocabulary');
      const model = RewardModel.init(GPT, 5);
      const reward = rewardModelReward(() => model, tokenizer, 0);
      const prompts = ['w1 w2 w3', 'w4', 'w1 w2 w3', '', 'w4', 'w1 w2', 'w1 w2 w3'];
      const completions = ['w5 w6', 'w7', '', 'w8 w9', 'w10 w11 w12', 'w3', 'w13'];
      const shared = await reward.score(prompts, completions);
      setSharedPrefix(false);
      const unshared = await reward.score(prompts, completions);
      setSharedPrefix(true);
      expect(maxRelativeError(shared, unshared)).toBeLessThan(1e-5);
      // Rows 2 and 5 are the same tokens split differently (prompt w1 w2 w3, or w1 w2 then w3).
      expect(Math.abs(shared[2] - shared[5])).toBeLessThan(1e-5);
      model.dispose();
    });
  });
}
