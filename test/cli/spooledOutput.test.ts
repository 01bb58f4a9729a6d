import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SpooledOutput } from '../../src/cli/spooledOutput.js';
import { Rng } from '../../src/util/rng.js';

// The spool behind `grpovi adjust --out`: past 16 MiB it syncs in the background while more is
// written. The published file must be exactly what was written, and a discard during such a sync must
// leave nothing behind.

const dir = mkdtempSync(join(tmpdir(), 'grpovi-spool-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** About 40 MiB of lines of random lengths and content, as written, with the text they make. */
function writeLines(output: SpooledOutput, seed: number): string {
  const rng = Rng.derive(seed, 'spool');
  const parts: string[] = [];
  let size = 0;
  for (let i = 0; size < 40 * 2 ** 20; i++) {
    const line = `${i}:${'x'.repeat(Math.floor(rng.uniform() * 3000))}\n`;
    output.write(line);
    parts.push(line);
    size += line.length;
  }
  return parts.join('');
}

describe('SpooledOutput', () => {
  it('publishes exactly what was written, across background syncs', async () => {
    const target = join(dir, 'out.jsonl');
    const output = SpooledOutput.open(target, 'the test file');
    const text = writeLines(output, 1);
    // Nothing is visible at the target before publish.
    expect(existsSync(target)).toBe(false);
    await output.publish();
    expect(readFileSync(target, 'utf8')).toBe(text);
    expect(readdirSync(dir)).toEqual(['out.jsonl']);
  }, 60_000);

  it('leaves nothing when discarded while a background sync may still run', () => {
    const sub = mkdtempSync(join(dir, 'discard-'));
    const output = SpooledOutput.open(join(sub, 'out.jsonl'), 'the test file');
    writeLines(output, 2);
    output.discard();
    expect(readdirSync(sub)).toEqual([]);
  }, 60_000);
});
