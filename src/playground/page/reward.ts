/**
 * The playground page's reward functions: a module's source (a file picked from disk, or text typed
 * into the page) imported through a blob URL, its default export read as `grpovi train
 * --reward-module` reads it (src/rewards/rewardModule.ts: a function `(prompts, completions, rows)`
 * with optional `range` and `rewardName`, or `{ name, range?, score }`), with the same one-line
 * errors naming the file and the value. Runs in the browser: it imports only modules free of Node.
 */
import { describeValue } from '../../util/describeValue.js';
import { UserFileError } from '../../util/userFileError.js';

type Score = (
  prompts: readonly unknown[],
  completions: readonly unknown[],
  rows?: readonly Readonly<Record<string, unknown>>[],
) => readonly number[] | Promise<readonly number[]>;

/** A reward function as grpovi's trainer takes it (src/rewards/rewardFunction.ts's RewardFunction). */
export interface PageReward {
  name: string;
  range?: readonly [number, number];
  messages: true;
  score: Score;
}

/** The module a new reward box starts with: an example in the expected shape. */
export const EXAMPLE_REWARD = `// A reward module: the default export scores each completion (higher is better).
// prompts[i], completions[i] are strings; rows[i] is the prompts file's line of sample i.
// "range" is the interval the scores lie in (GRPOVI needs it).
export default function lengthBonus(prompts, completions, rows) {
  return completions.map((c) => Math.min(c.length, 20) / 20);
}
lengthBonus.range = [0, 1];
`;

function checkRange(range: unknown, file: string): readonly [number, number] | undefined {
  if (range === undefined) return undefined;
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !range.every((v) => typeof v === 'number' && Number.isFinite(v)) ||
    !(range[0] < range[1])
  )
    throw new UserFileError(
      file,
      `"range" must be [min, max] with finite min < max (${describeValue(range)})`,
    );
  return [range[0] as number, range[1] as number];
}

function describeExport(value: unknown): string {
  if (value === undefined) return 'no default export';
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object with keys ${JSON.stringify(Object.keys(value))}`;
  return `${typeof value} ${describeValue(value)}`;
}

/** A module's default export as a reward function; `file` names it in errors and is its fallback name. */
export function rewardOfExport(exported: unknown, file: string): PageReward {
  const fallbackName = (file.split(/[\\/]/).pop() ?? file).replace(/\.[^.]+$/, '');
  if (typeof exported === 'function') {
    const fn = exported as Score & { range?: unknown; rewardName?: unknown };
    const own = typeof fn.rewardName === 'string' && fn.rewardName !== '' ? fn.rewardName : undefined;
    // An anonymous default export is named "default" (and "__vite_ssr_export_default__" under vitest).
    const named = fn.name !== '' && !/^(?:default|__.*)$/.test(fn.name) ? fn.name : undefined;
    return {
      name: own ?? named ?? fallbackName,
      range: checkRange(fn.range, file),
      messages: true,
      score: fn,
    };
  }
  if (
    typeof exported === 'object' &&
    exported !== null &&
    typeof (exported as { score?: unknown }).score === 'function'
  ) {
    const obj = exported as { name?: unknown; range?: unknown; score: Score };
    const name = typeof obj.name === 'string' && obj.name !== '' ? obj.name : fallbackName;
    return {
      name,
      range: checkRange(obj.range, file),
      messages: true,
      score: (p, c, r) => obj.score(p, c, r),
    };
  }
  throw new UserFileError(
    file,
    `the default export must be a function (prompts, completions, rows) => number[] or an object { name, range?, score } (${describeExport(exported)})`,
  );
}

/**
 * Imports a module's source through a blob URL and reads its default export. A module that does
 * not parse or throws while loading is a UserFileError naming `file` with the first line of why.
 */
export async function rewardFromSource(source: string, file: string): Promise<PageReward> {
  const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
  let module: { default?: unknown };
  try {
    module = (await import(/* @vite-ignore */ url)) as { default?: unknown };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new UserFileError(file, `reward module failed to load: ${message}`);
  } finally {
    URL.revokeObjectURL(url);
  }
  const reward = rewardOfExport(module.default, file);
  const score = reward.score;
  // What the function throws names the module it came from (the trainer adds the function's name).
  reward.score = async (prompts, completions, rows) => {
    try {
      return await score(prompts, completions, rows);
    } catch (error) {
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      throw new Error(`${message} (in ${file})`, { cause: error });
    }
  };
  return reward;
}
