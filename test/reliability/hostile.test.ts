import { spawn } from 'node:child_process';
import { cpSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeSafetensors, encodeSafetensors } from '../../src/nn/weights/safetensors.js';
import { CLI_BIN } from '../cli/cliBin.js';
import { tempDir } from '../train/helpers.js';
import { type Finished, runCliIn, TEST_TIMEOUT, toyArgs } from './harness.js';

// User-caused failures of train and resume: each ends in one line on stderr and exit status 2,
// with nothing written for a fresh run and nothing changed in a resumed one.

let root = { dir: '', cleanup: () => {} };
let base = '';
beforeAll(async () => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  root = tempDir('hostile');
  base = join(root.dir, 'base');
  const run = await runCliIn([...toyArgs(2), '--out', base], root.dir);
  expect(run.code, run.stderr).toBe(0);
  writeFileSync(join(root.dir, 'a-file'), 'not a folder');
});
afterAll(() => root.cleanup());

function expectOneLine(run: Finished, message: RegExp): void {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^grpovi: /);
  expect(lines[0]).not.toMatch(/internal error/);
  expect(lines[0]).toMatch(message);
}

/** Runs the CLI with its stdout on /dev/full (every write fails with ENOSPC). */
function runOnFullDisk(args: readonly string[]): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: root.dir,
      stdio: ['ignore', openSync('/dev/full', 'w'), 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout: '', stderr }));
  });
}

describe('fresh runs with bad sizes or places', () => {
  it(
    'each fails in one line with status 2 and leaves no run folder',
    async () => {
      writeFileSync(
        join(root.dir, 'wide.json'),
        JSON.stringify({ model: { width: 100000, depth: 2, heads: 2, context_length: 16 } }),
      );
      writeFileSync(
        join(root.dir, 'huge.json'),
        JSON.stringify({ model: { width: 8192, depth: 64, heads: 8, context_length: 1024 } }),
      );
      const fresh = (out: string, ...extra: string[]) =>
        runCliIn([...toyArgs(2), '--out', out, ...extra], root.dir);
      const cases: [Promise<Finished>, RegExp, string | undefined][] = [
        [fresh('a-file'), /run folder a-file is a file, not a folder/, undefined],
        [fresh('a-file/run'), /a-file is a file, not a folder/, undefined],
        [fresh('/proc/grpovi-x'), /run folder \/proc\/grpovi-x cannot be created/, undefined],
        [fresh('g', '--group-size', '100000'), /"num_generations" .*<=4096 \(100000\)/, 'g'],
        [fresh('p', '--prompts-per-step', '100000'), /"prompts_per_step" .*\(100000\)/, 'p'],
        [
          fresh('m', '--max-completion-length', '1000000000'),
          /"max_completion_length" .*\(1000000000\)/,
          'm',
        ],
        [
          fresh('m12', '--max-completion-length', '13'),
          /leave room for the longest prompt .* at most 12 \(13\)/,
          'm12',
        ],
        [fresh('w', '--config', 'wide.json'), /"model.width" .*<=16384 \(100000\)/, 'w'],
        [fresh('h', '--config', 'huge.json'), /needs about .* GiB of memory, more than/, 'h'],
      ];
      const runs = await Promise.all(cases.map(([run]) => run));
      runs.forEach((run, i) => {
        expectOneLine(run, cases[i][1]);
        const out = cases[i][2];
        if (out !== undefined) expect(existsSync(join(root.dir, out)), out).toBe(false);
      });
    },
    TEST_TIMEOUT,
  );

  it(
    'a learning rate beyond float32 is refused before anything is written; ENOSPC on stdout is one line',
    async () => {
      const [diverged, full] = await Promise.all([
        runCliIn([...toyArgs(3), '--lr', '1e300', '--out', 'lr'], root.dir),
        runOnFullDisk([...toyArgs(1), '--out', 'full']),
      ]);
      // (A rate that float32 holds but that still diverges is in test/train/recovery.test.ts.)
      expectOneLine(
        diverged,
        /^grpovi: --lr: field "learning_rate" must be at most .* float32.*\(1e\+300\)$/,
      );
      expect(existsSync(join(root.dir, 'lr'))).toBe(false);
      expectOneLine(
        full,
        /cannot (write to stdout|complete writing the output): no space left on device( \(ENOSPC\))?/,
      );
    },
    TEST_TIMEOUT,
  );
});

describe('resuming corrupt or foreign run folders', () => {
  it(
    'each is refused in one line naming the file, and nothing in the folder changes',
    async () => {
      const checkpoint = (dir: string) => join(dir, 'checkpoints', 'step-000002');
      const corrupt: Record<string, (dir: string) => void> = {
        'state-rng': (dir) => {
          const path = join(checkpoint(dir), 'state.json');
          const state = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
          writeFileSync(path, JSON.stringify({ ...state, samplingRng: 'abc' }));
        },
        'state-position': (dir) => {
          const path = join(checkpoint(dir), 'state.json');
          const state = JSON.parse(readFileSync(path, 'utf8')) as { promptStream: Record<string, unknown> };
          state.promptStream.position = -3;
          writeFileSync(path, JSON.stringify(state));
        },
        'state-garbage': (dir) => writeFileSync(join(checkpoint(dir), 'state.json'), '{"step": 2,'),
        'nan-weights': (dir) => {
          const path = join(checkpoint(dir), 'model.safetensors');
          const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(path)), path);
          (tensors.wpe.data as Float32Array)[5] = Number.POSITIVE_INFINITY;
          writeFileSync(path, encodeSafetensors(tensors));
        },
        truncated: (dir) => {
          const path = join(checkpoint(dir), 'model.safetensors');
          writeFileSync(path, readFileSync(path).subarray(0, 1000));
        },
        'other-shape': (dir) => {
          const path = join(dir, 'config.json');
          const config = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
          writeFileSync(
            path,
            JSON.stringify({ ...config, model: { width: 16, depth: 2, heads: 2, context_length: 16 } }),
          );
        },
        'latest-garbage': (dir) => writeFileSync(join(dir, 'checkpoints', 'latest.json'), '[1,'),
        'optimizer-missing': (dir) => writeFileSync(join(checkpoint(dir), 'optimizer.safetensors'), ''),
      };
      const expected: Record<string, RegExp> = {
        'state-rng':
          /state\.json: "samplingRng" must be four 32-bit unsigned integers, not all zero \("abc"\)/,
        'state-position': /state\.json: "promptStream.position" must be an integer from 0 to \d+ \(-3\)/,
        'state-garbage': /state\.json: is not valid JSON/,
        'nan-weights': /model\.safetensors: tensor "wpe" holds a non-finite value \(Infinity at element 5\)/,
        truncated: /model\.safetensors: /,
        'other-shape':
          /model\.safetensors: tensor "wte" has shape \[\d+, 32\] but the config needs \[\d+, 16\]/,
        'latest-garbage': /latest\.json: is not valid JSON/,
        'optimizer-missing': /optimizer\.safetensors: /,
      };
      const names = Object.keys(corrupt);
      const snapshots = names.map((name) => {
        const dir = join(root.dir, `resume-${name}`);
        cpSync(base, dir, { recursive: true });
        corrupt[name](dir);
        return snapshot(dir);
      });
      const runs = await Promise.all(
        names.map((name) =>
          runCliIn(['train', '--resume', `resume-${name}`, '--steps', '4', '--quiet'], root.dir),
        ),
      );
      runs.forEach((run, i) => {
        expectOneLine(run, expected[names[i]]);
        expect(snapshot(join(root.dir, `resume-${names[i]}`)), names[i]).toEqual(snapshots[i]);
      });
    },
    TEST_TIMEOUT,
  );
});

/** Every file of a folder with its bytes (base64), for comparing before and after. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out[path.slice(dir.length)] = readFileSync(path).toString('base64');
  }
  return out;
}
