import { isUtf8 } from 'node:buffer';
import { formatValue } from '../adjust/errors.js';
import { UserInputError } from './errors.js';

/** Consecutive lines of the input, without their line ends (`\n` or `\r\n`). */
export interface LineBatch {
  lines: string[];
  /** The 1-based number of `lines[0]` in the input. */
  firstLine: number;
}

const NEWLINE = 0x0a;
const BOM = '\uFEFF';

/**
 * Splits a byte stream into lines, a chunk's worth at a time, in memory bounded by the chunk size plus
 * `maxLineBytes`: the caller handles each batch before the next is read. A byte-order mark at the start is
 * dropped. Bytes that are not UTF-8 and lines longer than `maxLineBytes` are UserInputErrors naming the
 * line, since decoding them with replacement characters would silently change the input.
 */
export async function* readLineBatches(
  chunks: AsyncIterable<Uint8Array>,
  maxLineBytes: number,
): AsyncGenerator<LineBatch> {
  // The start of a line that continues into the next chunk, as a list of pieces (joined once).
  let pieces: Uint8Array[] = [];
  let pending = 0;
  let nextLine = 1;
  let atStart = true;

  const decode = (bytes: Uint8Array): LineBatch => {
    if (!isUtf8(bytes)) throw notUtf8(bytes, nextLine);
    let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (atStart && text.startsWith(BOM)) text = text.slice(1);
    atStart = false;
    const lines = text.split('\n');
    for (let k = 0; k < lines.length; k++) {
      const line = lines[k];
      if (line.charCodeAt(line.length - 1) === 0x0d) lines[k] = line.slice(0, -1);
    }
    const batch = { lines, firstLine: nextLine };
    nextLine += lines.length;
    return batch;
  };
  const tooLong = (): UserInputError =>
    new UserInputError(`line ${nextLine}: longer than the limit of ${maxLineBytes} bytes`);

  for await (const chunk of chunks) {
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
    const block = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
    yield decode(block);
    const rest = chunk.subarray(last + 1);
    pieces = [rest];
    pending = rest.length;
    if (pending > maxLineBytes) throw tooLong();
  }
  if (pending > 0) yield decode(pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
}

/** The error for a block that is not UTF-8: finds the first bad line and shows it as decoded. */
function notUtf8(block: Uint8Array, firstLine: number): UserInputError {
  let start = 0;
  for (let line = firstLine; ; line++) {
    let end = block.indexOf(NEWLINE, start);
    if (end === -1) end = block.length;
    const bytes = block.subarray(start, end);
    if (!isUtf8(bytes) || end === block.length) {
      const shown = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
      return new UserInputError(`line ${line}: not valid UTF-8 text (${formatValue(shown)})`);
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
      throw new UserInputError(`line ${line + 1}: longer than the limit of ${maxLineBytes} bytes`);
    }
    start = end + 1;
  }
}
