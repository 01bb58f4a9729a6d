import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AdjustRequest, compareWithReference } from '../../src/cli/commands/adjust.js';
import { CLI_BIN as BIN, ROOT, runCli, runNode } from './cliBin.js';

// End-to-end: these run the built CLI (`npm test` builds dist first; run `npm run build` before
// running this file alone, or point GRPOVI_CLI_BIN at another build: see cliBin.ts).
const run = runCli;

function outputLines(
  stdout: string,
): Array<{ adjusted: number[]; variance_before: number; variance_after: number }> {
  expect(stdout.endsWith('\n')).toBe(true);
  return stdout
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line));
}

/** Weighted population variance, written out independently of the library. */
function variance(values: number[], weights?: number[]): number {
  const p = (i: number): number => (weights === undefined ? 1 : weights[i]);
  const total = values.reduce((s, _, i) => s + p(i), 0);
  const mean = values.reduce((s, v, i) => s + p(i) * v, 0) / total;
  return values.reduce((s, v, i) => s + p(i) * (v - mean) ** 2, 0) / total;
}

function expectCloseArray(actual: number[], expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) expect(actual[i]).toBeCloseTo(expected[i], 12);
}

let dir = '';
beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'grpovi-adjust-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// Hand-computed: mean 0.55 puts 2.75 units of mass at the top; mean 3 of [2, 3, 5] with weights
// [2, 1, 1] in [0, 8] puts 1.5 units (of 4) at the top: 5 -> 8, 3 -> 4 (half of its unit), 2 -> 0.
const GOOD_LINES = [
  '{"rewards": [0.875, 0.75, 0.5, 0.5, 0.125]}',
  '{"rewards": [1, 0, 0, 1]}',
  '{"rewards": [2, 3, 5], "weights": [2, 1, 1], "min": 0, "max": 8}',
];
const GOOD_EXPECTED = [
  [1, 1, 0.375, 0.375, 0],
  [1, 0, 0, 1],
  [0, 4, 8],
];

function checkGoodOutput(stdout: string): void {
  const lines = outputLines(stdout);
  expect(lines).toHaveLength(3);
  lines.forEach((line, k) => {
    expect(Object.keys(line).sort()).toEqual(['adjusted', 'variance_after', 'variance_before']);
    expectCloseArray(line.adjusted, GOOD_EXPECTED[k]);
  });
  expect(lines[0].variance_before).toBeCloseTo(0.06625, 14);
  expect(lines[0].variance_after).toBeCloseTo(0.15375, 14);
  expect(lines[1].variance_before).toBe(0.25);
  expect(lines[1].variance_after).toBe(0.25);
  expect(lines[2].variance_before).toBeCloseTo(variance([2, 3, 5], [2, 1, 1]), 12);
  expect(lines[2].variance_after).toBeCloseTo(11, 12);
}

describe('grpovi adjust: good input', () => {
  it('reads a file and writes one JSON line per input line, in order', async () => {
    const file = join(dir, 'good.jsonl');
    writeFileSync(file, `${GOOD_LINES.join('\n')}\n`);
    const result = await run(['adjust', file, '--min', '0', '--max', '1']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    checkGoodOutput(result.stdout);
  });

  it('reads stdin when no file is given, and for "-"', async () => {
    const [plain, dash] = await Promise.all([
      run(['adjust', '--min', '0', '--max', '1'], { input: GOOD_LINES.join('\n') }),
      run(['adjust', '-', '--min', '0', '--max', '1'], { input: GOOD_LINES.join('\n') }),
    ]);
    for (const result of [plain, dash]) {
      expect(result.code).toBe(0);
      checkGoodOutput(result.stdout);
    }
  });

  it('skips blank and whitespace-only lines and accepts CRLF line ends', async () => {
    const input = `\n${GOOD_LINES[0]}\r\n   \n\t\n${GOOD_LINES[1]}\r\n\n${GOOD_LINES[2]}\n\n`;
    const result = await run(['adjust', '--min', '0', '--max', '1'], { input });
    expect(result.code).toBe(0);
    checkGoodOutput(result.stdout);
  });

  it("uses a line's own min and max over the flags, each on its own", async () => {
    const input = [
      // Own range [0, 8]: 6 and 2 have mean 4, so they go to 8 and 0.
      '{"rewards": [6, 2], "min": 0, "max": 8}',
      // Own max 2 with the flag's min 0: mean 0.5 of [0.75, 0.25] is 1/4 of the way up; 0.75 takes it all.
      '{"rewards": [0.75, 0.25], "max": 2}',
      // Own min -1 with the flag's max 1: [0.5, 0.3] has mean 0.4, 1.4 of 2 units above -1.
      '{"rewards": [0.5, 0.3], "min": -1}',
    ].join('\n');
    const result = await run(['adjust', '--min', '0', '--max', '1'], { input });
    expect(result.stderr).toBe('');
    const lines = outputLines(result.stdout);
    expectCloseArray(lines[0].adjusted, [8, 0]);
    expectCloseArray(lines[1].adjusted, [1, 0]);
    expectCloseArray(lines[2].adjusted, [1, -0.2]);
  });

  it('works without flags when every line has its range; empty input gives empty output', async () => {
    const [ranged, empty] = await Promise.all([
      run(['adjust'], { input: '{"rewards": [0.2, 0.6], "min": 0, "max": 1}\n' }),
      run(['adjust', '--min', '0', '--max', '1'], { input: '\n\n' }),
    ]);
    expect(ranged.code).toBe(0);
    expectCloseArray(outputLines(ranged.stdout)[0].adjusted, [0, 0.8]);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toBe('');
  });

  it('writes plain JSON numbers that round-trip', async () => {
    const rewards = [0.1, 0.7, 0.30000000000000004, 0.9];
    const result = await run(['adjust', '--min', '0', '--max', '1'], {
      input: JSON.stringify({ rewards }),
    });
    const line = result.stdout.trim();
    expect(line).toMatch(
      /^\{"adjusted":\[[-0-9.e,]+\],"variance_before":[-0-9.e]+,"variance_after":[-0-9.e]+\}$/,
    );
    const parsed = JSON.parse(line);
    expect(parsed.variance_before).toBeCloseTo(variance(rewards), 14);
    expect(parsed.variance_after).toBeCloseTo(variance(parsed.adjusted), 14);
  });

  it('adjusts the bundled example file', async () => {
    const result = await run(['adjust', 'examples/rewards.jsonl', '--min', '0', '--max', '1', '--verify']);
    expect(result.code).toBe(0);
    const inputs = readFileSync(join(ROOT, 'examples', 'rewards.jsonl'), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { rewards: number[]; weights?: number[] });
    const lines = outputLines(result.stdout);
    expect(lines).toHaveLength(inputs.length);
    lines.forEach((line, k) => {
      expect(line.adjusted).toHaveLength(inputs[k].rewards.length);
      expect(line.variance_after).toBeGreaterThanOrEqual(line.variance_before - 1e-12);
    });
    // The binary line comes back unchanged.
    const binary = inputs.findIndex((input) => input.rewards.every((r) => r === 0 || r === 1));
    expect(binary).toBeGreaterThanOrEqual(0);
    expect(lines[binary].adjusted).toEqual(inputs[binary].rewards);
  });
});

describe('grpovi adjust: bad input', () => {
  // [input, extra args, the whole stderr after "grpovi: "]
  const cases: Array<[string, string[], string]> = [
    ['{rewards: [1]}', [], 'stdin line 1: not valid JSON at column 2 ("{rewards: [1]}")'],
    ['[0.5, 0.2]', [], 'stdin line 1: not a JSON object like {"rewards": [0.2, 0.9]} ([0.5,0.2])'],
    ['{"reward": [0.5]}', [], 'stdin line 1: unknown field, expected rewards, weights, min, max ("reward")'],
    ['{"weights": [1]}', [], 'stdin line 1: rewards is missing ({"weights":[1]})'],
    ['{"rewards": "0.5"}', [], 'stdin line 1: rewards must be an array of numbers ("0.5")'],
    ['{"rewards": [0.5, "0.7"]}', [], 'stdin line 1: rewards[1] is not a number ("0.7")'],
    ['{"rewards": [0.5, null]}', [], 'stdin line 1: rewards[1] is not a number (null)'],
    ['{"rewards": [0.5, 1e400]}', [], 'stdin line 1: rewards[1] is too large for a 64-bit float (Infinity)'],
    [
      '{"rewards": [-1e400, 0.5]}',
      [],
      'stdin line 1: rewards[0] is too large for a 64-bit float (-Infinity)',
    ],
    ['{"rewards": [0.2, 0.4, 0.6, 1.5]}', [], 'stdin line 1: rewards[3] is outside the range [0, 1] (1.5)'],
    ['{"rewards": []}', [], 'stdin line 1: rewards must not be empty ([])'],
    [
      '{"rewards": [0.5], "weights": [1, 2]}',
      [],
      'stdin line 1: weights must have one weight per reward (1), got length (2)',
    ],
    ['{"rewards": [0.5, 0.6], "weights": [1, -2]}', [], 'stdin line 1: weights[1] is negative (-2)'],
    ['{"rewards": [0.5, 0.6], "weights": [0, 0]}', [], 'stdin line 1: weights are all zero ([0,0])'],
    ['{"rewards": [0.5, 0.6], "weights": [1, "2"]}', [], 'stdin line 1: weights[1] is not a number ("2")'],
    [
      '{"rewards": [0.5, 0.6], "weights": [0, 1e999]}',
      [],
      'stdin line 1: weights[1] is too large for a 64-bit float (Infinity)',
    ],
    [
      '{"rewards": [0.5, 0.6], "weights": {"a": 1}}',
      [],
      'stdin line 1: weights must be an array of numbers ({"a":1})',
    ],
    ['{"rewards": [0.5, 0.6], "min": "0"}', [], 'stdin line 1: min is not a number ("0")'],
    ['{"rewards": [0.5, 0.6], "max": null}', [], 'stdin line 1: max is not a number (null)'],
    ['{"rewards": [0.5, 0.6], "min": 1, "max": 0}', [], 'stdin line 1: min must be less than max = 0 (1)'],
    [
      '{"rewards": [0.5, 0.6], "min": 0.5, "max": 0.5}',
      [],
      'stdin line 1: min must be less than max = 0.5 (0.5)',
    ],
    [
      '{"rewards": [0.5, 0.6]}',
      ['--only-max'],
      'stdin line 1: min is missing: give "min" on the line or --min ({"rewards":[0.5,0.6]})',
    ],
    [
      '{"rewards": [0.5, 0.6]}',
      ['--only-min'],
      'stdin line 1: max is missing: give "max" on the line or --max ({"rewards":[0.5,0.6]})',
    ],
    // The first bad line is reported, numbered with blank lines counted; good lines before it print nothing.
    [
      `${GOOD_LINES[0]}\n\n{"rewards": [0.5, 2]}\n{"rewards": [7]}`,
      [],
      'stdin line 3: rewards[1] is outside the range [0, 1] (2)',
    ],
  ];

  function argsFor(extra: string[]): string[] {
    if (extra.includes('--only-max')) return ['adjust', '--max', '1'];
    if (extra.includes('--only-min')) return ['adjust', '--min', '0'];
    return ['adjust', '--min', '0', '--max', '1', ...extra];
  }

  it('each bad line: exit code 2, "grpovi: stdin line N: <problem> (<value>)" on stderr, nothing on stdout', async () => {
    const results = await Promise.all(cases.map(([input, extra]) => run(argsFor(extra), { input })));
    results.forEach((result, k) => {
      const [input, , message] = cases[k];
      expect({ input, ...result }).toEqual({ input, code: 2, stdout: '', stderr: `grpovi: ${message}\n` });
    });
  });

  it('bad flags: not a number, min not below max', async () => {
    const [letters, empty, inverted] = await Promise.all([
      run(['adjust', '--min', 'abc', '--max', '1'], { input: GOOD_LINES[0] }),
      run(['adjust', '--min', '0', '--max', ''], { input: GOOD_LINES[0] }),
      run(['adjust', '--min', '2', '--max', '1'], { input: GOOD_LINES[0] }),
    ]);
    expect(letters.code).toBe(2);
    expect(letters.stdout).toBe('');
    expect(letters.stderr).toContain("option '--min <number>' argument 'abc' is invalid");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("option '--max <number>' argument '' is invalid");
    expect(inverted.code).toBe(2);
    expect(inverted.stderr).toBe('grpovi: --min must be less than --max = 1 (2)\n');
  });

  it('a bad line in an input file is named by the path as given, from the parser and from the reader', async () => {
    const sub = mkdtempSync(join(dir, 'named-'));
    const badValue = join(sub, 'in.jsonl');
    writeFileSync(badValue, `${GOOD_LINES[0]}\n\n{"rewards": [0.5, 2]}\n`);
    const badBytes = join(sub, 'latin1.jsonl');
    writeFileSync(
      badBytes,
      Buffer.concat([Buffer.from(`${GOOD_LINES[0]}\n{"rewards": [0.5]} `), Buffer.from([0xe9, 0x0a])]),
    );
    const [value, bytes, relative] = await Promise.all([
      run(['adjust', badValue, '--min', '0', '--max', '1']),
      run(['adjust', badBytes, '--min', '0', '--max', '1']),
      run(['adjust', 'in.jsonl', '--min', '0', '--max', '1'], { cwd: sub }),
    ]);
    expect(value).toEqual({
      code: 2,
      stdout: '',
      stderr: `grpovi: ${badValue} line 3: rewards[1] is outside the range [0, 1] (2)\n`,
    });
    expect(bytes.code).toBe(2);
    expect(bytes.stderr).toMatch(
      new RegExp(`^grpovi: ${badBytes.replace(/[/.]/g, '\\$&')} line 2: not valid UTF-8 text `),
    );
    expect(relative.stderr).toBe('grpovi: in.jsonl line 3: rewards[1] is outside the range [0, 1] (2)\n');
  });

  it('a missing input file is named', async () => {
    const missing = join(dir, 'no-such-file.jsonl');
    const result = await run(['adjust', missing, '--min', '0', '--max', '1']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `grpovi: cannot read input file ${JSON.stringify(missing)}: no such file or directory\n`,
    );
  });
});

describe('grpovi adjust --out', () => {
  it('writes the same lines as stdout would, and nothing to stdout', async () => {
    const out = join(dir, 'out.jsonl');
    const input = GOOD_LINES.join('\n');
    const [toFile, toStdout] = await Promise.all([
      run(['adjust', '--min', '0', '--max', '1', '--out', out], { input }),
      run(['adjust', '--min', '0', '--max', '1'], { input }),
    ]);
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toBe('');
    expect(readFileSync(out, 'utf8')).toBe(toStdout.stdout);
    checkGoodOutput(readFileSync(out, 'utf8'));
  });

  it('leaves no file behind on a bad line, and an existing file untouched', async () => {
    const sub = mkdtempSync(join(dir, 'out-'));
    const fresh = join(sub, 'fresh.jsonl');
    const existing = join(sub, 'existing.jsonl');
    writeFileSync(existing, 'previous content\n');
    const input = `${GOOD_LINES[0]}\n{"rewards": [0.5, 9]}\n`;
    const results = await Promise.all(
      [fresh, existing].map((out) => run(['adjust', '--min', '0', '--max', '1', '--out', out], { input })),
    );
    for (const result of results) {
      expect(result.code).toBe(2);
      expect(result.stderr).toBe('grpovi: stdin line 2: rewards[1] is outside the range [0, 1] (9)\n');
    }
    expect(existsSync(fresh)).toBe(false);
    expect(readFileSync(existing, 'utf8')).toBe('previous content\n');
    expect(readdirSync(sub)).toEqual(['existing.jsonl']);
  });

  it('names an --out path whose folder does not exist', async () => {
    const out = join(dir, 'no-such-folder', 'out.jsonl');
    const result = await run(['adjust', '--min', '0', '--max', '1', '--out', out], { input: GOOD_LINES[0] });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `grpovi: cannot write --out file ${JSON.stringify(out)}: no such file or directory\n`,
    );
  });
});

describe('grpovi adjust --verify', () => {
  it('agrees with the brute force, prints the same output and a summary on stderr', async () => {
    const input = GOOD_LINES.join('\n');
    const [verified, plain] = await Promise.all([
      run(['adjust', '--min', '0', '--max', '1', '--verify'], { input }),
      run(['adjust', '--min', '0', '--max', '1'], { input }),
    ]);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toBe(plain.stdout);
    expect(verified.stderr).toBe('verified 3 lines against the brute-force reference\n');
  });

  it('still rejects bad input first', async () => {
    const result = await run(['adjust', '--verify'], { input: '{"rewards": [0.5]}' });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'grpovi: stdin line 1: min is missing: give "min" on the line or --min ({"rewards":[0.5]})\n',
    );
  });

  it('compareWithReference accepts the optimum and names what differs otherwise', () => {
    const request: AdjustRequest = { line: 4, rewards: [0.9, 0.7, 0.6, 0.6, 0.2], min: 0, max: 1 };
    expect(compareWithReference(request, [1, 1, 0.5, 0.5, 0])).toBeNull();
    // Feasible, same mean, lower objective.
    expect(compareWithReference(request, [1, 0.75, 0.625, 0.625, 0])).toMatch(/^objective .* differs/);
    // Same objective to within tolerance is impossible to fake here, so test a value mismatch on a
    // weighted group where a zero-weight entry may differ but a weighted one may not.
    const weighted: AdjustRequest = { line: 1, rewards: [0.9, 0.5, 0.1], weights: [1, 0, 1], min: 0, max: 1 };
    expect(compareWithReference(weighted, [1, 0.3, 0])).toBeNull();
    expect(compareWithReference(weighted, [1, 1, 1e-6])).toMatch(/adjusted\[2\] is 0.000001/);
  });
});

describe('grpovi adjust --help', () => {
  it('documents the line format, and its example output is what the command prints', async () => {
    const help = await run(['adjust', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      '{"rewards": number[], "weights"?: number[], "min"?: number, "max"?: number}',
    );
    expect(help.stdout).toContain(
      '{"adjusted": number[], "variance_before": number, "variance_after": number}',
    );
    expect(help.stdout).toContain('Blank lines are skipped');
    // Run the example exactly as the help shows it.
    const example = help.stdout.slice(help.stdout.indexOf('Example:'));
    const shown = example.split('\n').map((line) => line.trim());
    const catAt = shown.indexOf('$ cat groups.jsonl');
    const commandAt = shown.findIndex((line) => line.startsWith('$ grpovi adjust'));
    expect(catAt).toBeGreaterThanOrEqual(0);
    expect(commandAt).toBeGreaterThan(catAt);
    const inputLines = shown.slice(catAt + 1, commandAt);
    const outputAt = commandAt + 1;
    const claimed = shown.slice(outputAt, outputAt + inputLines.length);
    writeFileSync(join(dir, 'groups.jsonl'), `${inputLines.join('\n')}\n`);
    const args = shown[commandAt].slice('$ grpovi '.length).split(/\s+/);
    const result = await run(args, { cwd: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`${claimed.join('\n')}\n`);
  });
});

describe('the package entry point', () => {
  it("`import { adjustRewards, adjustGroups } from 'grpovi'` works in plain node (self-reference, dist)", async () => {
    const script = [
      "import { adjustRewards, adjustGroups } from 'grpovi';",
      'const one = Array.from(adjustRewards([0.875, 0.75, 0.5, 0.5, 0.125], { min: 0, max: 1 }));',
      'const flat = Array.from(adjustGroups([1, 0, 0.25, 0.75], 2, { min: 0, max: 1 }));',
      'console.log(JSON.stringify({ one, flat }));',
    ].join('\n');
    const result = await runNode(['--input-type=module', '-e', script]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { one, flat } = JSON.parse(result.stdout);
    expectCloseArray(one, [1, 1, 0.375, 0.375, 0]);
    // Each group of 2 with distinct values goes to its extremes: [1, 0] stays, [0.25, 0.75] -> [0, 1].
    expectCloseArray(flat, [1, 0, 0, 1]);
  });
});
