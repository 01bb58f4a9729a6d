/**
 * What `grpovi demo` says about its comparison: GRPO against GRPOVI in two settings that differ only
 * in the advantage scale, on rewards bunched by a reward temperature. Under `scale_rewards: none`
 * (the paper's premise) GRPO's advantages are as small as the rewards' spread and GRPOVI's wider
 * spread speeds it up; under the default group std scale every group's advantages already have unit
 * std, which leaves GRPOVI little to add. The sentences are computed from the summary, so a run in
 * which the premise does not show says so.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { ComparisonSummary, SettingSummary } from './summary.js';

/** The sweep the demo runs: the paper's premise first, then GRPO's default scale. */
export const DEMO_SWEEP = 'scale_rewards=none,group';

/** How each setting of the demo is introduced, by its folder label. */
const SETTINGS: Record<string, { name: string; what: string }> = {
  'scale_rewards=none': {
    name: "the paper's premise",
    what: 'bunched rewards and no std scale, so the advantages are as small as the rewards differ',
  },
  'scale_rewards=group': {
    name: "GRPO's default",
    what: "the group std scale, which already stretches every group's advantages to unit std",
  },
};

export type DemoVerdict = 'grpovi-ahead' | 'grpo-ahead' | 'no-clear-difference';

/**
 * Who is ahead in a setting: GRPOVI when its area under the evaluation curve is larger on every seed
 * (paired by seed) and it reached GRPO's target in fewer steps; GRPO when its area is larger on every
 * seed and GRPOVI was slower to the target or never reached it; otherwise neither.
 */
export function demoVerdict(setting: SettingSummary): DemoVerdict {
  const auc = setting.paired?.auc_eval_reward;
  const n = auc?.seeds.length ?? 0;
  if (auc === undefined || n === 0) return 'no-clear-difference';
  const { ratio, target, grpovi } = setting.steps_to_target;
  if (auc.grpovi_better === n && ratio !== null && ratio < 1) return 'grpovi-ahead';
  const grpoviSlower = (ratio !== null && ratio > 1) || (target !== null && grpovi === null);
  if (auc.grpo_better === n && grpoviSlower) return 'grpo-ahead';
  return 'no-clear-difference';
}

const fmt = (value: number | null | undefined, digits = 3): string =>
  value === null || value === undefined ? '–' : value.toFixed(digits);

const stepText = (step: number | null): string => (step === null ? 'never' : `at step ${step}`);

/** One sentence per setting: which setting it is, what was measured, and what it shows. */
export function demoSentences(summary: ComparisonSummary, rewardTemperature: number): string[] {
  return summary.settings.map((setting) => {
    const known = SETTINGS[setting.label] ?? { name: setting.label, what: 'a setting of the sweep' };
    const grpo = setting.algorithms.grpo;
    const grpovi = setting.algorithms.grpovi;
    const stt = setting.steps_to_target;
    const auc = setting.paired?.auc_eval_reward;
    const n = auc?.seeds.length ?? 0;
    const verdict = demoVerdict(setting);
    const gold =
      grpo?.final_eval_gold && grpovi?.final_eval_gold
        ? `, final gold reward (the valence the reward model learned) ${fmt(grpovi.final_eval_gold.mean)} against ${fmt(grpo.final_eval_gold.mean)}`
        : '';
    const shows =
      verdict === 'grpovi-ahead'
        ? 'GRPOVI wins here'
        : verdict === 'grpo-ahead'
          ? 'GRPO wins here'
          : 'no clear difference here';
    return (
      `${setting.label} (${known.name}: ${known.what}; reward temperature ${rewardTemperature}, ` +
      `raw reward std in a group ${fmt(grpo?.reward_std.raw)}): ` +
      `GRPOVI reached GRPO's target (90% of GRPO's gain) ${stepText(stt.grpovi)}, GRPO ${stepText(stt.grpo)}` +
      `${stt.ratio === null ? '' : ` (ratio ${fmt(stt.ratio, 2)})`}; ` +
      `AUC ${fmt(grpovi?.auc_eval_reward.mean)} against ${fmt(grpo?.auc_eval_reward.mean)}, ` +
      `GRPOVI's larger on ${auc?.grpovi_better ?? 0} of ${n} seed${n === 1 ? '' : 's'}${gold}: ${shows}.`
    );
  });
}

/** The demo's section of report.md and of its stdout. */
export function demoSection(summary: ComparisonSummary, rewardTemperature: number): string {
  return [
    '## What the demo shows',
    '',
    'GRPO and GRPOVI with the same seeds, learning rate and reward temperature, in two settings that',
    'differ only in the advantage scale (numbers are GRPOVI against GRPO):',
    '',
    ...demoSentences(summary, rewardTemperature).map((s) => `- ${s}`),
    '',
  ].join('\n');
}

/** Puts the demo's section into report.md, after its title (a rerun replaces the earlier one). */
export function addDemoSection(reportPath: string, section: string): void {
  const report = readFileSync(reportPath, 'utf8');
  const lines = report.split('\n');
  const titleEnd = lines[0]?.startsWith('# ') ? 1 : 0;
  const rest = lines.slice(titleEnd).join('\n').replace(/^\n*/, '');
  const title = lines.slice(0, titleEnd).join('\n');
  writeFileAtomic(reportPath, `${title}${title === '' ? '' : '\n\n'}${section}\n${rest}`);
}
