/**
 * `npm run bench:train-baseline`: the whole RL step of `grpovi train` on the sentiment task against the
 * wasm path as it was when issue 11 was filed (commit 0de4fbb, the last before the BLAS work; its goal
 * is "at least 2.5 times faster than today's wasm path"). bench:train compares the two backends of the
 * current code, whose wasm path has since gained from changes that help both paths; this compares with
 * the old code itself.
 *
 * The baseline's source is taken from git history (`git archive`, so a shallow clone will not do) into a
 * temporary folder, built with this checkout's TypeScript against this checkout's node_modules, and run
 * as its own CLI. Each round trains, in a rotating order, the baseline on wasm, the current code on wasm
 * and the current code on BLAS (one BLAS thread), the same seed and steps; each run's figure is the
 * median wall time of its steps after the warmup, from the run's own metrics (`step_seconds`).
 *
 * Flags: `--commit REV` (default 0de4fbb), `--rounds N` (default 5), `--steps N` (default 14),
 * `--warmup N` (default 2), `--blas-threads N` (default 1).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './rlPhases.js';

const ISSUE_11_BASELINE = '0de4fbb';
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function flag(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at >= 0 && argv[at + 1] !== undefined ? argv[at + 1] : fallback;
}

function positiveInteger(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive integer, got "${text}"`);
  return n;
}

/** The baseline's source at `rev`, built into `dir` (its own dist/cli/bin.js). */
function buildBaseline(rev: string, dir: string): string {
  const tar = join(dir, 'source.tar');
  try {
    execFileSync('git', ['-C', REPO, 'archive', '--format=tar', '-o', tar, rev], { stdio: 'pipe' });
  } catch (error) {
    const why = (error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error);
    throw new Error(`cannot read commit ${rev} from git history (a shallow clone lacks it): ${why}`);
  }
  const source = join(dir, 'source');
  mkdirSync(source);
  execFileSync('tar', ['-xf', tar, '-C', source]);
  symlinkSync(join(REPO, 'node_modules'), join(source, 'node_modules'), 'dir');
  const tsc = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
  execFileSync(process.execPath, [tsc, '-p', join(source, 'tsconfig.build.json')], { stdio: 'inherit' });
  return join(source, 'dist', 'cli', 'bin.js');
}

interface Contender {
  name: string;
  bin: string;
  args: string[];
}

interface RunFigures {
  stepMs: number;
  rolloutMs: number;
  rewardMs: number;
  updateMs: number;
  completionLength: number;
}

function trainOnce(c: Contender, steps: number, warmup: number, out: string): RunFigures {
  rmSync(out, { recursive: true, force: true });
  execFileSync(
    process.execPath,
    [
      c.bin,
      'train',
      '--task',
      'sentiment',
      '--steps',
      String(steps),
      '--eval-every',
      '0',
      '--out',
      out,
      ...c.args,
    ],
    { stdio: 'pipe' },
  );
  const rows = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, number>)
    .filter((row) => row.step_seconds !== undefined && row.step > warmup);
  const ms = (field: string) => 1e3 * median(rows.map((row) => row[field] ?? Number.NaN));
  return {
    stepMs: ms('step_seconds'),
    rolloutMs: ms('rollout_seconds'),
    rewardMs: ms('reward_seconds'),
    updateMs: ms('update_seconds'),
    completionLength: rows.reduce((s, row) => s + row.completion_length, 0) / rows.length,
  };
}

function main(): void {
  const argv = process.argv.slice(2);
  const rev = flag(argv, '--commit', ISSUE_11_BASELINE);
  const rounds = positiveInteger(flag(argv, '--rounds', '5'), '--rounds');
  const steps = positiveInteger(flag(argv, '--steps', '14'), '--steps');
  const warmup = positiveInteger(flag(argv, '--warmup', '2'), '--warmup');
  const threads = positiveInteger(flag(argv, '--blas-threads', '1'), '--blas-threads');
  if (warmup >= steps) throw new Error(`--warmup (${warmup}) must be below --steps (${steps})`);
  const dir = mkdtempSync(join(tmpdir(), 'grpovi-baseline-'));
  try {
    console.log(`Building the baseline ${rev} from git history ...`);
    const baselineBin = buildBaseline(rev, dir);
    const current = join(REPO, 'dist', 'cli', 'bin.js');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO, stdio: 'inherit' });
    const contenders: Contender[] = [
      { name: `${rev} wasm`, bin: baselineBin, args: ['--backend', 'wasm'] },
      { name: 'current wasm', bin: current, args: ['--backend', 'wasm'] },
      { name: 'current blas', bin: current, args: ['--backend', 'blas', '--blas-threads', String(threads)] },
    ];
    console.log(
      `Whole RL step of grpovi train on the sentiment task (shipped policy and reward model, GRPO, seed 0), ` +
        `${steps} steps per run, ${rounds} rounds; each run's median wall ms over steps ${warmup + 1}-${steps}; ` +
        `the contenders take turns in a rotating order; BLAS on ${threads} thread(s).`,
    );
    console.log('');
    const results: RunFigures[][] = contenders.map(() => []);
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < contenders.length; k++) {
        const i = (round + k) % contenders.length;
        results[i].push(trainOnce(contenders[i], steps, warmup, join(dir, 'run')));
      }
      const cells = results.map((r) => r[round].stepMs.toFixed(1));
      console.log(
        `round ${round + 1}: step ms ${contenders.map((c, i) => `${c.name} ${cells[i]}`).join(', ')}`,
      );
    }
    console.log('');
    console.log('| contender | step ms | rollout ms | reward ms | update ms | mean completion tokens |');
    console.log('|---|--:|--:|--:|--:|--:|');
    contenders.forEach((c, i) => {
      const m = (f: keyof RunFigures) => median(results[i].map((r) => r[f])).toFixed(1);
      console.log(
        `| ${c.name} | ${m('stepMs')} | ${m('rolloutMs')} | ${m('rewardMs')} | ${m('updateMs')} | ${m('completionLength')} |`,
      );
    });
    console.log('');
    // Ratios per round (the runs of one round meet the same spell of background load), then their median.
    const ratio = (a: number, b: number) => {
      const perRound = results[a].map((r, j) => r.stepMs / results[b][j].stepMs);
      return `${median(perRound).toFixed(2)} (rounds: ${perRound.map((x) => x.toFixed(2)).join(', ')})`;
    };
    console.log(`${contenders[0].name} / current blas: ${ratio(0, 2)}`);
    console.log(`current wasm / current blas: ${ratio(1, 2)}`);
    console.log(`${contenders[0].name} / current wasm: ${ratio(0, 1)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Ctrl-C reaches the running child too: it ends, the synchronous call throws, and the finally block
// removes the temporary folder (Node's default handler would exit before it runs).
process.on('SIGINT', () => {});
try {
  main();
} catch (error) {
  console.error(`bench:train-baseline: ${(error as Error).message}`);
  process.exit(2);
}
