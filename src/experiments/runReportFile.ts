/**
 * `grpovi report RUN` on a training run folder: writes RUN/plots/*.svg (+ .png) and RUN/report.md.
 * Safe while the run trains: it only reads the trainer's files and writes its own, atomically.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { writePlots } from './render.js';
import { runPlots } from './runPlots.js';
import { buildRunReport } from './runReport.js';
import { readRunView, type RunView } from './runView.js';

export const RUN_REPORT_FILE = 'report.md';
export const RUN_PLOTS_DIR = 'plots';

export interface RunReportResult {
  view: RunView;
  reportPath: string;
  plotFiles: string[];
}

export async function writeRunReport(runDir: string, now: Date = new Date()): Promise<RunReportResult> {
  const dir = resolve(runDir);
  const view = readRunView(dir, now.getTime());
  const algo = typeof view.config.algo === 'string' ? view.config.algo : 'grpo';
  const task = typeof view.config.task === 'string' ? view.config.task : '';
  const specs = runPlots([{ label: algo, algo, rows: view.rows }], task).map((plot) => ({
    ...plot,
    name: `${RUN_PLOTS_DIR}/${plot.name}`,
  }));
  if (specs.length > 0) mkdirSync(join(dir, RUN_PLOTS_DIR), { recursive: true });
  const plots = await writePlots(dir, specs);
  const reportPath = join(dir, RUN_REPORT_FILE);
  writeFileAtomic(reportPath, buildRunReport({ view, plots, generatedAt: now.toISOString() }));
  return { view, reportPath, plotFiles: plots.flatMap((p) => [p.svg, ...(p.png ? [p.png] : [])]) };
}
