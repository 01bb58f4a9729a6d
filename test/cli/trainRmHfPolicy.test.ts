import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { readHfFolder } from '../../src/nn/weights/hfFolder.js';
import { HfRewardModel } from '../../src/nn/models/hfRewardModel.js';
import { makeFixtures, PYTHON, reference, SKIP_REASON } from '../nn/hfFixtures.js';
import { CLI_BIN, runNode } from './cliBin.js';

const dir = mkdtempSync(join(tmpdir(), 'grpovi-trainrm-hf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 16 pairs whose chosen completions are plainly told apart from the rejected ones. */
function preferenceFile(path: string): void {
  const good = [' good and great', ' great, good', ' so good', ' good good'];
  const bad = [' bad and awful', ' awful, bad', ' so bad', ' bad bad'];
  const lines: string[] = [];
  for (let i = 0; i < 16; i++) {
    lines.push(JSON.stringify({ prompt: `Review ${i}:`, chosen: good[i % 4], rejected: bad[(i + 1) % 4] }));
  }
  writeFileSync(path, `${lines.join('\n')}\n`);
}

describe('train-rm --policy with a Hugging Face folder', () => {
  it('without --preferences is refused in one line naming the option, exit 2, nothing written', async () => {
    const hf = join(dir, 'distilgpt2');
    const out = join(dir, 'rm-refused');
    // Only config.json: the refusal comes before any weight is read.
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 16 }));
    const run = await runNode([CLI_BIN, 'train-rm', '--policy', hf, '--out', out]);
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(join(hf, 'config.json'));
    expect(lines[0]).toMatch(/train-rm --policy with a Hugging Face folder needs --preferences FILE/);
    expect(existsSync(out)).toBe(false);
  });

  describe.skipIf(PYTHON === undefined)(`with --preferences (${SKIP_REASON})`, () => {
    let root = '';
    let cleanup = () => {};
    beforeAll(async () => {
      await selectBackend('wasm');
      ({ root, cleanup } = makeFixtures(['gpt2-untied-bf16', 'qwen2-f16']));
    });
    afterAll(() => cleanup());

    it.each([
      ['gpt2-untied-bf16', 'GPT2ForSequenceClassification'],
      ['qwen2-f16', 'Qwen2ForSequenceClassification'],
    ])(
      '%s: the loss falls and the written %s loads and scores as the NumPy reference',
      async (name, architecture) => {
        const prefs = join(dir, `${name}.jsonl`);
        preferenceFile(prefs);
        const out = join(dir, `${name}-rm`);
        const run = await runNode([
          CLI_BIN,
          'train-rm',
          '--policy',
          join(root, name),
          '--preferences',
          prefs,
          '--out',
          out,
          '--epochs',
          '6',
          '--batch-size',
          '7',
          '--lr',
          '3e-3',
          '--backend',
          'wasm',
        ]);
        expect(run.stderr).not.toMatch(/error/i);
        expect(run.code).toBe(0);
        const losses = [...run.stderr.matchAll(/loss (\d+\.\d+)/g)].map((m) => Number(m[1]));
        expect(losses).toHaveLength(6);
        expect(losses[5]).toBeLessThan(losses[0]);

        const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
        expect(config.architectures).toEqual([architecture]);
        expect(config.num_labels).toBe(1);
        expect(Number.isInteger(config.pad_token_id)).toBe(true);
        expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);

        const folder = readHfFolder(out);
        expect(folder.tensors['score.weight'].shape).toEqual([1, folder.config.width]);
        expect(folder.tensors['lm_head.weight']).toBeUndefined();
        const model = HfRewardModel.fromFolder(folder);
        const tok = folder.tokenizer;
        const seqs = [
          tok.encode('Review 99: so good'),
          tok.encode('Review 99: so bad'),
          tok.encode('Review 3: good good'),
        ];
        const scores = model.score(seqs);
        const expected = (reference(out, seqs).scores as number[][]).map((s) => s[0]);
        for (let i = 0; i < seqs.length; i++) expect(Math.abs(scores[i] - expected[i])).toBeLessThan(1e-4);
        model.dispose();
      },
      30_000,
    );
  });
});
