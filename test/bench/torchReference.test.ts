/**
 * grpovi's GPT and reward model against an independent PyTorch implementation (bench/torch_step.py,
 * the reference of `npm run bench:torch`) on the shipped sentiment weights. Needs a Python with torch
 * and numpy (Debian's /usr/bin/python3 with python3-torch, or GRPOVI_TORCH_PYTHON); skipped without.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_TORCH_PYTHON,
  runTorchScript,
  sentimentModels,
  type TorchCheck,
  torchArgs,
  torchVersion,
  writeCheck,
} from '../../bench/torchCheck.js';
import { PRODUCT_PATHS } from '../backends.js';

const VERSION = torchVersion(DEFAULT_TORCH_PYTHON);
const SKIP = VERSION === undefined ? ` (skipped: ${DEFAULT_TORCH_PYTHON} cannot import torch and numpy)` : '';
if (VERSION === undefined) console.warn(`PyTorch reference tests${SKIP}`);

const backends = PRODUCT_PATHS.filter((p) => !p.skip).map((p) => p.backend);
const checkArgs = (dir: string) =>
  torchArgs({ threads: 1, steps: 1, warmup: 0, seed: 0, checkDir: dir, checkOnly: true });

describe.skipIf(VERSION === undefined)(
  `grpovi against PyTorch on the shipped sentiment models${SKIP}`,
  () => {
    let dir: string;
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'grpovi-torch-test-'));
      await writeCheck(dir, sentimentModels(), backends, 1);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it(`logits, reward scores, GRPO loss and gradient norm agree on ${backends.join(' and ')}`, () => {
      const run = runTorchScript(DEFAULT_TORCH_PYTHON, checkArgs(dir));
      expect(run.status, run.stderr).toBe(0);
      const check = (JSON.parse(run.stdout) as { check: TorchCheck }).check;
      expect(check.rows * check.positions).toBe(8 * 21);
      // Logits of every position of left-padded rows (largest about 15): float32 rounding only.
      expect(check.max_abs_logit).toBeGreaterThan(5);
      expect(check.torch_cached_vs_full_max_abs_diff).toBeLessThan(1e-4);
      expect(check.backends.map((b) => b.backend)).toEqual(backends);
      for (const b of check.backends) {
        expect(b.logits_max_abs_diff).toBeLessThan(1e-4);
        expect(b.scores_max_abs_diff).toBeLessThan(1e-5);
        expect(b.loss_abs_diff).toBeLessThan(1e-5);
        expect(b.grad_norm_rel_diff).toBeLessThan(1e-6);
      }
      // The loss carries a KL term (reference log-probs moved by noise): not a trivial zero.
      expect(Math.abs(check.loss)).toBeGreaterThan(1e-3);
      expect(check.grad_norm).toBeGreaterThan(0.1);
    });

    it('fails loudly when one logit is off by more than 1e-3', () => {
      const file = join(dir, `logits-${backends[0]}.f32`);
      const original = readFileSync(file);
      const logits = new Float32Array(
        original.buffer.slice(original.byteOffset, original.byteOffset + original.byteLength),
      );
      logits[12345] += 2e-3;
      writeFileSync(file, new Uint8Array(logits.buffer));
      try {
        const run = runTorchScript(DEFAULT_TORCH_PYTHON, checkArgs(dir));
        expect(run.status).toBe(1);
        expect(run.stderr).toMatch(/FAILED: the logits differ from grpovi's by up to 0\.002/);
      } finally {
        writeFileSync(file, original);
      }
    });
  },
);
