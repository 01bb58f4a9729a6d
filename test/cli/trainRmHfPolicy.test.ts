import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runNode } from './cliBin.js';

const dir = mkdtempSync(join(tmpdir(), 'grpovi-trainrm-hf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('train-rm --policy with a Hugging Face folder', () => {
  it('is refused in one line naming the option and the reason, exit 2, nothing written', async () => {
    const hf = join(dir, 'distilgpt2');
    const out = join(dir, 'rm');
    const prefs = join(dir, 'prefs.jsonl');
    // Only config.json: the refusal comes before any weight is read.
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ model_type: 'gpt2', n_embd: 16 }));
    writeFileSync(
      prefs,
      '{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "d", "chosen": "e", "rejected": "f"}\n',
    );
    for (const extra of [[], ['--preferences', prefs]]) {
      const run = await runNode([CLI_BIN, 'train-rm', '--policy', hf, '--out', out, ...extra]);
      expect(run.code).toBe(2);
      const lines = run.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(join(hf, 'config.json'));
      expect(lines[0]).toMatch(/train-rm --policy takes grpovi policy folders only .*grpovi's GPT body/);
      expect(existsSync(out)).toBe(false);
    }
  });
});
