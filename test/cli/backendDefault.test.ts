import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { BACKENDS, DEFAULT_BACKEND } from '../../src/nn/backends/backendNames.js';
import { CONFIG_DEFAULTS } from '../../src/train/configDefaults.js';

// Every command that runs a model offers --backend with the same names and the same default, auto:
// the commands without a training config take it from the option's default; those whose runs have a
// config (train, compare, compare-run, demo) leave the flag unset and the config's default applies.

/** Commands that run a model without a training config: the flag's default is the backend. */
const DIRECT = ['sample', 'pretrain', 'train-rm'];
/** Commands whose runs take the backend from a training config unless --backend is given. */
const CONFIGURED = ['train', 'compare', 'compare-run', 'demo'];

async function commandOf(name: string): Promise<{ program: Command; command: Command }> {
  const program = await buildProgram([name]);
  const command = program.commands.find((c) => c.name() === name);
  if (command === undefined) throw new Error(`no command ${name}`);
  return { program, command };
}

function backendOf(command: Command): Option {
  const option = command.options.find((o) => o.long === '--backend');
  if (option === undefined) throw new Error(`${command.name()} has no --backend`);
  return option;
}

/** Parses `args` with the command's action replaced by one that records the flags it receives. */
async function flagsOf(name: string, args: string[]): Promise<Record<string, unknown>> {
  const { program, command } = await commandOf(name);
  let received: Record<string, unknown> | undefined;
  command.action((...values: unknown[]) => {
    received = values.find((v) => typeof v === 'object' && v !== null && !('parent' in v)) as Record<
      string,
      unknown
    >;
  });
  await program.parseAsync([name, ...args], { from: 'user' });
  if (received === undefined) throw new Error(`${name}: the action was not called`);
  return received;
}

describe('--backend', () => {
  it('the shared default is auto, and the training config takes the same one', () => {
    expect(DEFAULT_BACKEND).toBe('auto');
    expect(CONFIG_DEFAULTS.backend).toBe(DEFAULT_BACKEND);
  });

  it.each([...DIRECT, ...CONFIGURED])('`grpovi %s` offers every backend', async (name) => {
    const { command } = await commandOf(name);
    expect(backendOf(command).argChoices).toEqual([...BACKENDS]);
  });

  it.each([
    ['sample', ['--policy', 'assets/sentiment-policy', '--prompt', 'the garden']],
    ['pretrain', ['--corpus', 'sotu', '--out', 'x']],
    ['train-rm', ['--out', 'x']],
  ])('`grpovi %s` without --backend hands the action auto', async (name, args) => {
    expect((await flagsOf(name, args)).backend).toBe('auto');
    expect((await flagsOf(name, [...args, '--backend', 'wasm'])).backend).toBe('wasm');
  });

  it.each([
    ['train', ['--task', 'toy']],
    ['compare', ['--task', 'toy', '--out', 'x']],
    ['compare-run', ['x']],
    ['demo', []],
  ])(
    '`grpovi %s` without --backend leaves the config default (auto) in place, and says so',
    async (name, args) => {
      const { command } = await commandOf(name);
      expect(backendOf(command).defaultValueDescription).toMatch(/\bauto\b/);
      expect((await flagsOf(name, args)).backend).toBeUndefined();
      expect((await flagsOf(name, [...args, '--backend', 'cpu'])).backend).toBe('cpu');
    },
  );
});
