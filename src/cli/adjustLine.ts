import {
  compareWithReference,
  formatValue,
  GroupAdjuster,
  RewardInputError,
  rewardVariance,
} from '../adjust/index.js';
import { MAX_NUMBER_BYTES, writeNumber } from '../util/numberBytes.js';
import { parseStrictJson, StrictJsonError } from '../util/strictJson.js';
import { scanAdjustLine, ScannedLine } from './adjustLineBytes.js';
import { InputLineError } from './errors.js';

/** One input line of `grpovi adjust`, checked: a group's rewards with its range and optional weights. */
export interface AdjustRequest {
  /** 1-based line number in the input, blank lines included, for messages. */
  line: number;
  rewards: number[];
  weights?: number[];
  min: number;
  max: number;
}

/** The default range from `--min` / `--max`. */
export interface RangeFlags {
  min?: number;
  max?: number;
}

const LINE_FIELDS = ['rewards', 'weights', 'min', 'max'];

/** `--verify` runs an O(n^2) enumeration; past this many rewards a line would take minutes. */
export const VERIFY_LIMIT = 10_000;

/**
 * Turns input lines into output lines: parse (strict JSON), check, solve, and format one line at a
 * time, with the solver's scratch memory reused. Throws an InputLineError `line N: <what is wrong>
 * (<value>)` for a bad line, and one with exit code 1 when `verify` finds an answer that differs from
 * the brute-force reference.
 */
export class AdjustLineProcessor {
  private readonly adjuster = new GroupAdjuster();
  /** Lines answered so far (blank lines not counted). */
  count = 0;
  // The fast path's reused memory: the scanned numbers, views of their exact lengths, the answer.
  private readonly scanned = new ScannedLine();
  private readonly rewardView = new ExactView();
  private readonly weightView = new ExactView();
  private readonly adjustedView = new ExactView();
  private adjusted = new Float64Array(16);
  private viewedBuffer: Uint8Array | undefined;
  private bufferView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private readonly options: { min: number; max: number; weights: Float64Array | undefined } = {
    min: 0,
    max: 1,
    weights: undefined,
  };

  constructor(
    private readonly flags: RangeFlags,
    private readonly verify: boolean,
  ) {}

  /**
   * The fast path: answers the line `bytes[start..end)` straight into `out` and returns true when it
   * has the common shape and is valid (see scanAdjustLine); returns false, having written nothing, for
   * anything else, which `process` must then handle (and report, if the line is bad). Both give the
   * same bytes for a line either accepts.
   */
  processBytes(bytes: Uint8Array, start: number, end: number, out: ByteSink): boolean {
    if (this.verify) return false;
    const line = this.scanned;
    if (!scanAdjustLine(bytes, start, end, line)) return false;
    const min = line.hasMin ? line.range[0] : this.flags.min;
    const max = line.hasMax ? line.range[1] : this.flags.max;
    if (min === undefined || max === undefined) return false;
    const n = line.rewardCount;
    const rewards = this.rewardView.of(line.rewards, n);
    const weights = line.weightCount === -1 ? undefined : this.weightView.of(line.weights, line.weightCount);
    if (this.adjusted.length < n) this.adjusted = new Float64Array(line.rewards.length);
    const adjusted = this.adjustedView.of(this.adjusted, n);
    const options = this.options;
    options.min = min;
    options.max = max;
    options.weights = weights;
    try {
      this.adjuster.adjustInto(rewards, options, adjusted);
    } catch (error) {
      if (error instanceof RewardInputError) return false;
      throw error;
    }
    const before = rewardVariance(rewards, weights);
    const after = rewardVariance(adjusted, weights);
    if (!Number.isFinite(before) || !Number.isFinite(after)) return false;
    this.count++;
    out.reserve(RESULT_BYTES + (n + 2) * (MAX_NUMBER_BYTES + 1));
    const buffer = out.buffer;
    if (this.viewedBuffer !== buffer) {
      this.viewedBuffer = buffer;
      this.bufferView = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    }
    const words = this.bufferView;
    let pos = copyText(words, out.used, ADJUSTED_OPEN);
    for (let i = 0; i < n; i++) {
      if (i > 0) buffer[pos++] = COMMA;
      pos = writeNumber(buffer, pos, adjusted[i]);
    }
    pos = copyText(words, pos, BEFORE_KEY);
    pos = writeNumber(buffer, pos, before);
    pos = copyText(words, pos, AFTER_KEY);
    pos = writeNumber(buffer, pos, after);
    buffer[pos++] = CLOSE_BRACE;
    buffer[pos++] = NEWLINE;
    out.used = pos;
    return true;
  }

  /** The output line (with its newline) for one input line, or '' for a blank line. */
  process(source: string, line: number): string {
    // Blank and whitespace-only lines are skipped; a line starting with "{" is not blank.
    if (source.charCodeAt(0) !== 0x7b && source.trim() === '') return '';
    let request: AdjustRequest;
    let adjusted: Float64Array;
    try {
      request = parseLine(source, line, this.flags);
      // The solver checks the rest (range, rewards inside it, weights) and names the bad value.
      adjusted = this.adjuster.adjust(request.rewards, request);
    } catch (error) {
      if (error instanceof RewardInputError) throw new InputLineError(line, error.message);
      throw error;
    }
    if (this.verify) {
      if (request.rewards.length > VERIFY_LIMIT) {
        throw new InputLineError(
          line,
          `--verify checks groups of up to ${VERIFY_LIMIT} rewards (${request.rewards.length})`,
        );
      }
      const problem = compareWithReference(request, adjusted);
      if (problem !== null) throw new InputLineError(line, `--verify failed: ${problem}`, 1);
    }
    const before = rewardVariance(request.rewards, request.weights);
    const after = rewardVariance(adjusted, request.weights);
    // JSON has no Infinity: a range like [0, 1e200] has variances beyond the largest double.
    if (!Number.isFinite(before) || !Number.isFinite(after)) {
      throw lineError(
        line,
        'the variance is too large for a 64-bit float; scale the rewards and the range down',
        Number.isFinite(before) ? after : before,
      );
    }
    this.count++;
    return formatResult(adjusted, before, after);
  }
}

/**
 * The output line `{"adjusted":[...],"variance_before":v,"variance_after":v}` and its newline, as
 * JSON.stringify writes it (String(x) is JSON's number format for finite numbers), built directly.
 */
export function formatResult(adjusted: ArrayLike<number>, before: number, after: number): string {
  let text = '{"adjusted":[';
  for (let i = 0; i < adjusted.length; i++) {
    if (i > 0) text += ',';
    const z = adjusted[i];
    // Adjusted rewards are mostly the range's ends, most often 0 and 1.
    text += z === 0 ? '0' : z === 1 ? '1' : String(z);
  }
  return `${text}],"variance_before":${String(before)},"variance_after":${String(after)}}\n`;
}

/** Where the fast path writes: `buffer[used..]`, after `reserve(bytes)` made room (see SpooledOutput). */
export interface ByteSink {
  buffer: Uint8Array;
  used: number;
  reserve(bytes: number): void;
}

/** An ASCII text as little-endian 32-bit words (the last one padded), and its length in bytes. */
interface WordText {
  words: Uint32Array;
  length: number;
}

function wordText(text: string): WordText {
  const words = new Uint32Array(Math.ceil(text.length / 4));
  const bytes = new Uint8Array(words.buffer);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
    for (let i = 0; i < words.length; i++) words[i] = new DataView(words.buffer).getUint32(4 * i, true);
  }
  return { words, length: text.length };
}

const ADJUSTED_OPEN = wordText('{"adjusted":[');
const BEFORE_KEY = wordText('],"variance_before":');
const AFTER_KEY = wordText(',"variance_after":');
// The fixed text of a result line, with the padding of its last words.
const RESULT_BYTES = 4 * (ADJUSTED_OPEN.words.length + BEFORE_KEY.words.length + AFTER_KEY.words.length) + 2;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;
const NEWLINE = 0x0a;

/**
 * Writes a fixed text four bytes at a time (much faster than byte by byte); up to 3 bytes of padding
 * land after it, inside the room reserved, and are overwritten by what follows.
 */
function copyText(out: DataView, pos: number, text: WordText): number {
  const words = text.words;
  for (let i = 0; i < words.length; i++) out.setUint32(pos + 4 * i, words[i], true);
  return pos + text.length;
}

/** A view of an array's first n entries, made again only when the array or n changes. */
class ExactView {
  private array: Float64Array | undefined;
  private view: Float64Array<ArrayBufferLike> = new Float64Array(0);

  of(array: Float64Array, n: number): Float64Array<ArrayBufferLike> {
    if (array !== this.array || this.view.length !== n) {
      this.array = array;
      this.view = array.subarray(0, n);
    }
    return this.view;
  }
}

function lineError(line: number, problem: string, value: unknown): InputLineError {
  return new InputLineError(line, `${problem} (${formatValue(value)})`);
}

/** Parses one line's structure; a bad field is thrown as RewardInputError (field, problem, value). */
export function parseLine(source: string, line: number, flags: RangeFlags): AdjustRequest {
  let parsed: unknown;
  try {
    // The source is named below, only when a line is bad (a string per line costs time).
    parsed = parseStrictJson(source, 'line');
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    // A syntax error shows the line itself; deep nesting and duplicate keys say what and where.
    if (error.kind === 'syntax') throw lineError(line, `not valid JSON at ${error.where}`, source);
    throw new InputLineError(line, error.problem);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw lineError(line, 'not a JSON object like {"rewards": [0.2, 0.9]}', parsed);
  }
  const fields = parsed as Record<string, unknown>;
  for (const key in fields) {
    if (!LINE_FIELDS.includes(key)) {
      throw lineError(line, `unknown field, expected ${LINE_FIELDS.join(', ')}`, key);
    }
  }
  if (fields.rewards === undefined) throw new RewardInputError('rewards', 'is missing', parsed);
  const rewards = numberArray('rewards', fields.rewards);
  const weights = fields.weights === undefined ? undefined : numberArray('weights', fields.weights);
  const min = fields.min === undefined ? flags.min : finiteNumber('min', fields.min);
  const max = fields.max === undefined ? flags.max : finiteNumber('max', fields.max);
  if (min === undefined)
    throw new RewardInputError('min', 'is missing: give "min" on the line or --min', parsed);
  if (max === undefined)
    throw new RewardInputError('max', 'is missing: give "max" on the line or --max', parsed);
  const request: AdjustRequest = { line, rewards, min, max };
  if (weights !== undefined) request.weights = weights;
  return request;
}

/** The array itself (fresh from the parser) once every entry is a finite number. */
function numberArray(field: string, value: unknown): number[] {
  if (!Array.isArray(value)) throw new RewardInputError(field, 'must be an array of numbers', value);
  for (let i = 0; i < value.length; i++) {
    const entry: unknown = value[i];
    if (typeof entry !== 'number' || !Number.isFinite(entry)) finiteNumber(`${field}[${i}]`, entry);
  }
  return value as number[];
}

function finiteNumber(field: string, value: unknown): number {
  if (typeof value !== 'number') throw new RewardInputError(field, 'is not a number', value);
  // JSON has no Infinity or NaN: a non-finite number here is a literal too large for a 64-bit float.
  if (!Number.isFinite(value)) throw new RewardInputError(field, 'is too large for a 64-bit float', value);
  return value;
}
