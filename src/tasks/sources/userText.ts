import { describeJsonValue } from '../../nn/weights/checkpointError.js';
import { parseStrictJson, StrictJsonError } from '../../util/strictJson.js';
import { UserFileError } from '../../util/userFileError.js';

/**
 * The user's text and JSON Lines files, parsed from their text (no file system: userJson.ts reads
 * them from disk, the playground page from files picked in the browser). Every JSON value a user
 * wrote goes through `parseUserJson`: strict parsing (duplicate keys, nesting deeper than 64
 * levels are refused).
 */

/** Parses one JSON text the user wrote; `source` names it in errors (e.g. `prompts.jsonl line 3`). */
export function parseUserJson(text: string, source: string): unknown {
  try {
    return parseStrictJson(text, source);
  } catch (error) {
    if (error instanceof StrictJsonError)
      throw new UserFileError(source, `is not valid JSON (${error.problem})`);
    throw error;
  }
}

/** Whether a path names a JSON Lines file (by its extension). */
export function isJsonLinesPath(path: string): boolean {
  return /\.jsonl?$/i.test(path);
}

/** The text without a leading byte-order mark. */
export function withoutBom(text: string): string {
  return text.replace(/^\uFEFF/, '');
}

/** The lines of a text, without line ends, numbered from 1; blank lines are left out. */
export function nonBlankLines(text: string): { line: number; text: string }[] {
  return text
    .split('\n')
    .map((t, i) => ({ line: i + 1, text: t.replace(/\r$/, '') }))
    .filter((l) => l.text.trim() !== '');
}

/** The objects of a JSON Lines text, one per non-blank line; a line that is not an object names its number. */
export function parseJsonLines(
  text: string,
  path: string,
): { line: number; value: Record<string, unknown> }[] {
  return nonBlankLines(withoutBom(text)).map(({ line, text: lineText }) => {
    let value: unknown;
    try {
      value = parseUserJson(lineText, path);
    } catch (error) {
      throw new UserFileError(path, (error as Error).message.slice(path.length + 2), line);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new UserFileError(path, `must be a JSON object (${describeJsonValue(value)})`, line);
    }
    return { line, value: value as Record<string, unknown> };
  });
}

/** The string field `field` of a JSON Lines record; anything else is a UserFileError naming the line. */
export function stringField(
  record: { line: number; value: Record<string, unknown> },
  field: string,
  path: string,
): string {
  const v = record.value[field];
  if (typeof v !== 'string') {
    const got =
      v === undefined ? 'missing' : `${Array.isArray(v) ? 'an array' : typeof v} ${describeJsonValue(v)}`;
    throw new UserFileError(path, `needs a "${field}" string (${got})`, record.line);
  }
  return v;
}
