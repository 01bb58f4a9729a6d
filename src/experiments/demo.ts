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

/** The heading of the demo's section in report.md. */
export const DEMO_HEADING = '## What the demo shows';

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

/** The smallest AUC difference that counts, as a share of GRPO's gain over the run. */
export const MATERIAL_SHARE = 0.1;

/** GRPO's gain over the run: its seed-averaged evaluation reward at the last step minus at step 0. */
function grpoGain(setting: SettingSummary): number | null {
  const curve = setting.algorithms.grpo?.eval_curve;
  if (curve === undefined || curve.length < 2) return null;
  return curve[curve.length - 1].mean - curve[0].mean;
}

/**
 * Who is clearly ahead in a setting. GRPOVI is when its area under the evaluation curve (AUC) is
 * larger on every seed (paired by seed), by at least a tenth of GRPO's gain on average, and on the
 * median seed it reached GRPO's target in fewer steps. GRPO is when the same holds the other way
 * (larger AUC on every seed by that margin, GRPOVI slower to the target on the median seed or never
 * reaching it). Otherwise neither: a difference below the margin or not on every seed is no result
 * with the demo's few seeds.
 */
export function demoVerdict(setting: SettingSummary): DemoVerdict {
  const auc = setting.paired?.auc_eval_reward;
  const n = auc?.seeds.length ?? 0;
  const gain = grpoGain(setting);
  if (auc === undefined || auc.mean === null || n === 0 || gain === null || gain <= 0)
    return 'no-clear-difference';
  const material = Math.abs(auc.mean) >= MATERIAL_SHARE * gain;
  const perSeed = setting.steps_to_target_per_seed;
  const median = perSeed?.ratio?.median ?? null;
  if (material && auc.grpovi_better === n && median !== null && median < 1) return 'grpovi-ahead';
  const grpoviSlower = (median !== null && median > 1) || (perSeed?.grpovi_never_reached ?? 0) > 0;
  if (material && auc.grpo_better === n && grpoviSlower) return 'grpo-ahead';
  return 'no-clear-difference';
}

const fmt = (value: number | null | undefined, digits = 3): string =>
  value === null || value === undefined ? '–' : value.toFixed(digits);

const stepText = (step: number | null): string => (step === null ? 'never' : `at step ${step}`);

const SHOWS: Record<DemoVerdict, string> = {
  'grpovi-ahead': 'GRPOVI wins here',
  'grpo-ahead': 'GRPO wins here',
  'no-clear-difference': 'no clear difference here',
};

/** One sentence per setting: which setting it is, what was measured, and what it shows. */
export function demoSentences(summary: ComparisonSummary, rewardTemperature: number): string[] {
  return summary.settings.map((setting) => {
    const known = SETTINGS[setting.label] ?? { name: setting.label, what: 'a setting of the sweep' };
    const grpo = setting.algorithms.grpo;
    const grpovi = setting.algorithms.grpovi;
    const stt = setting.steps_to_target;
    const median = setting.steps_to_target_per_seed?.ratio?.median;
    const auc = setting.paired?.auc_eval_reward;
    const n = auc?.seeds.length ?? 0;
    const gain = grpoGain(setting);
    const share =
      auc?.mean !== null && auc?.mean !== undefined && gain !== null && gain > 0
        ? ` (${auc.mean >= 0 ? '+' : '−'}${Math.round((100 * Math.abs(auc.mean)) / gain)}% of GRPO's gain)`
        : '';
    const startStd = grpo?.reward_std_curve[0]?.raw;
    const gold =
      grpo?.final_eval_gold && grpovi?.final_eval_gold
        ? `; final gold reward (the AFINN valence the reward model was trained to predict) ${fmt(grpovi.final_eval_gold.mean)} against ${fmt(grpo.final_eval_gold.mean)}`
        : '';
    return (
      `${setting.label} (${known.name}: ${known.what}; reward temperature ${rewardTemperature}, ` +
      `a group's reward std ${fmt(startStd)} at the first step): ` +
      `GRPOVI reached GRPO's target (90% of GRPO's gain) ${stepText(stt.grpovi)}, GRPO ${stepText(stt.grpo)}` +
      `${median === undefined ? '' : ` (per seed, ratio median ${fmt(median, 2)})`}; ` +
      `AUC ${fmt(grpovi?.auc_eval_reward.mean)} against ${fmt(grpo?.auc_eval_reward.mean)}${share}, ` +
      `GRPOVI's larger on ${auc?.grpovi_better ?? 0} of ${n} seed${n === 1 ? '' : 's'}${gold}: ` +
      `${SHOWS[demoVerdict(setting)]}.`
    );
  });
}

/** The demo's section of report.md and of its stdout. */
export function demoSection(summary: ComparisonSummary, rewardTemperature: number): string {
  return [
    DEMO_HEADING,
    '',
    'GRPO and GRPOVI with the same seeds, learning rate and reward temperature, in two settings that',
    'differ only in the advantage scale (numbers are GRPOVI against GRPO):',
    '',
    ...demoSentences(summary, rewardTemperature).map((s) => `- ${s}`),
    '',
  ].join('\n');
}

/** Ends the demo's section in report.md, so that adding it again replaces it. */
const SECTION_END = '<!-- end of the demo section -->';

/** Puts the demo's section into report.md after its title, in place of an earlier one. */
export function addDemoSection(reportPath: string, section: string): void {
  let lines = readFileSync(reportPath, 'utf8').split('\n');
  const from = lines.indexOf(DEMO_HEADING);
  const to = lines.indexOf(SECTION_END);
  if (from >= 0 && to > from) lines = [...lines.slice(0, from), ...lines.slice(to + 1)];
  const titleEnd = lines[0]?.startsWith('# ') ? 1 : 0;
  const title = lines.slice(0, titleEnd);
  const rest = lines.slice(titleEnd).join('\n').replace(/^\n*/, '');
  const block = `${section.replace(/\n*$/, '')}\n${SECTION_END}\n`;
  writeFileAtomic(reportPath, [...title, ...(titleEnd > 0 ? [''] : []), block, rest].join('\n'));
}
