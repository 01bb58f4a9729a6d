import type { Command } from 'commander';

/** Registers `grpovi report DIR`: re-renders summary.json, plots and report.md without training. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      're-render summary.json, the plots and report.md of a comparison folder from its runs (no training)',
    )
    .argument('<dir>', 'a folder written by grpovi compare')
    .addHelpText(
      'after',
      `
Uses DIR/comparison.json (the latest compare command's seeds, algorithms and sweep) and the run
folders' metrics.jsonl; runs that have not finished are listed as missing and left out.

Example:
  grpovi report runs/toy`,
    )
    .action(async (dir: string) => {
      const { executeReport } = await import('../actions/compare.js');
      await executeReport(dir);
    });
}
