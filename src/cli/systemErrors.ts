/**
 * Failures of the machine around a command rather than of its input (a full disk, a read-only or
 * forbidden path): the user can fix them, so the CLI prints one line naming the path and the
 * reason, not an internal-error stack.
 */
const REASONS: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  ENAMETOOLONG: 'the path is too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** The one-line description of a system error the user can fix, or undefined for any other error. */
export function describeSystemError(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, path, syscall, fd } = error as NodeJS.ErrnoException & { fd?: number };
  if (code === undefined || !Object.hasOwn(REASONS, code)) return undefined;
  const what =
    path !== undefined
      ? `${syscall ?? 'access'} ${path}`
      : fd === 1 || syscall === 'write'
        ? 'writing the output'
        : (syscall ?? 'a system call');
  return `cannot complete ${what}: ${REASONS[code]} (${code})`;
}
