import { describe, expect, it } from 'vitest';
import { STOPPED_EXIT_CODES, signalExitCode, watchInterrupts } from '../../src/train/interrupt.js';

// A signal no test runner listens to, so that emitting it reaches only the handler under test.
const SIGNAL = 'SIGUSR2';

describe('watchInterrupts', () => {
  it('the first SIGINT sets the flag, tells once, and hands later ones back to Node', () => {
    const before = process.listenerCount(SIGNAL);
    let told = 0;
    const watch = watchInterrupts(() => told++, SIGNAL);
    expect(process.listenerCount(SIGNAL)).toBe(before + 1);
    expect(watch.requested).toBe(false);
    process.emit(SIGNAL, SIGNAL);
    expect(watch.requested).toBe(true);
    expect(told).toBe(1);
    // No listener of ours is left, so a second Ctrl-C takes Node's default action (exit at once).
    expect(process.listenerCount(SIGNAL)).toBe(before);
    watch.dispose();
    expect(process.listenerCount(SIGNAL)).toBe(before);
  });

  it('dispose removes the handler when no Ctrl-C came', () => {
    const before = process.listenerCount(SIGNAL);
    const watch = watchInterrupts(() => {}, SIGNAL);
    watch.dispose();
    expect(process.listenerCount(SIGNAL)).toBe(before);
    expect(watch.requested).toBe(false);
  });
});

describe('stop signals and a lost parent', () => {
  it('SIGTERM and SIGHUP stop like Ctrl-C, with 128 + the signal number as the exit code', () => {
    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGHUP', 129],
      ['SIGINT', 130],
    ] as const) {
      expect(signalExitCode(signal)).toBe(code);
    }
    // SIGUSR2 stands in for them (the test runner listens to the real ones).
    const seen: string[] = [];
    const watch = watchInterrupts((signal) => seen.push(signal), [SIGNAL, 'SIGUSR1']);
    process.emit('SIGUSR1', 'SIGUSR1');
    process.emit('SIGUSR1', 'SIGUSR1');
    expect(seen).toEqual(['SIGUSR1']);
    expect(watch.signal).toBe('SIGUSR1');
    expect(watch.exitCode).toBe(128 + 10);
    expect(process.listenerCount(SIGNAL)).toBe(0);
    expect(STOPPED_EXIT_CODES).toEqual([130, 143, 129, 141]);
  });

  it('asks to stop once the parent it started with is gone (its pid changed)', () => {
    const notes: [string, boolean][] = [];
    const orphan = watchInterrupts((s, gone) => notes.push([s, gone]), SIGNAL, {
      parentPid: process.ppid + 1,
    });
    expect(orphan.requested).toBe(true);
    expect(orphan.exitCode).toBe(129);
    expect(notes).toEqual([['SIGHUP', true]]);
    const kept = watchInterrupts(() => {}, SIGNAL, { parentPid: process.ppid + 1, watchParent: false });
    expect(kept.requested).toBe(false);
    kept.dispose();
    const normal = watchInterrupts(() => {}, SIGNAL);
    expect(normal.requested).toBe(false);
    normal.dispose();
  });
});
