import { describe, expect, it } from 'vitest';
import { scanJsonNumber } from '../../src/util/jsonNumberBytes.js';
import { MAX_NUMBER_BYTES, writeNumber } from '../../src/util/numberBytes.js';
import { Rng } from '../../src/util/rng.js';

// The byte-level number reader and writer of `grpovi adjust`'s fast path against the engine's own:
// writeNumber must give String(x) byte for byte, scanJsonNumber the value JSON.parse gives.

const FLOAT = new Float64Array(1);
const WORDS = new Uint32Array(FLOAT.buffer);

/** The double whose bits are these two random words (NaN and infinities skipped by the callers). */
function fromBits(rng: Rng): number {
  WORDS[0] = Math.floor(rng.uniform() * 2 ** 32);
  WORDS[1] = Math.floor(rng.uniform() * 2 ** 32);
  return FLOAT[0];
}

/** The next double up (towards +Infinity for positive x) or down, by one unit in the last place. */
function neighbour(x: number, step: 1 | -1): number {
  FLOAT[0] = x;
  const low = WORDS[0] + step;
  if (low === -1 || low === 2 ** 32) return x; // skip the rare carry: not needed for the test
  WORDS[0] = low;
  return FLOAT[0];
}

const AWKWARD = [
  0,
  -0,
  1,
  -1,
  1e-7,
  1e-6,
  Number('9.999999999999999e-7'), // just below the exponent notation
  5e-324,
  2.2250738585072014e-308,
  1.7976931348623157e308,
  1e21,
  1e17,
  99999999999999980,
  0.1 + 0.2,
  0.1,
  0.01,
  0.5,
  1 / 3,
  2 ** 53,
  2 ** 53 + 2,
  123456789012345680,
  0.30000000000000004,
  0.022500000000000006,
  1.5e16,
  // The longest text (MAX_NUMBER_BYTES), and the ends of the fixed-notation range.
  -0.0000012345678901234567,
  0.0000012345678901234567,
  0.000001,
  Number('0.0000010000000000000002'),
  99999999999999984,
  1e16,
  1e16 + 2,
  12345678900000000,
  // Just above a power of ten (left to String), and just below one.
  0.10000000000000009,
  0.010000000000000231,
  1.0000000000000002,
  0.9999999999999999,
  0.09999999999999999,
  9.999999999999998,
  // An integer part and a fraction (the dot moves digits), integers, trailing zeros.
  123456.789,
  1234567890.1234567,
  98765432109876.5,
  4503599627370495.5,
  100,
  1e15,
  120000,
  0.5000000000000002,
  0.4500000000000002,
  0.8799999999999999,
  0.07346875000000001,
  0.16921875000000003,
];

function written(x: number): string {
  const out = Buffer.alloc(MAX_NUMBER_BYTES + 8);
  const end = writeNumber(out, 0, x);
  return out.toString('latin1', 0, end);
}

describe('writeNumber', () => {
  it('writes String(x) at any offset of any buffer, and nothing past MAX_NUMBER_BYTES', () => {
    const backing = Buffer.alloc(256);
    // Views at odd offsets of one memory, and buffers that alternate (its cached DataView must follow).
    const buffers = [backing.subarray(3, 100), backing.subarray(101, 200), Buffer.alloc(64)];
    for (const [k, x] of AWKWARD.flatMap((v) => [v, -v]).entries()) {
      const out = buffers[k % buffers.length];
      const pos = k % 7;
      out.fill(0xaa);
      const end = writeNumber(out, pos, x);
      expect(out.toString('latin1', pos, end), String(x)).toBe(String(x));
      expect(end - pos).toBeLessThanOrEqual(MAX_NUMBER_BYTES);
      expect(
        [...out.subarray(0, pos), ...out.subarray(pos + MAX_NUMBER_BYTES)].every((b) => b === 0xaa),
      ).toBe(true);
    }
    expect(String(-0.0000012345678901234567)).toHaveLength(MAX_NUMBER_BYTES);
  });

  it('writes String(x) for awkward numbers', () => {
    for (const x of AWKWARD) {
      expect(written(x), String(x)).toBe(String(x));
      expect(written(-x), String(-x)).toBe(String(-x));
    }
  });

  it('writes String(x) for random doubles of every kind, and next to short decimals', () => {
    const rng = Rng.derive(1031, 'writeNumber');
    const mismatches: string[] = [];
    const check = (x: number): void => {
      if (!Number.isFinite(x)) return;
      const got = written(x);
      if (got !== String(x) && mismatches.length < 5) mismatches.push(`${String(x)} written as ${got}`);
    };
    for (let i = 0; i < 40_000; i++) {
      check(fromBits(rng));
      // Decimals of 1 to 17 digits between 1e-8 and 1e19, and the doubles either side of them: the
      // cases where the shortest text is decided by a hair.
      const decimal = Number((rng.uniform() * 10 ** (rng.uniform() * 27 - 8)).toPrecision(1 + (i % 17)));
      check(decimal);
      check(neighbour(decimal, 1));
      check(neighbour(decimal, -1));
      check(Math.round(rng.uniform() * 100) / 100);
      check(rng.uniform() * rng.uniform() * 0.25); // variances of rewards in [0, 1]
      check(2 ** Math.floor(rng.uniform() * 140 - 70));
      check(Math.floor(rng.uniform() * 2 ** 57));
      // What adjust writes: adjusted rewards and variances of groups of two-decimal rewards.
      const r = [0, 1, 2, 3].map(() => Math.round(rng.uniform() * 100) / 100);
      const mean = (r[0] + r[1] + r[2] + r[3]) / 4;
      check(mean);
      check(r.reduce((sum, v) => sum + (v - mean) ** 2, 0) / 4);
      check(4 * mean - Math.floor(4 * mean));
      // Next to powers of ten, where the 17-digit scale changes.
      const power = 10 ** Math.floor(rng.uniform() * 23 - 6);
      check(neighbour(power, 1));
      check(neighbour(power, -1));
      check(power * (1 + rng.uniform() * 1e-12));
    }
    expect(mismatches).toEqual([]);
  });
});

function scanned(text: string): number | undefined {
  const bytes = Buffer.from(`${text}]`, 'latin1');
  const into = new Float64Array(1);
  const end = scanJsonNumber(bytes, 0, bytes.length, into, 0);
  // A token that stops short of the text's end is refused too: the line scanner then finds no
  // separator after it.
  return end === text.length ? into[0] : undefined;
}

function parsed(text: string): number | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

describe('scanJsonNumber', () => {
  it('reads what JSON.parse reads, and refuses what it refuses', () => {
    const rng = Rng.derive(1032, 'scanJsonNumber');
    const pick = (chars: string): string => chars[Math.floor(rng.uniform() * chars.length)];
    const digits = (max: number): string =>
      Array.from({ length: Math.floor(rng.uniform() * max) }, () => pick('0123456789')).join('');
    const fixed = [
      '0',
      '-0',
      '0.0',
      '-0.0e5',
      '1e400',
      '-1e400',
      '1e-400',
      '5e-324',
      '2.4703282292062328e-324',
      '9007199254740993',
      '0.1',
      '1E5',
      '1e+5',
      '00',
      '01',
      '-',
      '+1',
      '.5',
      '1.',
      '1e',
      '1e+',
      '0x10',
      'Infinity',
      '-01.5',
      `0.${'0'.repeat(400)}1e400`,
      `1${'0'.repeat(30)}e-30`,
      '123456789012345.6',
      '1234567890123456',
    ];
    const mismatches: string[] = [];
    const check = (text: string): void => {
      const got = scanned(text);
      const want = parsed(text);
      if (!Object.is(got, want) && mismatches.length < 5) mismatches.push(`${text}: ${got} vs ${want}`);
    };
    for (const text of fixed) check(text);
    for (let i = 0; i < 30_000; i++) {
      // Mostly valid tokens of every shape, with an occasional grammar slip.
      const sign = rng.uniform() < 0.3 ? '-' : '';
      const integer = rng.uniform() < 0.4 ? '0' : pick('123456789') + digits(20);
      const fraction =
        rng.uniform() < 0.7 ? `.${'0'.repeat(Math.floor(rng.uniform() * 8))}${digits(22)}` : '';
      const exponentSign = ['', '+', '-'][Math.floor(rng.uniform() * 3)];
      const exponent = rng.uniform() < 0.3 ? `${pick('eE')}${exponentSign}${digits(4)}` : '';
      let text = `${sign}${integer}${fraction}${exponent}`;
      if (rng.uniform() < 0.05) text = `0${text}`;
      check(text);
      check(String(fromBits(rng)));
    }
    expect(mismatches).toEqual([]);
  });
});
