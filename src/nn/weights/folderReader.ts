import { CheckpointError } from './checkpointError.js';

/**
 * A model folder's files as the loaders read them, wherever they are: on disk (diskFolder.ts, Node)
 * or in memory (a browser's picked folder, a folder another app built). Messages name `path(name)`.
 */
export interface FolderReader {
  /** The folder, as messages name it. */
  readonly dir: string;
  /** A file of the folder, as messages name it. */
  path(name: string): string;
  has(name: string): boolean;
  /** The file's bytes; a missing or unreadable file is a CheckpointError naming it. */
  read(name: string): Uint8Array;
}

/** A folder held in memory: files by name (`onnx/model.onnx` for a subfolder). */
export function memoryFolder(
  files: Readonly<Record<string, Uint8Array>>,
  dir = 'the given files',
): FolderReader {
  return {
    dir,
    path: (name) => `${dir}/${name}`,
    has: (name) => Object.hasOwn(files, name),
    read(name) {
      if (!Object.hasOwn(files, name)) throw new CheckpointError(`${dir}/${name}`, 'file not found');
      return files[name];
    },
  };
}

// The BOM kept, as Node's readFileSync(path, 'utf8') keeps it.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** A file's text (UTF-8). */
export function readText(folder: FolderReader, name: string): string {
  return utf8.decode(folder.read(name));
}
