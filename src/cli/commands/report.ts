import type { Command } from 'commander';

/** Registers `grpovi report DIR`: renders a comparison's or a single run's plots and report.md without training. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'write the plots and report.md of a comparison folder or of a single training run (no training)',
    )
    .argument('<dir>', 'a folder written by grpovi compare, or a run folder written by grpovi train')
    .addHelpText(
      'after',
      `
A comparison folder (it holds comparison.json): re-renders summary.json, the plots and report.md
from the latest compare command's seeds, algorithms and sweep and the run folders' metrics.jsonl;
runs that have not finished are listed as missing and left out.

A run folder (it holds config.json and metrics.jsonl): writes DIR/plots/ (SVG and PNG: reward,
KL, entropy, completion length, gradient norm, raw vs adjusted reward std) and DIR/report.md with
the resolved config and samples of the first and last evaluation (from samples.jsonl). It only
reads the trainer's files, so it also works while the run trains.

Examples:
  grpovi report runs/toy
  grpovi report runs/toy-grpovi-s0`,
    )
    .action(async (dir: string) => {
      const { executeAnyReport } = await import('../actions/report.js');
      await executeAnyReport(dir);
    });
}
