/**
 * A safetensors file read one tensor at a time. `decodeSafetensors(readFileSync(path))` holds the
 * whole file and a decoded copy of every tensor at once, and whoever keeps its result keeps all of
 * them (a policy source builds the policy and the reference from it): at 100M parameters that is
 * twice the weights' size beside the backend's own copy. Here only the header is read up front; a
 * tensor's values are read from the file when its `data` is read (straight into the typed array
 * where the bytes can go as they are), and nothing is kept: each read is a fresh array the caller
 * hands to the backend and drops.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { CheckpointError } from './checkpointError.js';
import {
  type DecodedSafetensors,
  type DecodeOptions,
  directTarget,
  entryData,
  type NamedTensor,
  parseSafetensorsLayout,
  type SafetensorsEntry,
  safetensorsHeaderLength,
  storedDtype,
  type TensorData,
} from './safetensors.js';

function failure(path: string, error: unknown): CheckpointError {
  if (error instanceof CheckpointError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  return new CheckpointError(
    path,
    code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(error)})`,
  );
}

/** Reads exactly `target.length` bytes at `position`, or says the file got shorter. */
function readFully(fd: number, target: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, position + done);
    if (n === 0)
      throw new CheckpointError(
        path,
        `ended at byte ${position + done} while reading ${target.length} bytes from byte ${position} (the file changed while it was read?)`,
      );
    done += n;
  }
}

function withFile<T>(path: string, use: (fd: number) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw failure(path, error);
  }
  try {
    return use(fd);
  } catch (error) {
    throw failure(path, error);
  } finally {
    closeSync(fd);
  }
}

/** What identifies the file as it was when its header was read. */
interface FileStamp {
  size: number;
  mtimeMs: number;
}

function stamp(fd: number): FileStamp {
  const { size, mtimeMs } = fstatSync(fd);
  return { size, mtimeMs };
}

/** One tensor's values, read from the file now (refused if the file is no longer the one opened). */
function readEntry(path: string, opened: FileStamp, dataStart: number, entry: SafetensorsEntry): TensorData {
  return withFile(path, (fd) => {
    const now = stamp(fd);
    if (now.size !== opened.size || now.mtimeMs !== opened.mtimeMs)
      throw new CheckpointError(
        path,
        `changed after its header was read (${opened.size} bytes then, ${now.size} now): reload it`,
      );
    const position = dataStart + entry.begin;
    const target = directTarget(entry);
    if (target !== undefined) {
      readFully(fd, new Uint8Array(target.buffer, target.byteOffset, target.byteLength), position, path);
      return target;
    }
    const bytes = new Uint8Array(entry.end - entry.begin);
    readFully(fd, bytes, position, path);
    return entryData(entry, bytes);
  });
}

/**
 * The tensors of the safetensors file at `path`, validated as `decodeSafetensors` validates them
 * (the same errors), each tensor's `data` read from the file when it is read (every read a fresh
 * array). File errors are CheckpointErrors naming the path.
 */
export function openSafetensorsFile(path: string, options: DecodeOptions = {}): DecodedSafetensors {
  let opened: FileStamp = { size: 0, mtimeMs: 0 };
  const layout = withFile(path, (fd) => {
    opened = stamp(fd);
    const byteLength = opened.size;
    const lengthPrefix = new Uint8Array(8);
    if (byteLength >= 8) readFully(fd, lengthPrefix, 0, path);
    const headerLength = safetensorsHeaderLength(lengthPrefix, byteLength, path);
    const prefix = new Uint8Array(8 + headerLength);
    prefix.set(lengthPrefix);
    readFully(fd, prefix.subarray(8), 8, path);
    return parseSafetensorsLayout(prefix, byteLength, path, options);
  });
  const tensors: Record<string, NamedTensor> = {};
  for (const entry of layout.entries) {
    const tensor = { dtype: storedDtype(entry), shape: entry.shape } as NamedTensor;
    Object.defineProperty(tensor, 'data', {
      enumerable: true,
      get: () => readEntry(path, opened, layout.dataStart, entry),
    });
    tensors[entry.name] = tensor;
  }
  return { tensors, metadata: layout.metadata };
}
