import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { webgpuSkipReason } from '../nn/webgpuSupport.js';
import { ROOT, runCli } from './cliBin.js';

// Commands on --backend webgpu against the same commands on wasm: the same completions and
// rewards, the same training losses. Small sizes: the software adapter is slow.

const SKIPPED = await webgpuSkipReason();
const dir = mkdtempSync(join(tmpdir(), 'grpovi-webgpu-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.skipIf(SKIPPED !== '')(`commands on --backend webgpu${SKIPPED}`, () => {
  it('sample with temperature, top-k, top-p and a reward model gives the wasm completions and rewards', async () => {
    const args = [
      'sample',
      '--policy',
      join(ROOT, 'assets', 'sentiment-policy'),
      '--reward-model',
      join(ROOT, 'assets', 'sentiment-reward-model'),
      '--prompt',
      'the movie was',
      '--n',
      '2',
      '--temperature',
      '0.8',
      '--top-k',
      '5',
      '--top-p',
      '0.9',
      '--max-new-tokens',
      '6',
      '--seed',
      '3',
      '--json',
    ];
    const cpu = await runCli([...args, '--backend', 'wasm']);
    const gpu = await runCli([...args, '--backend', 'webgpu']);
    expect(cpu.code).toBe(0);
    expect(gpu.code).toBe(0);
    expect(gpu.stderr).toMatch(/^backend webgpu \(.+\)$/m);
    const rows = (text: string) =>
      text
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { completion: string; reward: number });
    const [a, b] = [rows(cpu.stdout), rows(gpu.stdout)];
    expect(b.map((r) => r.completion)).toEqual(a.map((r) => r.completion));
    b.forEach((r, i) => expect(Math.abs(r.reward - a[i].reward)).toBeLessThan(1e-5));
  }, 300_000);

  it('pretrain reports the wasm losses', async () => {
    const args = (out: string) => [
      'pretrain',
      '--corpus',
      'moby-dick',
      '--steps',
      '2',
      '--batch-size',
      '4',
      '--width',
      '16',
      '--depth',
      '1',
      '--heads',
      '2',
      '--context',
      '24',
      '--vocab-size',
      '200',
      '--eval-every',
      '2',
      '--out',
      join(dir, out),
    ];
    const cpu = await runCli([...args('wasm'), '--backend', 'wasm']);
    const gpu = await runCli([...args('webgpu'), '--backend', 'webgpu']);
    expect(cpu.code).toBe(0);
    expect(gpu.code).toBe(0);
    const losses = (text: string) => /train loss (\S+) {2}held-out loss (\S+)/.exec(text)?.slice(1);
    expect(losses(cpu.stderr + cpu.stdout)).toBeDefined();
    expect(losses(gpu.stderr + gpu.stdout)).toEqual(losses(cpu.stderr + cpu.stdout));
  }, 300_000);
});
