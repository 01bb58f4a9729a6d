/**
 * The LoRA twin of `npm run bench:torch-hf` (bench/torch_hf.py with --lora) against grpovi's adapter
 * on tiny GPT-2 and Llama (grouped-query) shapes: the same adapter file on both sides, logits with
 * the adapters on within float32 rounding while the adapters move them far more, and a step that
 * trains the adapter matrices only. Needs a Python with torch and numpy; skipped without.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TORCH_PYTHON, torchVersion } from '../../bench/torchCheck.js';
import { ADAPTER_FILE, LORA, writeTwinFolder } from '../../bench/torchHfFolder.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';

const VERSION = torchVersion(DEFAULT_TORCH_PYTHON);
const SKIP = VERSION === undefined ? ` (skipped: ${DEFAULT_TORCH_PYTHON} cannot import torch and numpy)` : '';
const TWIN = fileURLToPath(new URL('../../bench/torch_hf.py', import.meta.url));

const SHAPES = {
  gpt2: {
    config: { model_type: 'gpt2', vocab_size: 61, n_positions: 32, n_embd: 32, n_layer: 2, n_head: 4 },
    targets: ['c_attn'],
  },
  llama: {
    config: {
      model_type: 'llama',
      vocab_size: 53,
      max_position_embeddings: 64,
      hidden_size: 32,
      intermediate_size: 48,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
    },
    targets: ['q_proj', 'v_proj'],
  },
} as const;

interface TwinReport {
  parameters: number;
  base_parameters: number;
  lora_targets?: string[];
  ms: { update: number[] };
  check: { logits_max_abs_diff: number; max_abs_logit: number; adapter_max_abs_effect?: number };
}

describe.skipIf(VERSION === undefined)(`bench:torch-hf's LoRA twin against grpovi${SKIP}`, () => {
  const dirs: string[] = [];
  beforeAll(async () => {
    await selectBackend(TEST_BACKEND);
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  for (const [family, shape] of Object.entries(SHAPES)) {
    it(`${family}: same adapter, same logits with adapters on, a step over the adapters only`, () => {
      const dir = mkdtempSync(join(tmpdir(), `grpovi-torch-hf-lora-${family}-`));
      dirs.push(dir);
      const adapterParameters = writeTwinFolder(dir, shape.config, family, { seed: 7, rows: 3, length: 12 });
      const run = (lora: boolean) => {
        const args = [TWIN, '--model', dir, '--check', dir, '--steps', '1', '--warmup', '0'];
        args.push('--prompts', '2', '--generations', '2', '--prompt-tokens', '4', '--new-tokens', '4');
        if (lora) args.push('--lora', join(dir, ADAPTER_FILE), '--lora-alpha', String(LORA.alpha));
        const out = spawnSync(DEFAULT_TORCH_PYTHON, args, { encoding: 'utf8' });
        expect(out.status, out.stderr).toBe(0);
        return JSON.parse(out.stdout.trim().split('\n').pop() ?? '') as TwinReport;
      };
      const lora = run(true);
      expect(lora.lora_targets).toEqual(shape.targets);
      expect(lora.parameters).toBe(adapterParameters);
      expect(lora.check.logits_max_abs_diff).toBeLessThan(1e-4);
      // The adapters change the logits far beyond the agreement: the check covers them.
      expect(lora.check.adapter_max_abs_effect).toBeGreaterThan(1e-2);
      expect(lora.ms.update).toHaveLength(1);
      const full = run(false);
      expect(full.lora_targets).toBeUndefined();
      // Full fine-tuning trains every base weight; LoRA none of them.
      expect(full.parameters).toBe(lora.base_parameters);
      expect(full.check.logits_max_abs_diff).toBeLessThan(1e-4);
    });
  }
});
