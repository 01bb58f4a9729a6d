/**
 * The playground page's reward functions: a module's source (a file picked from disk, or text typed
 * into the page) imported through a blob URL, its default export read by the same code as `grpovi
 * train --reward-module` (src/rewards/rewardExport.ts: a function `(prompts, completions, rows)`
 * with optional `range` and `rewardName`, or `{ name, range?, score }`), with the same one-line
 * errors naming the file and the value. Runs in the browser: it imports only modules free of Node.
 */
import type { RewardFunction } from '../../rewards/rewardFunction.js';
import { rewardFunctionOf } from '../../rewards/rewardExport.js';
import { UserFileError } from '../../util/userFileError.js';

/** The module a new reward box starts with: an example in the expected shape. */
export const EXAMPLE_REWARD = `// A reward module: the default export scores each completion (higher is better).
// prompts[i], completions[i] are strings; rows[i] is the prompts file's line of sample i.
// "range" is the interval the scores lie in (GRPOVI needs it).
export default function lengthBonus(prompts, completions, rows) {
  return completions.map((c) => Math.min(c.length, 20) / 20);
}
lengthBonus.range = [0, 1];
`;

/**
 * Imports a module's source through a blob URL and reads its default export. A module that does
 * not parse or throws while loading is a UserFileError naming `file` with the first line of why.
 */
export async function rewardFromSource(source: string, file: string): Promise<RewardFunction> {
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
  const reward = rewardFunctionOf(module.default, file);
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
