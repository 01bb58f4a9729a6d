import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsync,
  fsyncSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { UserInputError } from './errors.js';
import { describeFsError } from './fsErrors.js';

// Output is gathered in a buffer of this size before each write; the spool is copied out in chunks of this size.
const BUFFER_BYTES = 1 << 16;
const FLUSH_AT = 1 << 16;
// After this many more bytes, a file that will be renamed into place is synced in the background, so
// that the disk writes overlap the work and the fsync before the rename has little left to do.
const EARLY_SYNC_BYTES = 1 << 24;

/**
 * Output that is published only once it is complete: everything written goes to a temporary file, and
 * `publish()` moves it into place (a rename next to the target, so readers see the old file or the new
 * one) or copies it to stdout, or to a target that is not a regular file (a device such as /dev/null, a
 * named pipe). `discard()` leaves no trace. Memory use stays at one buffer, whatever the size.
 *
 * The spool for stdout (and for devices) sits in the OS temporary folder and is unlinked as soon as it is
 * open, so a crash cannot leave it behind; the one next to a target file is removed on any failure.
 */
export class SpooledOutput {
  private fd: number;
  /** Bytes not yet written to the spool: `buffer[0..used)`. Writers fill it after `reserve`. */
  buffer: Buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  used = 0;
  private size = 0;
  private closed = false;
  /** The size at the last background sync, and that sync while it runs. */
  private syncedAt = 0;
  private syncing: Promise<void> | undefined;

  private constructor(
    /** How the output reaches its target: renamed into place, or copied. */
    private readonly mode: 'rename' | 'copy',
    /** The target file, or undefined for stdout. */
    private readonly target: string | undefined,
    /** The temporary file while it has a name (only the one next to a target file does). */
    private tempPath: string | undefined,
    fd: number,
    /** How errors name the target, e.g. `--out file "a.jsonl"`. */
    private readonly label: string,
  ) {
    this.fd = fd;
  }

  /**
   * Prepares output to `target` (undefined: stdout). Fails at once, before any input is read, when the
   * target cannot be written: a directory, a path under a file, a folder that is missing or read-only.
   */
  static open(target: string | undefined, label: string): SpooledOutput {
    const fail = (error: unknown, why = describeFsError(error)): never => {
      throw new UserInputError(`cannot write ${label}: ${why}`);
    };
    if (target !== undefined) {
      let kind: 'missing' | 'file' | 'other' = 'missing';
      try {
        const stat = statSync(target);
        if (stat.isDirectory()) fail(undefined, 'it is a directory');
        kind = stat.isFile() ? 'file' : 'other';
      } catch (error) {
        if (error instanceof UserInputError) throw error;
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') fail(error);
      }
      if (kind !== 'other') {
        const temp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString('hex')}.tmp`);
        let fd = -1;
        try {
          fd = openSync(temp, 'wx');
        } catch (error) {
          // The folder exists but takes no new file (e.g. /proc): say so rather than "no such file".
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ENOENT' && existsSync(dirname(target))) {
            fail(error, `cannot create a file in ${JSON.stringify(dirname(target))}`);
          }
          fail(error);
        }
        return new SpooledOutput('rename', target, temp, fd, label);
      }
    }
    // stdout, or a target that is not a regular file: spool in the OS temporary folder, unlinked at once.
    const temp = join(tmpdir(), `grpovi-spool-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
    let fd = -1;
    try {
      fd = openSync(temp, 'wx+', 0o600);
    } catch (error) {
      throw new UserInputError(
        `cannot create a temporary file in ${JSON.stringify(tmpdir())} (set TMPDIR to another folder): ${describeFsError(error)}`,
      );
    }
    let tempPath: string | undefined;
    try {
      unlinkSync(temp);
    } catch {
      tempPath = temp; // Systems that cannot unlink an open file: removed when done instead.
    }
    return new SpooledOutput('copy', target, tempPath, fd, label);
  }

  /** Appends text (buffered). */
  write(text: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8; a long text is measured instead.
    this.reserve(text.length <= 4096 ? text.length * 3 : Buffer.byteLength(text));
    this.used += this.buffer.write(text, this.used, 'utf8');
  }

  /** Makes room for `bytes` more bytes at `buffer[used..]`, writing out what is buffered if needed. */
  reserve(bytes: number): void {
    if (this.used + bytes <= this.buffer.length) return;
    this.flush();
    if (bytes > this.buffer.length) this.buffer = Buffer.allocUnsafe(Math.max(bytes, BUFFER_BYTES));
  }

  private flush(): void {
    if (this.used === 0) return;
    const bytes = this.buffer.subarray(0, this.used);
    this.used = 0;
    try {
      writeFully(this.fd, bytes, this.size);
    } catch (error) {
      this.discard();
      const where = this.mode === 'rename' ? this.label : `a temporary file in ${JSON.stringify(tmpdir())}`;
      throw new UserInputError(`cannot write ${where}: ${describeFsError(error)}`);
    }
    this.size += bytes.length;
    if (
      this.mode === 'rename' &&
      this.syncing === undefined &&
      this.size - this.syncedAt >= EARLY_SYNC_BYTES
    ) {
      this.syncedAt = this.size;
      this.syncing = this.syncInBackground();
    }
    // A buffer grown for one huge line goes back to the usual size.
    if (this.buffer.length > BUFFER_BYTES) this.buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  }

  /**
   * fsync in the thread pool; it settles (never rejects) when done. A failure is not reported here:
   * the fsync before the rename reports it.
   */
  private syncInBackground(): Promise<void> {
    return new Promise((resolve) => {
      fsync(this.fd, () => {
        this.syncing = undefined;
        resolve();
      });
    });
  }

  /** Moves the complete output into place (or copies it out); the spool is gone afterwards. */
  async publish(): Promise<void> {
    this.flush();
    try {
      if (this.mode === 'rename') {
        await this.syncing;
        try {
          fsyncSync(this.fd);
          closeSync(this.fd);
          this.closed = true;
          renameSync(this.tempPath!, this.target!);
          this.tempPath = undefined;
        } catch (error) {
          throw new UserInputError(`cannot write ${this.label}: ${describeFsError(error)}`);
        }
      } else if (this.target !== undefined) {
        this.copyToDevice(this.target);
      } else {
        await this.copyToStdout();
      }
    } finally {
      this.discard();
    }
  }

  /** Closes and removes the spool; nothing reaches the target. Safe to call more than once. */
  discard(): void {
    if (!this.closed) {
      this.closed = true;
      try {
        closeSync(this.fd);
      } catch {
        // Already unusable; nothing more to release.
      }
    }
    if (this.tempPath !== undefined) {
      rmSync(this.tempPath, { force: true });
      this.tempPath = undefined;
    }
  }

  private copyToDevice(target: string): void {
    let out = -1;
    try {
      out = openSync(target, 'w');
      const buffer = Buffer.allocUnsafe(FLUSH_AT);
      for (let position = 0; position < this.size;) {
        const n = readSync(this.fd, buffer, 0, Math.min(buffer.length, this.size - position), position);
        if (n === 0) throw new Error('the temporary file ended early');
        writeFully(out, buffer.subarray(0, n), null);
        position += n;
      }
    } catch (error) {
      throw new UserInputError(`cannot write ${this.label}: ${describeFsError(error)}`);
    } finally {
      if (out !== -1) closeSync(out);
    }
  }

  private async copyToStdout(): Promise<void> {
    for (let position = 0; position < this.size;) {
      // A fresh buffer per chunk: the stream may still hold the previous one.
      const buffer = Buffer.allocUnsafe(Math.min(FLUSH_AT, this.size - position));
      const n = readSync(this.fd, buffer, 0, buffer.length, position);
      if (n === 0) throw new Error('unreachable: the temporary output ended early');
      position += n;
      const stopped = await writeToStdout(buffer.subarray(0, n));
      // The reader went away (EPIPE, e.g. `| head`): not an error, and nothing more to write.
      if (stopped) return;
    }
  }
}

/** Writes all of `bytes` at `position` (null: the current position); never loops on a write of 0 bytes. */
function writeFully(fd: number, bytes: Uint8Array, position: number | null): void {
  for (let offset = 0; offset < bytes.length;) {
    const n = writeSync(
      fd,
      bytes,
      offset,
      bytes.length - offset,
      position === null ? null : position + offset,
    );
    if (n <= 0) throw Object.assign(new Error('the device accepted no data'), { code: 'EIO' });
    offset += n;
  }
}

/** Writes to stdout and waits until it is taken; true when the reader has gone (EPIPE). */
function writeToStdout(bytes: Uint8Array): Promise<boolean> {
  return new Promise((resolve, reject) => {
    process.stdout.write(bytes, (error) => {
      if (error === undefined || error === null) resolve(false);
      else if ((error as NodeJS.ErrnoException).code === 'EPIPE') resolve(true);
      else reject(new UserInputError(`cannot write to stdout: ${describeFsError(error)}`));
    });
  });
}
