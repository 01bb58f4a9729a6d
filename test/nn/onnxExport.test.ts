import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { hfFolderFiles, readHfFolder, writeFolderAtomic } from '../../src/nn/weights/hfFolder.js';
import { type PolicySource, loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import { ASSET } from '../../src/tasks/assets.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';
import { tempDir } from '../train/helpers.js';
import { makeFixtures, PYTHON, SKIP_REASON } from './hfFixtures.js';

/**
 * Exported folders against transformers.js itself (`@huggingface/transformers`, a dev dependency,
 * on onnxruntime-node's CPU binary): it loads onnx/model.onnx from the local folder, and its logits
 * and its KV-cached greedy `generate` must be grpovi's. Nothing is downloaded (allowRemoteModels off).
 */
type TransformersJs = typeof import('@huggingface/transformers');
let transformers: TransformersJs | undefined;
let loadFailure = '';
try {
  transformers = await import('@huggingface/transformers');
  transformers.env.allowRemoteModels = false;
  transformers.env.allowLocalModels = true;
  transformers.env.useFSCache = false;
  transformers.env.logLevel = transformers.LogLevel.ERROR;
} catch (error) {
  loadFailure = (error as Error).message;
  console.warn(
    `transformers.js tests skipped: @huggingface/transformers does not load here (${loadFailure})`,
  );
}
const NO_TRANSFORMERS = transformers === undefined;
/** Why a suite is skipped, for its title (empty when it runs). */
const skipped = (...reasons: (string | false)[]) => {
  const why = reasons.filter((r): r is string => r !== false);
  return why.length === 0 ? '' : ` (skipped: ${why.join('; ')})`;
};

const PROMPTS = [
  [464, 3616, 286, 1204, 318],
  [40, 1101],
];
const NEW_TOKENS = 8;

async function exportFolder(source: string, out: string): Promise<void> {
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    expect(await runCli(['export', source, '--format', 'hf', '--out', out])).toBe(0);
  } finally {
    err.mockRestore();
    stdout.mockRestore();
  }
}

/** transformers.js's own loading of a local folder: the name is resolved under env.localModelPath. */
function fromLocalFolder(folder: string): string {
  (transformers as TransformersJs).env.localModelPath = `${dirname(folder)}/`;
  return basename(folder);
}

/** A left-padded batch as transformers.js takes it (int64 ids and mask; it derives position_ids). */
function paddedBatch(prompts: number[][], pad: number) {
  const t = transformers as TransformersJs;
  const width = Math.max(...prompts.map((p) => p.length));
  const ids = new BigInt64Array(prompts.length * width).fill(BigInt(pad));
  const mask = new BigInt64Array(prompts.length * width);
  prompts.forEach((p, b) =>
    p.forEach((token, i) => {
      ids[b * width + width - p.length + i] = BigInt(token);
      mask[b * width + width - p.length + i] = 1n;
    }),
  );
  return {
    width,
    input_ids: new t.Tensor('int64', ids, [prompts.length, width]),
    attention_mask: new t.Tensor('int64', mask, [prompts.length, width]),
  };
}

/** grpovi's logits of the left-padded batch, [batch * width, vocab]. */
function grpoviLogits(model: PolicyModel, prompts: number[][], pad: number): Float32Array {
  const input = buildSequenceInput(prompts, new Int32Array(0), 0, pad);
  return tf.tidy(() => model.logits(model.forward(input).hidden).dataSync() as Float32Array);
}

/** grpovi's KV-cached greedy continuation of each prompt, EOS included when it came. */
function grpoviGreedy(model: PolicyModel, source: PolicySource, prompts: number[][], n: number): number[][] {
  const gen = generate(model, prompts, {
    maxNewTokens: n,
    eosId: source.tokenizer.eosId,
    padId: source.tokenizer.padId,
    rng: new Rng(0),
    topK: 1,
  });
  return prompts.map((_, b) =>
    Array.from(gen.tokens.subarray(b * gen.length, b * gen.length + gen.lengths[b])),
  );
}

/** Largest |a - b| over the real (non-padding) positions of the padded batch. */
function worstLogitGap(
  ours: Float32Array,
  theirs: Float32Array,
  prompts: number[][],
  width: number,
  vocab: number,
): number {
  let worst = 0;
  prompts.forEach((p, b) => {
    for (let i = width - p.length; i < width; i++) {
      const base = (b * width + i) * vocab;
      for (let v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(ours[base + v] - theirs[base + v]));
    }
  });
  return worst;
}

/** Exports `source`, then checks transformers.js's logits (1e-4) and greedy tokens against grpovi's. */
async function checkAgainstTransformersJs(
  source: string,
  out: string,
  prompts: number[][],
  write: () => Promise<void> = () => exportFolder(source, out),
): Promise<void> {
  await write();
  expect(existsSync(join(out, 'onnx', 'model.onnx'))).toBe(true);
  const ours = loadPolicyFolder(source);
  const model = ours.create({ trainable: false });
  const theirs = await (transformers as TransformersJs).AutoModelForCausalLM.from_pretrained(
    fromLocalFolder(out),
    {
      dtype: 'fp32',
      device: 'cpu',
    },
  );
  try {
    const pad = ours.tokenizer.padId;
    const batch = paddedBatch(prompts, pad);
    const output = (await theirs(batch)) as { logits: { data: Float32Array; dims: number[] } };
    const vocab = output.logits.dims[2];
    expect(output.logits.dims).toEqual([prompts.length, batch.width, vocab]);
    const gap = worstLogitGap(
      grpoviLogits(model, prompts, pad),
      output.logits.data,
      prompts,
      batch.width,
      vocab,
    );
    expect(gap).toBeLessThan(1e-4);

    const generated = (await theirs.generate({
      ...batch,
      max_new_tokens: NEW_TOKENS,
      do_sample: false,
    })) as { tolist(): bigint[][] };
    const eos = ours.tokenizer.eosId;
    const continuations = generated.tolist().map((row) => {
      const added = row.slice(batch.width).map(Number);
      const end = added.indexOf(eos);
      return end < 0 ? added : added.slice(0, end + 1);
    });
    expect(continuations).toEqual(grpoviGreedy(model, ours, prompts, NEW_TOKENS));
  } finally {
    model.dispose();
    await theirs.dispose();
  }
}

const FIXTURES = [
  'gpt2-tied-f32', // gelu_new, tied, the original files' unprefixed names
  'gpt2-f16', // exact-erf gelu, n_inner, layer_norm_epsilon 1e-4
  'llama-gqa-bf16-sharded', // 4 query heads over 2 kv heads, RoPE, RMSNorm, gated SiLU MLP, lm_head
  'llama-tied-bias-f32', // one kv head, head_dim, rope_theta 500, attention and MLP biases
  'qwen2-f16', // q/k/v biases only
];

describe.skipIf(NO_TRANSFORMERS || PYTHON === undefined)(
  `export --format hf, loaded by transformers.js${skipped(NO_TRANSFORMERS && loadFailure, PYTHON === undefined && SKIP_REASON)}`,
  () => {
    let root = '';
    let cleanup = () => {};
    const temp = tempDir('onnx-export');
    beforeAll(async () => {
      await selectBackend(TEST_BACKEND);
      ({ root, cleanup } = makeFixtures([...FIXTURES, 'gpt2-reward']));
    });
    afterAll(() => {
      cleanup();
      temp.cleanup();
    });

    it.each(FIXTURES)(
      '%s: transformers.js logits within 1e-4 of grpovi and the same KV-cached greedy tokens',
      async (name) => {
        await checkAgainstTransformersJs(join(root, name), join(temp.dir, name), PROMPTS);
      },
    );

    it('weights in onnx/model.onnx_data (how a model over 2 GiB is written) give the same logits and tokens', async () => {
      const source = join(root, 'llama-gqa-bf16-sharded');
      const out = join(temp.dir, 'external-data');
      await checkAgainstTransformersJs(source, out, PROMPTS, async () => {
        const folder = readHfFolder(source);
        const onnx = { producerVersion: 'test', externalDataAbove: 0 };
        const files = hfFolderFiles(folder.config, folder.tensors, {
          baseConfig: folder.rawConfig,
          sideFiles: folder.sideFiles,
          onnx,
        });
        writeFolderAtomic(out, files);
      });
      expect(readdirSync(join(out, 'onnx')).sort()).toEqual(['model.onnx', 'model.onnx_data']);
      // Only the graph is in the protobuf: the 50257 x 16 embedding alone is 3.2 MB.
      expect(statSync(join(out, 'onnx', 'model.onnx')).size).toBeLessThan(100_000);
    });

    it('a reward model exports without an ONNX graph (transformers.js has no GPT2ForSequenceClassification)', async () => {
      const out = join(temp.dir, 'reward');
      await exportFolder(join(root, 'gpt2-reward'), out);
      expect(readdirSync(out).sort()).toEqual([
        'config.json',
        'model.safetensors',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
    });
  },
);

describe.skipIf(NO_TRANSFORMERS)(
  `grpovi's own GPT exported, loaded by transformers.js${skipped(NO_TRANSFORMERS && loadFailure)}`,
  () => {
    const temp = tempDir('onnx-export-gpt');
    afterAll(() => temp.cleanup());

    it('the word-level sentiment policy: same token ids, logits within 1e-4, same greedy text', async () => {
      await selectBackend(TEST_BACKEND);
      const out = join(temp.dir, 'sentiment');
      const text = 'the president said that the nation';
      const ours = loadPolicyFolder(ASSET.sentimentPolicy);
      const ids = ours.tokenizer.encode(text);
      await checkAgainstTransformersJs(ASSET.sentimentPolicy, out, [ids, ids.slice(0, 3)]);
      const tokenizer = await (transformers as TransformersJs).AutoTokenizer.from_pretrained(
        fromLocalFolder(out),
      );
      expect(tokenizer.encode(text)).toEqual(ids);
      expect(tokenizer.decode(ids)).toBe(ours.tokenizer.decode(ids));
    });
  },
);
