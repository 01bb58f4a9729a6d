import { Command, CommanderError } from 'commander';
import { RewardInputError } from '../adjust/errors.js';
import { BackendError } from '../nn/backends/backendError.js';
import { CheckpointError } from '../nn/weights/checkpointError.js';
import { ConfigError } from '../train/configError.js';
import { UserFileError } from '../util/userFileError.js';
import { RunFolderError } from '../train/runFolderError.js';
import { TrainingDivergedError } from '../train/trainingErrors.js';
import { UserInputError } from './errors.js';
import { HELP_STYLE } from './helpStyle.js';
import { describeSystemError } from './systemErrors.js';
import { packageVersion } from './version.js';

/** Adds one subcommand (its options, help and action) to the program. */
type Registrar = (program: Command) => void;

/**
 * Every subcommand by name, in the order `--help` lists them, with the module that registers it.
 * Loaded on demand: a run of one command loads only its own module.
 */
const COMMANDS: ReadonlyArray<readonly [string, () => Promise<Registrar>]> = [
  ['adjust', async () => (await import('./commands/adjust.js')).registerAdjust],
  ['compare', async () => (await import('./commands/compare.js')).registerCompare],
  ['compare-run', async () => (await import('./commands/compareRun.js')).registerCompareRun],
  ['dashboard', async () => (await import('./commands/dashboard.js')).registerDashboard],
  ['demo', async () => (await import('./commands/demo.js')).registerDemo],
  ['export', async () => (await import('./commands/export.js')).registerExport],
  ['playground', async () => (await import('./commands/playground.js')).registerPlayground],
  ['report', async () => (await import('./commands/report.js')).registerReport],
  ['pretrain', async () => (await import('./commands/pretrain.js')).registerPretrain],
  ['sample', async () => (await import('./commands/sample.js')).registerSample],
  ['train', async () => (await import('./commands/train.js')).registerTrain],
  ['train-rm', async () => (await import('./commands/trainRm.js')).registerTrainRm],
];

/**
 * Builds the `grpovi` program for `argv`: when its first word names a subcommand, with that
 * subcommand alone (it behaves and prints exactly as in the full program:
 * test/cli/lazyCommands.test.ts checks this), otherwise (no arguments, `--help`, `help CMD`, a
 * misspelt command, which needs every name for its suggestion) with all of them. Start-up stays light
 * as well: the command modules define options and help with light imports only and load what runs a
 * command (TF.js, vega, ...) when it runs (test/cli/lazyImports.test.ts checks this).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('grpovi')
    .description(
      'RL fine-tuning of language models with GRPO and GRPOVI (GRPO with reward variance increase)',
    )
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp(HELP_STYLE)
    .exitOverride();
  const named = COMMANDS.find(([name]) => name === argv[0]);
  const registrars = await Promise.all((named === undefined ? COMMANDS : [named]).map(([, load]) => load()));
  for (const register of registrars) register(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors were already printed.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UserInputError) {
      process.stderr.write(`grpovi: ${error.message}\n`);
      return error.exitCode;
    }
    // Bad model folders and bad configurations are the user's to fix: the message alone, no stack.
    if (
      error instanceof BackendError ||
      error instanceof RewardInputError ||
      error instanceof CheckpointError ||
      error instanceof ConfigError ||
      error instanceof UserFileError ||
      error instanceof RunFolderError ||
      error instanceof TrainingDivergedError
    ) {
      process.stderr.write(`grpovi: ${error.message}\n`);
      return 2;
    }
    // A full disk, a read-only or forbidden path: one line, no stack.
    const system = describeSystemError(error);
    if (system !== undefined) {
      process.stderr.write(`grpovi: ${system}\n`);
      return 2;
    }
    throw error;
  }
}
