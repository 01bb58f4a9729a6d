/**
 * A run folder that cannot be used as asked: not creatable, a file, locked by another writer, or
 * holding a run that cannot be continued. The user fixes it (another `--out`, wait, resume); the CLI
 * prints the message alone and exits 2. Kept free of heavy imports so the CLI can recognize it.
 */
export class RunFolderError extends Error {
  override readonly name: string = 'RunFolderError';
}
