/**
 * `grpovi compare`: runs every algorithm under every setting with every seed (skipping finished runs,
 * resuming partial ones), then writes `summary.json`, the plots and `report.md`.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BackendName } from '../nn/backends/backendNames.js';
import { ensureRunFolder } from '../train/runFolder.js';
import { acquireRunLock, type RunLock } from '../train/runLock.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import { shellQuote } from '../util/shellQuote.js';
import { machineInfo } from './machine.js';
import {
  type Algo,
  COMPARISON_FILE,
  type ComparisonPlan,
  type ComparisonRecord,
  checkExtension,
  type Invocation,
  planComparison,
  readComparisonRecord,
  resolveBaseConfig,
  writeComparisonRecord,
} from './plan.js';
import { comparisonPlots } from './plots.js';
import { ComparisonProgress, type ProgressStream } from './progress.js';
import { writePlots } from './render.js';
import { readSamples, SAMPLES_FILE } from '../train/samples.js';
import { buildReport, consoleSummary, type RunSamples } from './report.js';
import {
  changedUserFiles,
  type UserFile,
  hashUserFiles,
  readUserFiles,
  type UserFileFields,
} from '../tasks/sources/userFiles.js';
import { ComparisonError } from './errors.js';
import { checkRunFile, clearRun, inspectRun, writeRunFile } from './runFolder.js';
import { type JobOutcome, type RunJob, runJobs } from './runner.js';
import type { ComparisonSummary } from './summary.js';
import { buildSummary } from './summary.js';
import type { SweepAxis } from './sweep.js';

export const SUMMARY_FILE = 'summary.json';
export const REPORT_FILE = 'report.md';

export interface CompareRequest {
  task?: string;
  /** Config values of the task flags (`prompts`, `rewards`, `reward_model`, `policy`, ...), paths absolute. */
  taskFlags?: Record<string, unknown>;
  /** Resume runs although one of their user files changed since they started (otherwise refused). */
  allowChangedFiles?: boolean;
  configFile?: string;
  steps?: number;
  seeds: number[];
  algos: Algo[];
  sweep: SweepAxis[];
  out: string;
  jobs: number;
  /** The command line as typed, for the record and the report. */
  command: string;
  /** Progress lines and the run log (stderr in the CLI). */
  progress: ProgressStream;
  /** Aborting stops starting runs; running ones checkpoint and stop. */
  signal?: AbortSignal;
  /** Overrides the worker command (tests). */
  workerCommand?: string[];
  /** Every run trains on this backend instead of its config's (it changes speed, not results). */
  backend?: BackendName;
}

export interface RenderResult {
  summary: ComparisonSummary;
  summaryPath: string;
  reportPath: string;
  /** The results table and closing note, for the terminal. */
  text: string;
}

export interface CompareResult extends RenderResult {
  outcome: 'finished' | 'interrupted' | 'failed';
  /** Runs started by this invocation, with how they ended. */
  outcomes: JobOutcome[];
  skipped: number;
}

/** The samples of the first setting's first seed, per algorithm, at its first and last evaluation. */
function reportSamples(dir: string, record: ComparisonRecord): RunSamples[] {
  const plan = planComparison(record);
  const setting = plan.settings[0];
  const seed = record.seeds[0];
  if (setting === undefined || seed === undefined) return [];
  return record.algos.flatMap((algo) => {
    const run = plan.cell(setting.label, algo, seed);
    const rows = readSamples(join(dir, run.relDir, SAMPLES_FILE));
    if (rows.length === 0) return [];
    const firstStep = rows[0].step;
    const lastStep = rows[rows.length - 1].step;
    return [
      {
        setting: setting.label,
        algo,
        seed,
        first: rows.filter((r) => r.step === firstStep),
        last: lastStep === firstStep ? [] : rows.filter((r) => r.step === lastStep),
      },
    ];
  });
}

/** Re-renders summary.json, the plots and report.md from a comparison folder's runs (no training). */
export async function renderComparison(
  out: string,
  record: ComparisonRecord = readComparisonRecord(out),
): Promise<RenderResult> {
  const dir = resolve(out);
  const summary = buildSummary(dir, record);
  const summaryPath = join(dir, SUMMARY_FILE);
  writeFileAtomic(summaryPath, `${JSON.stringify(summary, null, 2)}\n`);
  const plots = await writePlots(dir, comparisonPlots(summary));
  const ran =
    [...record.invocations].reverse().find((inv) => inv.runs_started > 0) ?? record.invocations.at(-1);
  const reportPath = join(dir, REPORT_FILE);
  writeFileAtomic(
    reportPath,
    buildReport({
      summary,
      record,
      plots,
      machine: ran?.machine ?? null,
      samples: reportSamples(dir, record),
    }),
  );
  return { summary, summaryPath, reportPath, text: consoleSummary(summary) };
}

/**
 * Checks a comparison request against the folder (same task and config as its earlier runs, every
 * run's config valid), takes the folder's lock and records the invocation in `comparison.json`.
 * Shared by running and planning; the caller releases the lock.
 */
async function openComparison(
  request: CompareRequest,
  outcome: Invocation['outcome'],
): Promise<{
  dir: string;
  steps: number;
  record: ComparisonRecord;
  invocation: Invocation;
  plan: ComparisonPlan;
  userFiles: UserFile[];
  lock: RunLock;
}> {
  const resolved = await resolveBaseConfig(request);
  const dir = resolve(request.out);
  // Everything is checked before anything is written, then again under the folder's lock: another
  // compare may have extended the record in between (a second one while this runs is refused).
  planInvocation(request, dir, resolved, outcome);
  ensureRunFolder(dir);
  const lock = acquireRunLock(dir, 'compare');
  try {
    const { record, invocation, plan } = planInvocation(request, dir, resolved, outcome);
    const changed = plan.runs.flatMap((run) =>
      changedUserFiles(readUserFiles(join(dir, run.relDir)) ?? [], `since ${run.relDir} started`),
    );
    if (changed.length > 0 && !request.allowChangedFiles) {
      throw new ComparisonError(
        `${changed[0]}${changed.length > 1 ? ` (and ${changed.length - 1} more)` : ''}; ` +
          'restore the file, or pass --allow-changed-files to resume with it as it is now',
      );
    }
    const userFiles = hashUserFiles(record.base_config as unknown as UserFileFields);
    writeComparisonRecord(dir, record);
    return { dir, steps: resolved.steps, record, invocation, plan, userFiles, lock };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** The comparison record with this invocation appended, and its plan; checks every run's config. */
function planInvocation(
  request: CompareRequest,
  dir: string,
  resolved: Awaited<ReturnType<typeof resolveBaseConfig>>,
  outcome: Invocation['outcome'],
) {
  const { task, steps, base } = resolved;
  const previous = existsSync(join(dir, COMPARISON_FILE)) ? readComparisonRecord(dir) : null;
  if (previous) checkExtension(previous, task, base, request.out);
  const invocation: Invocation = {
    command: request.command,
    started_at: new Date().toISOString(),
    finished_at: null,
    wall_seconds: null,
    runs_started: 0,
    jobs: request.jobs,
    machine: machineInfo(),
    outcome,
  };
  const record: ComparisonRecord = {
    format: 'grpovi-comparison',
    version: 1,
    task,
    steps,
    base_config: base,
    config_file: request.configFile ?? null,
    sweep: request.sweep,
    algos: request.algos,
    seeds: request.seeds,
    command: request.command,
    invocations: [...(previous?.invocations ?? []), invocation],
  };
  // Every run's config is validated here, before anything is written.
  const plan = planComparison(record);
  for (const run of plan.runs) checkRunFile(join(dir, run.relDir), run.config);
  return { record, invocation, plan };
}

/** The `run.json` of a planned run: its setting, exact config and the user files it was planned with. */
function runFileOf(
  run: ComparisonPlan['runs'][number],
  userFiles: UserFile[],
): Parameters<typeof writeRunFile>[1] {
  return {
    format: 'grpovi-compare-run',
    version: 1,
    setting: run.setting.label,
    config: run.config,
    user_files: userFiles,
  };
}

/**
 * Writes a run's `run.json` (clearing a run that must restart) under the run folder's lock, so a
 * trainer of its own in that folder is refused before anything there is touched.
 */
function prepareRunFolder(runDir: string, file: Parameters<typeof writeRunFile>[1], restart: boolean): void {
  ensureRunFolder(runDir);
  const runLock = acquireRunLock(runDir, 'compare (preparing the run)');
  try {
    if (restart) clearRun(runDir);
    writeRunFile(runDir, file);
  } finally {
    runLock.release();
  }
}

/** One line of a plan: the shell command that trains one run into its folder. */
export interface PlannedCommand {
  /** The run folder, as reached from --out. */
  dir: string;
  command: string;
  /** Whether the run had already finished when planned (its command then only reports so). */
  finished: boolean;
}

/** How a plan's commands call grpovi unless told (the CLI passes the command it was started with). */
export const PLAN_PROGRAM = 'grpovi';

export { shellQuote } from '../util/shellQuote.js';

/**
 * `grpovi compare ... --plan`: records the comparison and every run's exact config (run.json), like
 * `compare` does before training, and returns one `grpovi compare-run RUN_DIR` command per run
 * instead of training. The commands can run in any order, anywhere the folder is shared; afterwards
 * `grpovi report DIR` writes the summary `compare` would have written.
 */
export async function planComparisonRuns(
  request: CompareRequest,
  program: string = PLAN_PROGRAM,
): Promise<PlannedCommand[]> {
  const { dir, steps, plan, userFiles, lock } = await openComparison(request, 'planned');
  try {
    return plan.runs.map((run) => {
      const runDir = join(dir, run.relDir);
      const { state } = inspectRun(runDir, steps);
      if (state !== 'finished') {
        prepareRunFolder(runDir, runFileOf(run, userFiles), false);
      }
      const shown = join(request.out, run.relDir);
      return {
        dir: shown,
        command: `${program} compare-run ${shellQuote(shown)}${request.backend === undefined ? '' : ` --backend ${request.backend}`}`,
        finished: state === 'finished',
      };
    });
  } finally {
    lock.release();
  }
}

/** Runs (or extends) a comparison and renders its results. */
export async function runComparison(request: CompareRequest): Promise<CompareResult> {
  const started = performance.now();
  const { dir, steps, record, invocation, plan, userFiles, lock } = await openComparison(request, 'running');
  let recorded = false;
  try {
    const pending: Array<Omit<RunJob, 'label'> & { run: (typeof plan.runs)[number] }> = [];
    let resumed = 0;
    for (const run of plan.runs) {
      const runDir = join(dir, run.relDir);
      const { state } = inspectRun(runDir, steps);
      if (state === 'finished') continue;
      prepareRunFolder(runDir, runFileOf(run, userFiles), state === 'restart');
      if (state === 'resume') resumed++;
      pending.push({ run, dir: runDir, resume: state === 'resume' });
    }
    const skipped = plan.runs.length - pending.length;
    const progress = new ComparisonProgress(request.progress);
    progress.line(
      `comparison in ${request.out}: ${plan.runs.length} run(s) — ${skipped} finished (skipped), ${resumed} to resume, ` +
        `${pending.length - resumed} to start; ${Math.min(request.jobs, Math.max(1, pending.length))} at a time`,
    );
    const jobs: RunJob[] = pending.map((p, i) => ({
      label: {
        index: i + 1,
        total: pending.length,
        setting: p.run.setting.label,
        algo: p.run.algo,
        seed: p.run.seed,
      },
      dir: p.dir,
      resume: p.resume,
    }));
    const outcomes = await runJobs(jobs, {
      jobs: request.jobs,
      progress,
      signal: request.signal,
      command: request.workerCommand,
      backend: request.backend,
    });

    const failed = outcomes.some((o) => o.status === 'failed');
    const interrupted = outcomes.some((o) => o.status === 'interrupted' || o.status === 'not-started');
    invocation.runs_started = outcomes.filter((o) => o.status !== 'not-started').length;
    invocation.finished_at = new Date().toISOString();
    invocation.wall_seconds = (performance.now() - started) / 1000;
    const outcome = failed ? 'failed' : interrupted ? 'interrupted' : 'finished';
    invocation.outcome = outcome;
    writeComparisonRecord(dir, record);
    recorded = true;

    const rendered = await renderComparison(dir, record);
    return { ...rendered, outcome, outcomes, skipped };
  } catch (error) {
    // Refused before its runs ended (a run folder held by another process, ...): the record must
    // not show this invocation running for ever.
    if (!recorded) {
      invocation.finished_at = new Date().toISOString();
      invocation.wall_seconds = (performance.now() - started) / 1000;
      invocation.outcome = 'failed';
      try {
        writeComparisonRecord(dir, record);
      } catch {
        // The folder cannot be written either: the first error is the one to report.
      }
    }
    throw error;
  } finally {
    lock.release();
  }
}
