import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/train/runLock.js';
import { runCliIn, TEST_TIMEOUT } from './harness.js';

/**
 * A comparison refused because another live process holds one of its run folders must not leave
 * its own invocation recorded as running (finished_at null) in comparison.json.
 */
const root = mkdtempSync(join(tmpdir(), 'grpovi-compare-lock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Invocation {
  finished_at: string | null;
  outcome: string;
  runs_started: number;
}

describe('a comparison refused by a run folder lock', () => {
  it(
    'records its invocation as failed with an end time; a later rerun then trains',
    async () => {
      const out = join(root, 'C');
      const runDir = join(out, 'default', 'grpo', 'seed-0');
      mkdirSync(runDir, { recursive: true });
      // This test process, alive, holds the run folder (as a worker or a `train --resume` there would).
      const holder = {
        pid: process.pid,
        host: hostname(),
        started_at: new Date().toISOString(),
        what: 'train --resume',
        command: 'vitest',
        token: 'test',
      };
      writeFileSync(join(runDir, LOCK_FILE), JSON.stringify(holder));
      const args = [
        'compare',
        '--task',
        'toy',
        '--seeds',
        '1',
        '--steps',
        '2',
        '--algos',
        'grpo',
        '--eval-prompts',
        '4',
        '--out',
        out,
      ];
      const refused = await runCliIn(args, root);
      expect(refused.stderr).toMatch(/in use by train --resume/);
      expect(refused.code).toBe(2);
      const record = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')) as {
        invocations: Invocation[];
      };
      const last = record.invocations.at(-1)!;
      expect(last.outcome).toBe('failed');
      expect(last.finished_at).not.toBeNull();
      expect(last.runs_started).toBe(0);

      rmSync(join(runDir, LOCK_FILE));
      const rerun = await runCliIn(args, root);
      expect(rerun.code).toBe(0);
      const after = JSON.parse(readFileSync(join(out, 'comparison.json'), 'utf8')) as {
        invocations: Invocation[];
      };
      expect(after.invocations.map((inv) => inv.outcome)).toEqual(['failed', 'finished']);
      expect(readFileSync(join(out, 'report.md'), 'utf8')).not.toMatch(/running/i);
    },
    TEST_TIMEOUT,
  );
});
