import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdjustLineProcessor, type ByteSink, type RangeFlags } from '../../src/cli/adjustLine.js';
import { Rng } from '../../src/util/rng.js';
import { CLI_BIN } from './cliBin.js';

// `grpovi adjust` answers most lines on a fast path straight from the bytes and sends the rest to the
// strict path (strict JSON parser, then the checks). The contract: for every line, the CLI's
// combination gives exactly what the strict path alone gives, the same output bytes or the same error.
// Compared here line by line on thousands of random lines, valid and broken.

class GrowingSink implements ByteSink {
  buffer: Uint8Array = new Uint8Array(256);
  used = 0;
  reserve(bytes: number): void {
    if (this.used + bytes <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(2 * this.buffer.length, this.used + bytes));
    grown.set(this.buffer.subarray(0, this.used));
    this.buffer = grown;
  }
}

type Outcome = { output: string } | { error: string };

function strictPath(processor: AdjustLineProcessor, line: string): Outcome {
  try {
    return { output: processor.process(line, 7) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** As the CLI does it: the fast path, and the strict path for a line the fast path leaves. */
function cliPath(
  processor: AdjustLineProcessor,
  line: string,
  sink: GrowingSink,
): Outcome & { fast: boolean } {
  const bytes = Buffer.from(line, 'utf8');
  sink.used = 0;
  if (processor.processBytes(bytes, 0, bytes.length, sink)) {
    return { output: Buffer.from(sink.buffer.subarray(0, sink.used)).toString('utf8'), fast: true };
  }
  return { ...strictPath(processor, line), fast: false };
}

/** Random lines: mostly the common shape with varied numbers and spacing, some broken on purpose. */
function randomLine(rng: Rng): string {
  const pick = <T>(items: readonly T[]): T => items[rng.int(items.length)];
  const space = (): string => (rng.uniform() < 0.7 ? '' : pick([' ', '  ', '\t', ' \r ', '\r']));
  const awkward = ['0', '-0', '1', '0.5', '1e-7', '5e-324', '0.30000000000000004', '1E0', '0.1e1', '1.0'];
  const number = (): string => {
    const roll = rng.uniform();
    if (roll < 0.5) return String(Math.round(rng.uniform() * 100) / 100);
    if (roll < 0.7) return String(rng.uniform());
    if (roll < 0.85) return pick(awkward);
    if (roll < 0.9) return pick(['2', '-0.5', '1e400', '1.5', '-1e-400', '100']); // often out of range
    return pick(['01', '.5', '1.', '+1', '1e', 'NaN', '"0.5"', 'true', 'null', '[0.5]']); // not numbers
  };
  const array = (n: number): string =>
    `[${space()}${Array.from({ length: n }, () => number()).join(`${space()},${space()}`)}${space()}]`;
  const n = 1 + rng.int(rng.uniform() < 0.9 ? 8 : 40);
  const fields: string[] = [`"rewards"${space()}:${space()}${array(n)}`];
  if (rng.uniform() < 0.3) fields.push(`"weights":${space()}${array(rng.uniform() < 0.9 ? n : n + 1)}`);
  if (rng.uniform() < 0.2) fields.push(`"min":${space()}${pick(['0', '-1', '0.5', '2', '-0'])}`);
  if (rng.uniform() < 0.2) fields.push(`"max"${space()}:${pick(['1', '2', '0.5', '1e308', '0'])}`);
  const roll = rng.uniform();
  if (roll < 0.03)
    fields.push(fields[0]); // a duplicate key
  else if (roll < 0.05)
    fields.push('"weight": [1]'); // an unknown key
  else if (roll < 0.06)
    fields.push('"rew\\u0061rds": [0.5]'); // an escaped (duplicate) key
  else if (roll < 0.07) fields[0] = '"rewards": []';
  else if (roll < 0.08) fields.push('"min": {"a": 1}');
  for (let i = fields.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [fields[i], fields[j]] = [fields[j], fields[i]];
  }
  let line = `${space()}{${space()}${fields.join(`${space()},${space()}`)}${space()}}${space()}`;
  const damage = rng.uniform();
  if (damage < 0.02)
    line = line.slice(0, rng.int(line.length)); // cut short
  else if (damage < 0.03) line += ' x';
  else if (damage < 0.04) line = `[${line}]`;
  return line;
}

describe('the fast path of grpovi adjust', () => {
  for (const flags of [{ min: 0, max: 1 }, {}] as RangeFlags[]) {
    it(`gives what the strict path gives, line by line (flags ${JSON.stringify(flags)})`, () => {
      const rng = Rng.derive(1041, JSON.stringify(flags));
      const fast = new AdjustLineProcessor(flags, false);
      const strict = new AdjustLineProcessor(flags, false);
      const sink = new GrowingSink();
      let answeredFast = 0;
      let refused = 0;
      let answered = 0;
      const mismatches: string[] = [];
      for (let i = 0; i < 3000; i++) {
        const line = randomLine(rng);
        const got = cliPath(fast, line, sink);
        const want = strictPath(strict, line);
        if (got.fast) answeredFast++;
        if ('error' in want) refused++;
        else answered++;
        const { fast: _fast, ...outcome } = got;
        if (JSON.stringify(outcome) !== JSON.stringify(want) && mismatches.length < 5) {
          mismatches.push(`${JSON.stringify(line)}: ${JSON.stringify(outcome)} vs ${JSON.stringify(want)}`);
        }
      }
      expect(mismatches).toEqual([]);
      expect(fast.count).toBe(strict.count);
      // Both paths were exercised: valid lines fast (all of them have the common shape), and errors.
      expect(refused).toBeGreaterThan(200);
      if (flags.min !== undefined) {
        expect(answered).toBeGreaterThan(700);
        expect(answeredFast).toBe(answered);
      }
    });
  }

  it('leaves long arrays, --verify and lines without a range to the strict path', () => {
    const sink = new GrowingSink();
    const processor = new AdjustLineProcessor({ min: 0, max: 1 }, false);
    const long = `{"rewards":[${Array.from({ length: 70_000 }, (_, i) => (i % 100) / 100).join(',')}]}`;
    expect(cliPath(processor, long, sink).fast).toBe(false);
    expect(
      cliPath(new AdjustLineProcessor({ min: 0, max: 1 }, true), '{"rewards":[0.2,0.9]}', sink).fast,
    ).toBe(false);
    expect(cliPath(new AdjustLineProcessor({}, false), '{"rewards":[0.2,0.9]}', sink)).toEqual({
      error: 'line 7: min is missing: give "min" on the line or --min ({"rewards":[0.2,0.9]})',
      fast: false,
    });
  });
});

describe('grpovi adjust end to end', () => {
  it('writes, for a file of valid lines (BOM, CRLF, blank lines), what the strict path writes', () => {
    const rng = Rng.derive(1042, 'end to end');
    const lines: string[] = [];
    while (lines.length < 2000) {
      const line = randomLine(rng);
      if (!('error' in strictPath(new AdjustLineProcessor({ min: 0, max: 1 }, false), line)))
        lines.push(line);
    }
    const strict = new AdjustLineProcessor({ min: 0, max: 1 }, false);
    const expected = lines
      .map((line) => strictPath(strict, line))
      .map((o) => ('output' in o ? o.output : ''));
    const work = mkdtempSync(join(tmpdir(), 'grpovi-fast-path-'));
    try {
      const input = join(work, 'in.jsonl');
      const text = lines.map((line, i) => (i % 97 === 5 ? `${line}\r\n\n` : `${line}\n`)).join('');
      writeFileSync(input, `\uFEFF${text}`);
      execFileSync(process.execPath, [
        CLI_BIN,
        'adjust',
        input,
        '--min',
        '0',
        '--max',
        '1',
        '--out',
        join(work, 'out.jsonl'),
      ]);
      expect(readFileSync(join(work, 'out.jsonl'), 'utf8')).toBe(expected.join(''));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
