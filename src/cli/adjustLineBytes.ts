import { scanJsonNumber } from '../util/jsonNumberBytes.js';

/**
 * The fast path of `grpovi adjust`'s input: recognises, straight from the bytes, the common shape of a
 * line, an object with a "rewards" array of numbers and optional "weights" array, "min" and "max"
 * (each key at most once, written without escapes, JSON whitespace anywhere between tokens), and reads
 * the numbers into reused arrays. It answers only "this is such a line, here are its numbers" or "not
 * recognised": anything else (another key, a repeated one, a string, a syntax error, an empty or very
 * long array) goes to the strict parser, so that errors and edge cases keep its exact behaviour.
 */

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** Longer arrays go to the strict parser (which holds them as it always did); this bounds the scratch. */
export const FAST_ARRAY_LIMIT = 1 << 16;

const KEY_REWARDS = bytesOf('"rewards"');
const KEY_WEIGHTS = bytesOf('"weights"');
const KEY_MIN = bytesOf('"min"');
const KEY_MAX = bytesOf('"max"');

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

/** The numbers of the last line `scanAdjustLine` recognised. */
export class ScannedLine {
  rewards = new Float64Array(16);
  rewardCount = 0;
  weights = new Float64Array(16);
  /** -1 when the line has no "weights". */
  weightCount = -1;
  hasMin = false;
  hasMax = false;
  /** [min, max] where the line gives them. */
  readonly range = new Float64Array(2);
}

function isSpace(c: number): boolean {
  return c === SPACE || c === TAB || c === CR;
}

function skipSpace(bytes: Uint8Array, pos: number, end: number): number {
  while (pos < end && isSpace(bytes[pos])) pos++;
  return pos;
}

function matches(bytes: Uint8Array, pos: number, end: number, key: Uint8Array): boolean {
  if (end - pos < key.length) return false;
  for (let i = 0; i < key.length; i++) if (bytes[pos + i] !== key[i]) return false;
  return true;
}

/**
 * Reads `[n, n, ...]` (at least one number) at bytes[pos..] into the line's rewards or weights (grown
 * as needed, up to FAST_ARRAY_LIMIT), returning the position after `]`, or -1.
 */
function scanArray(
  bytes: Uint8Array,
  pos: number,
  end: number,
  line: ScannedLine,
  which: 'rewards' | 'weights',
): number {
  if (pos >= end || bytes[pos] !== OPEN_BRACKET) return -1;
  let into = which === 'rewards' ? line.rewards : line.weights;
  let count = 0;
  pos = skipSpace(bytes, pos + 1, end);
  for (;;) {
    if (count === into.length) {
      if (count === FAST_ARRAY_LIMIT) return -1;
      const grown = new Float64Array(count * 2);
      grown.set(into);
      into = grown;
      if (which === 'rewards') line.rewards = grown;
      else line.weights = grown;
    }
    pos = scanJsonNumber(bytes, pos, end, into, count++);
    if (pos === -1) return -1;
    pos = skipSpace(bytes, pos, end);
    if (pos >= end) return -1;
    const c = bytes[pos];
    if (c === CLOSE_BRACKET) break;
    if (c !== COMMA) return -1;
    pos = skipSpace(bytes, pos + 1, end);
  }
  if (which === 'rewards') line.rewardCount = count;
  else line.weightCount = count;
  return pos + 1;
}

/**
 * Whether bytes[start..end) (one line without its line end) has the common shape; if so its numbers
 * are in `line`. Numbers are JSON.parse's values (possibly Infinity for a literal beyond the double
 * range: the caller's checks send such a line to the strict path).
 */
export function scanAdjustLine(bytes: Uint8Array, start: number, end: number, line: ScannedLine): boolean {
  let pos = skipSpace(bytes, start, end);
  if (pos >= end || bytes[pos] !== OPEN_BRACE) return false;
  line.rewardCount = -1;
  line.weightCount = -1;
  line.hasMin = false;
  line.hasMax = false;
  pos = skipSpace(bytes, pos + 1, end);
  for (;;) {
    if (pos >= end || bytes[pos] !== QUOTE) return false;
    if (matches(bytes, pos, end, KEY_REWARDS)) {
      if (line.rewardCount !== -1) return false;
      pos = skipSpace(bytes, pos + KEY_REWARDS.length, end);
      if (pos >= end || bytes[pos] !== COLON) return false;
      pos = scanArray(bytes, skipSpace(bytes, pos + 1, end), end, line, 'rewards');
    } else if (matches(bytes, pos, end, KEY_WEIGHTS)) {
      if (line.weightCount !== -1) return false;
      pos = skipSpace(bytes, pos + KEY_WEIGHTS.length, end);
      if (pos >= end || bytes[pos] !== COLON) return false;
      pos = scanArray(bytes, skipSpace(bytes, pos + 1, end), end, line, 'weights');
    } else if (matches(bytes, pos, end, KEY_MIN) || matches(bytes, pos, end, KEY_MAX)) {
      const isMin = bytes[pos + 2] === 0x69; // "min" vs "max"
      if (isMin ? line.hasMin : line.hasMax) return false;
      pos = skipSpace(bytes, pos + KEY_MIN.length, end);
      if (pos >= end || bytes[pos] !== COLON) return false;
      pos = scanJsonNumber(bytes, skipSpace(bytes, pos + 1, end), end, line.range, isMin ? 0 : 1);
      if (pos === -1) return false;
      if (isMin) line.hasMin = true;
      else line.hasMax = true;
    } else {
      return false;
    }
    if (pos === -1) return false;
    pos = skipSpace(bytes, pos, end);
    if (pos >= end) return false;
    const c = bytes[pos];
    if (c === CLOSE_BRACE) break;
    if (c !== COMMA) return false;
    pos = skipSpace(bytes, pos + 1, end);
  }
  return line.rewardCount !== -1 && skipSpace(bytes, pos + 1, end) === end;
}
