import { describeJsonValue } from '../nn/weights/checkpointError.js';
import { UserFileError } from '../util/userFileError.js';
import type { RewardFunction, WeightedReward } from './rewardFunction.js';

/**
 * A reward module's default export turned into a reward function (node-free: the browser hands the
 * same exports in memory). `path` names the module in errors and gives the fallback name.
 */

type ScoreFn = RewardFunction['score'];

function checkRange(range: unknown, path: string): readonly [number, number] | undefined {
  if (range === undefined) return undefined;
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !range.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    !(range[0] < range[1])
  ) {
    throw new UserFileError(
      path,
      `"range" must be [min, max] with finite min < max (${describeJsonValue(range)})`,
    );
  }
  return [range[0] as number, range[1] as number];
}

function describeExport(value: unknown): string {
  if (value === undefined) return 'no default export';
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object with keys ${JSON.stringify(Object.keys(value))}`;
  return `${typeof value} ${describeJsonValue(value)}`;
}

/** Turns a module's default export into a reward function; `path` names it in errors. */
export function rewardFunctionOf(exported: unknown, path: string): RewardFunction {
  const fallbackName = (path.split(/[\\/]/).pop() ?? path).replace(/\.[^.]+$/, '');
  if (typeof exported === 'function') {
    const fn = exported as ScoreFn & { range?: unknown; rewardName?: unknown };
    const own = typeof fn.rewardName === 'string' && fn.rewardName !== '' ? fn.rewardName : undefined;
    // An anonymous default export is named "default" by Node (and "__vite_ssr_export_default__" under vitest).
    const named = fn.name !== '' && !/^(?:default|__.*)$/.test(fn.name) ? fn.name : undefined;
    return {
      name: own ?? named ?? fallbackName,
      range: checkRange(fn.range, path),
      messages: true,
      score: fn,
    };
  }
  if (
    typeof exported === 'object' &&
    exported !== null &&
    typeof (exported as { score?: unknown }).score === 'function'
  ) {
    const obj = exported as { name?: unknown; range?: unknown; score: ScoreFn };
    const name = typeof obj.name === 'string' && obj.name !== '' ? obj.name : fallbackName;
    return {
      name,
      range: checkRange(obj.range, path),
      messages: true,
      score: (p, c, r) => obj.score(p, c, r),
    };
  }
  throw new UserFileError(
    path,
    `the default export must be a function (prompts, completions, rows) => number[] or an object { name, range?, score } (${describeExport(exported)})`,
  );
}

/** Gives reward functions distinct names (`name`, `name_2`, ...), since metrics and samples key by name. */
export function distinctNames(rewards: readonly WeightedReward[]): WeightedReward[] {
  const seen = new Map<string, number>();
  return rewards.map((r) => {
    const n = (seen.get(r.fn.name) ?? 0) + 1;
    seen.set(r.fn.name, n);
    return n === 1 ? r : { ...r, fn: { ...r.fn, name: `${r.fn.name}_${n}`, score: r.fn.score } };
  });
}
