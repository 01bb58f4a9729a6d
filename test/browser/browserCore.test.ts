import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTrainer, policyFromFiles, promptsTask, toyTask, useBackend } from '../../src/browser/index.js';
import type { RewardExport } from '../../src/browser/tasks.js';
import { buildSequenceInput } from '../../src/nn/models/sequenceBatch.js';
import type { PolicyModel } from '../../src/nn/models/policyModel.js';
import { memoryFolder } from '../../src/nn/weights/folderReader.js';
import { policySourceOf } from '../../src/nn/weights/policyFiles.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { DATA_SPLIT_SEED } from '../../src/tasks/datasets.js';
import { holdOutPrompts } from '../../src/tasks/sources/fileTask.js';
import { type MetricsRow, readMetrics, TIMING_FIELDS } from '../../src/train/metrics.js';
import { ROOT, runCli, runNode } from '../cli/cliBin.js';
import { makeFixtures, PYTHON, SKIP_REASON } from '../nn/hfFixtures.js';

// The browser API run in Node on wasm against independent references: the CLI's own run of the same
// config (metrics.jsonl, the checkpoint's policy folder), the Node folder loader, and the bundle's text.

const SEED = 3;
const STEPS = 3;

/** Rows without the fields that measure time, through JSON as metrics.jsonl stores them. */
function untimed(rows: readonly MetricsRow[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const copy = JSON.parse(JSON.stringify(row)) as Record<string, unknown>;
    for (const field of TIMING_FIELDS) delete copy[field];
    return copy;
  });
}

function readFolder(dir: string, prefix = ''): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(files, readFolder(path, `${prefix}${name}/`));
    else files[`${prefix}${name}`] = new Uint8Array(readFileSync(path));
  }
  return files;
}

function writeFolder(dir: string, files: Record<string, Uint8Array>): void {
  for (const [name, data] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
}

/** Logits of every position of a few prompts (left-padded batch). */
function logitsOf(model: PolicyModel, prompts: number[][], padId: number): Float32Array {
  const input = buildSequenceInput(prompts, new Int32Array(0), 0, padId);
  return tf.tidy(() => model.logits(model.forward(input).hidden).dataSync() as Float32Array);
}

describe('grpovi/browser in Node on wasm', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'grpovi-browser-'));
    expect(await useBackend('wasm')).toEqual({ name: 'wasm' });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains the toy task to the metrics rows and policy folder of `grpovi train --task toy --backend wasm`', async () => {
    const out = join(dir, 'cli-run');
    const cli = await runCli([
      'train',
      '--task',
      'toy',
      '--backend',
      'wasm',
      '--seed',
      String(SEED),
      '--steps',
      String(STEPS),
      '--eval-every',
      '2',
      '--out',
      out,
    ]);
    expect(cli.stderr).not.toMatch(/Error/);
    expect(cli.code).toBe(0);
    const cliRows = readMetrics(join(out, 'metrics.jsonl'));

    const trainer = await createTrainer({
      task: toyTask(SEED),
      config: { steps: STEPS, eval_every: 2 },
      seed: SEED,
    });
    try {
      const cliConfig = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect({ ...trainer.config, backend: 'wasm' }).toEqual(cliConfig);
      const rows = [await trainer.evaluate()];
      while (trainer.stepsDone < STEPS) rows.push(await trainer.step());
      expect(rows.map((r) => r.step)).toEqual([0, 1, 2, 3]);
      // Bit-identical: the same numbers, as JSON writes them, in every field but the timings.
      expect(untimed(rows)).toEqual(untimed(cliRows));
      expect(rows[1].loss).toBeTypeOf('number');
      expect(rows[2].eval_reward).toBeTypeOf('number');
      await expect(trainer.step()).rejects.toThrow(/all 3 steps are done/);

      // The exported folder is the checkpoint's policy folder, byte for byte, and the Node loader reads it.
      const exported = await trainer.exportFolder();
      const checkpoint = join(out, 'checkpoints', `step-${String(STEPS).padStart(6, '0')}`);
      const saved = readFolder(checkpoint);
      expect(Object.keys(exported).sort()).toEqual(['model.json', 'model.safetensors']);
      for (const name of Object.keys(exported))
        expect(Buffer.from(exported[name]).equals(Buffer.from(saved[name]))).toBe(true);
      const exportDir = join(dir, 'exported');
      writeFolder(exportDir, exported);
      const loaded = loadPolicyFolder(exportDir);
      const fromCli = loadPolicyFolder(checkpoint);
      const a = loaded.create({ trainable: false });
      const b = fromCli.create({ trainable: false });
      const prompts = [loaded.tokenizer.encode('abc:'), loaded.tokenizer.encode('hed:')];
      expect(logitsOf(a, prompts, loaded.tokenizer.padId)).toEqual(
        logitsOf(b, prompts, loaded.tokenizer.padId),
      );
      a.dispose();
      b.dispose();
      // And the CLI samples from it.
      const sampled = await runCli([
        'sample',
        '--policy',
        exportDir,
        '--prompt',
        'abc:',
        '--backend',
        'wasm',
        '--seed',
        '1',
      ]);
      expect(sampled.code).toBe(0);
      expect(sampled.stdout.length).toBeGreaterThan(0);
    } finally {
      trainer.dispose();
    }
  }, 240_000);

  it('holds out the same prompts as a prompts file, and refuses bad prompts and rewards with one line', () => {
    const prompts = Array.from({ length: 30 }, (_, i) => `prompt number ${i}`);
    const heldOut = holdOutPrompts(prompts).heldOut;
    expect(heldOut.length).toBe(3);
    expect(DATA_SPLIT_SEED).toBe(20251121); // heldOut.ts keeps its own copy of the split seed
    expect(promptsTask({ prompts, reward: () => [] }).kind).toBe('prompts');
    expect(() => promptsTask({ prompts: ['a', ''], reward: () => [] })).toThrow(
      /prompts\[1\]: needs a non-empty "prompt" string/,
    );
    expect(() => promptsTask({ prompts: ['a', 'b'], reward: 3 as never })).toThrow(
      /reward\[0\].*default export must be a function/,
    );
    expect(() => promptsTask({ prompts: ['a'], reward: () => [] })).toThrow(/hold-out needs at least 2/);
  });
});

describe.skipIf(PYTHON === undefined)(`policyFromFiles on Hugging Face folders (${SKIP_REASON})`, () => {
  let root: string;
  let cleanup: () => void;
  beforeAll(async () => {
    await useBackend('wasm');
    ({ root, cleanup } = makeFixtures(['gpt2-tied-f32', 'llama-gqa-bf16-sharded']));
  });
  afterAll(() => cleanup());

  it.each(['gpt2-tied-f32', 'llama-gqa-bf16-sharded'])(
    '%s: the in-memory files give the model of the Node folder loader (same logits)',
    (name) => {
      const folder = join(root, name);
      const files = readFolder(folder);
      expect(policyFromFiles(files).format).toBe('hf');
      const fromMemory = policySourceOf(memoryFolder(files));
      const fromDisk = loadPolicyFolder(folder);
      const a = fromMemory.create({ trainable: false });
      const b = fromDisk.create({ trainable: false });
      const prompts = [fromDisk.tokenizer.encode('hello world'), fromDisk.tokenizer.encode('the cat')];
      expect(fromMemory.tokenizer.encode('hello world')).toEqual(prompts[0]);
      expect(logitsOf(a, prompts, fromDisk.tokenizer.padId)).toEqual(
        logitsOf(b, prompts, fromDisk.tokenizer.padId),
      );
      a.dispose();
      b.dispose();
    },
  );

  it('a prompts task with a reward function trains as `grpovi train --prompts --reward --policy` (same rows)', async () => {
    const policyDir = join(root, 'gpt2-tied-f32');
    const work = mkdtempSync(join(tmpdir(), 'grpovi-prompts-'));
    try {
      // Rows with a column the reward reads, as a prompts JSONL file holds them.
      const rows = Array.from({ length: 12 }, (_, i) => ({
        prompt: `the number ${i} is`,
        target: String(i % 10),
      }));
      writeFileSync(join(work, 'prompts.jsonl'), rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const rewardSource = `export default function digit_match(prompts, completions, rows) {
  return completions.map((c, i) => (c.includes(rows[i].target) ? 0.5 : 0) + (c.length % 5) / 5);
}
digit_match.range = [0, 1.5];
`;
      writeFileSync(join(work, 'reward.mjs'), rewardSource);
      const flags = [
        '--steps',
        '2',
        '--eval-every',
        '2',
        '--group-size',
        '4',
        '--prompts-per-step',
        '2',
        '--max-completion-length',
        '6',
      ];
      const out = join(work, 'run');
      const cli = await runCli([
        'train',
        '--prompts',
        join(work, 'prompts.jsonl'),
        '--reward',
        join(work, 'reward.mjs'),
        '--policy',
        policyDir,
        '--algo',
        'grpovi',
        '--backend',
        'wasm',
        '--seed',
        '5',
        ...flags,
        '--out',
        out,
      ]);
      expect(cli.stderr).not.toMatch(/Error/);
      expect(cli.code, cli.stderr).toBe(0);
      const reward = (await import(join(work, 'reward.mjs'))) as { default: RewardExport };
      const trainer = await createTrainer({
        task: promptsTask({ prompts: rows, reward: reward.default }),
        policy: policyFromFiles(readFolder(policyDir)),
        config: {
          algo: 'grpovi',
          steps: 2,
          eval_every: 2,
          num_generations: 4,
          prompts_per_step: 2,
          max_completion_length: 6,
        },
        seed: 5,
      });
      try {
        const got = [await trainer.evaluate(), await trainer.step(), await trainer.step()];
        expect(untimed(got)).toEqual(untimed(readMetrics(join(out, 'metrics.jsonl'))));
        // A reward that varies within groups: the update has something to learn from.
        expect(got[1].reward_std_group).toBeGreaterThan(0);
        expect(got[1]['rewards/digit_match']).toBeTypeOf('number');
      } finally {
        trainer.dispose();
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 240_000);

  it('names the missing file of an incomplete folder', () => {
    const files = readFolder(join(root, 'gpt2-tied-f32'));
    delete files['tokenizer.json'];
    expect(() => policyFromFiles(files, 'picked')).toThrow(/picked\/tokenizer\.json.*file not found/);
  });
});

describe('the browser bundle', () => {
  const bundle = join(ROOT, 'dist', 'browser', 'grpovi.js');
  it('exists beside the wasm binaries, is ESM, and imports no Node module', () => {
    const text = readFileSync(bundle, 'utf8');
    expect(/export\s*\{[^}]*\buseBackend\b/.test(text)).toBe(true);
    expect(/export\s*\{[^}]*\bcreateTrainer\b/.test(text)).toBe(true);
    // No static or dynamic import of a Node module (tfjs-backend-wasm carries its Node worker's
    // source as a string, which mentions require("worker_threads"): text, never run in a browser).
    const nodeImport =
      /\b(?:from|import)\s*\(?\s*["'](?:node:[a-z_/]+|fs|path|os|child_process|module|worker_threads|crypto)["']/;
    expect(text.match(nodeImport)?.[0]).toBeUndefined();
    expect(text.includes('koffi')).toBe(false);
    for (const wasm of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm'])
      expect(statSync(join(dirname(bundle), wasm)).size).toBeGreaterThan(100_000);
  });

  it('is refused when a Node-only module would enter it', async () => {
    const out = mkdtempSync(join(tmpdir(), 'grpovi-bundle-'));
    try {
      const entry = join(out, 'entry.ts');
      // The Node loader of model folders: what a careless import from the core would pull in.
      writeFileSync(
        entry,
        `export { loadPolicyFolder } from ${JSON.stringify(join(ROOT, 'src/nn/weights/policyFolder.ts'))};\n`,
      );
      const run = await runNode([join(ROOT, 'scripts', 'build-browser.mjs')], {
        env: { ...process.env, GRPOVI_BROWSER_ENTRY: entry, GRPOVI_BROWSER_OUT: join(out, 'dist') },
      });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/Node-only import "node:fs" from src\/nn\/weights\//);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
