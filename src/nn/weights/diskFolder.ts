import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from './checkpointError.js';
import type { FolderReader } from './folderReader.js';
import { openSafetensorsFile } from './safetensorsFile.js';

/** A folder on disk as a FolderReader: messages name `join(dir, name)`. */
export function diskFolder(dir: string): FolderReader {
  return {
    dir,
    path: (name) => join(dir, name),
    has: (name) => existsSync(join(dir, name)),
    read(name) {
      const path = join(dir, name);
      try {
        return new Uint8Array(readFileSync(path));
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new CheckpointError(
          path,
          code === 'ENOENT' ? 'file not found' : `cannot be read (${code ?? String(error)})`,
        );
      }
    },
    safetensors: (name, options) => openSafetensorsFile(join(dir, name), options).tensors,
  };
}
