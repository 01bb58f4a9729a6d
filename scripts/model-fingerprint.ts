/**
 * What the model code computes, saved so that a refactoring can be checked bit for bit:
 * `npx tsx scripts/model-fingerprint.ts save FILE` writes, for the wasm and BLAS product paths,
 * the logits, KV-cached samples (with and without shared prefixes), completion log-probs, reward
 * model scores and the gradients of small losses of the shipped policies and reward model and of
 * seeded random models; `compare FILE` recomputes them and prints, per entry, whether it is bit
 * identical (and the largest difference when not). Exits 1 when a grpovi GPT entry differs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/nn/backends/backend.js';
import { Gpt } from '../src/nn/models/gpt.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import { parseHfConfig } from '../src/nn/models/hfConfig.js';
import type { PolicyModel } from '../src/nn/models/policyModel.js';
import { RewardModel } from '../src/nn/models/rewardModel.js';
import { buildSequenceInput } from '../src/nn/models/sequenceBatch.js';
import { generate } from '../src/nn/generation/sampler.js';
import { completionInput, completionLogProbs, sharedPromptLogProbs } from '../src/nn/generation/logProbs.js';
import { setSharedPrefix } from '../src/nn/generation/sharedPrefix.js';
import { loadPolicyFolder } from '../src/nn/weights/policyFolder.js';
import { loadModelDir } from '../src/nn/weights/modelDir.js';
import { Rng } from '../src/util/rng.js';

type Entries = Record<string, Float32Array>;

function prompts(vocab: number, rows: number, seed: number, longest: number): number[][] {
  const rng = Rng.derive(seed, 'fingerprint-prompts');
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    // Repeat each prompt twice so the shared-prefix paths run.
    if (r % 2 === 1) {
      out.push([...out[r - 1]]);
      continue;
    }
    const n = 1 + rng.int(longest);
    out.push(Array.from({ length: n }, () => 2 + rng.int(vocab - 2)));
  }
  return out;
}

function policyEntries(name: string, model: PolicyModel, out: Entries, context: number): void {
  const vocab = model.config.vocabSize;
  const ps = prompts(vocab, 6, 1, Math.min(6, context - 8));
  const input = buildSequenceInput(ps, new Int32Array(0), 0, 0);
  out[`${name}/logits`] = tf.tidy(
    () => model.logits(model.forward(input).hidden).dataSync() as Float32Array,
  ) as Float32Array;
  for (const shared of [false, true]) {
    for (const temperature of [1, 0.7]) {
      const g = generate(model, ps, {
        maxNewTokens: 6,
        eosId: 1,
        padId: 0,
        rng: Rng.derive(3, 'fingerprint-sample'),
        temperature,
        sharedPrefix: shared,
      });
      out[`${name}/sample-shared${shared}-t${temperature}/tokens`] = Float32Array.from(g.tokens);
      out[`${name}/sample-shared${shared}-t${temperature}/logProbs`] = g.logProbs;
      if (shared && temperature === 1) {
        const batch = { prompts: ps, completions: g.tokens, mask: g.mask, length: g.length };
        const cInput = completionInput(batch, 0);
        out[`${name}/completionLogProbs`] = tf.tidy(
          () => completionLogProbs(model, batch, cInput).logProbs.dataSync() as Float32Array,
        ) as Float32Array;
        out[`${name}/sharedPromptLogProbs`] = tf.tidy(
          () => sharedPromptLogProbs(model, batch, cInput).logProbs.dataSync() as Float32Array,
        ) as Float32Array;
        // Gradients of a weighted sum of log-probs, on a trainable copy.
        const trainable = model.copy({ trainable: true });
        const params = trainable.variables();
        const weights = Float32Array.from({ length: ps.length * g.length }, (_, i) => Math.sin(i + 1));
        const { grads } = tf.variableGrads(
          () =>
            completionLogProbs(trainable, batch, cInput)
              .logProbs.mul(tf.tensor2d(weights, [ps.length, g.length]))
              .sum() as tf.Scalar,
          params.map((p) => p.variable),
        );
        for (const p of params) {
          out[`${name}/grad/${p.name}`] = grads[p.variable.name].dataSync() as Float32Array;
        }
        tf.dispose(grads);
        trainable.dispose();
      }
    }
  }
}

function rewardEntries(name: string, rm: RewardModel, out: Entries): void {
  const vocab = rm.config.vocabSize;
  const ps = prompts(vocab, 8, 5, 6);
  const rng = Rng.derive(7, 'fingerprint-rm');
  const sequences = ps.map((p) => [
    ...p,
    ...Array.from({ length: 1 + rng.int(5) }, () => 2 + rng.int(vocab - 2)),
  ]);
  const lengths = ps.map((p) => p.length);
  setSharedPrefix(true);
  out[`${name}/score-shared`] = rm.score(sequences, 0, 256, lengths);
  setSharedPrefix(false);
  out[`${name}/score`] = rm.score(sequences, 0, 256, lengths);
  setSharedPrefix(true);
  out[`${name}/scoreTensor`] = tf.tidy(
    () => rm.scoreTensor(sequences, 0).dataSync() as Float32Array,
  ) as Float32Array;
}

function rewardGradEntries(name: string, rm: RewardModel, out: Entries): void {
  const vocab = rm.config.vocabSize;
  const ps = prompts(vocab, 4, 9, 8);
  const params = rm.variables();
  const { grads } = tf.variableGrads(
    () =>
      rm
        .scoreTensor(ps, 0)
        .mul(tf.tensor1d([1, -0.5, 0.25, 2]))
        .sum() as tf.Scalar,
    params.map((p) => p.variable),
  );
  for (const p of params) out[`${name}/grad/${p.name}`] = grads[p.variable.name].dataSync() as Float32Array;
  tf.dispose(grads);
}

const HF_CONFIGS: Record<string, Record<string, unknown>> = {
  gpt2: { model_type: 'gpt2', vocab_size: 40, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4 },
  llama: {
    model_type: 'llama',
    vocab_size: 40,
    max_position_embeddings: 32,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  },
  qwen2: {
    model_type: 'qwen2',
    vocab_size: 40,
    max_position_embeddings: 32,
    hidden_size: 32,
    intermediate_size: 48,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    tie_word_embeddings: true,
  },
};

async function compute(): Promise<Entries> {
  const out: Entries = {};
  for (const backend of ['wasm', 'blas'] as const) {
    await selectBackend(backend);
    for (const asset of ['arithmetic-policy', 'sentiment-policy']) {
      const model = loadPolicyFolder(`assets/${asset}`).create({ trainable: false });
      policyEntries(`${backend}/gpt/${asset}`, model, out, model.config.contextLength);
      model.dispose();
    }
    for (const [label, config] of [
      ['random-hd8', { vocabSize: 23, contextLength: 24, width: 32, depth: 2, heads: 4 }],
      ['random-hd6', { vocabSize: 19, contextLength: 20, width: 24, depth: 3, heads: 4 }],
    ] as const) {
      const model = Gpt.init(config, 11);
      policyEntries(`${backend}/gpt/${label}`, model, out, config.contextLength);
      model.dispose();
    }
    const rmFiles = loadModelDir('assets/sentiment-reward-model', 'reward-model');
    const rm = RewardModel.fromTensors(rmFiles.config, rmFiles.tensors, 'rm');
    rewardEntries(`${backend}/gpt/sentiment-reward-model`, rm, out);
    rm.dispose();
    const rmTrainable = RewardModel.fromTensors(rmFiles.config, rmFiles.tensors, 'rm', true);
    rewardGradEntries(`${backend}/gpt/sentiment-reward-model`, rmTrainable, out);
    rmTrainable.dispose();
    const randomRm = RewardModel.init({ vocabSize: 23, contextLength: 24, width: 32, depth: 2, heads: 4 }, 4);
    rewardEntries(`${backend}/gpt/random-reward-model`, randomRm, out);
    rewardGradEntries(`${backend}/gpt/random-reward-model`, randomRm, out);
    randomRm.dispose();
    for (const [family, raw] of Object.entries(HF_CONFIGS)) {
      const model = HfDecoder.init(parseHfConfig(raw, family), 13, { trainable: false });
      policyEntries(`${backend}/hf/${family}`, model, out, model.config.contextLength);
      model.dispose();
    }
  }
  return out;
}

function encode(entries: Entries): string {
  const json: Record<string, string> = {};
  for (const [k, v] of Object.entries(entries))
    json[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  return JSON.stringify(json);
}

function decode(text: string): Entries {
  const json = JSON.parse(text) as Record<string, string>;
  const out: Entries = {};
  for (const [k, v] of Object.entries(json)) {
    const bytes = Buffer.from(v, 'base64');
    out[k] = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }
  return out;
}

const [mode, file] = process.argv.slice(2);
if ((mode !== 'save' && mode !== 'compare') || file === undefined) {
  console.error('usage: tsx scripts/model-fingerprint.ts save|compare FILE');
  process.exit(2);
}
const now = await compute();
if (mode === 'save') {
  writeFileSync(file, encode(now));
  console.log(`saved ${Object.keys(now).length} entries to ${file}`);
} else {
  const before = decode(readFileSync(file, 'utf8'));
  let gptDiffers = 0;
  let identical = 0;
  const names = new Set([...Object.keys(before), ...Object.keys(now)]);
  for (const name of [...names].sort()) {
    const a = before[name];
    const b = now[name];
    if (a === undefined || b === undefined) {
      console.log(`${name}: ${a === undefined ? 'new' : 'missing now'}`);
      if (name.includes('/gpt/')) gptDiffers++;
      continue;
    }
    const same = a.length === b.length && Buffer.from(a.buffer).equals(Buffer.from(b.buffer));
    if (same) {
      identical++;
      continue;
    }
    let max = 0;
    let scale = 0;
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      max = Math.max(max, Math.abs(a[i] - b[i]));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    console.log(
      `${name}: differs (length ${a.length} -> ${b.length}, max |diff| ${max.toExponential(2)}, max |value| ${scale.toExponential(2)})`,
    );
    if (name.includes('/gpt/')) gptDiffers++;
  }
  console.log(
    `${identical} of ${names.size} entries bit identical; grpovi GPT entries differing: ${gptDiffers}`,
  );
  process.exit(gptDiffers === 0 ? 0 : 1);
}
