import { hasZeroStd } from '../grpo/advantages.js';
import type { RowPick } from './batchRows.js';

/**
 * Dynamic sampling (DAPO, arXiv 2503.14476; verl's `filter_groups`, OpenRLHF and NeMo RL offer it
 * too): groups whose rewards are all equal give zero advantages and no gradient, so they are dropped
 * and further prompts are sampled until the batch holds `groups` groups with a reward spread, or
 * `maxRounds` extra rollouts have been made. Then the batch is topped up with dropped groups (which
 * contribute nothing but keep the batch, and so the minibatch split, the size the config says).
 */
export interface DynamicSamplingOptions {
  /** Groups the batch must hold (prompts_per_step). */
  groups: number;
  /** Completions per group (num_generations). */
  groupSize: number;
  /** Extra rollouts allowed after the first one. */
  maxRounds: number;
}

export interface DynamicSamplingResult<T> {
  /** Every rollout made, the first one first. */
  draws: T[];
  /** The rows of the batch, group by group, in the order they were drawn (then the fill). */
  picks: RowPick[];
  /** Extra rollouts made after the first. */
  rounds: number;
  /** Prompts sampled in the extra rollouts. */
  extraPrompts: number;
  /** Zero-std groups seen (dropped, unless used to fill the batch). */
  zeroStdGroups: number;
  /** Zero-std groups put back because the bound was reached first. */
  filledGroups: number;
}

/**
 * Draws `options.groups` groups with `draw`, then more in the place of zero-std ones as long as the
 * bound allows. `draw(n)` samples and scores `n` fresh prompts; `rewardsOf` gives its rewards,
 * `n * groupSize` of them in contiguous groups.
 */
export async function dynamicSample<T>(
  draw: (prompts: number) => Promise<T>,
  rewardsOf: (drawn: T) => ArrayLike<number>,
  options: DynamicSamplingOptions,
): Promise<DynamicSamplingResult<T>> {
  const { groups, groupSize, maxRounds } = options;
  const draws: T[] = [];
  const kept: RowPick[] = [];
  const dropped: RowPick[] = [];
  let rounds = 0;
  let extraPrompts = 0;
  const take = (drawn: T, count: number) => {
    const part = draws.push(drawn) - 1;
    const rewards = rewardsOf(drawn);
    if (rewards.length !== count * groupSize) {
      throw new RangeError(
        `a draw of ${count} prompts returned ${rewards.length} rewards, not ${count * groupSize}`,
      );
    }
    for (let g = 0; g < count; g++) {
      const start = g * groupSize;
      const target = hasZeroStd(rewards, start, start + groupSize) ? dropped : kept;
      target.push({ part, row: start });
    }
  };
  take(await draw(groups), groups);
  while (kept.length < groups && rounds < maxRounds) {
    const missing = groups - kept.length;
    take(await draw(missing), missing);
    rounds++;
    extraPrompts += missing;
  }
  const filledGroups = groups - kept.length;
  const chosen = [...kept, ...dropped.slice(0, filledGroups)];
  const picks: RowPick[] = [];
  for (const { part, row } of chosen) for (let i = 0; i < groupSize; i++) picks.push({ part, row: row + i });
  return { draws, picks, rounds, extraPrompts, zeroStdGroups: dropped.length, filledGroups };
}
