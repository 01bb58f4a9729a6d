import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatResult } from '../../src/cli/adjustLine.js';
import { InputLineError } from '../../src/cli/errors.js';
import { readLineBatches } from '../../src/cli/lineReader.js';

// The pieces `grpovi adjust` streams through, in process: the line reader against splitting the whole
// text at once, the output formatter against JSON.stringify.

async function linesOf(chunks: Uint8Array[], maxLineBytes = 1 << 20): Promise<string[]> {
  async function* source(): AsyncGenerator<Uint8Array> {
    yield* chunks;
  }
  const lines: string[] = [];
  let expectedFirst = 1;
  for await (const { lines: batch, firstLine } of readLineBatches(source(), maxLineBytes)) {
    expect(firstLine).toBe(expectedFirst);
    expectedFirst += batch.length;
    lines.push(...batch);
  }
  return lines;
}

/** Cuts bytes at the given (sorted, deduplicated) offsets. */
function cut(bytes: Buffer, offsets: number[]): Buffer[] {
  const points = [...new Set(offsets.map((o) => o % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    pieces.push(bytes.subarray(start, p));
    start = p;
  }
  return pieces;
}

describe('readLineBatches', () => {
  it('gives the lines of the whole text however the bytes are cut, inside characters too', async () => {
    const textArb = fc.array(
      fc.oneof(fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', '\r', ' \r', 'é€😀')),
      { maxLength: 12 },
    );
    await fc.assert(
      fc.asyncProperty(
        textArb,
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (parts, crlf, offsets) => {
          const text = parts.map((p) => p.replaceAll('\n', ' ')).join(crlf ? '\r\n' : '\n');
          // A final newline ends the last line rather than starting an empty one.
          const split = text === '' ? [] : text.split('\n');
          if (text.endsWith('\n')) split.pop();
          const expected = split.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
          expect(await linesOf(cut(Buffer.from(text, 'utf8'), offsets))).toEqual(expected);
        },
      ),
      { numRuns: 300, seed: 1019 },
    );
  });

  it('drops a byte-order mark at the start only, even when it is cut', async () => {
    const bytes = Buffer.from('\uFEFFa\n\uFEFFb', 'utf8');
    expect(await linesOf([bytes.subarray(0, 1), bytes.subarray(1)])).toEqual(['a', '\uFEFFb']);
  });

  it('refuses a line longer than the limit exactly, and bytes that are not UTF-8, naming the line', async () => {
    const limit = 10;
    expect(await linesOf([Buffer.from(`${'x'.repeat(limit)}\nok`)], limit)).toEqual([
      'x'.repeat(limit),
      'ok',
    ]);
    for (const chunks of [
      [Buffer.from(`ok\n${'x'.repeat(limit + 1)}\n`)],
      [Buffer.from('ok\nxxxxxx'), Buffer.from('xxxxx')],
    ]) {
      await expect(linesOf(chunks, limit)).rejects.toThrow(
        new InputLineError(2, 'longer than the limit of 10 bytes'),
      );
    }
    const bad = Buffer.concat([Buffer.from('a\nb\n'), Buffer.from([0x63, 0xff]), Buffer.from('\nd')]);
    await expect(linesOf([bad])).rejects.toThrow('line 3: not valid UTF-8 text ("c\uFFFD")');
  });
});

describe('formatResult', () => {
  it('writes what JSON.stringify writes, for any finite numbers including -0', () => {
    const finite = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(0, -0, 1, -1, 5e-324),
    );
    fc.assert(
      fc.property(fc.array(finite, { maxLength: 10 }), finite, finite, (adjusted, before, after) => {
        expect(formatResult(adjusted, before, after)).toBe(
          `${JSON.stringify({ adjusted, variance_before: before, variance_after: after })}\n`,
        );
      }),
      { numRuns: 1000, seed: 1020 },
    );
  });
});
