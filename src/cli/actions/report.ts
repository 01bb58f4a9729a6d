import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ComparisonError } from '../../experiments/errors.js';
import { COMPARISON_FILE } from '../../experiments/plan.js';
import { writeRunReport } from '../../experiments/runReportFile.js';
import { CONFIG_FILE, isRunFolder, METRICS_FILE } from '../../experiments/runView.js';
import { asUserError, executeReport as executeComparisonReport } from './compare.js';

/** What `grpovi report DIR` renders, from what the folder holds. */
export type ReportKind = 'comparison' | 'run';

export function reportKind(dir: string): ReportKind {
  if (existsSync(join(dir, COMPARISON_FILE))) return 'comparison';
  if (isRunFolder(dir)) return 'run';
  throw new ComparisonError(
    `${JSON.stringify(dir)} holds no comparison (${COMPARISON_FILE} not found) and no training run (${CONFIG_FILE} or ${METRICS_FILE} not found)`,
  );
}

/** `grpovi report DIR`: a comparison folder's summary, plots and report.md, or a run folder's plots and report.md. */
export async function executeAnyReport(dir: string): Promise<void> {
  try {
    if (reportKind(dir) === 'comparison') return await executeComparisonReport(dir);
    const result = await writeRunReport(dir);
    process.stdout.write(
      `run ${result.view.state} at step ${result.view.step}; ${result.plotFiles.length} plot file(s)\nreport: ${result.reportPath}\n`,
    );
  } catch (error) {
    throw asUserError(error);
  }
}
