import { isUtf8 } from 'node:buffer';
import { formatValue } from '../adjust/errors.js';
import { InputLineError } from './errors.js';

/** Consecutive lines of the input, without their line ends (`\n` or `\r\n`). */
export interface LineBatch {
  lines: string[];
  /** The 1-based number of `lines[0]` in the input. */
  firstLine: number;
}

/**
 * Consecutive lines of the input as bytes: line i is `bytes[starts[i]..ends[i])`, its line end (and a
 * byte-order mark at the start of the input) excluded. The arrays are reused for the next block.
 */
export interface LineBlock {
  bytes: Buffer;
  starts: Int32Array;
  ends: Int32Array;
  /** How many lines the block holds (the arrays may be longer). */
  count: number;
  /** The 1-based number of its first line in the input. */
  firstLine: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Splits a byte stream into lines, a chunk's worth at a time, in memory bounded by the chunk size plus
 * `maxLineBytes`: the caller handles each batch before the next is read. A byte-order mark at the start is
 * dropped. Bytes that are not UTF-8 and lines longer than `maxLineBytes` are InputLineErrors naming the
 * line, since decoding them with replacement characters would silently change the input.
 */
export async function* readLineBatches(
  chunks: AsyncIterable<Uint8Array>,
  maxLineBytes: number,
): AsyncGenerator<LineBatch> {
  for await (const block of readLineBlocks(chunks, maxLineBytes)) {
    const lines: string[] = [];
    for (let i = 0; i < block.count; i++)
      lines.push(block.bytes.toString('utf8', block.starts[i], block.ends[i]));
    yield { lines, firstLine: block.firstLine };
  }
}

/** `readLineBatches` without decoding: the lines as byte ranges of checked UTF-8 (see LineBlock). */
export async function* readLineBlocks(
  chunks: AsyncIterable<Uint8Array>,
  maxLineBytes: number,
): AsyncGenerator<LineBlock> {
  // The start of a line that continues into the next chunk, as a list of pieces (joined once).
  let pieces: Buffer[] = [];
  let pending = 0;
  let nextLine = 1;
  let atStart = true;
  const block: LineBlock = {
    bytes: Buffer.alloc(0),
    starts: new Int32Array(1024),
    ends: new Int32Array(1024),
    count: 0,
    firstLine: 1,
  };

  const split = (bytes: Buffer): LineBlock => {
    if (!isUtf8(bytes)) throw notUtf8(bytes, nextLine);
    let start = 0;
    // EF BB BF, the byte-order mark, as the first bytes of the input.
    if (atStart && bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)
      start = 3;
    atStart = false;
    let count = 0;
    for (;;) {
      let end = bytes.indexOf(NEWLINE, start);
      const last = end === -1;
      if (last) end = bytes.length;
      if (count === block.starts.length) {
        const starts = new Int32Array(count * 2);
        starts.set(block.starts);
        block.starts = starts;
        const ends = new Int32Array(count * 2);
        ends.set(block.ends);
        block.ends = ends;
      }
      block.starts[count] = start;
      block.ends[count] = end > start && bytes[end - 1] === CR ? end - 1 : end;
      count++;
      if (last) break;
      start = end + 1;
    }
    block.bytes = bytes;
    block.count = count;
    block.firstLine = nextLine;
    nextLine += count;
    return block;
  };
  const tooLong = (): InputLineError =>
    new InputLineError(nextLine, `longer than the limit of ${maxLineBytes} bytes`);

  for await (const data of chunks) {
    const chunk = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const last = chunk.lastIndexOf(NEWLINE);
    if (last === -1) {
      pending += chunk.length;
      if (pending > maxLineBytes) throw tooLong();
      pieces.push(chunk);
      continue;
    }
    if (pending + chunk.indexOf(NEWLINE) > maxLineBytes) throw tooLong();
    // A line inside the chunk is shorter than the chunk: only a chunk above the limit needs a look.
    if (chunk.length > maxLineBytes) checkInnerLines(chunk, last, maxLineBytes, nextLine + pieces.length);
    pieces.push(chunk.subarray(0, last));
    yield split(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
    const rest = chunk.subarray(last + 1);
    pieces = [rest];
    pending = rest.length;
    if (pending > maxLineBytes) throw tooLong();
  }
  if (pending > 0) yield split(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
}

/** The error for a block that is not UTF-8: finds the first bad line and shows it as decoded. */
function notUtf8(block: Uint8Array, firstLine: number): InputLineError {
  let start = 0;
  for (let line = firstLine; ; line++) {
    let end = block.indexOf(NEWLINE, start);
    if (end === -1) end = block.length;
    const bytes = block.subarray(start, end);
    if (!isUtf8(bytes) || end === block.length) {
      const shown = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      return new InputLineError(line, `not valid UTF-8 text (${formatValue(shown)})`);
    }
    start = end + 1;
  }
}

/** Throws for the first line strictly inside `chunk[..last]` (after its first newline) above the limit. */
function checkInnerLines(chunk: Uint8Array, last: number, maxLineBytes: number, lineOfFirst: number): void {
  let line = lineOfFirst;
  for (let start = chunk.indexOf(NEWLINE) + 1; start <= last; line++) {
    const end = chunk.indexOf(NEWLINE, start);
    if (end - start > maxLineBytes) {
      throw new InputLineError(line + 1, `longer than the limit of ${maxLineBytes} bytes`);
    }
    start = end + 1;
  }
}
