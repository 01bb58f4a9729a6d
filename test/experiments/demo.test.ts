import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  addDemoSection,
  DEMO_HEADING,
  demoSection,
  demoSentences,
  demoVerdict,
} from '../../src/experiments/demo.js';
import type { ComparisonSummary, SettingSummary } from '../../src/experiments/summary.js';
import { tempDir } from '../train/helpers.js';

const { dir, cleanup } = tempDir('demo');
afterAll(cleanup);

/**
 * A setting as the summary holds it, reduced to what the demo reads: GRPO's curve from 0.50 to 0.60
 * (a gain of 0.1), per-seed AUC differences (GRPOVI − GRPO), the steps to target and their per-seed
 * ratio median.
 */
function setting(
  label: string,
  aucDiffs: number[],
  steps: { grpo: number | null; grpovi: number | null; median: number | null; neverReached?: number },
): SettingSummary {
  const mean = aucDiffs.reduce((a, b) => a + b, 0) / aucDiffs.length;
  const algo = (auc: number) => ({
    auc_eval_reward: { mean: auc, std: null, n: aucDiffs.length },
    final_eval_gold: { mean: auc + 0.3, std: null, n: aucDiffs.length },
    eval_curve: [
      { step: 0, mean: 0.5, std: null, n: 3 },
      { step: 10, mean: 0.6, std: null, n: 3 },
    ],
    reward_std_curve: [{ step: 1, raw: 0.036, adjusted: 0.036 }],
  });
  return {
    label,
    overrides: {},
    algorithms: { grpo: algo(0.55), grpovi: algo(0.55 + mean) },
    steps_to_target: {
      target: 0.59,
      grpo: steps.grpo,
      grpovi: steps.grpovi,
      ratio: steps.grpo !== null && steps.grpovi !== null ? steps.grpovi / steps.grpo : null,
    },
    steps_to_target_per_seed: {
      seeds: [],
      ratio: steps.median === null ? null : { median: steps.median },
      grpo_no_improvement: 0,
      grpovi_never_reached: steps.neverReached ?? 0,
    },
    steps_to_target_gold: null,
    paired: {
      auc_eval_reward: {
        seeds: aucDiffs.map((_, i) => i),
        differences: aucDiffs,
        mean,
        std: null,
        grpovi_better: aucDiffs.filter((d) => d > 0).length,
        grpo_better: aucDiffs.filter((d) => d < 0).length,
        ties: aucDiffs.filter((d) => d === 0).length,
      },
    },
  } as unknown as SettingSummary;
}

describe('demoVerdict', () => {
  it('GRPOVI wins with a larger AUC on every seed, by a tenth of GRPO gain or more, and a faster median seed', () => {
    expect(demoVerdict(setting('a', [0.04, 0.05, 0.045], { grpo: 15, grpovi: 5, median: 0.33 }))).toBe(
      'grpovi-ahead',
    );
    // Exactly the margin (0.01 = 10% of the gain 0.1) counts.
    expect(demoVerdict(setting('a', [0.01, 0.01, 0.01], { grpo: 10, grpovi: 5, median: 0.5 }))).toBe(
      'grpovi-ahead',
    );
  });

  it('no clear difference: below the margin, not on every seed, or not faster on the median seed', () => {
    // The group-std setting of the demo: AUC +0.001 on every seed, 1% of GRPO's gain.
    expect(demoVerdict(setting('b', [0.001, 0.002, 0.001], { grpo: 10, grpovi: 5, median: 1 }))).toBe(
      'no-clear-difference',
    );
    expect(demoVerdict(setting('b', [0.05, -0.01, 0.05], { grpo: 15, grpovi: 5, median: 0.33 }))).toBe(
      'no-clear-difference',
    );
    expect(demoVerdict(setting('b', [0.05, 0.05, 0.05], { grpo: 5, grpovi: 5, median: 1 }))).toBe(
      'no-clear-difference',
    );
  });

  it('GRPO wins with the larger AUC on every seed when GRPOVI is slower or never gets there', () => {
    expect(demoVerdict(setting('c', [-0.03, -0.02, -0.05], { grpo: 5, grpovi: 15, median: 3 }))).toBe(
      'grpo-ahead',
    );
    expect(
      demoVerdict(
        setting('c', [-0.03, -0.02, -0.05], { grpo: 5, grpovi: null, median: null, neverReached: 3 }),
      ),
    ).toBe('grpo-ahead');
    expect(demoVerdict(setting('c', [-0.03, -0.02, -0.05], { grpo: 5, grpovi: 5, median: 1 }))).toBe(
      'no-clear-difference',
    );
  });
});

describe('the demo sentences and report section', () => {
  const summary = {
    settings: [
      setting('scale_rewards=none', [0.04, 0.05, 0.045], { grpo: 15, grpovi: 5, median: 0.33 }),
      setting('scale_rewards=group', [0.001, 0.002, 0.001], { grpo: 10, grpovi: 5, median: 1 }),
    ],
  } as unknown as ComparisonSummary;

  it('say which setting is which, the measured figures, and what each shows', () => {
    const [premise, usual] = demoSentences(summary, 10);
    expect(premise).toMatch(/^scale_rewards=none \(the paper's premise: bunched rewards and no std scale/);
    expect(premise).toContain('reward temperature 10');
    expect(premise).toContain("GRPOVI reached GRPO's target (90% of GRPO's gain) at step 5, GRPO at step 15");
    expect(premise).toContain(
      "AUC 0.595 against 0.550 (+45% of GRPO's gain), GRPOVI's larger on 3 of 3 seeds",
    );
    expect(premise).toMatch(/: GRPOVI wins here\.$/);
    expect(usual).toMatch(/^scale_rewards=group \(GRPO's default: the group std scale/);
    expect(usual).toContain("(+1% of GRPO's gain)");
    expect(usual).toMatch(/: no clear difference here\.$/);
  });

  it('goes after the report title, once, however often it is added', () => {
    const path = join(dir, 'report.md');
    writeFileSync(path, '# GRPO vs GRPOVI on sentiment\n\nGenerated then.\n\n## Results\n\n| table |\n');
    const section = demoSection(summary, 10);
    addDemoSection(path, section);
    addDemoSection(path, section);
    const report = readFileSync(path, 'utf8');
    expect(report.split(DEMO_HEADING)).toHaveLength(2);
    expect(report.startsWith(`# GRPO vs GRPOVI on sentiment\n\n${DEMO_HEADING}\n`)).toBe(true);
    expect(report).toContain('- scale_rewards=none (');
    expect(report.endsWith('Generated then.\n\n## Results\n\n| table |\n')).toBe(true);
  });
});
