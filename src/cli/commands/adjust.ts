import { createReadStream, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Command } from 'commander';
import { compareWithReference } from '../../adjust/index.js';
import { AdjustLineProcessor } from '../adjustLine.js';
import { InputLineError, UserInputError } from '../errors.js';
import { describeFsError } from '../fsErrors.js';
import { readLineBlocks } from '../lineReader.js';
import { numberArg } from '../parsers.js';
import { SpooledOutput } from '../spooledOutput.js';

export { type AdjustRequest, formatResult, parseLine } from '../adjustLine.js';
/** The check `--verify` runs (kept here under its old import path). */
export { compareWithReference };

/** The options commander hands to the action. */
interface AdjustFlags {
  min?: number;
  max?: number;
  verify?: boolean;
  out?: string;
}

/** The longest input line accepted, in bytes (about a million rewards). */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;

const HELP_AFTER = `
Input: JSON Lines (from FILE, or stdin when FILE is absent or "-"), one group of responses to
one prompt per line:
  {"rewards": number[], "weights"?: number[], "min"?: number, "max"?: number}
  rewards   required; every reward must lie in [min, max]
  weights   optional, one non-negative number per reward, not all zero (uniform when absent)
  min, max  optional; a line's own range overrides --min/--max, and every line needs a range
            from one or the other
Other fields are rejected, so that a misspelt "weight" cannot be ignored, and so are repeated keys
and nesting deeper than 64 levels. Blank lines are skipped; lines may end in CRLF; the input must be
UTF-8 with lines of at most 8 MiB. Every line is checked before anything is written: on a bad line
the command prints "FILE line N: <what is wrong> (<value>)" (FILE is "stdin" for standard input),
exits with code 2 and writes nothing.
Input of any size is streamed: the results wait in a temporary file (next to --out, or in the
OS temporary folder for stdout) and are published when the last line has been checked.
--verify enumerates O(n^2) extreme points, so it takes groups of up to 10000 rewards.

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
  const input = openInput(file);
  // Results go to a spool and reach --out or stdout only once every line has been checked, so a bad
  // line anywhere leaves nothing written; memory stays bounded by a chunk and one line.
  const output = SpooledOutput.open(flags.out, `--out file ${JSON.stringify(flags.out)}`);
  const removeOnSignal = cleanUpOnSignals(output);
  try {
    const processor = new AdjustLineProcessor(flags, flags.verify === true);
    for await (const { bytes, starts, ends, count, firstLine } of readLineBlocks(
      input.chunks,
      MAX_LINE_BYTES,
    )) {
      for (let k = 0; k < count; k++) {
        const start = starts[k];
        const end = ends[k];
        if (start === end) continue; // a blank line
        // The common line shape is answered from the bytes; every other line takes the strict path.
        if (!processor.processBytes(bytes, start, end, output)) {
          output.write(processor.process(bytes.toString('utf8', start, end), firstLine + k));
        }
      }
    }
    await output.publish();
    if (flags.verify) {
      const lines = processor.count === 1 ? 'line' : 'lines';
      process.stderr.write(`verified ${processor.count} ${lines} against the brute-force reference\n`);
    }
  } catch (error) {
    output.discard();
    throw input.describe(error);
  } finally {
    removeOnSignal();
  }
}

/** The input's chunks, and how a failure to read it is told. */
interface Input {
  chunks: AsyncIterable<Uint8Array>;
  /** A read error in the user's terms, a bad line with the input's name; other errors as they are. */
  describe(error: unknown): unknown;
}

/** How messages name the input: the path as given, or `stdin`. */
const STDIN_NAME = 'stdin';

// Large reads: fewer, bigger batches of lines.
const READ_CHUNK = 1 << 16;

function openInput(file: string | undefined): Input {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY) {
      process.stderr.write('grpovi adjust: reading JSON Lines from stdin (end with Ctrl-D; see --help)\n');
    }
    return { chunks: process.stdin, describe: (error) => nameLine(error, STDIN_NAME) };
  }
  const fail = (error: unknown): UserInputError =>
    new UserInputError(`cannot read input file ${JSON.stringify(file)}: ${describeFsError(error)}`);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw fail(error);
  }
  const chunks = createReadStream(file, { fd, highWaterMark: READ_CHUNK });
  return {
    chunks,
    describe: (error) =>
      error instanceof UserInputError || typeof (error as NodeJS.ErrnoException)?.code !== 'string'
        ? nameLine(error, file)
        : fail(error),
  };
}

/** A bad line's error naming the input it is in; any other error as it is. */
function nameLine(error: unknown, input: string): unknown {
  return error instanceof InputLineError ? error.inInput(input) : error;
}

/**
 * While the spool exists, Ctrl-C, SIGTERM and SIGHUP remove it before the process ends (with the
 * usual 128 + signal number); returns the function that removes these handlers.
 */
function cleanUpOnSignals(output: SpooledOutput): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((signal) => {
    const handler = (): void => {
      output.discard();
      process.exit(128 + osConstants.signals[signal]);
    };
    process.once(signal, handler);
    return () => process.removeListener(signal, handler);
  });
  return () => {
    for (const remove of handlers) remove();
  };
}
