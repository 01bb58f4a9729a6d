import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ComparisonError } from '../../experiments/errors.js';
import { writeRunReport } from '../../experiments/runReportFile.js';
import { CONFIG_FILE, isRunFolder, METRICS_FILE } from '../../experiments/runView.js';
import { UserInputError } from '../errors.js';

/** plan.ts's COMPARISON_FILE, named here because plan.ts loads the tasks (and TF.js), which a run report does not need. */
const COMPARISON_FILE = 'comparison.json';

/** What `grpovi report DIR` renders, from what the folder holds. */
export type ReportKind = 'comparison' | 'run';

export function reportKind(dir: string): ReportKind {
  if (existsSync(join(dir, COMPARISON_FILE))) return 'comparison';
  if (isRunFolder(dir)) return 'run';
  throw new UserInputError(
    `${JSON.stringify(dir)} holds no comparison (${COMPARISON_FILE} not found) and no training run (${CONFIG_FILE} or ${METRICS_FILE} not found)`,
  );
}

/** `grpovi report DIR`: a comparison folder's summary, plots and report.md, or a run folder's plots and report.md. */
export async function executeAnyReport(dir: string): Promise<void> {
  if (reportKind(dir) === 'comparison') {
    const { executeReport } = await import('./compare.js');
    return executeReport(dir);
  }
  try {
    const result = await writeRunReport(dir);
    process.stdout.write(
      `run ${result.view.state} at step ${result.view.step}; ${result.plotFiles.length} plot file(s)\nreport: ${result.reportPath}\n`,
    );
  } catch (error) {
    if (error instanceof ComparisonError) throw new UserInputError(error.message, error.exitCode);
    throw error;
  }
}
