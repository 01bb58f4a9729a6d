import { type Command, Option } from 'commander';
import { ADVANTAGE_SCALES } from '../../grpo/advantages.js';
import { IMPORTANCE_SAMPLING_LEVELS, LOSS_TYPE_ALIASES, LOSS_TYPES } from '../../grpo/objective.js';
import { ADJUSTMENT_WEIGHTS } from '../../grpo/rewardTransform.js';
import { BACKENDS } from '../../nn/backends/backendNames.js';
import { TASK_DEFAULTS } from '../../tasks/taskDefaults.js';
import { TASK_NAMES } from '../../tasks/taskNames.js';
import { CONFIG_DEFAULTS } from '../../train/configDefaults.js';
import { isTaskModulePath } from '../../tasks/sources/taskModule.js';
import { formatDefault } from '../helpStyle.js';
import { integerArg, numberArg, pathArg, rangeArg, weightedPathArg } from '../parsers.js';

/** A flag that sets one config key. */
interface ConfigFlag {
  /** Commander's flag spelling, e.g. `--lr <number>`. */
  flags: string;
  key: string;
  what: string;
  parse?: (value: string) => unknown;
  choices?: readonly string[];
  /** How to describe the default when the schema has none. */
  defaultText?: string;
  /** The flag may be given more than once; its values are collected into a list. */
  repeatable?: boolean;
  /** Config values the flag's value sets, when it sets more (or another) key than `key`. */
  route?: (value: unknown) => Record<string, unknown>;
}

/** `--task NAME` keeps the name; a module path is made absolute. */
function taskArg(value: string): string {
  return isTaskModulePath(value) ? pathArg(value) : value;
}

/** `--eval-prompts N` is the count of held-out prompts per evaluation; anything else names a file of them. */
function evalPromptsArg(value: string): number | string {
  return /^\s*\d+\s*$/.test(value) ? integerArg(1)(value) : pathArg(value);
}

/** Every flag that sets a config key; the order is the order of `--help`. */
const CONFIG_FLAGS: readonly ConfigFlag[] = [
  {
    flags: '--task <name|file>',
    key: 'task',
    what: `the task (${TASK_NAMES.join(', ')}) or a task module ./my-task.mjs whose default export is a factory (context) => Task; required unless --prompts, the --config file or --resume gives it`,
    parse: taskArg,
    defaultText: '',
  },
  {
    flags: '--prompts <file>',
    key: 'prompts',
    what: 'train on the prompts of FILE (JSONL with a "prompt" string per line, other fields are columns for the rewards; or text, one per line)',
    parse: pathArg,
    defaultText: "the task's own",
  },
  {
    flags: '--reward <module[:weight]>',
    key: 'rewards',
    what: 'add a reward module, default export fn(prompts, completions, rows) => number[] (repeatable)',
    parse: weightedPathArg,
    repeatable: true,
    defaultText: 'none',
  },
  { flags: '--algo <name>', key: 'algo', what: 'algorithm', choices: ['grpo', 'grpovi'] },
  { flags: '--steps <n>', key: 'steps', what: 'training steps', parse: integerArg() },
  {
    flags: '--seed <n>',
    key: 'seed',
    what: 'random seed (policy init, prompts, sampling)',
    parse: integerArg(),
  },
  {
    flags: '--backend <name>',
    key: 'backend',
    what: 'TF.js backend: auto = webgpu on a real GPU adapter, else blas (matrix products through the system CBLAS) when a library loads, else wasm',
    choices: BACKENDS,
  },
  {
    flags: '--blas-threads <n>',
    key: 'blas_threads',
    what: 'BLAS threads',
    parse: integerArg(),
    defaultText: '1 under compare --jobs > 1, else every core',
  },
  {
    flags: '--policy <dir>',
    key: 'policy',
    what: 'starting policy folder, for tasks that start from a trained one',
    parse: pathArg,
    defaultText:
      "the task's policy shipped in the package, e.g. assets/sentiment-policy; toy starts from a random one",
  },
  {
    flags: '--reward-model <dir[:weight]>',
    key: 'reward_model',
    what: 'reward model folder: the learned reward of sentiment, or added to the --reward sum with --prompts',
    parse: weightedPathArg,
    route: (value) => {
      const { path, weight } = value as { path: string; weight?: number };
      return { reward_model: path, reward_model_weight: weight };
    },
    defaultText: "the task's reward model shipped in the package, e.g. assets/sentiment-reward-model",
  },
  {
    flags: '--group-size <n>',
    key: 'num_generations',
    what: 'completions sampled per prompt',
    parse: integerArg(),
  },
  {
    flags: '--prompts-per-step <n>',
    key: 'prompts_per_step',
    what: 'distinct prompts per step',
    parse: integerArg(),
  },
  { flags: '--lr <number>', key: 'learning_rate', what: 'learning rate', parse: numberArg() },
  {
    flags: '--beta <number>',
    key: 'beta',
    what: "KL penalty weight (the global default is TRL's)",
    parse: numberArg(),
  },
  { flags: '--epsilon <number>', key: 'epsilon', what: 'lower clip range of the ratio', parse: numberArg() },
  {
    flags: '--epsilon-high <number>',
    key: 'epsilon_high',
    what: 'upper clip range of the ratio',
    parse: numberArg(),
    defaultText: 'epsilon',
  },
  {
    flags: '--delta <number>',
    key: 'delta',
    what: 'upper bound on the unclipped ratio (TRL two-sided clip)',
    parse: numberArg(),
    defaultText: 'none',
  },
  {
    flags: '--importance-sampling-level <level>',
    key: 'importance_sampling_level',
    what: 'ratio per token (GRPO) or per sequence (GSPO)',
    choices: IMPORTANCE_SAMPLING_LEVELS,
  },
  {
    flags: '--num-iterations <n>',
    key: 'num_iterations',
    what: 'update passes per batch (mu)',
    parse: integerArg(),
  },
  {
    flags: '--steps-per-generation <n>',
    key: 'steps_per_generation',
    what: 'minibatches per generation batch, shuffled (TRL)',
    parse: integerArg(),
    defaultText: '1, or batch / minibatch_size',
  },
  {
    flags: '--gradient-accumulation-steps <n>',
    key: 'gradient_accumulation_steps',
    what: 'minibatches per optimizer step',
    parse: integerArg(),
    defaultText: "steps_per_generation: one step per generation batch, as TRL's",
  },
  {
    flags: '--mask-truncated-completions',
    key: 'mask_truncated_completions',
    what: 'leave completions without EOS out of the loss',
  },
  {
    flags: '--dynamic-sampling',
    key: 'dynamic_sampling',
    what: 'replace groups with equal rewards by freshly sampled prompts (DAPO)',
  },
  {
    flags: '--dynamic-sampling-max-rounds <n>',
    key: 'dynamic_sampling_max_rounds',
    what: 'extra rollouts per step dynamic sampling may make',
    parse: integerArg(),
  },
  { flags: '--temperature <number>', key: 'temperature', what: 'sampling temperature', parse: numberArg() },
  {
    flags: '--max-completion-length <n>',
    key: 'max_completion_length',
    what: 'tokens per completion at most',
    parse: integerArg(),
  },
  {
    flags: '--top-k <n>',
    key: 'top_k',
    what: 'sample from the k likeliest tokens (0: all)',
    parse: integerArg(),
  },
  { flags: '--top-p <number>', key: 'top_p', what: 'nucleus sampling mass', parse: numberArg() },
  {
    flags: '--min-p <number>',
    key: 'min_p',
    what: "keep tokens at least this fraction as likely as the likeliest (TRL's default: none)",
    parse: numberArg(),
  },
  {
    flags: '--repetition-penalty <number>',
    key: 'repetition_penalty',
    what: 'HF repetition penalty over prompt and completion tokens (1: none)',
    parse: numberArg(),
  },
  {
    flags: '--scale-rewards <mode>',
    key: 'scale_rewards',
    what: 'advantage scale',
    choices: ADVANTAGE_SCALES,
  },
  {
    flags: '--loss-type <type>',
    key: 'loss_type',
    what: "loss aggregation, TRL's names and default (token-mean, constant: old names of dapo, dr_grpo)",
    choices: [...LOSS_TYPES, ...Object.keys(LOSS_TYPE_ALIASES)],
  },
  {
    flags: '--grpovi-weights <mode>',
    key: 'grpovi_weights',
    what: 'weights of the mean GRPOVI keeps',
    choices: ADJUSTMENT_WEIGHTS,
  },
  {
    flags: '--grpovi-strength <number>',
    key: 'grpovi_strength',
    what: 'GRPOVI strength L in [0, 1]: rewards (1 - L) r + L z',
    parse: numberArg(),
    defaultText: '1',
  },
  {
    flags: '--grpovi-max-std <number>',
    key: 'grpovi_max_std',
    what: 'GRPOVI adjusts only groups whose reward std is below this',
    parse: numberArg({ positive: true }),
    defaultText: 'every group',
  },
  {
    flags: '--reward-temperature <number>',
    key: 'reward_temperature',
    what: 'learned reward sigmoid((score - offset) / T)',
    parse: numberArg({ positive: true }),
    defaultText: '1',
  },
  {
    flags: '--reward-temperature-range <lo,hi>',
    key: 'reward_temperature_range',
    what: 'per-prompt temperatures, log-uniform in [lo, hi] by prompt hash',
    parse: rangeArg,
    defaultText: 'none',
  },
  {
    flags: '--reward-range <min,max>',
    key: 'reward_range',
    what: 'reward range for GRPOVI',
    parse: rangeArg,
    defaultText: "the reward functions' declared range",
  },
  {
    flags: '--eval-every <n>',
    key: 'eval_every',
    what: 'evaluate every n steps (0: never)',
    parse: integerArg(),
  },
  {
    flags: '--eval-prompts <n|file>',
    key: 'eval_prompts',
    what: 'held-out prompts per evaluation (a number), or a file of held-out prompts (config: eval_prompts_file)',
    parse: evalPromptsArg,
    route: (value) => (typeof value === 'number' ? { eval_prompts: value } : { eval_prompts_file: value }),
  },
  {
    flags: '--checkpoint-every <n>',
    key: 'checkpoint_every',
    what: 'checkpoint every n steps (0: only at the end)',
    parse: integerArg(),
  },
];

const HELP_AFTER = `
Configuration, lowest precedence first: the global defaults < the task's own defaults (shown
after them above, e.g. "(default: 1e-4; toy: 3e-3)") < --config FILE < flags. FILE is a JSON object
with the config keys named above (snake_case), plus others such as "minibatch_size",
"lr_schedule", "warmup_steps", "weight_decay", "max_grad_norm", "model": {...}.
The defaults are TRL's GRPOConfig's (beta 0.0, loss_type dapo, one optimizer step per
generation batch); the built-in tasks keep their tuned beta 0.04 and loss_type grpo.
Use --print-config to see the resolved configuration without training.

The run folder (--out) receives config.json, metrics.jsonl (one JSON object per step) and
checkpoints/. A folder that already holds a run is never overwritten: continue it with
--resume DIR (DIR is the run folder or one of its checkpoint folders), which keeps the run's
config.json; only --steps (to train further), --backend and --blas-threads may be given with it. A run that
stopped before its first checkpoint (killed, a bad reward, a diverged loss) can be either
resumed with --resume DIR (it starts again from step 0 with its config.json) or started again
with the same --out (its metrics are replaced). One process writes a run folder at a time: a
second one exits with status 2 naming the holder (its lock file is grpovi.lock; a lock left by
a process that no longer runs is taken over). Temporary files and half-written checkpoints
left by a crash are removed on the next start.

Your own task: --prompts FILE (JSONL with a "prompt" per line, other fields handed to the reward
functions as rows[i]; or text, one per line) with --reward MODULE[:WEIGHT] (default export
fn(prompts, completions, rows) => number[], optionally fn.range = [min, max]) and/or
--reward-model DIR[:WEIGHT], from --policy DIR. Without --eval-prompts FILE a fixed 10% of the
prompts is held out. Or --task ./my-task.mjs, whose default export is (context) => Task. Paths in a
--config file are relative to it. The run folder records the files' hashes (user-files.json); a
changed file stops --resume unless --allow-changed-files is given. Every evaluation appends held-out
completions with their rewards to samples.jsonl.

Ctrl-C, SIGTERM and SIGHUP stop after the current step, write a checkpoint and exit with
status 128 + the signal's number (130, 143, 129); a second one quits at once (the last
checkpoint stays intact). A trainer whose parent process is gone (e.g. the npx that started it
was killed) stops the same way, unless --no-hangup is given. Progress goes to stderr, the
summary to stdout.

Examples:
  $ grpovi train --task toy --algo grpovi --steps 40 --seed 1
  $ grpovi train --task toy --algo grpo --config my.json --lr 1e-3 --out runs/try1
  $ grpovi train --resume runs/try1 --steps 200
  $ grpovi train --prompts prompts.jsonl --reward reward.mjs --policy runs/policy --out runs/mine
`;

/** The options commander hands to the action (config flags under their attribute names). */
export interface TrainFlags {
  out?: string;
  config?: string;
  resume?: string;
  quiet?: boolean;
  printConfig?: boolean;
  allowChangedFiles?: boolean;
  /** False with --no-hangup: SIGHUP and a lost parent do not stop the run. */
  hangup?: boolean;
  [attribute: string]: unknown;
}

/**
 * The default of a config flag as --help shows it: the global default, then the built-in tasks whose
 * own default differs, e.g. `1e-4; toy: 3e-3, sentiment: 3e-4, arithmetic: 2e-5`.
 */
export function describeDefault(
  flag: ConfigFlag,
  defaults: Record<string, unknown> = CONFIG_DEFAULTS,
): string {
  if (flag.defaultText !== undefined) return flag.defaultText;
  const global = defaults[flag.key];
  const byTask = Object.entries(TASK_DEFAULTS as Record<string, Record<string, unknown>>)
    .filter(([, taskDefaults]) => taskDefaults[flag.key] !== undefined && taskDefaults[flag.key] !== global)
    .map(([task, taskDefaults]) => `${task}: ${formatDefault(taskDefaults[flag.key])}`);
  return [formatDefault(global), ...(byTask.length > 0 ? [byTask.join(', ')] : [])].join('; ');
}

/** The config flags added to a command, and how to read them back. */
export interface ConfigFlagSet {
  /** Config values of the flags that were given, by config key, and every key's flag spelling. */
  collect(flags: Record<string, unknown>): { values: Record<string, unknown>; names: Record<string, string> };
}

/**
 * Adds the hyperparameter flags (`--lr`, `--group-size`, ...; each says the config key it sets and
 * its default) to a command, leaving out the config keys in `exclude`. Commands that train, like
 * `compare`, share them this way.
 */
export function addConfigFlags(
  command: Command,
  exclude: readonly string[] = [],
  only?: readonly string[],
): ConfigFlagSet {
  const defaults = CONFIG_DEFAULTS;
  const added: { flag: ConfigFlag; option: Option }[] = [];
  for (const flag of CONFIG_FLAGS) {
    if (exclude.includes(flag.key) || (only !== undefined && !only.includes(flag.key))) continue;
    const option = new Option(flag.flags, `${flag.what} [config: ${flag.key}]`);
    // Described, not set: a flag that was not given must not override the task or the --config file.
    const defaultText = describeDefault(flag, defaults);
    if (defaultText !== '') option.default(undefined, defaultText);
    if (flag.choices) option.choices(flag.choices);
    const parse = flag.parse;
    if (parse && flag.repeatable)
      option.argParser((value: string, previous: unknown) => [
        ...((previous as unknown[] | undefined) ?? []),
        parse(value),
      ]);
    else if (parse) option.argParser(parse);
    command.addOption(option);
    added.push({ flag, option });
  }
  return {
    collect(flags) {
      const values: Record<string, unknown> = {};
      const names: Record<string, string> = {};
      for (const { flag, option } of added) {
        names[flag.key] = option.long ?? flag.flags;
        const value = flags[option.attributeName()];
        if (value === undefined) continue;
        if (flag.route) {
          for (const [key, routed] of Object.entries(flag.route(value))) {
            if (routed === undefined) continue;
            values[key] = routed;
            names[key] = names[flag.key];
          }
        } else values[flag.key] = value;
      }
      return { values, names };
    },
  };
}

/** The flags that say what to train on: the task, or the user's prompt files, reward modules and models. */
export const TASK_FLAG_KEYS = [
  'task',
  'prompts',
  'eval_prompts',
  'rewards',
  'reward_model',
  'policy',
] as const;

/** Registers `grpovi train`. */
export function registerTrain(program: Command): void {
  const command = program
    .command('train')
    .description('fine-tune a policy on a task with GRPO or GRPOVI, writing a run folder')
    .addOption(new Option('--out <dir>', 'run folder').default(undefined, 'runs/<task>-<algo>-s<seed>'))
    .option('--config <file>', 'JSON file of config values (below flags, above task defaults)')
    .option('--resume <dir>', 'continue the run in this folder from its latest checkpoint')
    .option(
      '--allow-changed-files',
      'with --resume: continue although a prompt file, reward module, model or task module changed since the run started',
    );
  const configFlags = addConfigFlags(command);
  command
    .option('--quiet', 'print no progress (the summary still goes to stdout)')
    .option('--print-config', 'print the resolved configuration as JSON and exit without training')
    .option('--no-hangup', 'keep training when the terminal closes or the parent process exits')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: TrainFlags) => {
      const { executeTrain } = await import('../actions/train.js');
      await executeTrain(flags, configFlags);
    });
}
