import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { PRETRAIN_DEFAULTS } from '../../src/cli/options/pretrain.js';
import { formatDefault } from '../../src/cli/helpStyle.js';
import { TASKS } from '../../src/tasks/registry.js';
import { TASK_DEFAULTS } from '../../src/tasks/taskDefaults.js';
import { CONFIG_DEFAULTS } from '../../src/train/configDefaults.js';
import { ROOT } from './cliBin.js';

// Every command registered (the program for no arguments), built once.
const fullProgram = await buildProgram();

/** `grpovi CMD --help` as printed, with the option lines joined (commander wraps at 80 columns). */
function help(name: string): string {
  const command = fullProgram.commands.find((c: Command) => c.name() === name)!;
  return command.helpInformation({ error: false });
}

/** The full description of one option, wrapped lines joined. */
function optionText(text: string, flag: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((line) => line.trimStart().startsWith(`${flag} `));
  expect(start, `${flag} in help`).toBeGreaterThanOrEqual(0);
  const out = [lines[start].trim()];
  for (let i = start + 1; i < lines.length && /^ {10,}\S/.test(lines[i]); i++) out.push(lines[i].trim());
  return out.join(' ');
}

const COMMANDS = ['train', 'compare', 'pretrain', 'train-rm', 'report', 'dashboard', 'demo', 'adjust'];

describe('--help texts', () => {
  it("train shows each built-in task's own default where it differs from the global one", () => {
    const text = help('train');
    expect(optionText(text, '--lr <number>')).toContain(
      '(default: 1e-4; toy: 3e-3, sentiment: 3e-4, arithmetic: 2e-5)',
    );
    // Every flag, against the tasks themselves (the registry's task objects, not the help's table).
    const flags: Record<string, string> = {
      learning_rate: '--lr <number>',
      prompts_per_step: '--prompts-per-step <n>',
      num_generations: '--group-size <n>',
      max_completion_length: '--max-completion-length <n>',
      eval_every: '--eval-every <n>',
      eval_prompts: '--eval-prompts <n|file>',
      beta: '--beta <number>',
    };
    for (const [key, flag] of Object.entries(flags)) {
      const line = optionText(text, flag);
      const global = (CONFIG_DEFAULTS as Record<string, unknown>)[key];
      expect(line).toContain(`(default: ${formatDefault(global)}`);
      for (const task of Object.keys(TASKS)) {
        const own = (TASK_DEFAULTS as Record<string, Record<string, unknown>>)[task][key];
        if (own !== undefined && own !== global)
          expect(line, `${flag} ${task}`).toContain(`${task}: ${formatDefault(own)}`);
        else expect(line, `${flag} ${task}`).not.toContain(`${task}:`);
      }
    }
  });

  it('the tasks take their defaults from the table the help shows', async () => {
    const toy = await TASKS.toy.factory({ seed: 0 });
    expect(toy.defaults).toEqual(TASK_DEFAULTS.toy);
  });

  it('pretrain shows the per-corpus defaults', () => {
    const line = optionText(help('pretrain'), '--steps <n>');
    expect(line).toContain(
      `(default: sotu: ${PRETRAIN_DEFAULTS.sotu.steps}, moby-dick: ${PRETRAIN_DEFAULTS['moby-dick'].steps}, arithmetic: ${PRETRAIN_DEFAULTS.arithmetic.steps})`,
    );
    expect(optionText(help('pretrain'), '--heads <n>')).toContain(
      `(default: ${PRETRAIN_DEFAULTS.sotu.heads})`,
    );
  });

  it('writes every default as (default: X) and marks required options', () => {
    for (const name of COMMANDS) {
      const text = help(name);
      expect(text, name).not.toMatch(/\(default [^:]|[;,] default:|default: "|\(choices:|corpus default/);
    }
    expect(optionText(help('compare'), '--out <dir>')).toMatch(/\(required\)$/);
    // --corpus or --text: neither alone is required; the usage line says one of them is.
    expect(help('pretrain')).toContain(
      'Usage: grpovi pretrain (--corpus <name> | --text <files...>) --out <dir>',
    );
    expect(optionText(help('pretrain'), '--out <dir>')).toMatch(/\(required\)$/);
    expect(optionText(help('train-rm'), '--out <dir>')).toMatch(/\(required\)$/);
    expect(help('compare')).toContain('Usage: grpovi compare --out <dir> [options]');
    expect(optionText(help('train'), '--task <name|file>')).toContain(
      'required unless --prompts, the --config file or --resume gives it',
    );
    expect(optionText(help('train'), '--algo <name>')).toContain('(one of: grpo, grpovi) (default: grpo)');
  });

  it("never shows this machine's paths: package paths are relative to the package", () => {
    for (const name of COMMANDS) {
      const text = help(name);
      expect(text, name).not.toContain(ROOT);
      expect(text, name).not.toContain(process.cwd());
      expect(text, name).not.toMatch(/(^|\s)\/[a-z]+\//m);
    }
    expect(optionText(help('train-rm'), '--policy <dir>')).toContain(
      '(default: assets/sentiment-policy in the grpovi package)',
    );
  });

  it('a flag that is not given still sets nothing (the task and --config file keep their say)', async () => {
    const program = await buildProgram();
    const train = program.commands.find((c: Command) => c.name() === 'train')!;
    train.action(() => undefined);
    await program.parseAsync(['train', '--task', 'toy'], { from: 'user' });
    // `hangup` is the process's --no-hangup switch (commander sets a negatable flag to true), not a config field.
    const { hangup, ...opts } = train.opts();
    expect(hangup).toBe(true);
    expect(Object.entries(opts).filter(([, v]) => v !== undefined)).toEqual([['task', 'toy']]);
  });
});
