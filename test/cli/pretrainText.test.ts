import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSentences } from '../../src/tasks/corpus.js';
import { tempDir } from '../train/helpers.js';
import { CLI_BIN, runCli } from './cliBin.js';

// End-to-end on the built CLI (run `npm run build` before this file alone): text already in
// grpovi's normalized words, one sentence a line, trains as that many sentences.

let dir = '';
let cleanup = () => {};
beforeAll(() => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  ({ dir, cleanup } = tempDir('pretrain-text'));
});
afterAll(() => cleanup());

describe('grpovi pretrain --text with one normalized sentence per line', () => {
  it('reads 216 lines as 216 sentences, says so, and trains', async () => {
    const lines = loadSentences('sotu').slice(0, 216);
    const text = join(dir, 'normalized.txt');
    writeFileSync(text, `${lines.join('\n')}\n`);
    const out = join(dir, 'policy');
    const result = await runCli([
      'pretrain',
      '--text',
      text,
      '--out',
      out,
      ...['--steps', '2', '--width', '16', '--depth', '1', '--heads', '2', '--context', '48'],
      ...['--vocab-size', '200', '--batch-size', '8', '--eval-every', '2'],
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(
      `${text}: 216 sentences from 216 lines (one sentence per line: the lines are already normalized words)`,
    );
    // 10% of the 216 held out, as the library splits them (test/tasks/textFile.test.ts).
    expect(result.stderr).toMatch(/: 19\d training and 22 held-out texts;/);
    expect(JSON.parse(readFileSync(join(out, 'model.json'), 'utf8'))).toHaveProperty('tokenizer');
  }, 120_000);
});
