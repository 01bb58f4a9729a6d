import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { RunFolderError } from './runFolderError.js';

/**
 * The run folder as a place on disk: created safely, its stage read, and the leftovers of a crash
 * (temporary files, half-written checkpoint folders) removed. The trainer calls these holding the
 * folder's lock, so nothing removed here can belong to a live writer.
 */

const CHECKPOINTS_DIR = 'checkpoints';
const LATEST_FILE = 'latest.json';
/** Written last into a checkpoint's temporary folder: a checkpoint folder without it is incomplete. */
const STATE_FILE = 'state.json';

const SYSTEM_REASONS: Record<string, string> = {
  ENOENT: 'the file system refuses to create it there',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'the path is too long',
  ELOOP: 'too many symbolic links',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  return `${SYSTEM_REASONS[code] ?? (error as Error).message}${code ? ` (${code})` : ''}`;
}

/**
 * Checks, writing nothing, that `dir` is a folder or can be made one: it is not a file and no part
 * of its path is a file. Throws a RunFolderError naming the path.
 */
export function assertFolderPath(dir: string): void {
  const target = resolve(dir);
  let existing = target;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  if (existsSync(existing) && !statSync(existing).isDirectory()) {
    throw new RunFolderError(
      existing === target
        ? `run folder ${dir} is a file, not a folder: choose another --out`
        : `run folder ${dir} cannot be created: ${existing} is a file, not a folder`,
    );
  }
}

/**
 * Creates run folder `dir` and any missing parents, one level at a time. Node's recursive mkdir
 * loops forever where the file system answers ENOENT for an existing parent (as /proc does); this
 * stops at the first refusal with a RunFolderError naming the path and the reason.
 */
export function ensureRunFolder(dir: string): void {
  const target = resolve(dir);
  const missing: string[] = [];
  let existing = target;
  while (!existsSync(existing)) {
    missing.push(existing);
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  assertFolderPath(dir);
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(path).isDirectory()) continue;
      throw new RunFolderError(`run folder ${dir} cannot be created: ${path}: ${reason(error)}`);
    }
  }
}

/**
 * `empty`: nothing of a run; `started`: a run that stopped before its first checkpoint (it can be
 * started again, or resumed from step 0 with its config.json); `checkpointed`: a run to resume.
 */
export type RunFolderStage = 'empty' | 'started' | 'checkpointed';

export function runFolderStage(dir: string): RunFolderStage {
  if (existsSync(join(dir, CHECKPOINTS_DIR, LATEST_FILE))) return 'checkpointed';
  return existsSync(join(dir, 'config.json')) || existsSync(join(dir, 'metrics.jsonl')) ? 'started' : 'empty';
}

/**
 * A temporary file of an atomic write (`.name.<hex>.tmp`), a checkpoint being written
 * (`.step-....tmp-<pid>`) or an old one being removed (`.step-....old-<pid>`).
 */
function isTemporary(name: string): boolean {
  return /^\..+\.[0-9a-f]+\.tmp$/.test(name) || /^\.step-.*\.(tmp|old)-\d+$/.test(name);
}

/** A lock's temporary file is only stale once it is old: a contender may be between its create and link. */
function isStaleLockTemp(path: string, name: string): boolean {
  if (!/^grpovi\.lock.*\.[0-9a-f]+\.tmp$/.test(name)) return false;
  try {
    return Date.now() - statSync(path).mtimeMs > 60_000;
  } catch {
    return false;
  }
}

/**
 * Removes what a crash leaves in a run folder: temporary files of atomic writes, temporary
 * checkpoint folders, and checkpoint folders without their state file. Returns the removed paths.
 */
export function removeCrashLeftovers(dir: string): string[] {
  const removed: string[] = [];
  const remove = (path: string) => {
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  };
  for (const folder of [dir, join(dir, CHECKPOINTS_DIR)]) {
    let entries: string[];
    try {
      entries = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of entries) {
      const path = join(folder, name);
      if (isTemporary(name) || isStaleLockTemp(path, name)) remove(path);
      else if (folder !== dir && name.startsWith('step-') && isIncompleteCheckpoint(path)) remove(path);
    }
  }
  return removed;
}

function isIncompleteCheckpoint(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return false;
  } catch {
    return false;
  }
  return !existsSync(join(path, STATE_FILE));
}

/** Removes the files of a run that stopped before its first checkpoint, so it can start again. */
export function clearUncheckpointedRun(dir: string): void {
  for (const name of ['metrics.jsonl', 'samples.jsonl', 'config.json', CHECKPOINTS_DIR])
    rmSync(join(dir, name), { recursive: true, force: true });
}
