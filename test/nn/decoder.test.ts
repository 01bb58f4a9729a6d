import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import type { Decoder } from '../../src/nn/models/decoder.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { parseHfConfig } from '../../src/nn/models/hfConfig.js';
import { HfDecoder } from '../../src/nn/models/hfDecoder.js';
import type { KvCache } from '../../src/nn/models/kvCache.js';
import {
  buildSequenceInput,
  type SequenceInput,
  sliceSequenceInput,
} from '../../src/nn/models/sequenceBatch.js';
import type { NamedTensor } from '../../src/nn/weights/safetensors.js';
import { Rng } from '../../src/util/rng.js';
import { PRODUCT_PATHS } from '../backends.js';

/**
 * The one decoder on every family: KV-cached passes (the prefill, decode steps, a few tokens at
 * once through the decode kernel, many at once after the kernel's cache) against the full-sequence
 * forward pass; grouped-query attention against the same model with its key/value heads repeated
 * in the weights (multi-head attention, an independent path); gradients against finite differences.
 */
const FAMILIES: Record<string, () => Decoder> = {
  'grpovi gpt': () => Gpt.init({ vocabSize: 23, contextLength: 24, width: 32, depth: 2, heads: 4 }, 3),
  'grpovi gpt (head width 6)': () =>
    Gpt.init({ vocabSize: 19, contextLength: 24, width: 24, depth: 2, heads: 4 }, 3),
  'gpt2 untied': () =>
    HfDecoder.init(
      parseHfConfig(
        {
          model_type: 'gpt2',
          vocab_size: 30,
          n_positions: 24,
          n_embd: 32,
          n_layer: 2,
          n_head: 4,
          tie_word_embeddings: false,
        },
        'gpt2',
      ),
      5,
    ),
  'llama with biases': () =>
    HfDecoder.init(
      parseHfConfig(
        {
          model_type: 'llama',
          vocab_size: 30,
          max_position_embeddings: 24,
          hidden_size: 32,
          intermediate_size: 40,
          num_hidden_layers: 2,
          num_attention_heads: 4,
          attention_bias: true,
          mlp_bias: true,
        },
        'llama',
      ),
      5,
    ),
  'llama gqa (4 heads, 2 kv)': () => HfDecoder.init(parseHfConfig(llamaGqa(2), 'llama-gqa'), 5),
  'qwen2 gqa (4 heads, 1 kv), tied': () =>
    HfDecoder.init(
      parseHfConfig(
        {
          model_type: 'qwen2',
          vocab_size: 30,
          max_position_embeddings: 24,
          hidden_size: 32,
          intermediate_size: 40,
          num_hidden_layers: 2,
          num_attention_heads: 4,
          num_key_value_heads: 1,
          tie_word_embeddings: true,
        },
        'qwen2',
      ),
      5,
    ),
};

function llamaGqa(kvHeads: number, headDim = 8): Record<string, unknown> {
  return {
    model_type: 'llama',
    vocab_size: 30,
    max_position_embeddings: 24,
    hidden_size: 32,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    rope_theta: 500,
  };
}

/** Prompts of different lengths (left padding) and the tokens after them. */
function batch(vocab: number, following: number): { prompts: number[][]; after: Int32Array } {
  const rng = new Rng(17);
  const prompts = [3, 5, 1].map((n) => Array.from({ length: n }, () => 2 + rng.int(vocab - 2)));
  const after = Int32Array.from({ length: prompts.length * following }, () => 2 + rng.int(vocab - 2));
  return { prompts, after };
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; scale: number } {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return { diff, scale };
}

/** Logits [rows, positions, vocab] of the positions [from, to) of a cached run in chunks. */
function cachedLogits(
  model: Decoder,
  input: SequenceInput,
  promptWidth: number,
  chunks: number[],
): Float32Array[] {
  const rows = Int32Array.from({ length: input.batchSize }, (_, b) => b);
  const out: Float32Array[] = [];
  let cache: KvCache = [];
  let from = 0;
  for (const size of [promptWidth, ...chunks]) {
    const to = from + size;
    const part = sliceSequenceInput(input, rows, from, to, to);
    const previous = cache;
    const { hidden, present } = tf.tidy(() => model.forward(part, previous));
    for (const entry of previous) tf.dispose([entry.k, entry.v]);
    cache = present;
    out.push(tf.tidy(() => model.logits(hidden).dataSync() as Float32Array) as Float32Array);
    hidden.dispose();
    from = to;
  }
  for (const entry of cache) tf.dispose([entry.k, entry.v]);
  return out;
}

afterAll(async () => {
  await selectBackend('auto');
});

describe('Decoder: KV-cached passes equal the full-sequence pass', () => {
  for (const path of PRODUCT_PATHS) {
    for (const [family, make] of Object.entries(FAMILIES)) {
      it.skipIf(path.skip)(`${family} on ${path.backend}${path.note}`, async () => {
        await selectBackend(path.backend);
        const model = make();
        const vocab = model.config.vocabSize;
        // Prefill, two decode steps, 3 tokens (decode kernel), 10 (sgemm after the kernel's cache).
        const chunks = [1, 1, 3, 10];
        const following = chunks.reduce((a, b) => a + b, 0);
        const { prompts, after } = batch(vocab, following);
        const input = buildSequenceInput(prompts, after, following, 0);
        const full = tf.tidy(
          () => model.logits(model.forward(input).hidden).dataSync() as Float32Array,
        ) as Float32Array;
        const parts = cachedLogits(model, input, input.length - following, chunks);
        const T = input.length;
        let from = 0;
        for (const [c, part] of parts.entries()) {
          const size = c === 0 ? T - following : chunks[c - 1];
          const expected = new Float32Array(prompts.length * size * vocab);
          for (let b = 0; b < prompts.length; b++) {
            expected.set(
              full.subarray((b * T + from) * vocab, (b * T + from + size) * vocab),
              b * size * vocab,
            );
          }
          const { diff, scale } = maxDifference(part, expected);
          expect(diff, `chunk ${c} of ${size} tokens`).toBeLessThan(2e-5 * Math.max(1, scale));
          from += size;
        }
        model.dispose();
      });
    }
  }
});

describe('Decoder: grouped-query attention equals multi-head attention with repeated key/value heads', () => {
  for (const path of PRODUCT_PATHS) {
    for (const headDim of [8, 6]) {
      it.skipIf(path.skip)(
        `llama 4 heads on 2 kv heads, head width ${headDim}, on ${path.backend}${path.note}`,
        async () => {
          await selectBackend(path.backend);
          const gqa = HfDecoder.init(parseHfConfig(llamaGqa(2, headDim), 'gqa'), 9, { trainable: false });
          // The same model with kvHeads = heads: k_proj and v_proj ([in, kvHeads * hd] as stored)
          // get each kv head's columns once per query head that reads it (query head h reads kv head h / 2).
          const tensors = gqa.toTensors();
          const repeated: Record<string, NamedTensor> = {};
          for (const [name, t] of Object.entries(tensors)) {
            if (!/\.(k_proj|v_proj)\.weight$/.test(name)) {
              repeated[name] = t;
              continue;
            }
            const [inputs, outputs] = t.shape;
            const data = new Float32Array(inputs * outputs * 2);
            for (let i = 0; i < inputs; i++) {
              for (let h = 0; h < 4; h++) {
                const kv = Math.floor(h / 2);
                for (let d = 0; d < headDim; d++)
                  data[i * 4 * headDim + h * headDim + d] = t.data[i * outputs + kv * headDim + d] as number;
              }
            }
            repeated[name] = { dtype: 'F32', shape: [inputs, 2 * outputs], data };
          }
          const mha = HfDecoder.fromTensors(parseHfConfig(llamaGqa(4, headDim), 'mha'), repeated, {
            trainable: false,
          });
          const { prompts, after } = batch(30, 6);
          const input = buildSequenceInput(prompts, after, 6, 0);
          const logits = (m: Decoder) =>
            tf.tidy(() => m.logits(m.forward(input).hidden).dataSync() as Float32Array) as Float32Array;
          const { diff, scale } = maxDifference(logits(gqa), logits(mha));
          expect(diff).toBeLessThan(1e-5 * Math.max(1, scale));
          const promptWidth = input.length - 6;
          const cachedGqa = cachedLogits(gqa, input, promptWidth, [1, 1, 4]);
          const cachedMha = cachedLogits(mha, input, promptWidth, [1, 1, 4]);
          for (let c = 0; c < cachedGqa.length; c++) {
            const d = maxDifference(cachedGqa[c], cachedMha[c]);
            expect(d.diff, `cached chunk ${c}`).toBeLessThan(1e-5 * Math.max(1, d.scale));
          }
          gqa.dispose();
          mha.dispose();
        },
      );
    }
  }
});

describe('Decoder: gradients against finite differences', () => {
  for (const path of PRODUCT_PATHS) {
    for (const [family, make] of Object.entries(FAMILIES)) {
      it.skipIf(path.skip)(`${family} on ${path.backend}${path.note}`, async () => {
        await selectBackend(path.backend);
        const model = make();
        const vocab = model.config.vocabSize;
        const { prompts, after } = batch(vocab, 3);
        const input = buildSequenceInput(prompts, after, 3, 0);
        const rng = new Rng(23);
        const weights = tf.tensor2d(
          Float32Array.from({ length: prompts.length * input.length * vocab }, () => rng.normal()),
          [prompts.length * input.length, vocab],
        );
        const loss = () => model.logits(model.forward(input).hidden).mul(weights).sum().div(100) as tf.Scalar;
        const params = model.variables();
        const { grads } = tf.variableGrads(
          loss,
          params.map((p) => p.variable),
        );
        const lossValue = () => tf.tidy(() => loss().dataSync()[0]);
        // Every parameter, the entry with the largest gradient (the best conditioned difference).
        const eps = 1e-2;
        for (const p of params) {
          const g = grads[p.variable.name].dataSync();
          let at = 0;
          for (let i = 0; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[at])) at = i;
          const original = p.variable.dataSync().slice() as Float32Array;
          const shifted = (delta: number) => {
            const values = original.slice();
            values[at] += delta;
            p.variable.assign(tf.tensor(values, p.variable.shape));
            return lossValue();
          };
          const numeric = (shifted(eps) - shifted(-eps)) / (2 * eps);
          p.variable.assign(tf.tensor(original, p.variable.shape));
          expect(
            Math.abs(numeric - g[at]),
            `${p.name}[${at}]: analytic ${g[at]}, numeric ${numeric}`,
          ).toBeLessThan(2e-3 + 2e-2 * Math.abs(g[at]));
        }
        tf.dispose(grads);
        weights.dispose();
        model.dispose();
      });
    }
  }
});
