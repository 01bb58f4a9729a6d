import { readFileSync } from 'node:fs';
import { parseStrictJson } from './strictJson.js';

/**
 * The one reader and the one value printer for the JSON files grpovi reads (run folders,
 * checkpoints, model folders, configs, the user's files). Both are bounded: the reader refuses
 * nesting deeper than MAX_JSON_DEPTH (strictJson.ts) before anything walks the value, and the
 * printer spends at most a fixed number of characters and levels whatever the value holds, so an
 * error about a hostile value is one short line, never a stack overflow or a megabyte of text.
 */

export { MAX_JSON_DEPTH, StrictJsonError } from './strictJson.js';
export { DESCRIBE_CHARS, describeValue } from './describeValue.js';
// The text parts run anywhere (jsonText.ts); only the file reader needs Node.
export { jsonProblem, parseJson } from './jsonText.js';

/**
 * Reads and parses a JSON file. A text that is not acceptable JSON throws StrictJsonError (whose
 * `problem` says what and where, without the file); a file that cannot be read throws the fs error.
 */
export function readJsonFile(path: string): unknown {
  return parseStrictJson(readFileSync(path, 'utf8'), path);
}
