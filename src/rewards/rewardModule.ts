import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeJsonValue } from '../nn/weights/checkpointError.js';
import { UserFileError } from '../util/userFileError.js';
import type { RewardFunction, WeightedReward } from './rewardFunction.js';

/**
 * Reward functions from the user's modules. The default export is either a function
 * `fn(prompts, completions, rows)` returning numbers (or a promise of them), optionally carrying
 * `range = [min, max]` and `rewardName`, or an object `{ name, range?, score }`. With conversational
 * prompts they receive messages, as TRL hands them: `prompts[i]` the prompt's messages,
 * `completions[i]` `[{role: "assistant", content}]`.
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
  const fallbackName = basename(path).replace(/\.[^.]+$/, '');
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

/** Imports a module's default export; a missing module or one that throws on import is a UserFileError. */
export async function importDefault(path: string, what: string): Promise<unknown> {
  if (!existsSync(path)) throw new UserFileError(path, `${what} not found (no such file)`);
  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UserFileError(path, `${what} failed to load: ${message}`);
  }
  return module.default;
}

/** Loads a reward module with its weight in the combined reward. */
export async function loadRewardModule(path: string, weight: number): Promise<WeightedReward> {
  return { fn: rewardFunctionOf(await importDefault(path, 'reward module'), path), weight };
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
