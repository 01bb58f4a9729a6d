import { CheckpointError } from './checkpointError.js';
import { type DecodeOptions, decodeSafetensors, type NamedTensor } from './safetensors.js';

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
  /**
   * A safetensors file's tensors, where the reader can do better than decoding `read(name)`: on
   * disk each tensor is read from the file only when used (safetensorsFile.ts), so a large model is
   * never held twice. Readers without it are decoded by `readSafetensors`.
   */
  safetensors?(name: string, options: DecodeOptions): Record<string, NamedTensor>;
}

/** A safetensors file of the folder as named tensors (validated as `decodeSafetensors` does). */
export function readSafetensors(
  folder: FolderReader,
  name: string,
  options: DecodeOptions = {},
): Record<string, NamedTensor> {
  if (folder.safetensors !== undefined) return folder.safetensors(name, options);
  return decodeSafetensors(folder.read(name), folder.path(name), options).tensors;
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
