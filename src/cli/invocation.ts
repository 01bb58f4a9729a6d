import { existsSync, realpathSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { shellQuote } from '../util/shellQuote.js';

/** What decides how this process was started (process.argv, process.env, ...; tests pass their own). */
export interface StartedAs {
  /** process.argv: the node executable, then the script, then the arguments. */
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  execPath: string;
  /** Node's own options (e.g. `--import tsx` when the source runs through tsx). */
  execArgv: readonly string[];
}

function realPath(path: string): string | undefined {
  try {
    return realpathSync(path);
  } catch {
    return undefined;
  }
}

/** Whether a shell with this PATH would run `script` for the word `grpovi`. */
function grpoviOnPath(script: string, path: string | undefined): boolean {
  const target = realPath(script);
  if (target === undefined) return false;
  return (path ?? '').split(delimiter).some((dir) => {
    const candidate = join(dir, 'grpovi');
    return dir !== '' && existsSync(candidate) && realPath(candidate) === target;
  });
}

/**
 * The shell words that start grpovi again the way this process was started, for commands that grpovi
 * prints for a user or a scheduler to run (`compare --plan`):
 * - `npx grpovi` when npx (or `npm exec`) started it;
 * - `grpovi` when the PATH finds this very script and no npm command put it there (`npm run` puts
 *   node_modules/.bin on a PATH the user's shell does not have);
 * - otherwise the absolute node executable, its options and the absolute script, e.g.
 *   `/usr/bin/node /home/me/grpovi/dist/cli/bin.js`, which runs from any folder and any PATH.
 */
export function grpoviInvocation(
  startedAs: StartedAs = {
    argv: process.argv,
    env: process.env,
    execPath: process.execPath,
    execArgv: process.execArgv,
  },
): string {
  const script = startedAs.argv[1];
  if (script === undefined) return 'grpovi';
  const npmCommand = startedAs.env.npm_command;
  if (npmCommand === 'exec' && basename(script) === 'grpovi') return 'npx grpovi';
  if (npmCommand === undefined && grpoviOnPath(script, startedAs.env.PATH)) return 'grpovi';
  const absolute = realPath(script) ?? script;
  return [startedAs.execPath, ...startedAs.execArgv, absolute].map(shellQuote).join(' ');
}
