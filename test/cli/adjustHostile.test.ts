import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, ROOT } from './cliBin.js';

// Hostile input for `grpovi adjust`, each case run end to end on the built CLI with --out in a folder of
// its own. For every case: the exit code (2 for bad input, 0 where the input is valid after all), a
// single line on stderr naming the line and the value, no stack trace, and for a failure no --out file
// and no temporary file left in the folder.

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runWithInput(args: string[], input: Buffer | string, stdout?: number): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: ROOT,
      stdio: ['pipe', stdout ?? 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: out, stderr: err }));
    child.stdin?.on('error', () => {
      // The CLI may stop reading early (a line too long): not the test's concern.
    });
    child.stdin?.end(input);
  });
}

const bytes = (...parts: Array<string | number[]>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

const GOOD = '{"rewards": [0.2, 0.9]}';
const deep = (depth: number): string => `{"rewards": ${'['.repeat(depth)}0.5${']'.repeat(depth)}}`;

// [name, input, exit code, stderr pattern (for code 2) or the number of output lines (for code 0)]
type Case = [string, Buffer | string, 2, RegExp] | [string, Buffer | string, 0, number];
const CASES: Case[] = [
  [
    'nesting 100,000 deep',
    deep(100_000),
    2,
    /^stdin line 1: rewards\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels at column 76 \(\[{24}\.\.\.\)$/,
  ],
  [
    'nesting of objects 1,000 deep',
    `{"rewards": [0.5], "min": ${'{"a":'.repeat(1000)}0${'}'.repeat(1000)}}`,
    2,
    /^stdin line 1: min\.a\.a\.a\.\.\. is nested deeper than 64 levels at column \d+ \(\{"a":/,
  ],
  [
    'a million "[" on one line',
    '['.repeat(1_000_000),
    2,
    /^stdin line 1: \[0\]\[0\]\[0\]\[0\]\.\.\. is nested deeper than 64 levels at column 65 \(\[{24}\.\.\.\)$/,
  ],
  [
    'duplicate key',
    '{"rewards": [0.1, 0.4], "rewards": [0.9, 0.2]}',
    2,
    /^stdin line 1: duplicate key "rewards" at column 25$/,
  ],
  [
    'duplicate key spelt with an escape',
    `${GOOD.slice(0, -1)}, "\\u0072ewards": [1, 0]}`,
    2,
    /^stdin line 1: duplicate key "rewards" at column 25$/,
  ],
  [
    'NaN token',
    '{"rewards": [NaN, 0.5]}',
    2,
    /^stdin line 1: not valid JSON at column 14 \("\{\\"rewards\\": \[NaN, 0\.5\]\}"\)$/,
  ],
  ['Infinity token', '{"rewards": [0.5, Infinity]}', 2, /^stdin line 1: not valid JSON at column 19 /],
  ['-Infinity token', '{"rewards": [-Infinity]}', 2, /^stdin line 1: not valid JSON at column 15 /],
  [
    'a reward too large for a double',
    '{"rewards": [0.5, 1e400]}',
    2,
    /^stdin line 1: rewards\[1\] is too large for a 64-bit float \(Infinity\)$/,
  ],
  [
    'a weight too large for a double',
    '{"rewards": [0.5, 0.6], "weights": [1, 1e309]}',
    2,
    /^stdin line 1: weights\[1\] is too large for a 64-bit float \(Infinity\)$/,
  ],
  [
    'a range too wide for a double',
    '{"rewards": [0, 1], "min": -1e308, "max": 1e308}',
    2,
    /^stdin line 1: max is too far from min = -1e\+308: max - min overflows a 64-bit float \(1e\+308\)$/,
  ],
  [
    'variances too large for a double',
    '{"rewards": [0, 1e200], "min": 0, "max": 1e200}',
    2,
    /^stdin line 1: the variance is too large for a 64-bit float.*\(Infinity\)$/,
  ],
  [
    'rewards a string',
    '{"rewards": "0.5"}',
    2,
    /^stdin line 1: rewards must be an array of numbers \("0\.5"\)$/,
  ],
  [
    'rewards an object',
    '{"rewards": {"0": 0.5}}',
    2,
    /^stdin line 1: rewards must be an array of numbers \(\{"0":0\.5\}\)$/,
  ],
  [
    'a boolean reward',
    '{"rewards": [true, 0.5]}',
    2,
    /^stdin line 1: rewards\[0\] is not a number \(true\)$/,
  ],
  [
    'a nested array as a reward',
    '{"rewards": [[0.5], 0.1]}',
    2,
    /^stdin line 1: rewards\[0\] is not a number \(\[0\.5\]\)$/,
  ],
  ['top-level array', '[0.5, 0.2]', 2, /^stdin line 1: not a JSON object like .* \(\[0\.5,0\.2\]\)$/],
  ['top-level null', 'null', 2, /^stdin line 1: not a JSON object like .* \(null\)$/],
  ['empty object', '{}', 2, /^stdin line 1: rewards is missing \(\{\}\)$/],
  [
    'unknown field',
    '{"rewards": [0.5], "weight": [1]}',
    2,
    /^stdin line 1: unknown field, expected rewards, weights, min, max \("weight"\)$/,
  ],
  [
    '__proto__ field',
    '{"rewards": [0.5], "__proto__": {"min": 0}}',
    2,
    /^stdin line 1: unknown field, .* \("__proto__"\)$/,
  ],
  ['trailing garbage', `${GOOD} x`, 2, /^stdin line 1: not valid JSON at column 25 /],
  ['a lone CR inside a line', `${GOOD}\r${GOOD}`, 2, /^stdin line 1: not valid JSON at column 25 /],
  ['a NUL byte', `{"rewards": [0.5,\u0000 0.2]}`, 2, /^stdin line 1: not valid JSON at column 18 /],
  ['an unterminated string', '{"rewards', 2, /^stdin line 1: not valid JSON at column 10 /],
  [
    'weights all zero',
    '{"rewards": [0.5, 0.6], "weights": [0, 0]}',
    2,
    /^stdin line 1: weights are all zero \(\[0,0\]\)$/,
  ],
  [
    'a negative weight',
    '{"rewards": [0.5, 0.6], "weights": [1, -1e-300]}',
    2,
    /^stdin line 1: weights\[1\] is negative \(-1e-300\)$/,
  ],
  [
    'a weight per reward missing',
    '{"rewards": [0.5, 0.6], "weights": [1]}',
    2,
    /^stdin line 1: weights must have one weight per reward \(2\), got length \(1\)$/,
  ],
  [
    'range inverted on the line',
    '{"rewards": [0.5], "min": 1, "max": 0}',
    2,
    /^stdin line 1: min must be less than max = 0 \(1\)$/,
  ],
  [
    'an empty range',
    '{"rewards": [0.5], "min": 0.5, "max": 0.5}',
    2,
    /^stdin line 1: min must be less than max = 0\.5 \(0\.5\)$/,
  ],
  [
    'a reward outside the range',
    '{"rewards": [0.5, -0.01]}',
    2,
    /^stdin line 1: rewards\[1\] is outside the range \[0, 1\] \(-0\.01\)$/,
  ],
  ['a BOM in the middle', `${GOOD}\n\uFEFF${GOOD}\n`, 2, /^stdin line 2: not valid JSON at column 1 /],
  [
    'invalid UTF-8 (0xFF)',
    bytes(`${GOOD}\n{"rewards": [0.5], "x": "`, [0xff], '"}\n'),
    2,
    /^stdin line 2: not valid UTF-8 text \(".*\uFFFD.*"\)$/,
  ],
  [
    'a truncated UTF-8 sequence at the end',
    bytes(`${GOOD}\n${GOOD}\n{"a": "`, [0xe2, 0x82]),
    2,
    /^stdin line 3: not valid UTF-8 text /,
  ],
  [
    'an encoded surrogate (CESU-8)',
    bytes('{"rewards": [0.5], "x": "', [0xed, 0xa0, 0x80], '"}'),
    2,
    /^stdin line 1: not valid UTF-8 text /,
  ],
  [
    'an overlong encoding of "/"',
    bytes('{"rewards": [0.5], "', [0xc0, 0xaf], '": 1}'),
    2,
    /^stdin line 1: not valid UTF-8 text /,
  ],
  [
    'a line over 8 MiB',
    `{"rewards": [${'0.5,'.repeat(2_200_000)}0.5]}`,
    2,
    /^stdin line 1: longer than the limit of 8388608 bytes$/,
  ],
  [
    'a bad line after 20,000 good ones',
    `${`${GOOD}\n`.repeat(20_000)}{"rewards": [0.5, 7]}\n`,
    2,
    /^stdin line 20001: rewards\[1\] is outside the range \[0, 1\] \(7\)$/,
  ],
  // Valid after all.
  ['only blank and whitespace lines', '\n\n   \n\t\r\n', 0, 0],
  ['a BOM at the start, CRLF line ends', `\uFEFF${GOOD}\r\n${GOOD}\r\n`, 0, 2],
  ['a number that underflows to 0', '{"rewards": [1e-400, 0.5]}', 0, 1],
  ['-0 and the range ends', '{"rewards": [-0, 0, 1]}', 0, 1],
  [
    'weights of 5e-324 and of 1.7e308',
    '{"rewards": [0.1, 0.5, 0.9, 0.3], "weights": [5e-324, 5e-324, 5e-324, 5e-324]}\n{"rewards": [0.1, 0.5], "weights": [1.7e308, 1.7e308]}',
    0,
    2,
  ],
  ['a key spelt with an escape', '{"\\u0072ewards": [0.3, 0.6]}', 0, 1],
  ['a long valid line (200,000 rewards)', `{"rewards": [${'0.25,0.75,'.repeat(100_000)}0.5]}`, 0, 1],
  ['no newline at the end', `${GOOD}\n${GOOD}`, 0, 2],
];

let root = '';
beforeAll(() => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  root = mkdtempSync(join(tmpdir(), 'grpovi-adjust-hostile-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function expectOneCleanLine(stderr: string): void {
  expect(stderr.endsWith('\n')).toBe(true);
  expect(stderr.slice(0, -1)).not.toContain('\n');
  expect(stderr).not.toMatch(/internal error|\n\s+at |Error:/);
}

describe(`grpovi adjust on ${CASES.length} hostile inputs`, () => {
  it('has at least 30 cases that must fail', () => {
    expect(CASES.filter((c) => c[2] === 2).length).toBeGreaterThanOrEqual(30);
  });

  it('each: the right exit code, one line naming the line and value, no --out file, no temporary file', async () => {
    const outcomes: Array<{ name: string; outcome: Outcome; folder: string; out: string }> = [];
    // A few at a time, so that the machine is not flooded with processes.
    for (let start = 0; start < CASES.length; start += 6) {
      const batch = CASES.slice(start, start + 6).map(async ([name, input], k) => {
        const folder = join(root, `case-${start + k}`);
        mkdirSync(folder);
        const out = join(folder, 'out.jsonl');
        const outcome = await runWithInput(['adjust', '--min', '0', '--max', '1', '--out', out], input);
        return { name, outcome, folder, out };
      });
      outcomes.push(...(await Promise.all(batch)));
    }
    outcomes.forEach(({ name, outcome, folder, out }, k) => {
      const [, , code, expected] = CASES[k];
      expect({ name, code: outcome.code }).toEqual({ name, code });
      expect(outcome.stdout).toBe('');
      if (code === 2) {
        expectOneCleanLine(outcome.stderr);
        expect({ name, stderr: outcome.stderr }).toEqual({
          name,
          stderr: expect.stringMatching(/^grpovi: /),
        });
        expect({ name, message: outcome.stderr.slice('grpovi: '.length, -1) }).toEqual({
          name,
          message: expect.stringMatching(expected as RegExp),
        });
        expect({ name, files: readdirSync(folder) }).toEqual({ name, files: [] });
      } else {
        expect({ name, stderr: outcome.stderr }).toEqual({ name, stderr: '' });
        const text = readFileSync(out, 'utf8');
        expect({ name, lines: text === '' ? 0 : text.trimEnd().split('\n').length }).toEqual({
          name,
          lines: expected,
        });
        for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
        expect({ name, files: readdirSync(folder) }).toEqual({ name, files: ['out.jsonl'] });
      }
    });
  }, 180_000);
});

describe('grpovi adjust: output that cannot be written', () => {
  it('--out a directory, a path under a file, /proc/x: one line, exit 2, nothing created', async () => {
    const folder = join(root, 'targets');
    mkdirSync(folder);
    const file = join(folder, 'file.txt');
    writeFileSync(file, 'keep\n');
    const cases: Array<[string, RegExp]> = [
      [folder, /: it is a directory$/],
      [join(file, 'sub.jsonl'), /: a part of the path is a file, not a folder$/],
      ['/proc/x', /: cannot create a file in "\/proc"$/],
      [join(folder, 'missing', 'out.jsonl'), /: no such file or directory$/],
    ];
    const outcomes = await Promise.all(
      cases.map(([out]) => runWithInput(['adjust', '--min', '0', '--max', '1', '--out', out], GOOD)),
    );
    outcomes.forEach((outcome, k) => {
      const [out, pattern] = cases[k];
      expect(outcome.code).toBe(2);
      expectOneCleanLine(outcome.stderr);
      expect(outcome.stderr.slice(0, -1)).toMatch(
        new RegExp(
          `^grpovi: cannot write --out file ${JSON.stringify(JSON.stringify(out)).slice(1, -1).replace(/[/.]/g, '\\$&')}`,
        ),
      );
      expect(outcome.stderr.slice(0, -1)).toMatch(pattern);
    });
    expect(readdirSync(folder)).toEqual(['file.txt']);
    expect(readFileSync(file, 'utf8')).toBe('keep\n');
  }, 60_000);

  it('a full disk (/dev/full) as --out or as stdout: one line, exit 2', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const [asOut, asStdout] = await Promise.all([
        runWithInput(['adjust', '--min', '0', '--max', '1', '--out', '/dev/full'], GOOD),
        runWithInput(['adjust', '--min', '0', '--max', '1'], GOOD, full),
      ]);
      expect(asOut.code).toBe(2);
      expect(asOut.stderr).toBe('grpovi: cannot write --out file "/dev/full": no space left on device\n');
      expect(asStdout.code).toBe(2);
      expect(asStdout.stderr).toBe('grpovi: cannot write to stdout: no space left on device\n');
    } finally {
      closeSync(full);
    }
  }, 60_000);

  it('a reader that stops early (EPIPE) is not an error', async () => {
    const input = `${GOOD}\n`.repeat(200_000);
    const outcome = await new Promise<Outcome>((resolve, reject) => {
      const child = spawn(process.execPath, [CLI_BIN, 'adjust', '--min', '0', '--max', '1'], { cwd: ROOT });
      let err = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        err += chunk;
      });
      // Take the first chunk of output, then hang up.
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: '', stderr: err }));
      child.stdin.end(input);
    });
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
  }, 60_000);

  it('--out may name the input file itself: it is replaced only when all of it has been read', async () => {
    const file = join(root, 'inplace.jsonl');
    writeFileSync(file, `${GOOD}\n`.repeat(1000));
    const outcome = await runWithInput(['adjust', file, '--min', '0', '--max', '1', '--out', file], '');
    expect(outcome.code).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(1000);
    // [0.2, 0.9] has mean 0.55: 0.9 goes to 1 and 0.2 keeps the remaining 0.1.
    const [low, high] = JSON.parse(lines[999]).adjusted as number[];
    expect(low).toBeCloseTo(0.1, 12);
    expect(high).toBe(1);
  }, 60_000);
});
