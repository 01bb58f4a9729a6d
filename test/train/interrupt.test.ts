import { describe, expect, it } from 'vitest';
import { watchInterrupts } from '../../src/train/interrupt.js';

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
