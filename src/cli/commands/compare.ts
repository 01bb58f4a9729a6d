import { type Command, InvalidArgumentError, Option } from 'commander';
import { type CompareRequest, runComparison } from '../../experiments/compare.js';
import { ComparisonError } from '../../experiments/errors.js';
import { ALGOS, type Algo } from '../../experiments/plan.js';
import { formatSweepValue, parseSweeps, SweepError } from '../../experiments/sweep.js';
import { ConfigError } from '../../train/config.js';
import { UserInputError } from '../errors.js';
import { integerArg } from '../parsers.js';

export interface CompareFlags {
  task?: string;
  seeds?: number;
  seedList?: number[];
  steps?: number;
  out: string;
  algos: Algo[];
  config?: string;
  sweep: string[];
  jobs: number;
}

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

Extending: rerunning on the same DIR skips finished runs and resumes partial ones, so --seeds 5
after --seeds 3 runs only seeds 3 and 4. DIR must have been made with the same task and config.

Examples:
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy-lr --sweep lr=1e-3,3e-3,1e-2 --jobs 2
  grpovi compare --task toy --seeds 3 --steps 60 --out runs/toy-w --sweep grpovi_weights=uniform,importance,probability`;

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

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** The command line with every option spelt out (defaults included), so that it reruns the same comparison. */
function commandLine(flags: CompareFlags, seeds: number[], sweepSpecs: string[]): string {
  const args = ['grpovi', 'compare'];
  if (flags.task !== undefined) args.push('--task', flags.task);
  if (flags.seedList !== undefined) args.push('--seed-list', seeds.join(','));
  else args.push('--seeds', String(seeds.length));
  if (flags.steps !== undefined) args.push('--steps', String(flags.steps));
  args.push('--out', flags.out, '--algos', flags.algos.join(','));
  if (flags.config !== undefined) args.push('--config', flags.config);
  for (const spec of sweepSpecs) args.push('--sweep', spec);
  args.push('--jobs', String(flags.jobs));
  return args.map(shellQuote).join(' ');
}

/** Maps the experiment layer's errors to the CLI's user errors. */
export function asUserError(error: unknown): unknown {
  if (error instanceof ComparisonError) return new UserInputError(error.message, error.exitCode);
  if (error instanceof SweepError || error instanceof ConfigError) return new UserInputError(error.message);
  return error;
}

/** Registers `grpovi compare`. */
export function registerCompare(program: Command): void {
  program
    .command('compare')
    .description('compare GRPO and GRPOVI over seeds (and sweeps): runs, summary.json, plots and report.md')
    .option('--task <name>', 'task to train on (or "task" in the --config file)')
    .option('--seeds <k>', 'seeds 0..k-1 (default 3)', integerArg(1))
    .option('--seed-list <list>', 'explicit seeds, e.g. 0,1,2 (instead of --seeds)', seedList)
    .option('--steps <n>', 'training steps per run (default: config, else task default)', integerArg(1))
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
        .default([], 'none'),
    )
    .option('--jobs <n>', 'runs in parallel, each in its own process', integerArg(1), 1)
    .addHelpText('after', HELP_AFTER)
    .action((flags: CompareFlags) => executeCompare(flags));
}

/**
 * Runs a comparison as the CLI does: Ctrl-C checkpoints running runs, the table and paths go to
 * stdout, failures become exit codes. Shared by `compare` and `demo`.
 */
export async function executeCompare(flags: CompareFlags, command?: string): Promise<void> {
  if (flags.seeds !== undefined && flags.seedList !== undefined) {
    throw new UserInputError(
      `give --seeds or --seed-list, not both (--seeds ${flags.seeds}, --seed-list ${flags.seedList.join(',')})`,
    );
  }
  const seeds = flags.seedList ?? Array.from({ length: flags.seeds ?? 3 }, (_, i) => i);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(
      '\ngrpovi: stopping: running runs save a checkpoint; rerun the same command to resume (Ctrl-C again to quit now)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const sweep = parseSweeps(flags.sweep);
    const canonicalSpecs = sweep.map(
      (axis) =>
        `${axis.key === 'learning_rate' ? 'lr' : axis.key}=${axis.values.map(formatSweepValue).join(',')}`,
    );
    const request: CompareRequest = {
      task: flags.task,
      configFile: flags.config,
      steps: flags.steps,
      seeds,
      algos: flags.algos,
      sweep,
      out: flags.out,
      jobs: flags.jobs,
      command: command ?? commandLine(flags, seeds, canonicalSpecs),
      progress: process.stderr,
      signal: controller.signal,
    };
    const result = await runComparison(request);
    process.stdout.write(`${result.text}\n\nsummary: ${result.summaryPath}\nreport: ${result.reportPath}\n`);
    if (result.outcome === 'failed') {
      const failures = result.outcomes.filter((o) => o.status === 'failed').map((o) => o.job.dir);
      throw new UserInputError(
        `${failures.length} run(s) failed; see worker.log in ${failures.join(', ')}`,
        1,
      );
    }
    if (result.outcome === 'interrupted') {
      throw new UserInputError(
        'comparison stopped before every run finished; rerun the same command to resume',
        130,
      );
    }
  } catch (error) {
    throw asUserError(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
