/**
 * Runs a comparison's runs as child processes, `jobs` at a time. TF.js's wasm backend uses one
 * thread, so on a machine with two cores two runs side by side nearly double the throughput; each
 * child also starts from a clean TF.js state.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { BackendName } from '../nn/backends/backendNames.js';
import { STOPPED_EXIT_CODES, signalExitCode } from '../train/interrupt.js';
import type { ComparisonProgress, RunLabel } from './progress.js';
import { WORKER_LOG } from './runFolder.js';
import type { WorkerEvent } from './worker.js';

/** The command that starts a worker: the built `workerMain.js`, or the TypeScript source through tsx in tests. */
export function workerCommand(): string[] {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(import.meta.url).resolve('tsx');
    return [process.execPath, '--import', pathToFileURL(tsx).href, join(dirname(here), 'workerMain.ts')];
  }
  return [process.execPath, join(dirname(here), 'workerMain.js')];
}

export interface RunJob {
  label: RunLabel;
  /** Absolute run folder. */
  dir: string;
  resume: boolean;
}

export interface JobOutcome {
  job: RunJob;
  status: 'finished' | 'interrupted' | 'failed' | 'not-started';
  exitCode: number | null;
  /** The last lines the worker wrote to stderr (also kept in the run's worker.log). */
  stderrTail: string[];
  seconds: number;
  lastEvalReward?: number;
}

export interface RunnerOptions {
  jobs: number;
  progress: ComparisonProgress;
  /** Aborting stops starting runs and asks running ones to checkpoint and stop (SIGTERM). */
  signal?: AbortSignal;
  command?: string[];
  /** The backend every run uses instead of its config's (`compare --backend`). */
  backend?: BackendName;
}

const TAIL_LINES = 20;

function runOne(job: RunJob, options: RunnerOptions): Promise<JobOutcome> {
  const [executable, ...prefix] = options.command ?? workerCommand();
  const args = [
    ...prefix,
    job.dir,
    ...(job.resume ? ['--resume'] : []),
    ...(options.backend !== undefined ? ['--backend', options.backend] : []),
  ];
  const started = performance.now();
  return new Promise((resolve) => {
    // Runs side by side already share the cores: one BLAS thread each (unless a config sets blas_threads).
    const env = options.jobs > 1 ? { ...process.env, GRPOVI_BLAS_THREADS: '1' } : process.env;
    const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const logPath = join(job.dir, WORKER_LOG);
    appendFileSync(
      logPath,
      `--- ${new Date().toISOString()} ${job.resume ? 'resume' : 'start'}: ${args.join(' ')}\n`,
    );
    const tail: string[] = [];
    let lastEvalReward: number | undefined;
    let stdoutBuffer = '';
    let stderrBuffer = '';
    const onAbort = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    const handleEvent = (line: string) => {
      let event: WorkerEvent;
      try {
        event = JSON.parse(line) as WorkerEvent;
      } catch {
        appendFileSync(logPath, `${line}\n`);
        return;
      }
      if (event.event === 'start')
        options.progress.started(job.label, event.start_step, event.steps, job.resume);
      else if (event.event === 'step') {
        if (event.eval_reward !== undefined) lastEvalReward = event.eval_reward;
        options.progress.step(job.label, event.step, event.steps, event.eval_reward);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdoutBuffer += chunk;
      const lines = stdoutBuffer.split('\n');
      stdoutBuffer = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') handleEvent(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      appendFileSync(logPath, chunk);
      stderrBuffer += chunk;
      const lines = stderrBuffer.split('\n');
      stderrBuffer = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
      }
    });
    const finish = (exitCode: number | null) => {
      options.signal?.removeEventListener('abort', onAbort);
      if (stdoutBuffer.trim() !== '') handleEvent(stdoutBuffer);
      if (stderrBuffer !== '') tail.push(stderrBuffer);
      const status =
        exitCode === 0 ? 'finished' : STOPPED_EXIT_CODES.includes(exitCode ?? -1) ? 'interrupted' : 'failed';
      resolve({
        job,
        status,
        exitCode,
        stderrTail: tail,
        seconds: (performance.now() - started) / 1000,
        lastEvalReward,
      });
    };
    child.on('error', (error) => {
      tail.push(`cannot start the worker: ${error.message}`);
      finish(null);
    });
    child.on('close', (code, signal) => finish(code ?? (signal === null ? null : signalExitCode(signal))));
  });
}

/**
 * Runs the jobs in order, at most `jobs` at once. After a failure or an abort no new run starts;
 * the running ones finish (or checkpoint and stop). Resolves to one outcome per job.
 */
export async function runJobs(list: readonly RunJob[], options: RunnerOptions): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = list.map((job) => ({
    job,
    status: 'not-started',
    exitCode: null,
    stderrTail: [],
    seconds: 0,
  }));
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (next < list.length && !failed && !options.signal?.aborted) {
      const index = next++;
      const outcome = await runOne(list[index], options);
      outcomes[index] = outcome;
      const label = outcome.job.label;
      if (outcome.status === 'finished') {
        const reward =
          outcome.lastEvalReward === undefined
            ? ''
            : `, final eval reward ${outcome.lastEvalReward.toFixed(3)}`;
        options.progress.finished(label, `done in ${outcome.seconds.toFixed(1)} s${reward}`);
      } else if (outcome.status === 'interrupted') {
        options.progress.finished(label, 'stopped with a checkpoint; rerun the same command to resume');
      } else {
        failed = true;
        const last =
          outcome.stderrTail.filter((l) => l.trim() !== '').at(-1) ?? `exit code ${outcome.exitCode}`;
        options.progress.finished(label, `FAILED: ${last} (log: ${join(outcome.job.dir, WORKER_LOG)})`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, list.length)) }, lane));
  options.progress.clearStatus();
  return outcomes;
}
