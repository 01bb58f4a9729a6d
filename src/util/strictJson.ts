/**
 * JSON from users, parsed strictly: `JSON.parse` accepts duplicate keys (the last one silently wins,
 * so `{"lr": 1, "lr": 2}` hides a mistake) and any nesting depth (a structure nested 100,000 deep later
 * overflows the stack of whatever walks it). `parseStrictJson` rejects both, and reports syntax errors
 * with a line and column instead of a character offset.
 *
 * How: the native `JSON.parse` builds the value; a scan over the text's brackets, commas, colons and
 * string ends checks depth and keys. The scan runs first on texts with enough brackets to nest too deep,
 * and otherwise only when counting colons against keys cannot rule duplicates out.
 */

/** The deepest nesting of arrays and objects accepted (the top-level value is depth 1). */
export const MAX_JSON_DEPTH = 64;

/** What is wrong with a text. */
export type StrictJsonProblem = 'syntax' | 'depth' | 'duplicate-key';

/**
 * A JSON text that was rejected. The message is one line, `<source>: <problem> at <position>`, e.g.
 * `prompts.jsonl line 3: duplicate key "prompt" at column 31`.
 */
export class StrictJsonError extends Error {
  override readonly name = 'StrictJsonError';
  /** What the text is, as given to `parseStrictJson` (e.g. `prompts.jsonl line 3`). */
  readonly source: string;
  readonly kind: StrictJsonProblem;
  /** The problem with its position, without the source, e.g. `duplicate key "a" at column 9`. */
  readonly problem: string;
  /** 1-based line and column (in UTF-16 code units) of the problem within the text. */
  readonly line: number;
  readonly column: number;
  /** Where the position is: `column C` for a text of one line, `line L, column C` otherwise. */
  readonly where: string;
  /** For syntax errors, the parser's own description (e.g. `Unexpected token 'x'`); for depth errors, the start of the too-deep value; else empty. */
  readonly detail: string;

  constructor(
    source: string,
    kind: StrictJsonProblem,
    what: string,
    text: string,
    offset: number,
    detail = '',
  ) {
    const { line, column } = lineAndColumn(text, offset);
    const where = text.includes('\n') ? `line ${line}, column ${column}` : `column ${column}`;
    const problem = `${what} at ${where}${detail === '' ? '' : ` (${detail})`}`;
    super(`${source}: ${problem}`);
    this.source = source;
    this.kind = kind;
    this.problem = problem;
    this.line = line;
    this.column = column;
    this.where = where;
    this.detail = detail;
  }
}

/** 1-based line and column of a character offset. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

// Per open container (index = depth): is it an object, is the next string in it a key, and the
// keys seen so far (the first one alone, a set from the second on, so small objects allocate nothing).
const isObject: boolean[] = [];
const expectsKey: boolean[] = [];
const firstKey: Array<string | undefined> = [];
const laterKeys: Array<Set<string> | undefined> = [];
// Where each open container is within its parent (the key last read, or the element's index), and
// where it opened: enough to name the field of a value nested too deep.
const currentKey: Array<string | undefined> = [];
const elementIndex: number[] = [];
const openedAt: number[] = [];

/** A finding of the scan: the problem and where it starts. */
interface ScanFinding {
  kind: 'depth' | 'duplicate-key';
  offset: number;
  key?: string;
  /** For `depth`: the path to the too-deep value (`checkpoint[0][0]`), and where its top-level field's value opens. */
  field?: string;
  fieldOffset?: number;
}

/** How many steps of a path a depth error spells out before `...`. */
const PATH_STEPS = 4;

/** The path of the containers open at `depth` (levels 2 and down), bounded: `a.b[0][0]...`. */
function openPath(depth: number): string {
  let path = '';
  const last = Math.min(depth, PATH_STEPS + 1);
  for (let d = 2; d <= last; d++) {
    if (isObject[d - 1]) {
      const key = currentKey[d - 1] ?? '?';
      const plain = /^[A-Za-z_$][\w$]*$/.test(key) && key.length <= 40;
      const shown = plain ? key : JSON.stringify(key.length > 40 ? `${key.slice(0, 37)}...` : key);
      path += plain && path !== '' ? `.${shown}` : plain ? shown : `[${shown}]`;
    } else path += `[${elementIndex[d - 1]}]`;
  }
  return depth > last ? `${path}...` : path;
}

/**
 * Walks the text's structure: reports nesting deeper than MAX_JSON_DEPTH at once, and the first
 * duplicate key. Tolerates broken JSON (JSON.parse judges syntax afterwards).
 */
function scan(text: string): ScanFinding | null {
  let depth = 0;
  let duplicate: ScanFinding | null = null;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // The string's end: the next quote not escaped by an odd run of backslashes.
      let end = text.indexOf('"', i + 1);
      while (end !== -1) {
        let slashes = 0;
        while (text.charCodeAt(end - 1 - slashes) === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        end = text.indexOf('"', end + 1);
      }
      if (end === -1) return duplicate; // an unterminated string: a syntax error for JSON.parse
      if (depth > 0 && isObject[depth] && expectsKey[depth]) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? decodeKey(text.slice(i, end + 1)) : raw;
        currentKey[depth] = key;
        if (key !== undefined && duplicate === null) {
          const first = firstKey[depth];
          if (first === undefined) firstKey[depth] = key;
          else {
            let later = laterKeys[depth];
            if (key === first || (later !== undefined && later.has(key))) {
              duplicate = { kind: 'duplicate-key', offset: i, key };
            } else {
              if (later === undefined) later = laterKeys[depth] = new Set();
              later.add(key);
            }
          }
        }
        expectsKey[depth] = false;
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
      if (depth > MAX_JSON_DEPTH) {
        const field = depth > 1 ? openPath(depth) : undefined;
        return { kind: 'depth', offset: i, field, fieldOffset: openedAt[2] ?? i };
      }
      isObject[depth] = c === OPEN_BRACE;
      expectsKey[depth] = c === OPEN_BRACE;
      firstKey[depth] = undefined;
      laterKeys[depth] = undefined;
      currentKey[depth] = undefined;
      elementIndex[depth] = 0;
      openedAt[depth] = i;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth > 0) {
        firstKey[depth] = undefined;
        laterKeys[depth] = undefined;
        depth--;
      }
    } else if (c === COMMA) {
      if (depth > 0 && isObject[depth]) expectsKey[depth] = true;
      else if (depth > 0) elementIndex[depth]++;
    } else if (c === COLON) {
      if (depth > 0) expectsKey[depth] = false;
    }
  }
  // Let go of the keys of containers a broken text left open.
  for (let d = depth; d > 0; d--) {
    firstKey[d] = undefined;
    laterKeys[d] = undefined;
  }
  return duplicate;
}

/** A quoted key with escapes, decoded; undefined when the escapes are broken (a syntax error). */
function decodeKey(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const NEWLINE = 0x0a;
const RETURN = 0x0d;

/**
 * The offset of the first character where `text` stops being JSON (text.length for a text that ends
 * too early), or -1 if it is valid. Used only after JSON.parse failed, because V8 does not say where for
 * every error ("Unexpected token 'x', ... is not valid JSON"). The depth scan has already bounded the
 * nesting, so the recursion is shallow.
 */
export function syntaxErrorOffset(text: string): number {
  const n = text.length;
  let i = 0;
  const at = (k: number): number => (k < n ? text.charCodeAt(k) : -1);
  const skipSpace = (): void => {
    for (let c = at(i); c === SPACE || c === TAB || c === NEWLINE || c === RETURN; c = at(++i));
  };
  const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
  const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
  const digits = (): boolean => {
    if (!isDigit(at(i))) return false;
    while (isDigit(at(i))) i++;
    return true;
  };
  const number = (): boolean => {
    if (at(i) === 0x2d) i++;
    if (at(i) === 0x30) i++;
    else if (!digits()) return false;
    if (at(i) === 0x2e) {
      i++;
      if (!digits()) return false;
    }
    if (at(i) === 0x65 || at(i) === 0x45) {
      i++;
      if (at(i) === 0x2b || at(i) === 0x2d) i++;
      if (!digits()) return false;
    }
    return true;
  };
  const string = (): boolean => {
    i++;
    for (;;) {
      const c = at(i);
      if (c === -1 || c < SPACE) return false;
      if (c === QUOTE) {
        i++;
        return true;
      }
      if (c === BACKSLASH) {
        const e = at(++i);
        if (e === 0x75) {
          i++;
          for (let k = 0; k < 4; k++, i++) if (!isHex(at(i))) return false;
        } else if ('"\\/bfnrt'.includes(String.fromCharCode(e)) && e !== -1) i++;
        else return false;
      } else i++;
    }
  };
  const literal = (word: string): boolean => {
    for (let k = 0; k < word.length; k++, i++) if (at(i) !== word.charCodeAt(k)) return false;
    return true;
  };
  // Steps over a closing bracket or brace, which ends the container well.
  const closes = (): boolean => {
    i++;
    return true;
  };
  const value = (): boolean => {
    skipSpace();
    const c = at(i);
    if (c === QUOTE) return string();
    if (c === 0x2d || isDigit(c)) return number();
    if (c === 0x74) return literal('true');
    if (c === 0x66) return literal('false');
    if (c === 0x6e) return literal('null');
    if (c === OPEN_BRACKET) {
      i++;
      skipSpace();
      if (at(i) === CLOSE_BRACKET) return closes();
      for (;;) {
        if (!value()) return false;
        skipSpace();
        if (at(i) === CLOSE_BRACKET) return closes();
        if (at(i) !== COMMA) return false;
        i++;
      }
    }
    if (c === OPEN_BRACE) {
      i++;
      skipSpace();
      if (at(i) === CLOSE_BRACE) return closes();
      for (;;) {
        skipSpace();
        if (at(i) !== QUOTE || !string()) return false;
        skipSpace();
        if (at(i) !== COLON) return false;
        i++;
        if (!value()) return false;
        skipSpace();
        if (at(i) === CLOSE_BRACE) return closes();
        if (at(i) !== COMMA) return false;
        i++;
      }
    }
    return false;
  };
  if (!value()) return Math.min(i, n);
  skipSpace();
  return i < n ? i : -1;
}

/** The parser's description without its position or its echo of the text. */
function syntaxErrorDetail(message: string, text: string, offset: number): string {
  const detail = message
    .replace(/\s*in JSON at position \d+.*$/, '')
    .replace(/,\s*(\.\.\.)?".*"(\.\.\.)? is not valid JSON$/s, '');
  if (/is not valid JSON$/.test(detail) || detail === '') {
    return offset < text.length
      ? `Unexpected token ${JSON.stringify(text[offset])}`
      : 'Unexpected end of JSON input';
  }
  return detail;
}

/**
 * Parses a JSON text, rejecting nesting deeper than MAX_JSON_DEPTH, duplicate keys within one object,
 * and syntax errors, each as a StrictJsonError whose message names `source` and the position.
 *
 * @example parseStrictJson('{"a": 1, "a": 2}', 'my.json line 1') // throws: my.json line 1: duplicate key "a" at column 10
 */
export function parseStrictJson(text: string, source: string): unknown {
  // Only a text with more than MAX_JSON_DEPTH brackets can nest too deep; such a text is scanned
  // before JSON.parse builds anything (a line of a million "[" would otherwise become a million arrays).
  const scanFirst =
    countUpTo(text, '[', MAX_JSON_DEPTH + 1) + countUpTo(text, '{', MAX_JSON_DEPTH + 1) > MAX_JSON_DEPTH;
  let finding = scanFirst ? scan(text) : null;
  if (finding !== null && finding.kind === 'depth') throw depthError(source, text, finding);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw syntaxError(source, text, error);
  }
  // Without the scan, counting is enough to rule duplicates out in the common case; else scan.
  if (!scanFirst && !certainlyNoDuplicateKey(value, text)) finding = scan(text);
  if (finding !== null) {
    throw new StrictJsonError(
      source,
      'duplicate-key',
      `duplicate key ${JSON.stringify(finding.key)}`,
      text,
      finding.offset,
    );
  }
  return value;
}

/** How many characters of a too-deep value a depth error quotes. */
const EXCERPT_CHARS = 24;

function depthError(source: string, text: string, finding: ScanFinding): StrictJsonError {
  // Name the field and quote the start of its value: enough to find it, never the whole value.
  const at = finding.fieldOffset ?? finding.offset;
  const excerpt = text.slice(at, at + EXCERPT_CHARS).replace(/\s+/g, ' ');
  const what =
    finding.field === undefined || finding.field === ''
      ? `the value is nested deeper than ${MAX_JSON_DEPTH} levels`
      : `${finding.field} is nested deeper than ${MAX_JSON_DEPTH} levels`;
  return new StrictJsonError(
    source,
    'depth',
    what,
    text,
    finding.offset,
    `${excerpt}${text.length > at + EXCERPT_CHARS ? '...' : ''}`,
  );
}

function syntaxError(source: string, text: string, error: unknown): StrictJsonError {
  // The locator below recurses once per level: make sure the nesting is bounded first.
  const finding = scan(text);
  if (finding !== null && finding.kind === 'depth') return depthError(source, text, finding);
  const message = error instanceof Error ? error.message : String(error);
  let offset = syntaxErrorOffset(text);
  if (offset === -1) {
    // Not expected (both parsers read RFC 8259), but if it happens V8's own position is the best guess.
    const position = /at position (\d+)/.exec(message);
    offset = position === null ? text.length : Number(position[1]);
  }
  return new StrictJsonError(
    source,
    'syntax',
    'not valid JSON',
    text,
    offset,
    syntaxErrorDetail(message, text, offset),
  );
}

/** How many times `char` occurs in `text`, counting no further than `limit`. */
function countUpTo(text: string, char: string, limit: number): number {
  let count = 0;
  for (let i = text.indexOf(char); i !== -1 && count < limit; i = text.indexOf(char, i + 1)) count++;
  return count;
}

/**
 * True when counting proves the text has no duplicate key. Every key the text spells out is followed by
 * a colon, so the text has at least as many colons as the parsed objects have keys (one per distinct
 * name), more if a key repeats or a string holds a colon. Equal counts therefore rule duplicates out;
 * otherwise the caller scans. The keys are counted without walking arrays when the text has at most
 * one "{" (then the top-level value is the only object), which is the common case of a JSON Lines row.
 */
function certainlyNoDuplicateKey(value: unknown, text: string): boolean {
  const braces = countUpTo(text, '{', 2);
  if (braces === 0) return true;
  let keys = 0;
  if (braces === 1 && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const key in value) if (Object.hasOwn(value, key)) keys++;
  } else {
    keys = countKeys(value);
  }
  return countUpTo(text, ':', keys + 1) === keys;
}

/** The number of keys of every object in a parsed value (nesting already bounded by the caller). */
function countKeys(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let keys = 0;
  if (Array.isArray(value)) {
    for (const entry of value as unknown[]) if (typeof entry === 'object') keys += countKeys(entry);
    return keys;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    keys++;
    keys += countKeys(record[key]);
  }
  return keys;
}
