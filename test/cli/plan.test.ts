import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/util/shellQuote.js';
import { CLI_BIN, runCli } from './cliBin.js';

// End-to-end on the built CLI (`npm test` builds dist first; run `npm run build` before this file alone).

type Json = Record<string, unknown>;

/** summary.json without the fields that measure time or the moment it was written. */
function summaryWithoutTiming(dir: string): Json {
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Json;
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (typeof node !== 'object' || node === null) return node;
    const out: Json = {};
    for (const [key, value] of Object.entries(node)) {
      if (['wall_seconds', 'train_seconds', 'generated_at', 'time'].includes(key)) continue;
      out[key] = strip(value);
    }
    return out;
  };
  return strip(summary) as Json;
}

/** This PATH without the folders that hold a `grpovi` (npx and npm put node_modules/.bin on it). */
function pathWithoutGrpovi(): string {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '' && !existsSync(join(dir, 'grpovi')))
    .join(delimiter);
}

function filesNamed(dir: string, name: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(name));
}

let root = '';
let configPath = '';
beforeAll(() => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  root = mkdtempSync(join(tmpdir(), 'grpovi-plan-'));
  configPath = join(root, 'toy.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      prompts_per_step: 4,
      num_generations: 4,
      eval_prompts: 16,
      eval_every: 2,
      checkpoint_every: 2,
    }),
  );
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('grpovi compare --plan, then the commands in any order, then grpovi report', () => {
  const args = (out: string) => [
    'compare',
    '--task',
    'toy',
    '--steps',
    '4',
    '--seeds',
    '2',
    '--config',
    configPath,
    '--out',
    out,
  ];

  it('writes the same summary.json as grpovi compare (statistics identical), training nothing when planning', async () => {
    const direct = join(root, 'direct');
    const planned = join(root, 'planned');
    const compared = await runCli([...args(direct), '--jobs', '2']);
    expect(compared.code, compared.stderr).toBe(0);

    // grpovi is not on this PATH: the printed commands call it as it was started, node and the script.
    const offPath = { ...process.env, PATH: pathWithoutGrpovi() };
    const plan = await runCli([...args(planned), '--plan'], { env: offPath });
    expect(plan.code, plan.stderr).toBe(0);
    const program = `${shellQuote(process.execPath)} ${shellQuote(realpathSync(CLI_BIN))}`;
    const commands = plan.stdout.trim().split('\n');
    // One command per run, in the plan's order: by seed, then setting, then algorithm.
    const runDir = (algo: string, seed: number) => join(planned, 'default', algo, `seed-${seed}`);
    expect(commands).toEqual(
      [runDir('grpo', 0), runDir('grpovi', 0), runDir('grpo', 1), runDir('grpovi', 1)].map(
        (d) => `${program} compare-run ${d}`,
      ),
    );
    expect(plan.stderr).toContain(`planned 4 run(s) in ${planned}`);
    expect(plan.stderr).toContain(`then: ${program} report ${planned}`);
    // --plan-command changes only how the commands call grpovi.
    const named = await runCli([...args(planned), '--plan', '--plan-command', 'npx grpovi']);
    expect(named.code, named.stderr).toBe(0);
    expect(named.stdout).toBe(plan.stdout.replaceAll(`${program} compare-run`, 'npx grpovi compare-run'));
    // Planning trains nothing: run.json files but no metrics, no checkpoints.
    expect(filesNamed(planned, 'run.json')).toHaveLength(4);
    expect(filesNamed(planned, 'metrics.jsonl')).toHaveLength(0);

    // The printed lines as printed, in reverse order, two at a time, as a scheduler might, with
    // grpovi off the PATH. One BLAS thread per run, as compare --jobs 2 gives its workers: the same
    // backend and thread count give the same bits (another thread count changes the sums' rounding).
    execFileSync('/bin/sh', ['-c', 'tac | xargs -P 2 -I{} sh -c {}'], {
      env: { ...offPath, GRPOVI_BLAS_THREADS: '1' },
      input: plan.stdout,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    expect(filesNamed(planned, 'metrics.jsonl')).toHaveLength(4);
    const report = await runCli(['report', planned]);
    expect(report.code, report.stderr).toBe(0);

    const a = summaryWithoutTiming(direct);
    const b = summaryWithoutTiming(planned);
    expect((a.missing_runs as unknown[]).length).toBe(0);
    expect(b).toEqual(a);
    // The runs themselves are the same, bit for bit.
    for (const rel of filesNamed(direct, 'model.safetensors')) {
      expect(readFileSync(join(planned, rel)).equals(readFileSync(join(direct, rel))), rel).toBe(true);
    }

    // Rerunning a command of a finished run does nothing and succeeds.
    const again = await runCli(['compare-run', join(planned, 'default', 'grpo', 'seed-0')]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain('already finished, nothing to do');
  });

  it('a compare-run on a folder without run.json exits 2 naming the file', async () => {
    const result = await runCli(['compare-run', join(root, 'nowhere')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/run\.json/);
  });
});
