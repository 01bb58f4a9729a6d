import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('train with dr_grpo and GSPO (sequence-level ratio) gives the wasm rewards and losses', async () => {
    const config = join(dir, 'gspo.json');
    writeFileSync(
      config,
      JSON.stringify({
        task: 'toy',
        loss_type: 'dr_grpo',
        importance_sampling_level: 'sequence',
        prompts_per_step: 2,
        num_generations: 2,
        max_completion_length: 4,
        eval_every: 0,
        steps: 2,
      }),
    );
    const train = (backend: string) =>
      runCli(['train', '--config', config, '--backend', backend, '--out', join(dir, `gspo-${backend}`)]);
    const cpu = await train('wasm');
    const gpu = await train('webgpu');
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(gpu.code, gpu.stderr).toBe(0);
    const rows = (backend: string) =>
      readFileSync(join(dir, `gspo-${backend}`, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, number>);
    const [a, b] = [rows('wasm'), rows('webgpu')];
    expect(b.map((r) => r.step)).toEqual([1, 2]);
    expect(b.map((r) => r.step)).toEqual(a.map((r) => r.step));
    for (const [i, row] of b.entries()) {
      expect(Math.abs(row.reward_mean - a[i].reward_mean)).toBeLessThan(1e-5);
      expect(Math.abs(row.loss - a[i].loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(a[i].loss)));
      expect(a[i].grad_norm).toBeGreaterThan(0);
      expect(Math.abs(row.grad_norm - a[i].grad_norm)).toBeLessThan(1e-3 * a[i].grad_norm);
    }
    const record = JSON.parse(readFileSync(join(dir, 'gspo-webgpu', 'backend.json'), 'utf8')) as {
      backend: string;
    };
    expect(record.backend).toBe('webgpu');
  }, 300_000);

  it('LoRA: train gives the wasm rewards and losses, sample a LoRA run the wasm completions, export a PEFT folder', async () => {
    const config = join(dir, 'lora.json');
    writeFileSync(
      config,
      JSON.stringify({
        task: 'toy',
        lora_r: 4,
        lora_alpha: 8,
        prompts_per_step: 2,
        num_generations: 2,
        max_completion_length: 4,
        eval_every: 0,
        steps: 2,
      }),
    );
    const runDir = (backend: string) => join(dir, `lora-${backend}`);
    const train = (backend: string) =>
      runCli(['train', '--config', config, '--backend', backend, '--out', runDir(backend)]);
    const cpu = await train('wasm');
    const gpu = await train('webgpu');
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(gpu.code, gpu.stderr).toBe(0);
    const rows = (backend: string) =>
      readFileSync(join(runDir(backend), 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, number>);
    const [a, b] = [rows('wasm'), rows('webgpu')];
    expect(b.map((r) => r.step)).toEqual(a.map((r) => r.step));
    for (const [i, row] of b.entries()) {
      expect(Math.abs(row.reward_mean - a[i].reward_mean)).toBeLessThan(1e-5);
      expect(Math.abs(row.loss - a[i].loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(a[i].loss)));
      // Only the adapters train: a nonzero gradient norm is theirs.
      expect(a[i].grad_norm).toBeGreaterThan(0);
      expect(Math.abs(row.grad_norm - a[i].grad_norm)).toBeLessThan(1e-3 * a[i].grad_norm);
    }
    // The wasm run's adapters (B no longer zero after 2 steps) sampled on both backends.
    const sample = (backend: string) =>
      runCli([
        'sample',
        '--policy',
        runDir('wasm'),
        '--prompt',
        'a b',
        '--n',
        '2',
        '--temperature',
        '0.9',
        '--max-new-tokens',
        '4',
        '--seed',
        '1',
        '--json',
        '--backend',
        backend,
      ]);
    const [sc, sg] = [await sample('wasm'), await sample('webgpu')];
    expect(sc.code, sc.stderr).toBe(0);
    expect(sg.code, sg.stderr).toBe(0);
    const completions = (out: string) =>
      out
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { completion: string }).completion);
    expect(completions(sg.stdout)).toEqual(completions(sc.stdout));
    const peft = join(dir, 'lora-peft');
    const exported = await runCli(['export', runDir('webgpu'), '--format', 'peft', '--out', peft]);
    expect(exported.code, exported.stderr).toBe(0);
    const adapterConfig = JSON.parse(readFileSync(join(peft, 'adapter_config.json'), 'utf8')) as {
      r: number;
      lora_alpha: number;
    };
    expect([adapterConfig.r, adapterConfig.lora_alpha]).toEqual([4, 8]);
    expect(existsSync(join(peft, 'adapter_model.safetensors'))).toBe(true);
  }, 300_000);

  it('compare runs both algorithms on webgpu (one seed, one step)', async () => {
    const out = join(dir, 'compare');
    const config = join(dir, 'compare.json');
    // A comparison's statistics come from evaluations: one of 4 prompts after the step.
    writeFileSync(
      config,
      JSON.stringify({
        prompts_per_step: 2,
        num_generations: 2,
        max_completion_length: 4,
        eval_every: 1,
        eval_prompts: 4,
      }),
    );
    const run = await runCli([
      'compare',
      '--task',
      'toy',
      '--seeds',
      '1',
      '--steps',
      '1',
      '--jobs',
      '1',
      '--backend',
      'webgpu',
      '--config',
      config,
      '--out',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    for (const algo of ['grpo', 'grpovi']) {
      const runDir = join(out, 'default', algo, 'seed-0');
      const record = JSON.parse(readFileSync(join(runDir, 'backend.json'), 'utf8')) as { backend: string };
      expect(record.backend, algo).toBe('webgpu');
      const rows = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
      expect(rows.length, algo).toBeGreaterThanOrEqual(1);
    }
    expect(existsSync(join(out, 'summary.json'))).toBe(true);
  }, 300_000);

  it('train-rm on preference pairs gives the wasm losses and accuracies', async () => {
    // Given pairs (--preferences): no sampling, so both backends train on the same pairs.
    const prefs = join(dir, 'prefs.jsonl');
    const rows: [string, string, string][] = [
      ['the movie was', 'good and great', 'bad and awful'],
      ['the president said', 'we are strong', 'we are weak'],
      ['our nation', 'will grow', 'will fail'],
      ['the people', 'are happy', 'are sad'],
      ['this year', 'was good', 'was bad'],
      ['the war', 'brought peace', 'brought death'],
      ['the economy', 'is strong', 'is broken'],
      ['our children', 'have hope', 'have fear'],
      ['the country', 'will win', 'will lose'],
      ['the future', 'is bright', 'is dark'],
      ['our workers', 'are proud', 'are angry'],
      ['the world', 'is free', 'is afraid'],
    ];
    writeFileSync(
      prefs,
      rows.map(([prompt, chosen, rejected]) => JSON.stringify({ prompt, chosen, rejected })).join('\n') +
        '\n',
    );
    const args = (backend: string) => [
      'train-rm',
      '--preferences',
      prefs,
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--backend',
      backend,
      '--out',
      join(dir, `rm-${backend}`),
    ];
    const cpu = await runCli(args('wasm'));
    const gpu = await runCli(args('webgpu'));
    expect(cpu.code, cpu.stderr).toBe(0);
    expect(gpu.code, gpu.stderr).toBe(0);
    const epochs = (text: string) =>
      [...text.matchAll(/epoch (\d)\/2 {2}loss (\S+) {2}train accuracy (\S+)/g)].map((m) => m.slice(1, 4));
    expect(gpu.stderr + gpu.stdout).toMatch(/webgpu/);
    expect(epochs(cpu.stderr + cpu.stdout)).toHaveLength(2);
    expect(epochs(gpu.stderr + gpu.stdout)).toEqual(epochs(cpu.stderr + cpu.stdout));
    expect(existsSync(join(dir, 'rm-webgpu', 'model.json'))).toBe(true);
  }, 300_000);
});
