import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { Gpt } from '../../src/nn/models/gpt.js';
import { loadModelDir } from '../../src/nn/weights/modelDir.js';
import { readMetrics } from '../../src/train/metrics.js';
import {
  latestCheckpointStep,
  latestWeights,
  metricsWithoutTiming,
  TRAINING_ROW_FIELDS,
  tempDir,
} from '../train/helpers.js';
import { CLI_BIN as BIN } from './cliBin.js';

// End-to-end: these run the built CLI (`npm test` builds dist first; run `npm run build` before
// running this file alone, or point GRPOVI_CLI_BIN at another build: see cliBin.ts).
interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function start(args: string[], cwd: string): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

function run(args: string[], cwd = dir): Promise<Run> {
  return start(args, cwd).done;
}

/** A quick toy run: 4 prompts x 4 completions, 16 evaluation prompts. */
const SMALL = [
  'train',
  '--task',
  'toy',
  '--prompts-per-step',
  '4',
  '--group-size',
  '4',
  '--eval-prompts',
  '16',
];

const RUN_ARGS = [...SMALL, '--algo', 'grpovi', '--eval-every', '4', '--seed', '3'];

let dir = '';
let cleanup = () => {};
const straight = () => join(dir, 'straight');
const half = () => join(dir, 'half');
const badFlagCwd = () => join(dir, 'bad-flag');
/** Spawns that do not depend on each other, started together (they are mostly start-up time). */
let spawned: { help: Run; straight: Run; half: Run; badFlag: Run };
beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  ({ dir, cleanup } = tempDir('cli-train'));
  mkdirSync(badFlagCwd());
  const [help, straightRun, halfRun, badFlag] = await Promise.all([
    run(['train', '--help']),
    run([...RUN_ARGS, '--steps', '8', '--out', straight()]),
    run([...RUN_ARGS, '--steps', '4', '--out', half()]),
    run([...SMALL, '--lr', 'abc'], badFlagCwd()),
  ]);
  spawned = { help, straight: straightRun, half: halfRun, badFlag };
});
afterAll(() => cleanup());

describe('grpovi train --help', () => {
  it('lists every hyperparameter flag with its config key and default', async () => {
    const { code, stdout } = spawned.help;
    expect(code).toBe(0);
    const flags: [string, string][] = [
      ['--task', 'task'],
      ['--algo', 'algo'],
      ['--steps', 'steps'],
      ['--seed', 'seed'],
      ['--backend', 'backend'],
      ['--group-size', 'num_generations'],
      ['--prompts-per-step', 'prompts_per_step'],
      ['--lr', 'learning_rate'],
      ['--beta', 'beta'],
      ['--epsilon', 'epsilon'],
      ['--epsilon-high', 'epsilon_high'],
      ['--num-iterations', 'num_iterations'],
      ['--temperature', 'temperature'],
      ['--max-completion-length', 'max_completion_length'],
      ['--top-k', 'top_k'],
      ['--top-p', 'top_p'],
      ['--scale-rewards', 'scale_rewards'],
      ['--loss-type', 'loss_type'],
      ['--grpovi-weights', 'grpovi_weights'],
      ['--eval-every', 'eval_every'],
      ['--checkpoint-every', 'checkpoint_every'],
      ['--reward-range', 'reward_range'],
    ];
    // Commander wraps descriptions; join the lines of each option.
    const text = stdout.replace(/\n {20,}/g, ' ');
    for (const [flag, key] of flags) {
      const line = text.split('\n').find((l) => l.trimStart().startsWith(`${flag} `));
      expect(line, flag).toBeDefined();
      expect(line, flag).toContain(`[config: ${key}]`);
      // --task has no default: it is required unless the --config file names it.
      if (flag === '--task') expect(line, flag).toContain('required unless');
      else expect(line, flag).toMatch(/\(default: [^)]+\)/);
    }
    expect(text).toMatch(/--group-size <n> .*default: 8\)/);
    for (const option of ['--config', '--resume', '--out']) expect(text).toContain(option);
    expect(text).toContain('runs/<task>-<algo>-s<seed>');
  });
});

describe('grpovi train', () => {
  it('a short toy run writes config.json, metrics.jsonl and a checkpoint, and summarizes', () => {
    const { code, stdout, stderr } = spawned.straight;
    expect(code, stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(straight(), 'config.json'), 'utf8'));
    expect(config).toMatchObject({
      task: 'toy',
      algo: 'grpovi',
      steps: 8,
      seed: 3,
      num_generations: 4,
      prompts_per_step: 4,
    });
    // A task default (toy) under the flags.
    expect(config.learning_rate).toBe(3e-3);
    const rows = readMetrics(join(straight(), 'metrics.jsonl'));
    expect(rows.map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const row of rows.slice(1)) {
      for (const field of TRAINING_ROW_FIELDS)
        expect(typeof row[field], `step ${row.step} ${field}`).toBe('number');
      expect(row.eval_reward !== undefined, `step ${row.step} eval_reward`).toBe(row.step % 4 === 0);
    }
    expect(rows[0].eval_reward).toBeTypeOf('number');
    expect(latestCheckpointStep(straight())).toBe(8);
    // Start line (stderr) names the backend, task, algo, parameters and folder.
    expect(stderr).toMatch(
      /task toy with grpovi on the (wasm|blas) backend( \([^)]+ BLAS thread\(s\)\))?: [\d,]+ parameters, 8 steps, run folder .*straight/,
    );
    // stdout holds the summary only.
    expect(stdout).toMatch(/^trained 8 steps: toy with grpovi \(seed 3\)\n/);
    expect(stdout).toContain(`eval reward ${rows[8].eval_reward!.toFixed(4)} at step 8`);
    expect(stdout).toContain(join(straight(), 'metrics.jsonl'));
    expect(stdout).toContain(join(straight(), 'checkpoints', 'step-000008'));
    expect(stdout).not.toMatch(/^step /m);
  });

  it('refuses a folder that holds a run, without touching it', async () => {
    const files = ['config.json', 'metrics.jsonl'].map((f) => join(straight(), f));
    const before = files.map((f) => [readFileSync(f), statSync(f).mtimeMs]);
    const { code, stderr } = await runInProcess([...SMALL, '--steps', '2', '--out', straight()]);
    expect(code).toBe(2);
    expect(stderr).toContain(`--resume ${straight()}`);
    expect(files.map((f) => [readFileSync(f), statSync(f).mtimeMs])).toEqual(before);
  });

  it('a run of 4 steps resumed to 8 equals the straight run of 8', async () => {
    const first = spawned.half;
    expect(first.code, first.stderr).toBe(0);
    // Hyperparameters cannot change on resume.
    const refused = await runInProcess(['train', '--resume', half(), '--steps', '8', '--lr', '0.1']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--lr cannot be used with --resume/);
    const resumed = await run(['train', '--resume', half(), '--steps', '8']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('resuming at step 4 of 8');
    expect(Buffer.compare(latestWeights(half()), latestWeights(straight()))).toBe(0);
    expect(metricsWithoutTiming(half())).toEqual(metricsWithoutTiming(straight()));
    expect(readFileSync(join(half(), 'config.json'), 'utf8')).toBe(
      readFileSync(join(straight(), 'config.json'), 'utf8'),
    );
  });
});

/** Runs the CLI in this process (cheaper than a spawn when nothing trains), capturing stderr. */
async function runInProcess(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { code: await runCli(args), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('bad input exits with code 2 before anything is written', () => {
  it('a non-numeric flag value (spawned: not even the default run folder appears)', () => {
    const { code, stderr } = spawned.badFlag;
    expect(code).toBe(2);
    expect(stderr).toMatch(/--lr <number>.*'abc'/);
    expect(readdirSync(badFlagCwd())).toEqual([]);
  });

  it.each([
    ['a non-integer step count', ['--steps', '2.5'], /--steps <n>.*'2\.5'/],
    ['an out-of-range flag value', ['--beta', '-1'], /--beta: field "beta" .*\(-1\)/],
    ['an unknown algorithm', ['--algo', 'ppo'], /'ppo'.*grpo, grpovi/],
    [
      'a reversed reward range',
      ['--reward-range', '1,0'],
      /--reward-range: field "reward_range" .*\(\[1,0\]\)/,
    ],
    ['an unknown task', ['--task', 'toyy'], /unknown task "toyy"; known tasks: .*toy/],
  ])('%s', async (name, args, message) => {
    const out = join(dir, `bad-${name.replaceAll(' ', '-')}`);
    const { code, stderr } = await runInProcess([...SMALL, ...args, '--out', out]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });

  it('a bad config file names the file, and the field or the JSON position', async () => {
    const files = join(dir, 'bad-files');
    mkdirSync(files);
    writeFileSync(join(files, 'bad.json'), '{"beta": 0.1,\n "lerning_rate": 0.01}');
    writeFileSync(join(files, 'broken.json'), '{"beta": 0.1,,}');
    const out = join(files, 'run');
    const field = await runInProcess([...SMALL, '--config', join(files, 'bad.json'), '--out', out]);
    expect(field.code).toBe(2);
    expect(field.stderr).toMatch(
      /config file ".*bad\.json": unknown field "lerning_rate" \(0\.01\); did you mean "learning_rate"/,
    );
    const json = await runInProcess([...SMALL, '--config', join(files, 'broken.json'), '--out', out]);
    expect(json.code).toBe(2);
    expect(json.stderr).toMatch(/config file ".*broken\.json" is not valid JSON at line 1, column 14/);
    const missing = await runInProcess([...SMALL, '--config', join(files, 'absent.json'), '--out', out]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/config file ".*absent\.json" cannot be read: no such file/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('Ctrl-C', () => {
  it('stops after the current step with a checkpoint of that step and exit code 130', async () => {
    await selectBackend(TEST_BACKEND);
    const out = join(dir, 'interrupted');
    const { child, done } = start([...SMALL, '--steps', '5000', '--eval-every', '0', '--out', out], dir);
    const metricsPath = join(out, 'metrics.jsonl');
    // Wait for the first training row, then press Ctrl-C.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(metricsPath) && readFileSync(metricsPath, 'utf8').includes('"step":1,')) {
          clearInterval(timer);
          child.kill('SIGINT');
          resolve();
        }
        if (child.exitCode !== null) {
          clearInterval(timer);
          reject(new Error('the run ended before Ctrl-C'));
        }
      }, 25);
    });
    const { code, signal, stdout, stderr } = await done;
    expect(signal).toBeNull();
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('Ctrl-C: stopping after this step');
    expect(stderr).toContain(`continue with: grpovi train --resume ${out}`);
    const rows = readMetrics(metricsPath);
    const last = rows.at(-1)!.step;
    expect(last).toBeGreaterThanOrEqual(1);
    expect(last).toBeLessThan(5000);
    expect(latestCheckpointStep(out)).toBe(last);
    expect(stdout).toContain(`stopped after step ${last} of 5000`);
    // The checkpoint loads.
    const latest = JSON.parse(readFileSync(join(out, 'checkpoints', 'latest.json'), 'utf8')) as {
      checkpoint: string;
    };
    const saved = loadModelDir(join(out, 'checkpoints', latest.checkpoint), 'policy');
    expect(saved.info.step).toBe(last);
    const policy = Gpt.fromTensors(saved.config, saved.tensors, { trainable: false });
    policy.dispose();
  });
});
