/**
 * `npm run bench:adjust`: the exact reward adjustment (`adjustGroups`, validation included) against
 * sorting the same groups with the native `Float64Array.prototype.sort`, timed in the same run.
 * The goal is a ratio solver/sort of at most 1.0 for groups of 16: adjusting costs no more than sorting.
 */
import { performance } from 'node:perf_hooks';
import { adjustGroups } from '../src/adjust/index.js';
import { Rng } from '../src/util/rng.js';

const TOTAL = 2 ** 20;
const GROUP_SIZES = [8, 16, 64];
const WARMUP_ROUNDS = 3;
const TIMED_ROUNDS = 9;
const SEED = 20240611;

/**
 * Rewards as a reward model gives them: continuous scores in [0, 1] bunched around a per-prompt level
 * (a logistic of a normal logit), so most groups have small spread and no exact ties.
 */
function rewardModelScores(rng: Rng, total: number, groupSize: number): Float64Array {
  const rewards = new Float64Array(total);
  for (let start = 0; start < total; start += groupSize) {
    const level = 1.2 * rng.normal();
    for (let i = start; i < start + groupSize; i++) {
      rewards[i] = 1 / (1 + Math.exp(-(level + 0.35 * rng.normal())));
    }
  }
  return rewards;
}

function sortGroups(data: Float64Array, groupSize: number, scratch: Float64Array): void {
  scratch.set(data);
  for (let start = 0; start < scratch.length; start += groupSize) {
    scratch.subarray(start, start + groupSize).sort();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

interface Row {
  groupSize: number;
  solverRate: number;
  sortRate: number;
}

function benchGroupSize(groupSize: number): Row {
  const rewards = rewardModelScores(Rng.derive(SEED, `rewards-${groupSize}`), TOTAL, groupSize);
  const scratch = new Float64Array(TOTAL);
  const options = { min: 0, max: 1 };
  // Keeps a result alive so that no work can be optimized away.
  let sink = 0;

  const solverTimes: number[] = [];
  const sortTimes: number[] = [];
  for (let round = 0; round < WARMUP_ROUNDS + TIMED_ROUNDS; round++) {
    // Alternate the order each round so neither side always runs on a warmer cache.
    const runs: Array<[() => void, number[]]> = [
      [
        () => {
          sink += adjustGroups(rewards, groupSize, options)[round % TOTAL];
        },
        solverTimes,
      ],
      [
        () => {
          sortGroups(rewards, groupSize, scratch);
          sink += scratch[round % TOTAL];
        },
        sortTimes,
      ],
    ];
    if (round % 2 === 1) runs.reverse();
    for (const [run, times] of runs) {
      const began = performance.now();
      run();
      const elapsed = performance.now() - began;
      if (round >= WARMUP_ROUNDS) times.push(elapsed);
    }
  }
  if (Number.isNaN(sink)) throw new Error('unreachable: the benchmark produced NaN');
  const rate = (ms: number): number => TOTAL / (ms * 1e3);
  return { groupSize, solverRate: rate(median(solverTimes)), sortRate: rate(median(sortTimes)) };
}

function main(): void {
  console.log(
    `adjustGroups vs Float64Array.prototype.sort over 2^20 rewards (median of ${TIMED_ROUNDS} runs)`,
  );
  console.log('');
  const header = ['group size', 'solver Mrewards/s', 'sort Mrewards/s', 'ratio solver/sort'];
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((h) => `${'-'.repeat(h.length + 1)}:`).join('|')}|`);
  const rows: Row[] = [];
  for (const groupSize of GROUP_SIZES) {
    const row = benchGroupSize(groupSize);
    rows.push(row);
    // Time per reward ratio: above 1 the solver is slower than sorting.
    const ratio = row.sortRate / row.solverRate;
    const cells = [
      String(row.groupSize),
      row.solverRate.toFixed(1),
      row.sortRate.toFixed(1),
      ratio.toFixed(2),
    ];
    console.log(`| ${cells.map((c, k) => c.padStart(header[k].length)).join(' | ')} |`);
  }
  const goal = rows.find((row) => row.groupSize === 16);
  if (goal !== undefined) {
    const ratio = goal.sortRate / goal.solverRate;
    console.log('');
    console.log(
      `goal for groups of 16: ratio <= 1.00; measured ${ratio.toFixed(2)} (${ratio <= 1 ? 'met' : 'NOT met'})`,
    );
  }
}

main();
