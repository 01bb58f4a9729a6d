import { readFileSync, statSync } from 'node:fs';
import { UserFileError } from '../../util/userFileError.js';
import { parseJsonLines, withoutBom } from './userText.js';

export { isJsonLinesPath, nonBlankLines, parseUserJson, stringField } from './userText.js';

/** The text of a user file; a missing or unreadable file is a UserFileError naming it. */
export function readUserText(path: string, what: string): string {
  let text: string;
  try {
    if (statSync(path).isDirectory()) throw new UserFileError(path, `${what} is a directory, not a file`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof UserFileError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new UserFileError(
      path,
      `${what} cannot be read: ${code === 'ENOENT' ? 'no such file' : (code ?? String(error))}`,
    );
  }
  return withoutBom(text);
}

/** The objects of a JSON Lines file, one per non-blank line; a line that is not an object names its number. */
export function readJsonLines(
  path: string,
  what: string,
): { line: number; value: Record<string, unknown> }[] {
  return parseJsonLines(readUserText(path, what), path);
}
