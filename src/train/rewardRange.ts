import type { Scores, WeightedReward } from '../rewards/rewardFunction.js';
import type { TrainConfig } from './config.js';

/**
 * The words for a reward outside the reward range GRPOVI adjusts within (the solver itself only
 * knows a flat index into the batch, which points users at the wrong thing).
 */

/** Where the range came from: the given source of `reward_range`, or the reward functions' declared ranges. */
export function describeRangeSource(
  config: TrainConfig,
  rewards: readonly WeightedReward[],
  source: string | undefined,
): string {
  if (config.reward_range !== undefined) return source ?? `the config's reward_range`;
  const declared = rewards.map(({ fn, weight }) => {
    const range = fn.range === undefined ? 'no range' : `[${fn.range[0]}, ${fn.range[1]}]`;
    return weight === 1 ? `${fn.name} ${range}` : `${fn.name} ${range} x ${weight}`;
  });
  return `the reward functions' declared ranges (${declared.join(', ')})`;
}

const clip = (text: string): string => JSON.stringify(text.length > 60 ? `${text.slice(0, 57)}...` : text);

/**
 * The first reward of a step outside `range`, described: its value, its prompt and completion
 * (0-based within the step, with their texts), the range and its source, and what each reward
 * function gave; undefined when every reward is inside.
 */
export function rewardOutOfRange(
  scores: Scores,
  range: readonly [number, number],
  rangeSource: string,
  rewards: readonly WeightedReward[],
  groupSize: number,
  prompts: readonly string[],
  completions: readonly string[],
): string | undefined {
  const [min, max] = range;
  const total = scores.total;
  for (let i = 0; i < total.length; i++) {
    const r = total[i];
    if (r >= min && r <= max) continue;
    const parts = rewards.map(({ fn, weight }) => {
      const own = scores.byFunction.get(fn.name)?.[i];
      return weight === 1 ? `${fn.name} gave ${own}` : `${fn.name} gave ${own} (weight ${weight})`;
    });
    return (
      `the reward ${r} of prompt ${Math.floor(i / groupSize)}, completion ${i % groupSize} ` +
      `(${clip(prompts[i])} -> ${clip(completions[i])}) is outside reward_range [${min}, ${max}] from ${rangeSource}; ` +
      `${parts.join(', ')}. Widen the range (a new run: the range is part of the run's config) or fix the reward function`
    );
  }
  return undefined;
}
