import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli as runInProcessCli } from '../../src/cli/main.js';
import { LoraAdapter } from '../../src/nn/adapters/lora.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { gptParamSpecs } from '../../src/nn/models/gptConfig.js';
import { writeFolderAtomic } from '../../src/nn/weights/hfFolder.js';
import { loadModelDir, modelDirFiles } from '../../src/nn/weights/modelDir.js';
import { loadPolicyFolder } from '../../src/nn/weights/policyFolder.js';
import { writePeftFolder } from '../../src/nn/weights/peftFolder.js';
import { Rng } from '../../src/util/rng.js';
import { tempDir } from '../train/helpers.js';
import { execFileSync } from 'node:child_process';
import { decodeSafetensors } from '../../src/nn/weights/safetensors.js';
import { makeFixtures, PYTHON, SKIP_REASON } from '../nn/hfFixtures.js';
import { type ProcessRun, ROOT } from './cliBin.js';

// LoRA through the CLI: train on the toy task with --lora-r, export the run as a PEFT folder and as
// the merged Hugging Face model, sample a base with --adapter, and the flags' errors.

const SENTIMENT = join(ROOT, 'assets', 'sentiment-policy');
const SMALL = [
  '--steps',
  '2',
  '--prompts-per-step',
  '2',
  '--group-size',
  '2',
  '--max-completion-length',
  '4',
  '--quiet',
];

let root: ReturnType<typeof tempDir>;
const at = (...parts: string[]) => join(root.dir, ...parts);
beforeAll(async () => {
  await selectBackend('wasm');
  root = tempDir('cli-lora');
});
afterAll(() => root.cleanup());

/** Runs the CLI in this process, capturing stdout and stderr. */
async function run(args: string[]): Promise<ProcessRun> {
  let stdout = '';
  let stderr = '';
  const capture = (sink: (text: string) => void) => (chunk: string | Uint8Array) => {
    sink(String(chunk));
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture((t) => (stdout += t)));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture((t) => (stderr += t)));
  try {
    return { code: await runInProcessCli(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

function refused(result: ProcessRun): string {
  expect(result.code, result.stderr).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  return lines[0];
}

describe('grpovi train --lora-r, export --format peft', () => {
  it('trains adapters on the toy task, exports them as a PEFT folder and samples the merged checkpoint', async () => {
    const trained = await run([
      'train',
      '--task',
      'toy',
      '--lora-r',
      '4',
      '--lora-alpha',
      '8',
      '--lora-target-modules',
      'c_attn,c_proj',
      '--beta',
      '0.04',
      '--out',
      at('run'),
      ...SMALL,
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const config = JSON.parse(readFileSync(at('run', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ lora_r: 4, lora_alpha: 8, lora_target_modules: ['c_attn', 'c_proj'] });

    const exported = await run(['export', at('run'), '--format', 'peft', '--out', at('peft')]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(
      /exported the LoRA adapter of .* \(r 4, base task:toy \(seed 0\)\) as a PEFT folder/,
    );
    const adapterConfig = JSON.parse(readFileSync(at('peft', 'adapter_config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(adapterConfig).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      lora_alpha: 8,
      target_modules: ['c_attn', 'c_proj'],
      fan_in_fan_out: true,
      bias: 'none',
      task_type: 'CAUSAL_LM',
    });
    expect(existsSync(at('peft', 'adapter_model.safetensors'))).toBe(true);

    // The checkpoint's model (what sample and export --format hf read) is the base with the adapter merged.
    expect((await run(['export', at('run'), '--format', 'hf', '--out', at('hf')])).stderr).toContain(
      "uses grpovi's char-level tokenizer",
    );
    // Sampling from the run reads its checkpoint's merged model.
    const sampled = await run(['sample', '--policy', at('run'), '--prompt', 'a b', '--greedy']);
    expect(sampled.code, sampled.stderr).toBe(0);
  });

  it('export --format peft refuses a model without an adapter', async () => {
    expect(refused(await run(['export', SENTIMENT, '--format', 'peft', '--out', at('none')]))).toContain(
      'holds no LoRA adapter (no adapter_config.json): only runs trained with --lora-r (or --adapter) export as PEFT folders',
    );
    expect(existsSync(at('none'))).toBe(false);
  });

  it('names the flag or field of bad LoRA settings', async () => {
    const negative = await run(['train', '--task', 'toy', '--lora-r', '-1', '--out', at('bad1')]);
    expect(negative.code).toBe(2);
    expect(negative.stderr).toContain(
      "option '--lora-r <n>' argument '-1' is invalid. It must be a whole number >= 0.",
    );
    expect(
      refused(await run(['train', '--task', 'toy', '--lora-alpha', '16', '--out', at('bad2')])),
    ).toContain('field "lora_alpha" needs lora_r above 0');
    expect(
      refused(
        await run([
          'train',
          '--task',
          'toy',
          '--lora-r',
          '2',
          '--lora-target-modules',
          'q_proj',
          '--out',
          at('bad3'),
          ...SMALL,
        ]),
      ),
    ).toContain(
      'target module "q_proj" matches no projection of this grpovi GPT model (adaptable: c_attn, c_proj, c_fc)',
    );
    for (const dir of ['bad1', 'bad2', 'bad3']) expect(existsSync(at(dir))).toBe(false);
  });
});

describe('a LoRA run of a word-level policy (sentiment)', () => {
  it('exports with --format hf as the merged model, which samples as the base with the exported adapter', async () => {
    const trained = await run([
      'train',
      '--task',
      'sentiment',
      '--lora-r',
      '2',
      '--lora-target-modules',
      'c_attn',
      '--eval-every',
      '0',
      '--out',
      at('sentiment-run'),
      ...SMALL,
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const exported = await run([
      'export',
      at('sentiment-run'),
      '--format',
      'hf',
      '--out',
      at('sentiment-hf'),
    ]);
    expect(exported.code, exported.stderr).toBe(0);
    const peft = await run([
      'export',
      at('sentiment-run'),
      '--format',
      'peft',
      '--out',
      at('sentiment-peft'),
    ]);
    expect(peft.code, peft.stderr).toBe(0);
    const prompt = ['--prompt', 'the garden in spring', '--greedy', '--json', '--max-new-tokens', '8'];
    const viaAdapter = await run([
      'sample',
      '--policy',
      SENTIMENT,
      '--adapter',
      at('sentiment-peft'),
      ...prompt,
    ]);
    const viaExport = await run(['sample', '--policy', at('sentiment-hf'), ...prompt]);
    expect(viaAdapter.code, viaAdapter.stderr).toBe(0);
    expect(viaExport.code, viaExport.stderr).toBe(0);
    expect(viaAdapter.stdout).toBe(viaExport.stdout);
  });
});

describe.skipIf(PYTHON === undefined)(`a LoRA run on a Hugging Face Llama (${SKIP_REASON})`, () => {
  it("train --adapter: checkpoints the merged model as NumPy merges the checkpoint's PEFT folder into the base", async () => {
    const fixtures = makeFixtures(['llama-tied-bias-f32']);
    try {
      const base = join(fixtures.root, 'llama-tied-bias-f32');
      const example = join(ROOT, 'examples', 'own-task');
      // Training starts from an adapter folder whose B is not zero, so the merge is visible from step 0.
      const model = loadPolicyFolder(base).create({ trainable: false });
      const start = LoraAdapter.init(
        'llama',
        model.specs,
        { r: 2, alpha: 4, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] },
        3,
      );
      const rng = new Rng(4);
      for (const p of start.variables()) {
        if (!p.name.endsWith('lora_B.weight')) continue;
        const data = Float32Array.from({ length: p.variable.size }, () => (2 * rng.uniform() - 1) * 0.3);
        p.variable.assign(tf.tensor(data, p.variable.shape));
      }
      writePeftFolder(at('llama-start'), start, base);
      start.dispose();
      model.dispose();
      const trained = await run([
        'train',
        '--prompts',
        join(example, 'prompts.jsonl'),
        '--reward',
        join(example, 'keywords.mjs'),
        '--policy',
        base,
        '--adapter',
        at('llama-start'),
        '--lr',
        '0.05',
        '--eval-every',
        '0',
        '--out',
        at('llama-run'),
        ...SMALL,
      ]);
      expect(trained.code, trained.stderr).toBe(0);
      const { checkpoint } = JSON.parse(
        readFileSync(at('llama-run', 'checkpoints', 'latest.json'), 'utf8'),
      ) as {
        checkpoint: string;
      };
      const dir = at('llama-run', 'checkpoints', checkpoint);
      const apply = join(ROOT, 'scripts', 'peft', 'apply_adapter.py');
      execFileSync(PYTHON as string, [
        apply,
        join(base, 'model.safetensors'),
        dir,
        at('llama-reference.safetensors'),
      ]);
      const read = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path)), path).tensors;
      const reference = read(at('llama-reference.safetensors'));
      const saved = read(join(dir, 'model.safetensors'));
      const original = read(join(base, 'model.safetensors'));
      // Every layer's q_proj, v_proj and down_proj, merged; and the training moved them.
      expect(Object.keys(reference)).toHaveLength(2 * 3);
      for (const [name, tensor] of Object.entries(reference)) {
        expect(saved[name].shape, name).toEqual(tensor.shape);
        let worst = 0;
        let moved = 0;
        for (let i = 0; i < tensor.data.length; i++) {
          worst = Math.max(worst, Math.abs(saved[name].data[i] - tensor.data[i]));
          moved = Math.max(moved, Math.abs(saved[name].data[i] - original[name].data[i]));
        }
        expect(worst, name).toBeLessThan(1e-6);
        expect(moved, name).toBeGreaterThan(0);
      }
      // Untargeted weights are the base's, bit for bit.
      const kProj = 'model.layers.0.self_attn.k_proj.weight';
      expect(Array.from(saved[kProj].data)).toEqual(Array.from(original[kProj].data));
      const exported = await run(['export', at('llama-run'), '--format', 'peft', '--out', at('llama-peft')]);
      expect(exported.code, exported.stderr).toBe(0);
      const config = JSON.parse(readFileSync(at('llama-peft', 'adapter_config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(config).toMatchObject({
        fan_in_fan_out: false,
        base_model_name_or_path: base,
        r: 2,
        lora_alpha: 4,
      });
    } finally {
      fixtures.cleanup();
    }
  });
});

describe('grpovi sample --adapter', () => {
  it('samples the base with a PEFT folder exactly as the merged model', async () => {
    const files = loadModelDir(SENTIMENT, 'policy');
    const specs = gptParamSpecs(files.config);
    const adapter = LoraAdapter.init(
      'gpt',
      specs,
      { r: 4, alpha: 16, dropout: 0, targetModules: ['c_attn', 'c_fc'] },
      1,
    );
    const rng = new Rng(2);
    for (const p of adapter.variables()) {
      if (!p.name.endsWith('lora_B.weight')) continue;
      const data = Float32Array.from({ length: p.variable.size }, () => (2 * rng.uniform() - 1) * 0.3);
      p.variable.assign(tf.tensor(data, p.variable.shape));
    }
    writePeftFolder(at('sentiment-adapter'), adapter, SENTIMENT);
    writeFolderAtomic(
      at('sentiment-merged'),
      modelDirFiles({ ...files, tensors: adapter.mergeInto(files.tensors) }),
    );
    adapter.dispose();
    const prompt = [
      '--prompt',
      'the garden in spring',
      '--prompt',
      'the film',
      '--greedy',
      '--json',
      '--max-new-tokens',
      '8',
    ];
    const withAdapter = await run([
      'sample',
      '--policy',
      SENTIMENT,
      '--adapter',
      at('sentiment-adapter'),
      ...prompt,
    ]);
    const fromMerged = await run(['sample', '--policy', at('sentiment-merged'), ...prompt]);
    const base = await run(['sample', '--policy', SENTIMENT, ...prompt]);
    expect(withAdapter.code, withAdapter.stderr).toBe(0);
    expect(withAdapter.stdout).toBe(fromMerged.stdout);
    expect(withAdapter.stdout).not.toBe(base.stdout);
    expect(
      refused(await run(['sample', '--policy', SENTIMENT, '--adapter', at('nowhere'), ...prompt])),
    ).toContain('is not a PEFT adapter folder (no adapter_config.json)');
  });
});
