import type { Command } from 'commander';
import type { BackendName } from '../../nn/backends/backendNames.js';
import { runBackendOption } from '../options/backend.js';

/**
 * Registers the hidden `grpovi compare-run RUN_DIR`: the command `grpovi compare --plan` prints for
 * each run. Hidden because users get it from a plan rather than type it.
 */
export function registerCompareRun(program: Command): void {
  program
    .command('compare-run', { hidden: true })
    .description('train one run of a planned comparison (printed by grpovi compare --plan)')
    .argument('<run-dir>', 'a run folder DIR/<setting>/<algo>/seed-<s> holding run.json')
    .addOption(runBackendOption())
    .addHelpText(
      'after',
      `
Skips the run if it has finished, resumes it from its checkpoint if it has one, else starts it.
Exit status: 0 finished (or already finished), 130 stopped by Ctrl-C/SIGTERM with a checkpoint
(run the same command again to resume), 1 failed, 2 bad run folder.`,
    )
    .action(async (dir: string, flags: { backend?: BackendName }) => {
      const { executeCompareRun } = await import('../actions/compareRun.js');
      await executeCompareRun(dir, flags.backend);
    });
}
