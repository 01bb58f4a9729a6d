import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLOAT32_MAX, FLOAT32_MIN_NORMAL } from '../../src/train/float32Limits.js';
import { divergenceCause } from '../../src/train/trainingErrors.js';
import { runCliIn, TEST_TIMEOUT } from './harness.js';

/**
 * Options float32 computation cannot use are refused before training, naming the flag, the field
 * and the value, with nothing written; a divergence names the learning rate only when it is the
 * likely cause.
 */
const root = mkdtempSync(join(tmpdir(), 'grpovi-float32-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// [flag, value, field]: each breaks float32 computation (1/T overflows, 1 - beta2 rounds to 0, ...).
const CASES: Array<[string, string, string]> = [
  ['--temperature', '1e-40', 'temperature'],
  ['--lr', '1e-300', 'learning_rate'],
  ['--lr', '1e+39', 'learning_rate'],
  ['--beta', '1e-45', 'beta'],
  ['--epsilon', '1e-39', 'epsilon'],
  ['--epsilon-high', '1e+40', 'epsilon_high'],
  ['--repetition-penalty', '1e-40', 'repetition_penalty'],
];

describe('options beyond float32', () => {
  it(
    'are refused in one line naming the flag, the field and the value; no run folder is made',
    async () => {
      let i = 0;
      for (const [flag, value, field] of CASES) {
        const out = join(root, `run-${i++}`);
        const run = await runCliIn(
          ['train', '--task', 'toy', '--steps', '1', flag, value, '--out', out],
          root,
        );
        const lines = run.stderr.trimEnd().split('\n');
        expect(lines, `${flag} ${value}`).toHaveLength(1);
        expect(lines[0]).toMatch(
          new RegExp(
            `^grpovi: ${flag}: field "${field}" must .*float32.*\\(${value.replace('+', '\\+')}\\)$`,
          ),
        );
        // 0 is offered only where the field allows it (beta may be 0; a temperature may not).
        expect(lines[0].includes('must be 0 or at least'), `${flag} ${value}`).toBe(field === 'beta');
        expect(run.code).toBe(2);
        expect(existsSync(out)).toBe(false);
      }
      // Fields without a flag, from a config file: 1 - adam_beta2 would be 0 in float32.
      const config = join(root, 'beta2.json');
      writeFileSync(config, '{"adam_beta2": 0.99999999999}');
      const out = join(root, 'beta2');
      const run = await runCliIn(['train', '--task', 'toy', '--config', config, '--out', out], root);
      expect(run.stderr.trim()).toMatch(
        /^grpovi: config file .*beta2\.json.*: field "adam_beta2" must be below 1 once rounded to float32.*\(0\.99999999999 rounds to 1, so 1 - adam_beta2 is 0\)$/,
      );
      expect(run.code).toBe(2);
      expect(existsSync(out)).toBe(false);
    },
    TEST_TIMEOUT,
  );

  it(
    'the smallest normal float32 temperature is accepted and trains a step',
    async () => {
      const out = join(root, 'smallest');
      const run = await runCliIn(
        [
          'train',
          '--task',
          'toy',
          '--steps',
          '1',
          '--eval-prompts',
          '4',
          '--temperature',
          String(FLOAT32_MIN_NORMAL),
          '--out',
          out,
          '--quiet',
        ],
        root,
      );
      expect(run.stderr).not.toMatch(/must/);
      expect(FLOAT32_MAX).toBe(2 ** 128 - 2 ** 104);
      expect(FLOAT32_MIN_NORMAL).toBe(2 ** -126);
      expect(Math.fround(FLOAT32_MAX)).toBe(FLOAT32_MAX);
    },
    TEST_TIMEOUT,
  );

  it('a divergence blames the learning rate only when the update itself overflowed', () => {
    expect(divergenceCause({ quantity: 'weights', updates: 3, learningRate: 1 })).toMatch(
      /learning_rate 1 is likely too large/,
    );
    expect(divergenceCause({ quantity: 'gradient', updates: 0, learningRate: 1 })).toMatch(
      /not the learning rate/,
    );
    expect(divergenceCause({ quantity: 'loss', updates: 0, learningRate: 1 })).not.toMatch(/try a smaller/);
  });
});
