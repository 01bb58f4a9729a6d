/**
 * Reward-variance regimes: a learned reward `sigmoid(score - offset)` compressed to
 * `sigmoid((score - offset) / T)`. A larger temperature T keeps the order of the completions and
 * the centre (0.5 at the offset) but bunches the rewards together, as an accurate but timid reward
 * model would. With a range [lo, hi] each prompt gets its own T, log-uniform over the range and
 * fixed by a hash of the prompt text, so that groups differ in variance as they do with real
 * reward models. Pure functions, no TF.js.
 */
import type { RewardFunction, WeightedReward } from './rewardFunction.js';

export interface RewardCompression {
  /** One temperature for every prompt (used when `temperatureRange` is absent). */
  temperature: number;
  /** Per-prompt temperatures, log-uniform over [lo, hi]. */
  temperatureRange?: readonly [number, number];
}

/** The compression a config asks for; undefined when it asks for none (temperature 1, no range). */
export function rewardCompression(config: {
  reward_temperature?: number;
  reward_temperature_range?: readonly [number, number];
}): RewardCompression | undefined {
  const temperature = config.reward_temperature ?? 1;
  const range = config.reward_temperature_range;
  if (range === undefined && temperature === 1) return undefined;
  return range === undefined ? { temperature } : { temperature, temperatureRange: range };
}

/** FNV-1a (32 bit) of the text's UTF-8 bytes: a fixed, platform-independent hash. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** A number in (0, 1) fixed by the prompt text (the hash's midpoint bucket, never 0 or 1). */
export function promptUnit(prompt: string): number {
  return (fnv1a32(prompt) + 0.5) / 2 ** 32;
}

/** The prompt's temperature: `lo * (hi / lo) ** u`, u = promptUnit(prompt), log-uniform over [lo, hi]. */
export function promptTemperature(prompt: string, range: readonly [number, number]): number {
  const [lo, hi] = range;
  return lo === hi ? lo : lo * (hi / lo) ** promptUnit(prompt);
}

export function temperatureFor(prompt: string, compression: RewardCompression): number {
  return compression.temperatureRange === undefined
    ? compression.temperature
    : promptTemperature(prompt, compression.temperatureRange);
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** `sigmoid((score - offset) / temperature)`: the learned reward at a temperature (1: the reward itself). */
export function compressedReward(score: number, offset: number, temperature: number): number {
  return sigmoid((score - offset) / temperature);
}

/** The reward functions that can be compressed: learned rewards that expose their raw scores. */
export function compressible(rewards: readonly WeightedReward[]): WeightedReward[] {
  return rewards.filter((r) => r.fn.learnedScore !== undefined);
}

/**
 * The rewards with every learned reward compressed (same name, same range [0, 1]); other reward
 * functions are kept as they are. The caller checks that at least one is compressible.
 */
export function compressRewards(
  rewards: readonly WeightedReward[],
  compression: RewardCompression,
): WeightedReward[] {
  return rewards.map(({ fn, weight }) => {
    const learned = fn.learnedScore;
    if (learned === undefined) return { fn, weight };
    const compressed: RewardFunction = {
      name: fn.name,
      range: [0, 1],
      async score(prompts, completions) {
        const scores = await learned.scores(prompts, completions);
        return Array.from(scores, (s, i) =>
          compressedReward(s, learned.offset, temperatureFor(prompts[i], compression)),
        );
      },
    };
    return { fn: compressed, weight };
  });
}
