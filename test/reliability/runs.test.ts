import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/train/runLock.js';
import { Rng } from '../../src/util/rng.js';
import { CLI_BIN } from '../cli/cliBin.js';
import { latestWeights, metricsWithoutTiming, tempDir } from '../train/helpers.js';
import {
  checkpointProblems,
  checkpointWritesInProgress,
  FULL,
  killInsideCheckpointWrite,
  lastLoggedStep,
  latestStep,
  runCliIn,
  sleep,
  startCli,
  toyArgs,
  waitFor,
  TEST_TIMEOUT,
} from './harness.js';

// Kill -9 at random moments (many inside checkpoint writes), SIGTERM/SIGHUP, a killed parent and
// early deaths: after each, every checkpoint loads, and the run continued to its end is byte-identical
// to a run that was never interrupted. Run the built CLI (`npm test` builds it first).

const KILLS = FULL ? 24 : 3;
const STEPS = 2 * KILLS + 6;

let root = { dir: '', cleanup: () => {} };
let reference = '';
beforeAll(async () => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  root = tempDir('reliability');
  reference = join(root.dir, 'reference');
  const run = await runCliIn([...toyArgs(STEPS), '--out', reference], root.dir);
  expect(run.code, run.stderr).toBe(0);
});
afterAll(() => root.cleanup());

function expectSameAsReference(runDir: string): void {
  expect(existsSync(join(runDir, LOCK_FILE))).toBe(false);
  expect(metricsWithoutTiming(runDir)).toEqual(metricsWithoutTiming(reference));
  expect(Buffer.compare(latestWeights(runDir), latestWeights(reference))).toBe(0);
}

const resumeArgs = (dir: string) => ['train', '--resume', dir, '--quiet'];

describe('kill -9 at random moments', () => {
  it(
    `${KILLS} kills, none corrupts a checkpoint, and the resumed run equals the uninterrupted one`,
    async () => {
      const dir = join(root.dir, 'killed');
      const rng = new Rng(2026);
      let kills = 0;
      let insideWrites = 0;
      let takeovers = 0;
      const problems: string[] = [];
      for (let session = 0; ; session++) {
        expect(session).toBeLessThan(KILLS + 10);
        // A kill during start-up may come before config.json: then there is nothing to resume yet.
        const fresh = !existsSync(join(dir, 'config.json'));
        const started = startCli(fresh ? [...toyArgs(STEPS), '--out', dir] : resumeArgs(dir), root.dir);
        const before = latestStep(dir);
        let killed = false;
        if (kills < KILLS) {
          // Two kills in three: as the checkpoint write of step before+2 begins (the one of step
          // before+1 is complete, so every session makes progress). The third: a random moment of
          // the first 3 s (start-up, lock take-over, steps, writes).
          if (kills % 3 !== 2) {
            killed = await killInsideCheckpointWrite(dir, started, before + 2);
          } else {
            const at = performance.now() + rng.uniform() * 3000;
            killed = await waitFor(() => performance.now() >= at, started, 1);
            if (killed) started.child.kill('SIGKILL');
          }
          if (killed) {
            await started.done;
            kills++;
            if (checkpointWritesInProgress(dir).length > 0) insideWrites++;
            problems.push(...checkpointProblems(dir));
            continue;
          }
        }
        const result = await started.done;
        if (result.stderr.includes('took over the lock')) takeovers++;
        expect(result.code, result.stderr).toBe(0);
        break;
      }
      console.log(
        `reliability: ${kills} kill -9 (${insideWrites} inside a checkpoint write), ${problems.length} corrupt, ${takeovers} final-session lock take-over(s)`,
      );
      expect(problems).toEqual([]);
      expect(kills).toBe(KILLS);
      expectSameAsReference(dir);
    },
    TEST_TIMEOUT,
  );
});

describe('signals', () => {
  const signals: NodeJS.Signals[] = FULL ? ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGHUP'] : ['SIGTERM'];
  it(
    `${signals.join(', ')}: finish the step, checkpoint, exit 128+n; the resumed run is byte-identical`,
    async () => {
      const dir = join(root.dir, 'signalled');
      for (const [i, signal] of signals.entries()) {
        const started = startCli(i === 0 ? [...toyArgs(STEPS), '--out', dir] : resumeArgs(dir), root.dir);
        const before = latestStep(dir);
        expect(await waitFor(() => lastLoggedStep(dir) >= before + 1, started)).toBe(true);
        started.child.kill(signal);
        const result = await started.done;
        expect(result.code, result.stderr).toBe({ SIGINT: 130, SIGTERM: 143, SIGHUP: 129 }[signal as string]);
        const logged = lastLoggedStep(dir);
        expect(latestStep(dir)).toBe(logged);
        expect(result.stderr).toContain(`interrupted after step ${logged} of ${STEPS}`);
        expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      }
      const last = await runCliIn(resumeArgs(dir), root.dir);
      expect(last.code, last.stderr).toBe(0);
      expectSameAsReference(dir);
    },
    TEST_TIMEOUT,
  );

  it(
    'a trainer whose parent is killed with SIGKILL stops with a checkpoint and frees its folder',
    async () => {
      const dir = join(root.dir, 'orphan');
      const log = join(root.dir, 'orphan.log');
      // The wrapper stands in for npx: it starts the trainer and is then killed.
      const wrapper = spawn(
        process.execPath,
        [
          '-e',
          `const { spawn } = require('node:child_process');
         const log = require('node:fs').openSync(${JSON.stringify(log)}, 'a');
         spawn(process.execPath, process.argv.slice(1), { stdio: ['ignore', log, log] });
         setInterval(() => {}, 1000);`,
          CLI_BIN,
          ...toyArgs(STEPS),
          '--out',
          dir,
        ],
        { cwd: root.dir, stdio: 'ignore' },
      );
      const wrapperDone = new Promise((resolve) => wrapper.on('close', resolve));
      const seen = { child: wrapper, done: wrapperDone as never };
      expect(await waitFor(() => lastLoggedStep(dir) >= 1, seen)).toBe(true);
      wrapper.kill('SIGKILL');
      await wrapperDone;
      // The orphan notices at the end of its step, checkpoints and exits, releasing the lock.
      const deadline = performance.now() + 20_000;
      while (existsSync(join(dir, LOCK_FILE)) && performance.now() < deadline) await sleep(20);
      expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      expect(readFileSync(log, 'utf8')).toMatch(
        /the process that started grpovi is gone: stopping after this step/,
      );
      expect(latestStep(dir)).toBe(lastLoggedStep(dir));
      expect(latestStep(dir)).toBeLessThan(STEPS);
      const rest = await runCliIn(resumeArgs(dir), root.dir);
      expect(rest.code, rest.stderr).toBe(0);
      expectSameAsReference(dir);
    },
    TEST_TIMEOUT,
  );
});

describe('early failure', () => {
  // --checkpoint-every 0: nothing is checkpointed before the last step.
  const early = (dir: string) => [...toyArgs(STEPS), '--checkpoint-every', '0', '--out', dir];

  async function dieBeforeFirstCheckpoint(dir: string): Promise<void> {
    const started = startCli(early(dir), root.dir);
    expect(await waitFor(() => lastLoggedStep(dir) >= 2, started)).toBe(true);
    started.child.kill('SIGKILL');
    await started.done;
    expect(existsSync(join(dir, 'checkpoints', 'latest.json'))).toBe(false);
  }

  it(
    'a run killed before its first checkpoint resumes from step 0, or starts again',
    async () => {
      const resumed = join(root.dir, 'early-resume');
      const restarted = join(root.dir, 'early-restart');
      await Promise.all([dieBeforeFirstCheckpoint(resumed), dieBeforeFirstCheckpoint(restarted)]);
      const [a, b] = await Promise.all([
        runCliIn(resumeArgs(resumed), root.dir),
        runCliIn(early(restarted), root.dir),
      ]);
      expect(a.code, a.stderr).toBe(0);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stderr).toMatch(/stopped before its first checkpoint: starting it from step 0/);
      for (const dir of [resumed, restarted]) expectSameAsReference(dir);
    },
    TEST_TIMEOUT,
  );
});
