import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RunFolderError } from './runFolderError.js';
import { parseJson } from '../util/boundedJson.js';

/**
 * One writer per run folder. The lock is a file in the folder, `grpovi.lock`, holding who took it.
 * It is made complete under a temporary name and hard-linked into place: the link fails when the
 * file exists, so taking the lock is atomic and nobody ever reads a half-written lock file.
 */
export const LOCK_FILE = 'grpovi.lock';

/** Who holds a run folder, as recorded in its lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  started_at: string;
  /** What the holder does there (`train`, `train --resume`, `compare`, `compare worker`). */
  what: string;
  /** The holder's command line. */
  command: string;
  /** Random, so that a lock is released only by the process that took it. */
  token: string;
}

export interface RunLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** The dead holder whose lock was taken over, if any. */
  readonly takenOver?: LockHolder;
  /** Removes the lock file if it is still ours; safe to call more than once. */
  release(): void;
}

/** A run folder another live process holds. */
export class RunLockedError extends RunFolderError {
  readonly holder: LockHolder | undefined;

  constructor(dir: string, holder: LockHolder | undefined, detail?: string) {
    super(
      holder === undefined
        ? `run folder ${dir} is locked (${detail ?? 'the lock file is being written'}); try again`
        : `run folder ${dir} is in use by ${describeHolder(holder)}; wait for it to finish or stop it`,
    );
    this.holder = holder;
  }
}

export function describeHolder(holder: LockHolder): string {
  return `${holder.what} (pid ${holder.pid} on ${holder.host}, started ${holder.started_at}: ${holder.command})`;
}

export interface AcquireOptions {
  /** Told when the lock of a dead holder is taken over (default: a note on stderr). */
  onTakeOver?: (previous: LockHolder, path: string) => void;
}

/**
 * Takes the lock of run folder `dir` (which must exist) for `what`, or throws RunLockedError
 * naming the holder. A lock left by a process of this host that is no longer alive is taken over.
 * The lock is released by `release()` and, as a last resort, when the process exits.
 */
export function acquireRunLock(dir: string, what: string, options: AcquireOptions = {}): RunLock {
  const path = join(dir, LOCK_FILE);
  const holder: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started_at: new Date().toISOString(),
    what,
    command: process.argv.join(' '),
    token: randomBytes(8).toString('hex'),
  };
  let takenOver: LockHolder | undefined;
  if (!tryCreate(path, holder)) {
    const current = readHolder(path);
    if (current === 'missing') {
      // Released between our attempt and the read: one more try.
      if (!tryCreate(path, holder)) throw new RunLockedError(dir, readHolderOrUndefined(path));
    } else if (current === 'unreadable' || isAlive(current)) {
      throw new RunLockedError(
        dir,
        current === 'unreadable' ? undefined : current,
        current === 'unreadable' ? `${path} cannot be read as a lock` : undefined,
      );
    } else {
      takeOver(dir, path, current, holder);
      takenOver = current;
      (options.onTakeOver ?? defaultNote)(current, path);
    }
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    const current = readHolder(path);
    if (typeof current === 'object' && current.token === holder.token) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone: nothing to release.
      }
    }
  };
  process.on('exit', release);
  return { path, holder, takenOver, release };
}

function defaultNote(previous: LockHolder, path: string): void {
  process.stderr.write(
    `grpovi: note: took over the lock ${path} of ${describeHolder(previous)}, which is no longer running\n`,
  );
}

/** Creates the lock file with `holder` in it, atomically; false when a lock file exists. */
function tryCreate(path: string, holder: LockHolder): boolean {
  const temp = `${path}.${holder.token}.tmp`;
  const fd = openSync(temp, 'wx');
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    unlinkSync(temp);
  }
}

function readHolder(path: string): LockHolder | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  try {
    const parsed = (parseJson(text, path) ?? {}) as Partial<LockHolder>;
    if (
      Number.isInteger(parsed.pid) &&
      typeof parsed.host === 'string' &&
      typeof parsed.token === 'string' &&
      typeof parsed.started_at === 'string'
    ) {
      return {
        pid: parsed.pid as number,
        host: parsed.host,
        started_at: parsed.started_at,
        what: typeof parsed.what === 'string' ? parsed.what : 'grpovi',
        command: typeof parsed.command === 'string' ? parsed.command : '?',
        token: parsed.token,
      };
    }
  } catch {
    // Falls through: not a lock this code wrote.
  }
  return 'unreadable';
}

function readHolderOrUndefined(path: string): LockHolder | undefined {
  const holder = readHolder(path);
  return typeof holder === 'object' ? holder : undefined;
}

/** Whether the holder may still be running. A holder on another host cannot be checked: assume it is. */
export function isAlive(holder: LockHolder): boolean {
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return true;
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Replaces a dead holder's lock with ours. Two processes may find the same dead lock at once; a
 * second lock file, taken with the same atomic create, lets only one of them remove and replace it.
 */
function takeOver(dir: string, path: string, dead: LockHolder, holder: LockHolder): void {
  const breaker = `${path}.takeover`;
  if (!tryCreate(breaker, holder)) {
    const other = readHolder(breaker);
    // A take-over whose process died in these few lines: clear it for the next attempt.
    if (typeof other === 'object' && !isAlive(other) && ageSeconds(breaker) > 1) unlinkQuietly(breaker);
    throw new RunLockedError(dir, undefined, 'another process is taking over a stale lock');
  }
  try {
    const current = readHolder(path);
    if (typeof current === 'object' && current.token === dead.token) unlinkSync(path);
    if (!tryCreate(path, holder)) throw new RunLockedError(dir, readHolderOrUndefined(path));
  } finally {
    unlinkQuietly(breaker);
  }
}

function ageSeconds(path: string): number {
  try {
    return (Date.now() - statSync(path).mtimeMs) / 1000;
  } catch {
    return 0;
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already.
  }
}
