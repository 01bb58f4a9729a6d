import { readFileSync } from 'node:fs';
import { describeValue } from './describeValue.js';
import { parseStrictJson, StrictJsonError } from './strictJson.js';

/**
 * The one reader and the one value printer for the JSON files grpovi reads (run folders,
 * checkpoints, model folders, configs, the user's files). Both are bounded: the reader refuses
 * nesting deeper than MAX_JSON_DEPTH (strictJson.ts) before anything walks the value, and the
 * printer spends at most a fixed number of characters and levels whatever the value holds, so an
 * error about a hostile value is one short line, never a stack overflow or a megabyte of text.
 */

export { MAX_JSON_DEPTH, StrictJsonError } from './strictJson.js';
export { DESCRIBE_CHARS, describeValue } from './describeValue.js';

/** Parses a JSON text strictly (depth, duplicate keys, syntax); errors are StrictJsonErrors naming `source`. */
export function parseJson(text: string, source: string): unknown {
  return parseStrictJson(text, source);
}

/**
 * Reads and parses a JSON file. A text that is not acceptable JSON throws StrictJsonError (whose
 * `problem` says what and where, without the file); a file that cannot be read throws the fs error.
 */
export function readJsonFile(path: string): unknown {
  return parseStrictJson(readFileSync(path, 'utf8'), path);
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
