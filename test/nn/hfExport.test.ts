import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { type PolicySource, loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { generate } from '../../src/nn/generation/sampler.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import type { Task } from '../../src/tasks/task.js';
import { ASSET } from '../../src/tasks/assets.js';
import { mergeConfigLayers, parseTrainConfig } from '../../src/train/config.js';
import { train } from '../../src/train/trainer.js';
import { Rng } from '../../src/util/rng.js';
import { metricsWithoutTiming, tempDir } from '../train/helpers.js';
import { makeFixtures, PYTHON, reference, SKIP_REASON } from './hfFixtures.js';

const PROMPTS = [[464, 3616, 286, 1204, 318], [40]];

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return { code: await runCli(args), stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

function greedy(model: PolicyModel, source: PolicySource, prompts: number[][], n = 8): number[][] {
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

function allLogits(model: PolicyModel, prompts: number[][], pad: number): Float32Array {
  const input = buildSequenceInput(prompts, new Int32Array(0), 0, pad);
  return tf.tidy(() => model.logits(model.forward(input).hidden).dataSync() as Float32Array);
}

/** A task over a Hugging Face policy: reward = share of completion characters that are the letter e. */
function hfTask(source: PolicySource): Task {
  return {
    name: 'hf-e',
    description: 'test task',
    tokenizer: source.tokenizer,
    createPolicy: () => source.create(),
    trainPrompts: ['The meaning of life is', 'I think', 'Once upon a time', 'We the people'],
    evalPrompts: ['Hello', 'The'],
    rewards: [
      {
        fn: {
          name: 'e_share',
          range: [0, 1],
          score: (_p, completions) =>
            completions.map((c) => (c.length === 0 ? 0 : (c.match(/e/g)?.length ?? 0) / c.length)),
        },
        weight: 1,
      },
    ],
    defaults: {},
  };
}

function hfConfig(overrides: Record<string, unknown> = {}) {
  return parseTrainConfig(
    mergeConfigLayers({
      task: 'hf-e',
      algo: 'grpovi',
      steps: 4,
      prompts_per_step: 2,
      num_generations: 2,
      max_completion_length: 4,
      learning_rate: 0.05,
      eval_every: 0,
      checkpoint_every: 2,
      ...overrides,
    }),
  );
}

describe.skipIf(PYTHON === undefined)(
  `export and fine-tuning of Hugging Face models (${SKIP_REASON})`,
  () => {
    let root = '';
    let cleanup = () => {};
    const temp = tempDir('hf-export');
    beforeAll(async () => {
      await selectBackend('wasm');
      ({ root, cleanup } = makeFixtures(['gpt2-tied-f32', 'llama-gqa-bf16-sharded']));
    });
    afterAll(() => {
      cleanup();
      temp.cleanup();
    });

    it.each(['gpt2-tied-f32', 'llama-gqa-bf16-sharded'])(
      '%s: export round trip gives identical logits',
      async (name) => {
        const out = join(temp.dir, `${name}-export`);
        expect((await cli(['export', join(root, name), '--format', 'hf', '--out', out])).code).toBe(0);
        expect(readdirSync(out).sort()).toEqual([
          'config.json',
          'model.safetensors',
          'onnx',
          'tokenizer.json',
          'tokenizer_config.json',
        ]);
        const a = loadPolicyFolder(join(root, name));
        const b = loadPolicyFolder(out);
        const ma = a.create({ trainable: false });
        const mb = b.create({ trainable: false });
        expect(Array.from(allLogits(mb, PROMPTS, b.tokenizer.padId))).toEqual(
          Array.from(allLogits(ma, PROMPTS, a.tokenizer.padId)),
        );
        expect(reference(out, PROMPTS).greedy).toEqual(reference(join(root, name), PROMPTS).greedy);
        ma.dispose();
        mb.dispose();
      },
    );

    it('fine-tuning a few steps, then exporting the run: the reference reads it to grpovi’s greedy continuation', async () => {
      const source = loadPolicyFolder(join(root, 'llama-gqa-bf16-sharded'));
      const outDir = join(temp.dir, 'run-llama');
      await train({ config: hfConfig(), task: hfTask(source), outDir });
      const exported = join(temp.dir, 'run-llama-export');
      expect((await cli(['export', outDir, '--format', 'hf', '--out', exported])).code).toBe(0);
      const tuned = loadPolicyFolder(exported);
      const model = tuned.create({ trainable: false });
      const ours = greedy(model, tuned, PROMPTS);
      expect(reference(exported, PROMPTS).greedy).toEqual(ours);
      // Training moved the weights: the continuation of the untouched model differs somewhere.
      const base = source.create({ trainable: false });
      expect(Array.from(allLogits(model, PROMPTS, tuned.tokenizer.padId))).not.toEqual(
        Array.from(allLogits(base, PROMPTS, source.tokenizer.padId)),
      );
      model.dispose();
      base.dispose();
    });

    it('grpovi sample --greedy --json on a Hugging Face folder prints the decoding of the reference greedy tokens', async () => {
      const folder = join(root, 'gpt2-tied-f32');
      const source = loadPolicyFolder(folder);
      const prompt = 'The meaning of life is';
      expect(source.tokenizer.encode(prompt)).toEqual(PROMPTS[0]);
      let stdout = '';
      const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
        stdout += String(chunk);
        return true;
      });
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
      let code: number;
      try {
        code = await runCli([
          'sample',
          '--policy',
          folder,
          '--prompt',
          prompt,
          '--greedy',
          '--json',
          '--max-new-tokens',
          '8',
        ]);
      } finally {
        out.mockRestore();
        err.mockRestore();
      }
      expect(code).toBe(0);
      const lines = stdout.trim().split('\n');
      expect(lines.length).toBe(1);
      const expected = reference(folder, [PROMPTS[0]], 8).greedy?.[0] ?? [];
      expect(JSON.parse(lines[0])).toEqual({
        prompt,
        prompt_text: prompt,
        completion: source.tokenizer.decode(expected),
      });
    });

    it('a run from a Hugging Face policy resumed from its checkpoint equals the uninterrupted run', async () => {
      const source = loadPolicyFolder(join(root, 'gpt2-tied-f32'));
      const whole = join(temp.dir, 'run-whole');
      const parts = join(temp.dir, 'run-parts');
      await train({ config: hfConfig(), task: hfTask(source), outDir: whole });
      await train({ config: hfConfig({ steps: 2 }), task: hfTask(source), outDir: parts });
      await train({ config: hfConfig(), task: hfTask(source), outDir: parts, resumeFrom: parts });
      expect(metricsWithoutTiming(parts)).toEqual(metricsWithoutTiming(whole));
      const weights = (dir: string) =>
        readFileSync(join(dir, 'checkpoints', 'step-000004', 'model.safetensors'));
      expect(weights(parts).equals(weights(whole))).toBe(true);
      // The checkpoint is itself a Hugging Face folder.
      expect(existsSync(join(whole, 'checkpoints', 'step-000004', 'tokenizer.json'))).toBe(true);
    });
  },
);

describe('export of grpovi folders and bad input', () => {
  const temp = tempDir('export-bad');
  afterAll(() => temp.cleanup());

  it('refuses a char-level policy with the reason, an existing --out and an unknown format; writes nothing', async () => {
    const out = join(temp.dir, 'never');
    const char = await cli(['export', ASSET.arithmeticPolicy, '--format', 'hf', '--out', out]);
    expect(char.code).toBe(2);
    expect(char.stderr).toMatch(/char-level tokenizer/);
    const format = await cli(['export', ASSET.sentimentPolicy, '--format', 'onnx', '--out', out]);
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/--format must be "hf" or "peft" \("onnx"\)/);
    expect(
      (await cli(['export', ASSET.sentimentPolicy, '--format', 'hf', '--out', temp.dir])).stderr,
    ).toMatch(/already exists/);
    expect((await cli(['export', join(temp.dir, 'missing'), '--format', 'hf', '--out', out])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(temp.dir)).toEqual([]);
  });

  it.skipIf(PYTHON === undefined)(
    'a word-level grpovi GPT exports as GPT-2 with quick_gelu: same logits, same tokens, same greedy text',
    async () => {
      await selectBackend('wasm');
      const out = join(temp.dir, 'sentiment-hf');
      expect((await cli(['export', ASSET.sentimentPolicy, '--format', 'hf', '--out', out])).code).toBe(0);
      const ours = loadPolicyFolder(ASSET.sentimentPolicy);
      const theirs = loadPolicyFolder(out);
      expect(theirs.format).toBe('hf');
      const text = 'the president said that the nation';
      const ids = ours.tokenizer.encode(text);
      expect(theirs.tokenizer.encode(text)).toEqual(ids);
      expect(theirs.tokenizer.decode(ids)).toBe(ours.tokenizer.decode(ids));
      const a = ours.create({ trainable: false });
      const b = theirs.create({ trainable: false });
      const la = allLogits(a, [ids], ours.tokenizer.padId);
      const lb = allLogits(b, [ids], theirs.tokenizer.padId);
      let worst = 0;
      for (let i = 0; i < la.length; i++) worst = Math.max(worst, Math.abs(la[i] - lb[i]));
      expect(worst).toBeLessThan(1e-4);
      const greedyOurs = greedy(a, ours, [ids], 6);
      expect(reference(out, [ids], 6).greedy).toEqual(greedyOurs);
      a.dispose();
      b.dispose();
    },
  );
});
