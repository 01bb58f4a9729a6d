import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE } from '../../src/train/runLock.js';
import { lastLoggedStep, runCliIn, TEST_TIMEOUT } from './harness.js';

/**
 * A reward_range narrower than the rewards: one line naming the range and where it came from, the
 * step, the prompt and completion, and the reward function's value; exit 2, the folder unlocked
 * and resumable (a resume meets the same reward at the same step: the run is deterministic).
 */
const root = mkdtempSync(join(tmpdir(), 'grpovi-reward-range-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ARGS = ['train', '--task', 'toy', '--algo', 'grpovi', '--steps', '3', '--eval-prompts', '4'];
const LINE =
  /^grpovi: training stopped at step 1: the reward (0\.\d+) of prompt \d+, completion \d+ \(".*" -> ".*"\) is outside reward_range \[0, 0\.5\] from (.*); prompt_letters gave \1\. Widen the range .*; no checkpoint was written$/;

describe('a reward outside reward_range', () => {
  it(
    'names the flag or the config file, the step, the sample and the reward function; the folder stays usable',
    async () => {
      const out = join(root, 'flag');
      const run = await runCliIn([...ARGS, '--reward-range', '0,0.5', '--out', out], root);
      const lines = run.stderr.trimEnd().split('\n');
      expect(lines.at(-1)).toMatch(LINE);
      expect(LINE.exec(lines.at(-1)!)![2]).toBe('--reward-range');
      expect(run.code).toBe(2);
      expect(existsSync(join(out, LOCK_FILE))).toBe(false);
      // Nothing of the failed step was logged; the recorded config is intact.
      expect(lastLoggedStep(out)).toBe(0);
      expect(
        (JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { reward_range: number[] })
          .reward_range,
      ).toEqual([0, 0.5]);
      const resumed = await runCliIn(['train', '--resume', out], root);
      expect(resumed.stderr.trimEnd().split('\n').at(-1)).toMatch(
        /training stopped at step 1: the reward .* from reward_range in .*config\.json;/,
      );
      expect(resumed.code).toBe(2);

      const config = join(root, 'narrow.json');
      writeFileSync(config, '{"reward_range": [0, 0.5]}');
      const fromFile = await runCliIn([...ARGS, '--config', config, '--out', join(root, 'file')], root);
      expect(LINE.exec(fromFile.stderr.trimEnd().split('\n').at(-1)!)?.[2]).toBe(
        `reward_range in config file ${JSON.stringify(config)}`,
      );
      expect(fromFile.code).toBe(2);
    },
    TEST_TIMEOUT,
  );
});
