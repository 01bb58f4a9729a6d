import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runComparison } from '../../src/experiments/compare.js';
import { readMetrics } from '../../src/train/metrics.js';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../../src/train/runLock.js';
import { ROOT } from '../cli/cliBin.js';
import { tempDir } from '../train/helpers.js';
import { FULL, TEST_TIMEOUT, runCliIn, toyArgs } from './harness.js';

// Two writers on one run folder: exactly one gets it, the other is refused naming the holder.

const ROUNDS = FULL ? 200 : 20;
const CONTENDERS = 6;

let root = { dir: '', cleanup: () => {} };
beforeAll(() => {
  root = tempDir('writers');
});
afterAll(() => root.cleanup());

/**
 * A contender process: on `go DIR` it tries the lock of DIR and answers `won` or `refused`; on
 * `release` it lets go. Long-lived, so that many rounds cost one start-up each.
 */
const CONTENDER = `
import { acquireRunLock } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'train', 'runLock.js')).href)};
import { createInterface } from 'node:readline';
let lock;
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'release') { lock?.release(); lock = undefined; process.stdout.write('released\\n'); return; }
  const dir = line.slice(3);
  try { lock = acquireRunLock(dir, 'contender', { onTakeOver() {} }); process.stdout.write('won\\n'); }
  catch (error) { process.stdout.write(error.name === 'RunFolderError' || /in use by|locked/.test(error.message) ? 'refused\\n' : 'error ' + error.message + '\\n'); }
});
process.stdout.write('ready\\n');
`;

class Contender {
  private readonly child: ChildProcess;
  private readonly waiting: ((line: string) => void)[] = [];

  constructor() {
    this.child = spawn(process.execPath, ['--input-type=module', '-e', CONTENDER], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let buffer = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        this.waiting.shift()?.(line);
      }
    });
  }

  private next(): Promise<string> {
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  ready(): Promise<string> {
    return this.next();
  }

  ask(line: string): Promise<string> {
    const answer = this.next();
    this.child.stdin!.write(`${line}\n`);
    return answer;
  }

  close(): void {
    this.child.stdin!.end();
  }
}

describe('two writers at once', () => {
  it(
    `${ROUNDS} rounds of ${CONTENDERS} processes racing for one lock (every other round a stale one): one wins each`,
    async () => {
      const contenders = Array.from({ length: CONTENDERS }, () => new Contender());
      try {
        expect(await Promise.all(contenders.map((c) => c.ready()))).toEqual(Array(CONTENDERS).fill('ready'));
        const tally = { rounds: 0, won: 0, refused: 0, stale: 0 };
        for (let round = 0; round < ROUNDS; round++) {
          const dir = join(root.dir, `race-${round}`);
          mkdirSync(dir);
          if (round % 2 === 1) {
            // A lock left by a process of this host that is gone (pid far above any live one).
            writeFileSync(
              join(dir, LOCK_FILE),
              JSON.stringify({
                pid: 2 ** 22 + 1 + round,
                host: hostname(),
                started_at: 'x',
                token: `t${round}`,
              }),
            );
            tally.stale++;
          }
          const answers = await Promise.all(contenders.map((c) => c.ask(`go ${dir}`)));
          expect(
            answers.filter((a) => a === 'won'),
            answers.join(),
          ).toHaveLength(1);
          expect(answers.filter((a) => a === 'refused')).toHaveLength(CONTENDERS - 1);
          tally.rounds++;
          tally.won++;
          tally.refused += CONTENDERS - 1;
          await Promise.all(contenders.map((c) => c.ask('release')));
          expect(readdirSync(dir)).toEqual([]);
        }
        console.log(
          `reliability: ${tally.rounds} lock races of ${CONTENDERS} (${tally.stale} on a stale lock): ${tally.won} won, ${tally.refused} refused, 0 doubles`,
        );
      } finally {
        for (const c of contenders) c.close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'two `grpovi train` on one folder: one trains, the other exits 2 naming the holder',
    async () => {
      const pairs = FULL ? 4 : 1;
      for (let pair = 0; pair < pairs; pair++) {
        const dir = join(root.dir, `train-pair-${pair}`);
        const args = [...toyArgs(12), '--out', dir];
        const runs = await Promise.all([runCliIn(args, root.dir), runCliIn(args, root.dir)]);
        const codes = runs.map((r) => r.code).sort();
        expect(codes, runs.map((r) => r.stderr).join('\n')).toEqual([0, 2]);
        const refused = runs.find((r) => r.code === 2)!;
        expect(refused.stderr.trim().split('\n')).toHaveLength(1);
        expect(refused.stderr).toMatch(
          /is in use by train \(pid \d+ on .*, started .*\)|already holds a run/,
        );
        const steps = readMetrics(join(dir, 'metrics.jsonl')).map((row) => row.step);
        expect(steps).toEqual(Array.from({ length: 13 }, (_, i) => i));
        expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'a compare on a folder another process holds is refused before it writes anything',
    async () => {
      const out = join(root.dir, 'held-compare');
      mkdirSync(out);
      const lock = acquireRunLock(out, 'compare');
      try {
        const attempt = runComparison({
          task: 'toy',
          steps: 2,
          seeds: [0],
          algos: ['grpo'],
          sweep: [],
          out,
          jobs: 1,
          command: 'test',
          progress: { write: () => true },
        });
        await expect(attempt).rejects.toThrow(RunLockedError);
        expect(readdirSync(out)).toEqual([LOCK_FILE]);
      } finally {
        lock.release();
      }
    },
    TEST_TIMEOUT,
  );
});
