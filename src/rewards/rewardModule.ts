import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { UserFileError } from '../util/userFileError.js';
import type { WeightedReward } from './rewardFunction.js';
import { rewardFunctionOf } from './rewardExport.js';

export { distinctNames, rewardFunctionOf } from './rewardExport.js';

/**
 * Reward functions from the user's modules. The default export is either a function
 * `fn(prompts, completions, rows)` returning numbers (or a promise of them), optionally carrying
 * `range = [min, max]` and `rewardName`, or an object `{ name, range?, score }`. With conversational
 * prompts they receive messages, as TRL hands them: `prompts[i]` the prompt's messages,
 * `completions[i]` `[{role: "assistant", content}]`.
 */

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
