import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import {
  adjustRewards,
  compareWithReference,
  formatValue,
  RewardInputError,
  rewardVariance,
} from '../../adjust/index.js';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { UserInputError } from '../errors.js';
import { numberArg } from '../parsers.js';

/** The options commander hands to the action. */
interface AdjustFlags {
  min?: number;
  max?: number;
  verify?: boolean;
  out?: string;
}

/** One input line, checked: a group's rewards with its range and optional weights. */
export interface AdjustRequest {
  /** 1-based line number in the input, blank lines included, for messages. */
  line: number;
  rewards: number[];
  weights?: number[];
  min: number;
  max: number;
}

/** One output line. */
export interface AdjustResult {
  adjusted: number[];
  variance_before: number;
  variance_after: number;
}

const LINE_FIELDS = ['rewards', 'weights', 'min', 'max'];

const HELP_AFTER = `
Input: JSON Lines (from FILE, or stdin when FILE is absent or "-"), one group of responses to
one prompt per line:
  {"rewards": number[], "weights"?: number[], "min"?: number, "max"?: number}
  rewards   required; every reward must lie in [min, max]
  weights   optional, one non-negative number per reward, not all zero (uniform when absent)
  min, max  optional; a line's own range overrides --min/--max, and every line needs a range
            from one or the other
Other fields are rejected, so that a misspelt "weight" cannot be ignored. Blank lines are skipped. Every line is checked before anything is written: on a bad line the
command prints "line N: <what is wrong> (<value>)", exits with code 2 and writes nothing.

Output: one JSON line per input line, in order:
  {"adjusted": number[], "variance_before": number, "variance_after": number}
The adjusted rewards keep the (weighted) mean, the order and the ties of the input, stay in
[min, max], and have the largest (weighted) variance that allows; the variances are weighted.

Example:
  $ cat groups.jsonl
  {"rewards": [0.875, 0.75, 0.5, 0.5, 0.125]}
  {"rewards": [1, 0, 0, 1]}
  {"rewards": [2, 3, 5], "weights": [2, 1, 1], "min": 0, "max": 8}
  $ grpovi adjust groups.jsonl --min 0 --max 1
  {"adjusted":[1,1,0.375,0.375,0],"variance_before":0.06625,"variance_after":0.15375}
  {"adjusted":[1,0,0,1],"variance_before":0.25,"variance_after":0.25}
  {"adjusted":[0,4,8],"variance_before":1.5,"variance_after":11}

The first group is bunched, as reward-model scores are. Its mean 0.55 puts 2.75 of its 5 units
of mass at the top: 0.875 and 0.75 go to 1, the tied 0.5s share the remaining 0.75 and stay
tied, 0.125 goes to 0. Binary rewards (second line) already have the largest variance and come
back unchanged. The third line has its own range [0, 8] and weights; its weighted mean 3 is kept.
`;

/** Registers `grpovi adjust [FILE] [--min M] [--max M] [--verify] [--out FILE]`. */
export function registerAdjust(program: Command): void {
  program
    .command('adjust')
    .description(
      'adjust each group of rewards to the largest variance that keeps its mean, order, ties and range',
    )
    .argument('[file]', 'JSON Lines input (default: stdin)')
    .option('--min <number>', 'lower end of the reward range, for lines without "min"', numberArg())
    .option('--max <number>', 'upper end of the reward range, for lines without "max"', numberArg())
    .option('--verify', 'also run the brute-force reference; exit 1 if any answer differs from it')
    .option('--out <file>', 'write the output to this file (atomically) instead of stdout')
    .addHelpText('after', HELP_AFTER)
    .action(async (file: string | undefined, flags: AdjustFlags) => {
      await runAdjust(file, flags);
    });
}

async function runAdjust(file: string | undefined, flags: AdjustFlags): Promise<void> {
  if (flags.min !== undefined && flags.max !== undefined && !(flags.min < flags.max)) {
    throw new UserInputError(`--min must be less than --max = ${flags.max} (${flags.min})`);
  }
  const text = await readInput(file);
  // Every line is checked and solved before the first byte of output.
  const solved = solveInput(text, flags);
  if (flags.verify) {
    for (const { request, result } of solved) {
      const problem = compareWithReference(request, result.adjusted);
      if (problem !== null) throw new UserInputError(`line ${request.line}: --verify failed: ${problem}`, 1);
    }
  }
  const output = solved.map(({ result }) => `${JSON.stringify(result)}\n`).join('');
  if (flags.out !== undefined) {
    try {
      writeFileAtomic(flags.out, output);
    } catch (error) {
      throw new UserInputError(
        `cannot write --out file ${JSON.stringify(flags.out)}: ${describeFsError(error)}`,
      );
    }
  } else {
    // A reader that stops early (`| head`) is not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error;
    });
    process.stdout.write(output);
  }
  if (flags.verify) {
    const lines = solved.length === 1 ? 'line' : 'lines';
    process.stderr.write(`verified ${solved.length} ${lines} against the brute-force reference\n`);
  }
}

async function readInput(file: string | undefined): Promise<string> {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) {
      process.stderr.write('grpovi adjust: reading JSON Lines from stdin (end with Ctrl-D; see --help)\n');
    }
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserInputError(`cannot read input file ${JSON.stringify(file)}: ${describeFsError(error)}`);
  }
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return error instanceof Error ? error.message : String(error);
}

/** A checked input line with its answer. */
export interface SolvedLine {
  request: AdjustRequest;
  result: AdjustResult;
}

/**
 * Parses, checks and solves every line of the input (blank lines skipped). Throws a UserInputError
 * `line N: <what is wrong> (<value>)` for the first bad line.
 */
export function solveInput(text: string, flags: { min?: number; max?: number }): SolvedLine[] {
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  const solved: SolvedLine[] = [];
  lines.forEach((raw, index) => {
    const source = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (source.trim() === '') return;
    const line = index + 1;
    try {
      const request = parseLine(source, line, flags);
      // The solver checks the rest (range, rewards inside it, weights) and names the bad value.
      solved.push({ request, result: solveRequest(request) });
    } catch (error) {
      if (error instanceof RewardInputError) throw new UserInputError(`line ${line}: ${error.message}`);
      throw error;
    }
  });
  return solved;
}

function lineError(line: number, problem: string, value: unknown): UserInputError {
  return new UserInputError(`line ${line}: ${problem} (${formatValue(value)})`);
}

/** Parses one line's structure; a bad field is thrown as RewardInputError (field, problem, value). */
function parseLine(source: string, line: number, flags: { min?: number; max?: number }): AdjustRequest {
  let parsed: unknown;
  try {
    parsed = JSON.parse(source);
  } catch (error) {
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '');
    const where = position === null ? '' : ` at column ${Number(position[1]) + 1}`;
    throw lineError(line, `not valid JSON${where}`, source);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw lineError(line, 'not a JSON object like {"rewards": [0.2, 0.9]}', parsed);
  }
  const fields = parsed as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!LINE_FIELDS.includes(key)) {
      throw lineError(line, `unknown field, expected ${LINE_FIELDS.join(', ')}`, key);
    }
  }
  if (!('rewards' in fields)) throw new RewardInputError('rewards', 'is missing', parsed);
  const rewards = numberArray('rewards', fields.rewards);
  const weights = 'weights' in fields ? numberArray('weights', fields.weights) : undefined;
  const min = 'min' in fields ? finiteNumber('min', fields.min) : flags.min;
  const max = 'max' in fields ? finiteNumber('max', fields.max) : flags.max;
  if (min === undefined)
    throw new RewardInputError('min', 'is missing: give "min" on the line or --min', parsed);
  if (max === undefined)
    throw new RewardInputError('max', 'is missing: give "max" on the line or --max', parsed);
  const request: AdjustRequest = { line, rewards, min, max };
  if (weights !== undefined) request.weights = weights;
  return request;
}

function numberArray(field: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw new RewardInputError(field, 'must be an array of numbers', value);
  return value.map((entry, i) => finiteNumber(`${field}[${i}]`, entry));
}

function finiteNumber(field: string, value: unknown): number {
  if (typeof value !== 'number') throw new RewardInputError(field, 'is not a number', value);
  // JSON has no Infinity or NaN: a non-finite number here is a literal too large for a 64-bit float.
  if (!Number.isFinite(value)) throw new RewardInputError(field, 'is too large for a 64-bit float', value);
  return value;
}

/** Solves one checked line. */
export function solveRequest(request: AdjustRequest): AdjustResult {
  const adjusted = adjustRewards(request.rewards, request);
  return {
    adjusted: Array.from(adjusted),
    variance_before: rewardVariance(request.rewards, request.weights),
    variance_after: rewardVariance(adjusted, request.weights),
  };
}

/** The check `--verify` runs (kept here under its old import path). */
export { compareWithReference };
