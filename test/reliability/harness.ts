import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { CLI_BIN } from '../cli/cliBin.js';
import { loadModelDir } from '../../src/nn/weights/modelDir.js';
import { readRunCheckpoint } from '../../src/train/runCheckpoint.js';

/**
 * Process-level helpers for the reliability suite: start the built CLI, kill it at chosen moments,
 * and check a run folder's checkpoints. `GRPOVI_RELIABILITY=full` (npm run reliability) runs the
 * full counts; the default `npm test` runs reduced ones.
 */
export const FULL = process.env.GRPOVI_RELIABILITY === 'full';
/** Per-test time limit: the full counts take minutes on a busy machine. */
export const TEST_TIMEOUT = FULL ? 1_200_000 : 120_000;

/** The tiny toy run every scenario trains: about 50 ms a step, a checkpoint after every step. */
export function toyArgs(steps: number, seed = 7): string[] {
  return [
    'train',
    '--task',
    'toy',
    '--seed',
    String(seed),
    '--steps',
    String(steps),
    '--prompts-per-step',
    '2',
    '--group-size',
    '2',
    '--eval-prompts',
    '4',
    '--eval-every',
    '5',
    '--checkpoint-every',
    '1',
    '--quiet',
  ];
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  done: Promise<Finished>;
}

export function startCli(args: readonly string[], cwd: string): Started {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export function runCliIn(args: readonly string[], cwd: string): Promise<Finished> {
  return startCli(args, cwd).done;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when `test` holds, polling every `everyMs`; false when `process` ended first. */
export async function waitFor(test: () => boolean, started: Started, everyMs = 2): Promise<boolean> {
  let ended = false;
  void started.done.then(() => (ended = true));
  while (!ended) {
    if (test()) return true;
    await sleep(everyMs);
  }
  return false;
}

/** The step of `metrics.jsonl`'s last complete line, or -1. */
export function lastLoggedStep(runDir: string): number {
  try {
    const text = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8');
    const lines = text.slice(0, text.lastIndexOf('\n')).split('\n').filter(Boolean);
    return lines.length === 0 ? -1 : (JSON.parse(lines.at(-1)!) as { step: number }).step;
  } catch {
    return -1;
  }
}

/** Temporary checkpoint folders being written (`.step-000004.tmp-<pid>`), by step. */
export function checkpointWritesInProgress(runDir: string): number[] {
  try {
    return readdirSync(join(runDir, 'checkpoints'))
      .map((name) => /^\.step-(\d+)\.tmp-\d+$/.exec(name))
      .filter((m) => m !== null)
      .map((m) => Number(m[1]));
  } catch {
    return [];
  }
}

export function latestStep(runDir: string): number {
  const path = join(runDir, 'checkpoints', 'latest.json');
  if (!existsSync(path)) return 0;
  return (JSON.parse(readFileSync(path, 'utf8')) as { step: number }).step;
}

/**
 * Every problem with a run folder's checkpoints: `latest.json` must name a folder that loads, and
 * every checkpoint folder (not the temporary ones) must load completely. Empty when all is well.
 */
export function checkpointProblems(runDir: string): string[] {
  const root = join(runDir, 'checkpoints');
  if (!existsSync(root)) return [];
  const problems: string[] = [];
  const check = (dir: string) => {
    try {
      loadModelDir(dir, 'policy');
      readRunCheckpoint(dir);
    } catch (error) {
      problems.push(`${dir}: ${(error as Error).message}`);
    }
  };
  if (existsSync(join(root, 'latest.json'))) {
    try {
      const latest = JSON.parse(readFileSync(join(root, 'latest.json'), 'utf8')) as { checkpoint: string };
      if (!existsSync(join(root, latest.checkpoint)))
        problems.push(`latest.json names a missing ${latest.checkpoint}`);
    } catch (error) {
      problems.push(`latest.json: ${(error as Error).message}`);
    }
  }
  for (const name of readdirSync(root)) if (name.startsWith('step-')) check(join(root, name));
  return problems;
}

/**
 * Kills `started` with SIGKILL the moment a checkpoint write of step `fromStep` or later begins
 * (its temporary folder appears; inotify tells at once, a poll would miss most writes). Resolves
 * to false when the process ended first.
 */
export async function killInsideCheckpointWrite(
  runDir: string,
  started: Started,
  fromStep: number,
): Promise<boolean> {
  const root = join(runDir, 'checkpoints');
  if (!(await waitFor(() => existsSync(root), started, 5))) return false;
  let ended = false;
  void started.done.then(() => (ended = true));
  return new Promise((resolve) => {
    const watcher = watch(root, (_event, name) => {
      const match = name === null ? null : /^\.step-(\d+)\.tmp-\d+$/.exec(name);
      if (match === null || Number(match[1]) < fromStep || ended) return;
      started.child.kill('SIGKILL');
      watcher.close();
      resolve(true);
    });
    void started.done.then(() => {
      watcher.close();
      resolve(false);
    });
  });
}
