import { Command, CommanderError } from 'commander';
import { RewardInputError } from '../adjust/errors.js';
import { CheckpointError } from '../nn/checkpointError.js';
import { ConfigError } from '../train/configError.js';
import { UserFileError } from '../util/userFileError.js';
import { RunFolderError } from '../train/runFolderError.js';
import { TrainingDivergedError } from '../train/trainingErrors.js';
import { registerAdjust } from './commands/adjust.js';
import { registerCompare } from './commands/compare.js';
import { registerCompareRun } from './commands/compareRun.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerDemo } from './commands/demo.js';
import { registerExport } from './commands/export.js';
import { registerPretrain } from './commands/pretrain.js';
import { registerReport } from './commands/report.js';
import { registerSample } from './commands/sample.js';
import { registerTrain } from './commands/train.js';
import { registerTrainRm } from './commands/trainRm.js';
import { UserInputError } from './errors.js';
import { HELP_STYLE } from './helpStyle.js';
import { describeSystemError } from './systemErrors.js';
import { packageVersion } from './version.js';

/**
 * Builds the `grpovi` program with every subcommand registered. Start-up stays light: the command
 * modules define options and help with light imports only and load what runs a command (TF.js,
 * vega, ...) when it runs (test/cli/lazyImports.test.ts checks this).
 */
export function buildProgram(): Command {
  const program = new Command('grpovi')
    .description(
      'RL fine-tuning of language models with GRPO and GRPOVI (GRPO with reward variance increase)',
    )
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureHelp(HELP_STYLE)
    .exitOverride();
  registerAdjust(program);
  registerCompare(program);
  registerCompareRun(program);
  registerDashboard(program);
  registerDemo(program);
  registerExport(program);
  registerReport(program);
  registerPretrain(program);
  registerSample(program);
  registerTrain(program);
  registerTrainRm(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const program = buildProgram();
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
