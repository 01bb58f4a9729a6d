import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { MetricsRow } from '../../src/train/metrics.js';
import { formatStartLine, formatStepLine, TrainProgress } from '../../src/train/progress.js';

/** A stream that keeps what is written, posing as a terminal or not. */
function capture(isTTY: boolean): {
  stream: Writable & { isTTY: boolean; columns: number };
  text: () => string;
} {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number };
  stream.isTTY = isTTY;
  stream.columns = 200;
  return { stream, text: () => text };
}

const start = {
  backend: 'wasm' as const,
  task: 'toy',
  algo: 'grpovi',
  steps: 25,
  startStep: 0,
  outDir: 'runs/x',
  parameters: 26368,
};

function trainingRow(step: number): MetricsRow {
  return { step, reward_mean: 0.25 + step / 100, kl: 0.0031, step_seconds: 0.1 };
}

describe('plain progress lines (no terminal)', () => {
  it('one line per evaluation, every 10 steps and at the last step; nothing else', () => {
    const out = capture(false);
    const progress = new TrainProgress({ stream: out.stream });
    expect(progress).toBeDefined();
    progress.onStart(start);
    progress.onStep({ step: 0, eval_reward: 0.131 }, 25);
    for (let step = 1; step <= 25; step++) {
      const row = trainingRow(step);
      if (step % 8 === 0 || step === 25) row.eval_reward = 0.3;
      progress.onStep(row, 25);
    }
    progress.onEnd();
    const lines = out.text().trimEnd().split('\n');
    expect(lines[0]).toBe(formatStartLine(start));
    expect(lines[0]).toContain('wasm');
    expect(lines[0]).toContain('26,368 parameters');
    const steps = lines.slice(1).map((line) => Number(/^step (\d+)\/25 /.exec(line)?.[1]));
    expect(steps).toEqual([0, 8, 10, 16, 20, 24, 25]);
  });

  it('a line names step/total, reward, eval, kl and the time per step', () => {
    const line = formatStepLine(
      { step: 20, reward_mean: 0.4123, eval_reward: 0.455, kl: 0.0031 },
      100,
      1.214,
    );
    expect(line).toBe('step 20/100  reward 0.412  eval 0.455  kl 0.0031  1.21 s/step');
    expect(formatStepLine({ step: 0, eval_reward: 0.131, eval_gold: 0.5 }, 100)).toBe(
      'step 0/100  eval 0.131  gold 0.500',
    );
  });

  it('quiet prints only notes', () => {
    const out = capture(false);
    const progress = new TrainProgress({ stream: out.stream, quiet: true });
    progress.onStart(start);
    progress.onStep(trainingRow(10), 25);
    progress.note('Ctrl-C: stopping');
    progress.onEnd();
    expect(out.text()).toBe('Ctrl-C: stopping\n');
  });
});

describe('progress bar (terminal)', () => {
  it('shows step/total, the last reward, eval reward and kl, and notes above the bar', () => {
    const out = capture(true);
    const progress = new TrainProgress({ stream: out.stream });
    progress.onStart(start);
    progress.onStep({ step: 0, eval_reward: 0.131 }, 25);
    progress.onStep({ ...trainingRow(1), eval_reward: 0.2 }, 25);
    progress.note('Ctrl-C: stopping');
    progress.onStep(trainingRow(2), 25);
    progress.onEnd();
    const text = out.text();
    expect(text).toContain(formatStartLine(start));
    expect(text).toContain('Ctrl-C: stopping\n');
    // The last drawn bar: step 2 with its reward, the eval of step 1, and kl.
    const ESCAPE = new RegExp(`\r|\n|${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`);
    const bars = text.split(ESCAPE).filter((s) => s.startsWith('step '));
    expect(bars.at(-1)).toMatch(/^step 2\/25 \[.*\] ETA .* {2}reward 0\.270 {2}eval 0\.200 {2}kl 0\.0031$/);
  });
});
