import { describe, expect, it } from 'vitest';
import { dynamicSample } from '../../src/train/dynamicSampling.js';

/** A fake sampler: each prompt is a number; its group is flat when `flat(prompt)`, else has a spread. */
function fakeDraws(G: number, flat: (prompt: number) => boolean) {
  let next = 0;
  const calls: number[] = [];
  const draw = async (count: number) => {
    calls.push(count);
    const prompts = Array.from({ length: count }, () => next++);
    const rewards = prompts.flatMap((p) => Array.from({ length: G }, (_, i) => (flat(p) ? 0.5 : i / G)));
    return { prompts, rewards };
  };
  return { draw, calls };
}

describe('dynamic sampling', () => {
  it('drops zero-std groups and samples further prompts until the batch is full', async () => {
    const G = 4;
    // Every third prompt gives a flat group.
    const { draw, calls } = fakeDraws(G, (p) => p % 3 === 0);
    const result = await dynamicSample(draw, (d) => d.rewards, { groups: 6, groupSize: G, maxRounds: 10 });
    const prompts = result.picks.map(({ part, row }) => result.draws[part].prompts[row / G]);
    const groups = prompts.filter((_, i) => i % G === 0);
    // Brute force: the first 6 prompts with a spread, in the order they were drawn.
    expect(groups).toEqual([1, 2, 4, 5, 7, 8]);
    expect(result.picks).toHaveLength(6 * G);
    // Each group's G rows are picked together.
    for (let i = 0; i < result.picks.length; i++) expect(result.picks[i].row % G).toBe(i % G);
    expect(calls).toEqual([6, 2, 1]);
    expect(result.rounds).toBe(2);
    expect(result.extraPrompts).toBe(3);
    expect(result.zeroStdGroups).toBe(3);
    expect(result.filledGroups).toBe(0);
  });

  it('stops at its bound and fills the batch with zero-std groups', async () => {
    const G = 2;
    // Only prompts 0 and 5 have a spread.
    const { draw, calls } = fakeDraws(G, (p) => p !== 0 && p !== 5);
    const result = await dynamicSample(draw, (d) => d.rewards, { groups: 4, groupSize: G, maxRounds: 2 });
    expect(calls).toEqual([4, 3, 2]);
    expect(result.rounds).toBe(2);
    const groups = result.picks
      .filter((_, i) => i % G === 0)
      .map(({ part, row }) => result.draws[part].prompts[row / G]);
    // The two with a spread, then the first zero-std groups seen.
    expect(groups).toEqual([0, 5, 1, 2]);
    expect(result.filledGroups).toBe(2);
    expect(result.zeroStdGroups).toBe(7);
  });

  it('makes no extra rollout when nothing is flat, or when the bound is 0', async () => {
    const none = fakeDraws(3, () => false);
    const a = await dynamicSample(none.draw, (d) => d.rewards, { groups: 5, groupSize: 3, maxRounds: 4 });
    expect(none.calls).toEqual([5]);
    expect(a.picks.map((p) => p.row)).toEqual(Array.from({ length: 15 }, (_, i) => i));
    const all = fakeDraws(3, () => true);
    const b = await dynamicSample(all.draw, (d) => d.rewards, { groups: 5, groupSize: 3, maxRounds: 0 });
    expect(all.calls).toEqual([5]);
    expect(b.filledGroups).toBe(5);
  });
});
