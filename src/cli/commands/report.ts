import type { Command } from 'commander';
import { renderComparison } from '../../experiments/compare.js';
import { asUserError } from './compare.js';

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
      try {
        const result = await renderComparison(dir);
        process.stdout.write(
          `${result.text}\n\nsummary: ${result.summaryPath}\nreport: ${result.reportPath}\n`,
        );
      } catch (error) {
        throw asUserError(error);
      }
    });
}
