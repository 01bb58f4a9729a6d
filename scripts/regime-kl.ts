/**
 * Reward at equal KL across regime cells, each algorithm at its own best rate (as in the regime table):
 *   npm run regime-kl -- [--kl K] CELL_DIR:ALGO CELL_DIR:ALGO...
 * e.g. GRPO with a rescaled beta against GRPOVI's cell:
 *   npm run regime-kl -- runs/regimes/none-t3-b0.0133:grpo runs/regimes/none-t3-b0.04:grpovi
 * Without --kl the KL is the smallest mean final KL of the picks (the table's KL*).
 */
import { ALGOS, type Algo } from '../src/experiments/algos.js';
import { type EqualKlPick, rewardAtEqualKl } from '../src/experiments/regimeMap.js';
import { formatSweepValue } from '../src/experiments/sweep.js';

const USAGE = 'usage: npm run regime-kl -- [--kl K] CELL_DIR:ALGO CELL_DIR:ALGO...';

function fail(message: string): never {
  process.stderr.write(`regime-kl: ${message}\n${USAGE}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let kl: number | undefined;
const picks: EqualKlPick[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--kl') {
    const text = args[++i];
    if (text === undefined) fail('--kl needs a value, e.g. --kl 2');
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) fail(`--kl must be a positive number (${text})`);
    kl = value;
    continue;
  }
  const at = args[i].lastIndexOf(':');
  const algo = at > 0 ? args[i].slice(at + 1) : '';
  if (!(ALGOS as readonly string[]).includes(algo))
    fail(`"${args[i]}" must be CELL_DIR:ALGO with ALGO one of ${ALGOS.join(', ')}`);
  picks.push({ dir: args[i].slice(0, at), algo: algo as Algo });
}
if (picks.length === 0) fail('no CELL_DIR:ALGO given');
try {
  const result = rewardAtEqualKl(picks, kl);
  const fmt = (v: { mean: number; std: number | null } | null, digits = 3) =>
    v === null
      ? '–'
      : v.std === null
        ? v.mean.toFixed(digits)
        : `${v.mean.toFixed(digits)} ± ${v.std.toFixed(digits)}`;
  const lines = [
    `raw reward at KL ${result.kl.toFixed(3)} (per seed where its KL curve first reaches it; mean ± std over those seeds)`,
    '',
    '| regime | algorithm | best lr | final KL | seeds reaching the KL | reward at the KL |',
    '|---|---|---|---|---|---|',
    ...result.rows.map(
      (r) =>
        `| ${r.regime} | ${r.algo} | ${formatSweepValue(r.learning_rate)} | ${fmt(r.final_kl)} | ${r.reward?.n ?? 0} of ${r.seeds} | ${fmt(r.reward)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
