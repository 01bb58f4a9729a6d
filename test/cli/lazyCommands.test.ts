import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, runCli } from '../../src/cli/main.js';
import { ROOT } from './cliBin.js';

// `runCli` registers only the command its first argument names (so that `grpovi adjust` does not load
// the other ten command modules). Each invocation below must print and exit exactly as it does with
// every command registered, the program that `--help` uses. None of them reaches a command's action:
// they are help texts and usage errors, which is where the other commands could show.

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `body` with process.stdout and process.stderr captured. */
async function captured(body: () => Promise<number>): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  try {
    const code = await body();
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

/** The reference: the same argv parsed by the program with every command, exit codes as runCli maps them. */
async function withEveryCommand(argv: string[]): Promise<number> {
  const program = await buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

const everyCommand = await buildProgram();
const NAMES = everyCommand.commands.map((c: Command) => c.name());

const CASES: string[][] = [
  [],
  ['--help'],
  ['-V'],
  ['help'],
  ['help', 'adjust'],
  ['help', 'train'],
  ['help', 'no-such-command'],
  ['trian', '--lr', '1'],
  ['--no-such-flag'],
  ...NAMES.flatMap((name) => [
    [name, '--help'],
    [name, '-h'],
    [name, '--no-such-flag'],
    [name, '--hepl'],
  ]),
  ['adjust', '--min', 'abc'],
  ['adjust', 'a.jsonl', 'b.jsonl'],
  ['train', '--lr', 'abc'],
  ['train', '--group-size'],
  ['compare', '--algos'],
  ['report'],
  ['compare-run'],
  ['export'],
];

describe('the CLI registers only the command it runs', () => {
  it('knows every command: the same as every register* function in src/cli/commands/ registers', async () => {
    const folder = join(ROOT, 'src', 'cli', 'commands');
    const registered = new Command('grpovi');
    for (const file of readdirSync(folder).filter((f) => f.endsWith('.ts'))) {
      const module = (await import(pathToFileURL(join(folder, file)).href)) as Record<string, unknown>;
      for (const [name, value] of Object.entries(module)) {
        if (name.startsWith('register') && typeof value === 'function') value(registered);
      }
    }
    const names = registered.commands.map((c: Command) => c.name());
    expect(names.length).toBeGreaterThanOrEqual(11);
    expect([...NAMES].sort()).toEqual(names.sort());
  });

  it('builds the named command alone, and every command otherwise', async () => {
    for (const name of NAMES) {
      const program = await buildProgram([name, '--help']);
      expect(program.commands.map((c: Command) => c.name())).toEqual([name]);
    }
    for (const argv of [[], ['--help'], ['help', 'adjust'], ['trian']]) {
      expect((await buildProgram(argv)).commands.map((c: Command) => c.name())).toEqual(NAMES);
    }
  });

  it.each(CASES.map((argv) => [argv.join(' ') || '(no arguments)', argv] as const))(
    '`grpovi %s` prints and exits as with every command registered',
    async (_label, argv) => {
      const lazy = await captured(() => runCli([...argv]));
      const full = await captured(() => withEveryCommand([...argv]));
      expect(lazy).toEqual(full);
      // Each case prints something: help, a version or a usage error.
      expect(lazy.stdout + lazy.stderr).not.toBe('');
    },
  );
});
