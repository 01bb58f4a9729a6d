/**
 * The regime map's table and plot from comparison folders:
 *   npm run regime-table -- --out docs/results/regimes runs/regimes/*
 * Writes OUT/regimes.md, OUT/regimes.json and OUT/regimes_reward_vs_kl.svg/.png, and prints the table.
 */
import { writeRegimeMap } from '../src/experiments/regimeMap.js';

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = outAt >= 0 ? args[outAt + 1] : undefined;
const dirs = args.filter((_, i) => i !== outAt && i !== outAt + 1);
if (out === undefined || dirs.length === 0) {
  process.stderr.write('usage: npm run regime-table -- --out OUT_DIR COMPARISON_DIR...\n');
  process.exit(2);
}
try {
  const { table, files } = await writeRegimeMap(dirs, out);
  process.stdout.write(`${table}\n\n${files.join('\n')}\n`);
} catch (error) {
  process.stderr.write(`regime-table: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}
