import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireRunLock, LOCK_FILE, type LockHolder, RunLockedError } from '../../src/train/runLock.js';
import { tempDir } from './helpers.js';

let dir = '';
let cleanup = () => {};
beforeEach(() => {
  ({ dir, cleanup } = tempDir('lock'));
});
afterEach(() => cleanup());

/** The pid of a process that has exited (so it is certainly not alive, barring pid reuse). */
function deadPid(): number {
  const result = spawnSync(process.execPath, ['-e', '']);
  return result.pid!;
}

function writeLock(holder: Partial<LockHolder>): void {
  const full: LockHolder = {
    pid: 1,
    host: hostname(),
    started_at: '2026-01-01T00:00:00.000Z',
    what: 'train',
    command: 'grpovi train --out x',
    token: 'feedface',
    ...holder,
  };
  writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify(full)}\n`);
}

describe('acquireRunLock', () => {
  it('records the holder, refuses a second writer naming it, and is free again after release', () => {
    const lock = acquireRunLock(dir, 'train');
    const saved = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockHolder;
    expect(saved).toMatchObject({ pid: process.pid, host: hostname(), what: 'train' });
    expect(saved.command).toContain(process.argv[1]);
    expect(Number.isNaN(Date.parse(saved.started_at))).toBe(false);
    let refusal: unknown;
    try {
      acquireRunLock(dir, 'compare');
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(RunLockedError);
    expect((refusal as Error).message).toContain(`pid ${process.pid} on ${hostname()}`);
    expect((refusal as Error).message).toContain(saved.started_at);
    lock.release();
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    acquireRunLock(dir, 'train --resume').release();
  });

  it('takes over the lock of a holder that is no longer running, with a note', () => {
    const pid = deadPid();
    writeLock({ pid, token: 'deadbeef' });
    const notes: LockHolder[] = [];
    const lock = acquireRunLock(dir, 'train', { onTakeOver: (previous) => notes.push(previous) });
    expect(notes.map((n) => n.pid)).toEqual([pid]);
    expect(lock.takenOver?.token).toBe('deadbeef');
    expect((JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockHolder).pid).toBe(process.pid);
    lock.release();
  });

  it('assumes a holder on another host is alive, and refuses an unreadable lock file', () => {
    writeLock({ pid: deadPid(), host: `not-${hostname()}` });
    expect(() => acquireRunLock(dir, 'train')).toThrow(/in use by train \(pid \d+ on not-/);
    writeFileSync(join(dir, LOCK_FILE), 'garbage');
    expect(() => acquireRunLock(dir, 'train')).toThrow(/cannot be read as a lock/);
  });

  it('release leaves a lock that is no longer its own', () => {
    const lock = acquireRunLock(dir, 'train');
    writeLock({ pid: process.pid, token: 'someone-else' });
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });
});
