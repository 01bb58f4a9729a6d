/**
 * An adaptive learning-rate search for one regime of the map, run as planned `grpovi compare` runs:
 *
 *   npx tsx scripts/regime-adaptive.ts --config examples/regimes/none-t10-b0.04.json \
 *     --out runs/regimes/none-t10-b0.04 [--algos grpo,grpovi] [--seeds 5] [--jobs 2] \
 *     [--grid 1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1] [--start 1e-3,3e-3,1e-2] [--grpovi "npx grpovi"]
 *
 * Why: a full grid of 5 seeds x 7 learning rates x 2 algorithms is 70 runs per regime, more than this
 * machine can afford for 13 regimes. Per algorithm, seed 0 is run at the starting rates; the grid is
 * extended one rate at a time while the best (highest AUC of the seed-averaged evaluation curve, as
 * the regime table chooses it, raw scale) sits at an edge of the rates tried; then the remaining seeds run at the
 * best rate, and the search repeats until the best rate has every seed. Rates other than the best keep
 * one seed, so `grpovi report DIR` lists their other seeds as not run. The statistics in the table come
 * only from the best rates, which have all seeds.
 */
import { spawn } from 'node:child_process';
import { regimeCells } from '../src/experiments/regimeMap.js';

interface Options {
  config: string;
  out: string;
  algos: string[];
  seeds: number;
  jobs: number;
  grid: string[];
  start: string[];
  grpovi: string;
  extra: string;
}

function parseOptions(argv: string[]): Options {
  const value = (name: string, fallback?: string): string => {
    const at = argv.indexOf(`--${name}`);
    if (at >= 0 && argv[at + 1] !== undefined) return argv[at + 1];
    if (fallback === undefined) throw new Error(`--${name} is required`);
    return fallback;
  };
  const list = (text: string): string[] => text.split(',').filter((s) => s.length > 0);
  return {
    config: value('config'),
    out: value('out'),
    algos: list(value('algos', 'grpo,grpovi')),
    seeds: Number(value('seeds', '5')),
    jobs: Number(value('jobs', '2')),
    grid: list(value('grid', '1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1')),
    start: list(value('start', '1e-3,3e-3,1e-2')),
    grpovi: value('grpovi', 'npx grpovi'),
    extra: value('extra', ''),
  };
}

function sh(command: string, quiet = false): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      stdio: quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'],
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

function capture(command: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

async function runAll(commands: string[], jobs: number): Promise<void> {
  const queue = [...commands];
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const started = Date.now();
      const code = await sh(`${next} > /dev/null 2>&1`);
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      process.stdout.write(`  ${code === 0 ? 'done' : `exit ${code}`} in ${seconds} s: ${next}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const common = `--config ${o.config} --seeds ${o.seeds} --algos ${o.algos.join(',')} --sweep lr=${o.grid.join(',')} --jobs ${o.jobs} --out ${o.out} ${o.extra}`;
  // The plan writes comparison.json (the record `grpovi report` reads) and trains nothing.
  const plan = await capture(`${o.grpovi} compare ${common} --plan --plan-command '${o.grpovi}'`);
  if (plan.code !== 0) throw new Error(`planning failed: ${o.grpovi} compare ${common} --plan`);
  // One planned command per run, found by (learning rate, algorithm, seed) in its folder name.
  const planned = new Map<string, string>();
  for (const command of plan.stdout.split('\n')) {
    const match = /lr=([^/]+)\/([a-z]+)\/seed-(\d+)\s*$/.exec(command);
    if (match) planned.set(`${Number(match[1])}/${match[2]}/${match[3]}`, command.trim());
  }
  const attempted = new Set<string>();
  const runCommand = (lr: string, algo: string, seed: number): string => {
    const command = planned.get(`${Number(lr)}/${algo}/${seed}`);
    if (command === undefined) throw new Error(`no planned run for lr ${lr}, ${algo}, seed ${seed}`);
    return command;
  };
  const tried: Record<string, Set<string>> = Object.fromEntries(o.algos.map((a) => [a, new Set(o.start)]));
  for (let round = 1; ; round++) {
    const pending: string[] = [];
    const want = (lr: string, algo: string, seed: number): void => {
      const key = `${lr}/${algo}/${seed}`;
      if (!attempted.has(key)) {
        attempted.add(key);
        pending.push(runCommand(lr, algo, seed));
      }
    };
    for (const algo of o.algos) for (const lr of tried[algo]) want(lr, algo, 0);
    if (pending.length === 0) {
      const cell = regimeCells(o.out)[0];
      for (const algo of o.algos) {
        const best = cell?.algorithms[algo as 'grpo' | 'grpovi'];
        if (!best) continue;
        const bestLr = o.grid.find((lr) => Number(lr) === best.learning_rate);
        if (bestLr === undefined) continue;
        const at = o.grid.indexOf(bestLr);
        const order = o.grid.filter((lr) => tried[algo].has(lr));
        const neighbours = [o.grid[at - 1], o.grid[at + 1]].filter((lr): lr is string => lr !== undefined);
        const unbracketed = neighbours.filter((lr) => !tried[algo].has(lr));
        const line = best.auc_by_learning_rate
          .map((c) => `${c.learning_rate}:${c.auc.toFixed(3)}/${c.seeds}`)
          .join(' ');
        process.stdout.write(
          `round ${round} ${algo}: best ${bestLr} of [${order.join(',')}] (AUC ${line})\n`,
        );
        if (unbracketed.length > 0) {
          for (const lr of unbracketed) tried[algo].add(lr);
          continue;
        }
        const finished = best.seeds.length;
        if (finished < o.seeds) for (let seed = 1; seed < o.seeds; seed++) want(bestLr, algo, seed);
      }
      for (const algo of o.algos) for (const lr of tried[algo]) want(lr, algo, 0);
      if (pending.length === 0) break;
    }
    process.stdout.write(`round ${round}: ${pending.length} run(s)\n`);
    await runAll(pending, o.jobs);
  }
  if ((await sh(`${o.grpovi} report ${o.out}`, true)) !== 0) throw new Error(`grpovi report ${o.out} failed`);
  process.stdout.write(`finished: ${o.out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`regime-adaptive: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
