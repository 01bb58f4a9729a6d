import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliIn, TEST_TIMEOUT, toyArgs } from './harness.js';

/**
 * Deeply nested JSON in the files grpovi reads back (run folders, checkpoints, model folders): one
 * line naming the file, the field and a bounded excerpt of the value, exit 2, never a stack trace.
 */
const root = mkdtempSync(join(tmpdir(), 'grpovi-nested-'));
const fresh = join(root, 'fresh');
let copies = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  const made = await runCliIn([...toyArgs(3), '--out', fresh], root);
  expect(made.code).toBe(0);
}, TEST_TIMEOUT);

const deep = (levels: number, inner = '0'): string => `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;

/** A copy of the 3-step run with one file's text replaced. */
function runWith(file: string, text: (old: string) => string): string {
  const dir = join(root, `copy-${copies++}`);
  cpSync(fresh, dir, { recursive: true });
  const path = join(dir, file);
  writeFileSync(path, text(readFileSync(path, 'utf8')));
  return dir;
}

/** Replaces the value of `field` in a JSON object text. */
const withField =
  (field: string, value: string) =>
  (old: string): string => {
    const object = JSON.parse(old) as Record<string, unknown>;
    object[field] = '@@VALUE@@';
    return JSON.stringify(object).replace('"@@VALUE@@"', value);
  };

const STATE = 'checkpoints/step-000003/state.json';

function expectOneLine(run: { code: number | null; stderr: string }, pattern: RegExp): void {
  const lines = run.stderr.trimEnd().split('\n');
  expect(run.stderr).not.toMatch(/internal error|RangeError|\n\s+at /);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(run.code).toBe(2);
}

describe('nested values in the files of a run folder', () => {
  it(
    'latest.json nested 5000 deep: train --resume and sample --policy say so in one line',
    async () => {
      const dir = runWith('checkpoints/latest.json', withField('checkpoint', deep(5000)));
      const line =
        /latest\.json: checkpoint\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels at column \d+ \(\[{24}\.\.\.\)$/;
      expectOneLine(await runCliIn(['train', '--resume', dir, '--steps', '5', '--quiet'], root), line);
      expectOneLine(await runCliIn(['sample', '--policy', dir, '--prompt', 'the'], root), line);
    },
    TEST_TIMEOUT,
  );

  it(
    'a trainer state field nested 5000 deep, or 60 deep (within the limit) but not four integers',
    async () => {
      const tooDeep = runWith(STATE, withField('samplingRng', deep(5000)));
      expectOneLine(
        await runCliIn(['train', '--resume', tooDeep, '--steps', '5', '--quiet'], root),
        /state\.json: samplingRng\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels/,
      );
      const deepButAllowed = runWith(STATE, withField('samplingRng', deep(60)));
      const run = await runCliIn(['train', '--resume', deepButAllowed, '--steps', '5', '--quiet'], root);
      expectOneLine(run, /state\.json: "samplingRng" must be four 32-bit unsigned integers.*\((.*)\)$/);
      const shown = /\(([^()]*)\)$/.exec(run.stderr.trim())![1];
      // Six levels are spelt out, deeper ones elided.
      expect(shown).toBe('[[[[[[[...]]]]]]]');
    },
    TEST_TIMEOUT,
  );

  it(
    'a checkpoint model.json and the run config nested 5000 deep',
    async () => {
      const model = runWith('checkpoints/step-000003/model.json', withField('format', deep(5000)));
      expectOneLine(
        await runCliIn(['sample', '--policy', model, '--prompt', 'the'], root),
        /model\.json: format\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels/,
      );
      const config = runWith('config.json', withField('beta', deep(5000)));
      expectOneLine(
        await runCliIn(['train', '--resume', config, '--steps', '5', '--quiet'], root),
        /config\.json.*beta\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels/,
      );
    },
    TEST_TIMEOUT,
  );
});
