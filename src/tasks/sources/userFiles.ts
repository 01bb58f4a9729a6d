import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isTaskModulePath } from './taskModule.js';
import { jsonProblem, readJsonFile } from '../../util/boundedJson.js';
import { UserFileError } from '../../util/userFileError.js';

/**
 * The user's files a run was made from, with content hashes, so that `--resume` and comparison
 * workers can tell when one changed. Recorded in the run folder as `user-files.json`.
 */
export const USER_FILES_FILE = 'user-files.json';

export interface UserFile {
  /** What the file is to the run: `prompts`, `eval prompts`, `reward module`, `reward model`, `policy`, `task module`, `chat template`. */
  role: string;
  /** Absolute path (a model folder's files are listed one by one). */
  path: string;
  sha256: string;
}

/** The config fields that name user files. */
export interface UserFileFields {
  task: string;
  prompts?: string;
  eval_prompts_file?: string;
  rewards?: readonly { path: string; weight: number }[];
  reward_model?: string;
  policy?: string;
  /** A PEFT adapter folder on top of the policy. */
  adapter?: string;
  /** A chat template file (a template name is not a file). */
  chat_template?: string;
  tools?: string;
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The files of a path: itself, or a folder's regular files (not recursing: model folders are flat). */
function filesOf(path: string): string[] {
  if (!existsSync(path)) return [path];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => !name.startsWith('.') && statSync(join(path, name)).isFile())
    .sort()
    .map((name) => join(path, name));
}

/** Role and path of every user file the config names (paths as the config has them: absolute). */
export function userFilePaths(config: UserFileFields): { role: string; path: string }[] {
  const out: { role: string; path: string }[] = [];
  if (isTaskModulePath(config.task)) out.push({ role: 'task module', path: config.task });
  if (config.prompts !== undefined) out.push({ role: 'prompts', path: config.prompts });
  if (config.eval_prompts_file !== undefined)
    out.push({ role: 'eval prompts', path: config.eval_prompts_file });
  for (const r of config.rewards ?? []) out.push({ role: 'reward module', path: r.path });
  if (config.reward_model !== undefined) out.push({ role: 'reward model', path: config.reward_model });
  if (config.policy !== undefined) out.push({ role: 'policy', path: config.policy });
  if (config.adapter !== undefined) out.push({ role: 'adapter', path: config.adapter });
  if (config.tools !== undefined) out.push({ role: 'tool module', path: config.tools });
  if (config.chat_template !== undefined && existsSync(config.chat_template))
    out.push({ role: 'chat template', path: config.chat_template });
  return out;
}

/** Hashes every user file the config names; a missing file gets the hash `missing`. */
export function hashUserFiles(config: UserFileFields): UserFile[] {
  return userFilePaths(config).flatMap(({ role, path }) =>
    filesOf(path).map((file) => ({ role, path: file, sha256: existsSync(file) ? sha256(file) : 'missing' })),
  );
}

/**
 * One line per recorded file that changed or disappeared since it was recorded, e.g.
 * `reward module /x/reward.mjs changed since the run started (sha256 1a2b3c4d... now 5e6f...)`.
 */
export function changedUserFiles(recorded: readonly UserFile[], when = 'since the run started'): string[] {
  const changes: string[] = [];
  for (const file of recorded) {
    if (!existsSync(file.path)) {
      changes.push(
        `${file.role} ${file.path} is missing (it was recorded ${when.replace(/^since /, 'when ')})`,
      );
      continue;
    }
    const now = sha256(file.path);
    if (now !== file.sha256)
      changes.push(
        `${file.role} ${file.path} changed ${when} (sha256 ${file.sha256.slice(0, 12)}... now ${now.slice(0, 12)}...)`,
      );
  }
  return changes;
}

/** The record of a run folder, or undefined for runs made before it existed. */
export function readUserFiles(runDir: string): UserFile[] | undefined {
  const path = join(runDir, USER_FILES_FILE);
  if (!existsSync(path)) return undefined;
  let parsed: { files?: UserFile[] } | null;
  try {
    parsed = readJsonFile(path) as { files?: UserFile[] } | null;
  } catch (error) {
    throw new UserFileError(path, jsonProblem(error));
  }
  return Array.isArray(parsed?.files) ? parsed.files : undefined;
}
