import type { Command } from 'commander';
import type { DashboardFlags } from '../options/dashboard.js';
import { integerArg } from '../parsers.js';

/** Registers `grpovi dashboard DIR`. */
export function registerDashboard(program: Command): void {
  program
    .command('dashboard')
    .description('serve a live web page of the runs under a folder: charts, runs table, sample completions')
    .argument('<dir>', 'a run folder, a comparison folder, or a folder of run folders')
    .option('--port <n>', 'port to listen on; 0 picks a free one', integerArg(0), 8080)
    .option('--host <address>', 'address to bind; the default lets only this machine connect', '127.0.0.1')
    .addHelpText(
      'after',
      `
The page updates by itself while runs write (it polls every second): a row per run (algorithm,
seed, step, last training and evaluation reward, KL, state: running, finished or interrupted),
the charts of grpovi report (reward, KL, entropy, completion length, gradient norm, raw vs
adjusted reward std; one curve per run) and the last evaluation's samples of each run. Charts
are drawn by vega and vega-lite served from the installed package; nothing comes from the
internet. It only reads the folder. Ctrl-C stops it.

Examples:
  grpovi dashboard runs/toy
  grpovi dashboard runs --port 0`,
    )
    .action(async (dir: string, flags: DashboardFlags) => {
      const { executeDashboard } = await import('../actions/dashboard.js');
      await executeDashboard(dir, flags);
    });
}
