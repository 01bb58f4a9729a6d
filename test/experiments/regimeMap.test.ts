import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ComparisonRecord, planComparison } from '../../src/experiments/plan.js';
import {
  klCurve,
  rawScaleRows,
  regimeCells,
  rewardAtEqualKl,
  rewardAtKl,
  writeRegimeMap,
} from '../../src/experiments/regimeMap.js';
import type { MetricsRow } from '../../src/train/metrics.js';

// A fake comparison whose runs follow formulas, so that every figure of the map can be worked out by
// hand: raw reward r(step) = 0.5 + g * step / 10 + 0.01 * seed, with a gain g per (algorithm, lr);
// the logged eval_reward is the compressed 0.5 + 0.1 (r - 0.5); KL at training step s is c * s.
const STEPS = 10;
const GAIN: Record<string, Record<number, number>> = {
  grpo: { 1e-3: 0.1, 3e-3: 0.2, 1e-2: 0.15 },
  grpovi: { 1e-3: 0.1, 3e-3: 0.3, 1e-2: 0.4 },
};
const KL_SLOPE: Record<string, number> = { grpo: 0.01, grpovi: 0.03 };

function rows(algo: string, lr: number, seed: number): MetricsRow[] {
  const raw = (step: number) => 0.5 + (GAIN[algo][lr] * step) / STEPS + 0.01 * seed;
  const out: MetricsRow[] = [];
  for (let step = 0; step <= STEPS; step++) {
    const row: MetricsRow = { step };
    if (step > 0) row.kl = KL_SLOPE[algo] * step;
    if (step % 5 === 0) {
      row.eval_reward = 0.5 + 0.1 * (raw(step) - 0.5);
      row.eval_reward_raw = raw(step);
      row.eval_gold = raw(step) - 0.1;
    }
    out.push(row);
  }
  return out;
}

let root = '';
let dir = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'grpovi-regimes-'));
  dir = join(root, 'none-t10-b0.04');
  const lrs = [1e-3, 3e-3, 1e-2];
  const record: ComparisonRecord = {
    format: 'grpovi-comparison',
    version: 1,
    task: 'toy',
    steps: STEPS,
    base_config: { task: 'toy', steps: STEPS, eval_every: 5, learning_rate: 1e-3 },
    config_file: null,
    sweep: [{ key: 'learning_rate', values: lrs }],
    algos: ['grpo', 'grpovi'],
    seeds: [0, 1, 2],
    command: 'test',
    invocations: [],
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'comparison.json'), JSON.stringify(record));
  for (const run of planComparison(record).runs) {
    const runDir = join(dir, run.relDir);
    const { algo, seed } = run;
    const lr = run.config.learning_rate;
    mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
    // One unfinished run (checkpoint before the last step): it must be left out.
    const unfinished = algo === 'grpo' && lr === 1e-3 && seed === 2;
    const data = unfinished ? rows(algo, lr, seed).slice(0, 6) : rows(algo, lr, seed);
    writeFileSync(join(runDir, 'metrics.jsonl'), data.map((r) => `${JSON.stringify(r)}\n`).join(''));
    writeFileSync(
      join(runDir, 'checkpoints', 'latest.json'),
      JSON.stringify({ step: unfinished ? 5 : STEPS }),
    );
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the regime map generator', () => {
  it('KL at an evaluation averages the last 5 logged steps; reward at a KL interpolates along the steps', () => {
    const curve = klCurve(rawScaleRows(rows('grpo', 3e-3, 0)));
    expect(curve.map((p) => p.step)).toEqual([0, 5, 10]);
    expect(curve[0].kl).toBe(0);
    expect(curve[1].kl).toBeCloseTo(0.03, 12); // mean of 0.01 * (1..5)
    expect(curve[2].kl).toBeCloseTo(0.08, 12); // mean of 0.01 * (6..10)
    expect(rewardAtKl(curve, 0.055)).toBeCloseTo(0.5 + 0.2 * 0.75, 12); // halfway from step 5 to 10
    expect(rewardAtKl(curve, 1)).toBeNull();
  });

  it('takes each algorithm at its best raw-AUC learning rate and reports the raw scale, steps to target and equal KL', () => {
    const [cell] = regimeCells(dir);
    expect(cell.regime).toBe('none-t10-b0.04');
    expect(cell.group).toBe('default');
    const grpo = cell.algorithms.grpo!;
    const grpovi = cell.algorithms.grpovi!;
    expect([grpo.learning_rate, grpo.lr_at_edge]).toEqual([3e-3, false]);
    expect([grpovi.learning_rate, grpovi.lr_at_edge]).toEqual([1e-2, true]);
    // Raw scale: final r(10) = 0.5 + g + 0.01 seed, mean over seeds 0..2.
    expect(grpo.final_reward.mean).toBeCloseTo(0.71, 12);
    expect(grpo.final_reward.std).toBeCloseTo(0.01, 12);
    expect(grpovi.final_reward.mean).toBeCloseTo(0.91, 12);
    expect(grpo.final_gold!.mean).toBeCloseTo(0.61, 12);
    // final_kl: mean of c * (1..10) = 5.5 c.
    expect(grpo.final_kl!.mean).toBeCloseTo(0.055, 12);
    expect(grpovi.final_kl!.mean).toBeCloseTo(0.165, 12);
    // Target 0.51 + 0.9 * 0.2 = 0.69: GRPO reaches it at step 10; GRPOVI at step 5 (0.71).
    expect(cell.steps_to_target).toMatchObject({ grpo: 10, grpovi: 5, ratio: 0.5 });
    expect(cell.steps_to_target!.target).toBeCloseTo(0.69, 12);
    // KL* = 0.055. GRPO crosses it halfway from step 5 to 10: r(7.5). GRPOVI between steps 0 (KL 0) and
    // 5 (KL 0.09): r(0) + (0.055 / 0.09) (r(5) - r(0)).
    const eq = cell.reward_at_equal_kl!;
    expect(eq.kl).toBeCloseTo(0.055, 12);
    expect(eq.grpo!.mean).toBeCloseTo(0.51 + 0.2 * 0.75, 12);
    expect(eq.grpovi!.mean).toBeCloseTo(0.51 + (0.055 / 0.09) * 0.2, 12);
    expect(eq.grpovi!.n).toBe(3);
    // The unfinished seed is left out of GRPO's lr 1e-3 candidate only; the best candidates have 3 seeds.
    expect(grpo.seeds).toEqual([0, 1, 2]);
    expect(grpo.reward_kl_curve.map((p) => p.step)).toEqual([0, 5, 10]);
  });

  it('writes the table, the cells and the reward-against-KL plot', async () => {
    const out = join(root, 'map');
    const result = await writeRegimeMap([dir], out);
    const table = readFileSync(join(out, 'regimes.md'), 'utf8');
    expect(table).toContain(
      '| none-t10-b0.04 | default | 3 x 10 | 3e-3 / 0.01 (edge) | 10 / 5 | **0.50** (0.50, 0.50–0.50)',
    );
    // final reward, final gold, final KL, KL*, reward at KL*: the hand-computed values above.
    expect(result.table).toContain(
      '| 0.710 ± 0.010 / 0.910 ± 0.010 | 0.610 ± 0.010 / 0.810 ± 0.010 | 0.055 ± 0.000 / 0.165 ± 0.000 | 0.055 | 0.660 ± 0.010 / 0.632 ± 0.010 |',
    );
    expect(JSON.parse(readFileSync(join(out, 'regimes.json'), 'utf8')).cells).toHaveLength(1);
    const svg = readFileSync(join(out, 'regimes_reward_vs_kl.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('raw evaluation reward');
    expect(existsSync(join(out, 'regimes_reward_vs_kl.png'))).toBe(true);
  });

  it('compares algorithms of different folders at one KL, each at its best rate, as the table does within a folder', () => {
    const [cell] = regimeCells(dir);
    const picks = [
      { dir, algo: 'grpo' as const },
      { dir, algo: 'grpovi' as const },
    ];
    // Default KL = the smallest mean final KL (the table's KL*): the same numbers as the cell's.
    const same = rewardAtEqualKl(picks);
    expect(same.kl).toBeCloseTo(0.055, 12);
    expect(same.rows.map((r) => [r.regime, r.algo, r.learning_rate, r.seeds])).toEqual([
      ['none-t10-b0.04', 'grpo', 3e-3, 3],
      ['none-t10-b0.04', 'grpovi', 1e-2, 3],
    ]);
    expect(same.rows[0].reward).toEqual(cell.reward_at_equal_kl!.grpo);
    expect(same.rows[1].reward).toEqual(cell.reward_at_equal_kl!.grpovi);
    // At KL 0.09 GRPOVI's curve is exactly at step 5 (r(5) = 0.51 + 0.2 mean over seeds); GRPO's
    // final evaluation has KL 0.08, so no GRPO seed reaches it.
    const higher = rewardAtEqualKl(picks, 0.09);
    expect(higher.rows[0].reward).toBeNull();
    expect(higher.rows[1].reward!.mean).toBeCloseTo(0.51 + 0.2, 12);
    expect(higher.rows[1].reward!.n).toBe(3);
  });

  it('names the folder when it has no finished runs of the algorithm', () => {
    const empty = join(root, 'no-runs');
    mkdirSync(empty, { recursive: true });
    copyFileSync(join(dir, 'comparison.json'), join(empty, 'comparison.json'));
    expect(() => rewardAtEqualKl([{ dir: empty, algo: 'grpovi' }])).toThrow(
      `${empty}: no finished grpovi runs`,
    );
  });

  it('the regime-kl script prints the comparison, and a bad pick exits 2 with the argument named', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/regime-kl.ts', ...args], { encoding: 'utf8' });
    const ok = run(`${dir}:grpo`, `${dir}:grpovi`);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('raw reward at KL 0.055');
    expect(ok.stdout).toContain('| none-t10-b0.04 | grpo | 3e-3 | 0.055 ± 0.000 | 3 of 3 | 0.660 ± 0.010 |');
    const bad = run(`${dir}:ppo`);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(`"${dir}:ppo" must be CELL_DIR:ALGO`);
    const badKl = run('--kl', '-1', `${dir}:grpo`);
    expect(badKl.status).toBe(2);
    expect(badKl.stderr).toContain('--kl must be a positive number (-1)');
  });

  it('refuses a folder that is not a comparison', async () => {
    await expect(writeRegimeMap([root], join(root, 'x'))).rejects.toThrow(/comparison\.json not found/);
  });
});
