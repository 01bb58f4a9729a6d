import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/train/runLock.js';
import { STOPPED_EXIT_CODES } from '../../src/train/interrupt.js';
import {
  checkpointProblems,
  lastLoggedStep,
  latestStep,
  runCliIn,
  sleep,
  startCli,
  TEST_TIMEOUT,
} from './harness.js';

/**
 * A comparison whose own process is killed with SIGKILL: its workers lose their parent (and the
 * reading end of their stdout). Each must stop like Ctrl-C: checkpoint, release its lock, exit
 * 128 + N, and note the exit in its worker.log (nobody is left to read its stderr).
 */
const root = mkdtempSync(join(tmpdir(), 'grpovi-orphans-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const RUNS = ['default/grpo/seed-0', 'default/grpovi/seed-0'];
const STEPS = 100;

describe('a comparison killed with SIGKILL', () => {
  it(
    'its workers checkpoint, release their locks, exit 128+N, and a rerun resumes them',
    async () => {
      const config = join(root, 'small.json');
      // Small steps, no checkpoint before the stop: only the stop itself can save the work.
      writeFileSync(
        config,
        JSON.stringify({ prompts_per_step: 2, num_generations: 2, eval_prompts: 4, eval_every: 1000 }),
      );
      const out = join(root, 'C');
      const args = ['compare', '--task', 'toy', '--seeds', '1', '--steps', String(STEPS), '--jobs', '2'];
      const compare = startCli([...args, '--config', config, '--out', out], root);
      // Wait until both workers have trained a few steps (their metrics files have lines).
      const steps = (run: string): number => {
        try {
          return readFileSync(join(out, run, 'metrics.jsonl'), 'utf8').split('\n').length - 1;
        } catch {
          return 0;
        }
      };
      const deadline = Date.now() + 100_000;
      while (RUNS.some((run) => steps(run) < 3) && Date.now() < deadline) await sleep(50);
      const pids = RUNS.map(
        (run) => (JSON.parse(readFileSync(join(out, run, LOCK_FILE), 'utf8')) as { pid: number }).pid,
      );
      // The last step each worker had logged when its parent died: the stop must keep at least that.
      const loggedAtKill = RUNS.map((run) => steps(run) - 1);
      compare.child.kill('SIGKILL');
      await compare.done;
      const stopDeadline = Date.now() + 60_000;
      while (pids.some(alive) && Date.now() < stopDeadline) await sleep(50);
      expect(pids.filter(alive)).toEqual([]);

      for (const [i, run] of RUNS.entries()) {
        const dir = join(out, run);
        expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
        expect(loggedAtKill[i]).toBeGreaterThanOrEqual(2);
        expect(latestStep(dir)).toBeGreaterThanOrEqual(loggedAtKill[i]);
        const log = readFileSync(join(dir, 'worker.log'), 'utf8');
        const exit = /exit (\d+)\b/.exec(log.split('\n').filter(Boolean).at(-1) ?? '');
        expect(log).toMatch(/stopped after step \d+ with a checkpoint.*exit \d+/);
        expect(STOPPED_EXIT_CODES).toContain(Number(exit?.[1]));
        expect(latestStep(dir)).toBeLessThan(STEPS);
        expect(checkpointProblems(dir)).toEqual([]);
      }
      const stoppedAt = RUNS.map((run) => latestStep(join(out, run)));

      // The same command resumes both runs from their checkpoints and finishes them.
      const rerun = await runCliIn([...args, '--config', config, '--out', out], root);
      expect(rerun.stderr).toMatch(/2 to resume/);
      expect(rerun.code).toBe(0);
      RUNS.forEach((run, i) => {
        const rows = readFileSync(join(out, run, 'metrics.jsonl'), 'utf8')
          .trim()
          .split('\n')
          .map((line) => (JSON.parse(line) as { step: number }).step);
        // One row per step, none lost and none repeated across the stop.
        expect(rows).toEqual(Array.from({ length: STEPS + 1 }, (_, k) => k));
        expect(stoppedAt[i]).toBeGreaterThan(0);
      });
    },
    TEST_TIMEOUT * 3,
  );
});

describe('a train whose output lost its reader', () => {
  it(
    'stops like Ctrl-C at its next write: checkpoint, no lock, exit 141 (SIGPIPE), and resumes',
    async () => {
      const out = join(root, 'piped');
      const args = [
        'train',
        '--task',
        'toy',
        '--steps',
        '300',
        '--prompts-per-step',
        '2',
        '--group-size',
        '2',
      ];
      // A progress line every step (an evaluation every step), no checkpoint but the stop's own.
      const more = ['--eval-prompts', '4', '--eval-every', '1', '--checkpoint-every', '0', '--out', out];
      const run = startCli([...args, ...more], root);
      const deadline = Date.now() + 100_000;
      while (lastLoggedStep(out) < 3 && Date.now() < deadline) await sleep(20);
      // Close the reading ends of its stdout and stderr, as `| head` does once it has its lines.
      run.child.stdout!.destroy();
      run.child.stderr!.destroy();
      const ended = await run.done;
      expect(ended.code).toBe(141);
      expect(existsSync(join(out, LOCK_FILE))).toBe(false);
      const stopped = latestStep(out);
      expect(stopped).toBeGreaterThanOrEqual(3);
      expect(stopped).toBeLessThan(300);
      expect(checkpointProblems(out)).toEqual([]);
      const resumed = await runCliIn(
        ['train', '--resume', out, '--steps', String(stopped + 2), '--quiet'],
        root,
      );
      expect(resumed.code).toBe(0);
      expect(lastLoggedStep(out)).toBe(stopped + 2);
    },
    TEST_TIMEOUT,
  );
});
