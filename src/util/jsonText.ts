import { describeValue } from './describeValue.js';
import { parseStrictJson, StrictJsonError } from './strictJson.js';

/**
 * The parts of boundedJson.ts that need no file system (the parser and the problem wording), so
 * that model folders given as bytes parse the same in a browser.
 */

export { MAX_JSON_DEPTH, StrictJsonError } from './strictJson.js';
export { DESCRIBE_CHARS, describeValue } from './describeValue.js';

/** Parses a JSON text strictly (depth, duplicate keys, syntax); errors are StrictJsonErrors naming `source`. */
export function parseJson(text: string, source: string): unknown {
  return parseStrictJson(text, source);
}

/**
 * Why a JSON text was refused, for a message that names the file itself: `is not valid JSON at line
 * 3, column 5 (Unexpected token 'x')`, `has duplicate key "a" at column 9`, `checkpoint[0]... is
 * nested deeper than 64 levels at column 78 ([[[[...)`. Other errors give their message.
 */
export function jsonProblem(error: unknown): string {
  if (error instanceof StrictJsonError) {
    if (error.kind === 'syntax')
      return `is not valid JSON at ${error.problem.replace(/^not valid JSON at /, '')}`;
    if (error.kind === 'duplicate-key') return `has ${error.problem}`;
    return error.problem;
  }
  return error instanceof Error ? error.message : describeValue(error);
}
