import { type Command, InvalidArgumentError, Option } from 'commander';
import { ALGOS, type Algo } from '../../experiments/algos.js';
import { CONFIG_DEFAULTS } from '../../train/configDefaults.js';
import { runBackendOption } from '../options/backend.js';
import type { CompareFlags } from '../options/compare.js';
import type { ConfigFlagSet } from '../options/train.js';
import { integerArg } from '../parsers.js';
import { addConfigFlags, LORA_FLAG_KEYS, TASK_FLAG_KEYS } from './train.js';

const HELP_AFTER = `
Runs every algorithm with the same seeds and the same config apart from the reward transform
(config: task defaults < --config file < flags). Each run gets its own folder
DIR/<setting>/<algo>/seed-<s>/ with its metrics.jsonl; the setting is "default" without a sweep,
else e.g. "lr=3e-4,scale_rewards=batch". Then it writes DIR/summary.json, plots (SVG and PNG) and
DIR/report.md, and prints the results table.

Sweeps: --sweep key=v1,v2,... (repeatable) runs every combination of the values; keys are config
fields (lr is short for learning_rate). With a learning-rate sweep the summary also reports each
algorithm at its own best learning rate (highest area under the evaluation curve), so that a faster
GRPOVI cannot be mistaken for a larger step. GRPO ignores grpovi_weights, so its runs are shared by
every grpovi_weights value.

Your own task: the task flags of grpovi train (--prompts, --eval-prompts, --reward, --reward-model,
--policy, --task FILE) work here too; every run loads the same files, and a file that changed since
a run started stops the comparison unless --allow-changed-files is given.

Extending: rerunning on the same DIR skips finished runs and resumes partial ones, so --seeds 5
after --seeds 3 runs only seeds 3 and 4. DIR must have been made with the same task and config.

Sweeps on any scheduler: with --plan, compare records the comparison and each run's config, prints
one command per run ("grpovi compare-run DIR/<setting>/<algo>/seed-<s>") and trains nothing. Run
the commands in any order, on any machines sharing DIR (xargs -P, GNU parallel, a SLURM job array, a
Kubernetes Indexed Job); a command skips a finished run and resumes a partial one. Then
"grpovi report DIR" writes the summary.json, plots and report.md that compare would have written.
The commands call grpovi as it was started ("npx grpovi ..." under npx, "grpovi ..." when the PATH
finds it, else the absolute node and script), so they run as printed; --plan-command CMD sets it.

Examples:
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy --plan | xargs -P 2 -I{} sh -c {}
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy-lr --sweep lr=1e-3,3e-3,1e-2 --jobs 2
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy-w --sweep grpovi_weights=uniform,importance,probability
  grpovi compare --prompts prompts.jsonl --reward reward.mjs --policy runs/policy --seeds 2 --jobs 2 --out runs/mine`;

function seedList(value: string): number[] {
  const seeds = value.split(',').map((part) => {
    const n = Number(part);
    if (part.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new InvalidArgumentError(
        `--seed-list takes non-negative integers separated by commas (${JSON.stringify(part)})`,
      );
    }
    return n;
  });
  if (new Set(seeds).size !== seeds.length)
    throw new InvalidArgumentError(`--seed-list names a seed twice (${JSON.stringify(value)})`);
  return seeds;
}

function algoList(value: string): Algo[] {
  const algos = value.split(',').map((part) => part.trim());
  for (const algo of algos) {
    if (!(ALGOS as readonly string[]).includes(algo)) {
      throw new InvalidArgumentError(
        `--algos takes ${ALGOS.join(', ')} separated by commas (${JSON.stringify(algo)})`,
      );
    }
  }
  if (new Set(algos).size !== algos.length)
    throw new InvalidArgumentError(`--algos names an algorithm twice (${JSON.stringify(value)})`);
  return algos as Algo[];
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Registers `grpovi compare`. */
export function registerCompare(program: Command): void {
  const command = program
    .command('compare')
    .description('compare GRPO and GRPOVI over seeds (and sweeps): runs, summary.json, plots and report.md')
    .usage('--out <dir> [options]');
  // --task (a name or a module), --prompts, --eval-prompts, --reward, --reward-model, --policy and the
  // LoRA flags, as in train.
  const taskFlags: ConfigFlagSet = addConfigFlags(command, [], [...TASK_FLAG_KEYS, ...LORA_FLAG_KEYS]);
  command
    .option(
      '--allow-changed-files',
      'resume runs although a prompt file, reward module, model or task module changed since they started',
    )
    .addOption(new Option('--seeds <k>', 'seeds 0..k-1').argParser(integerArg(1)).default(undefined, '3'))
    .option('--seed-list <list>', 'explicit seeds, e.g. 0,1,2 (instead of --seeds)', seedList)
    .addOption(
      new Option('--steps <n>', 'training steps per run')
        .argParser(integerArg(1))
        .default(undefined, `the --config file's steps, else ${CONFIG_DEFAULTS.steps}`),
    )
    .requiredOption('--out <dir>', 'comparison folder (created; an existing one is extended)')
    .addOption(
      new Option('--algos <list>', 'algorithms to run')
        .argParser(algoList)
        .default([...ALGOS], 'grpo,grpovi'),
    )
    .option('--config <file>', 'JSON file of config fields (above task defaults, below flags)')
    .addOption(
      new Option('--sweep <key=v1,v2,...>', 'sweep a config field (repeatable; lr = learning_rate)')
        .argParser(collect)
        .default([], 'no sweep'),
    )
    .option('--jobs <n>', 'runs in parallel, each in its own process', integerArg(1), 1)
    .addOption(runBackendOption())
    .option('--plan', 'print one shell command per run and train nothing (see "Sweeps on any scheduler")')
    .addOption(
      new Option('--plan-command <cmd>', 'how the planned commands call grpovi, e.g. "npx grpovi"').default(
        undefined,
        'as this grpovi was started: npx grpovi, grpovi when on the PATH, else node and the absolute script',
      ),
    )
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: CompareFlags) => {
      const { executeCompare } = await import('../actions/compare.js');
      await executeCompare({
        ...flags,
        taskValues: taskFlags.collect(flags as unknown as Record<string, unknown>).values,
      });
    });
}
