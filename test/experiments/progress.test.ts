import { describe, expect, it } from 'vitest';
import { ComparisonProgress } from '../../src/experiments/progress.js';

function stream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, isTTY, columns: 200, write: (text: string) => writes.push(text) };
}

const run = (index: number, seed: number) => ({ index, total: 4, setting: 'lr=1e-3', algo: 'grpovi', seed });

describe('ComparisonProgress', () => {
  it('prints a line per start, evaluation and end when not on a terminal', () => {
    const out = stream(false);
    const progress = new ComparisonProgress(out);
    progress.started(run(1, 0), 0, 10, false);
    progress.step(run(1, 0), 1, 10);
    progress.step(run(1, 0), 2, 10, 0.25);
    progress.finished(run(1, 0), 'done');
    expect(out.writes.join('')).toBe(
      'run 1/4 (lr=1e-3, grpovi, seed 0): starting (10 steps)\n' +
        'run 1/4 (lr=1e-3, grpovi, seed 0): step 2/10, eval reward 0.250\n' +
        'run 1/4 (lr=1e-3, grpovi, seed 0): done\n',
    );
  });

  it('redraws one status line with every running run on a terminal', () => {
    const out = stream(true);
    const progress = new ComparisonProgress(out);
    progress.started(run(1, 0), 0, 10, false);
    progress.started(run(2, 1), 4, 10, true);
    progress.step(run(1, 0), 3, 10);
    const status = out.writes.at(-1)!;
    expect(status).toBe(
      'run 1/4 (lr=1e-3, grpovi, seed 0): step 3/10 | run 2/4 (lr=1e-3, grpovi, seed 1): step 4/10',
    );
    expect(out.writes.at(-2)).toBe('\r\x1b[K');
    expect(out.writes.join('')).toContain('run 2/4 (lr=1e-3, grpovi, seed 1): resuming at step 4/10\n');
    progress.finished(run(1, 0), 'done');
    progress.finished(run(2, 1), 'done');
    progress.clearStatus();
    expect(out.writes.at(-1)).toBe('run 2/4 (lr=1e-3, grpovi, seed 1): done\n');
  });
});
