/**
 * A model folder picked in the page (`<input type=file webkitdirectory>` hands every file with its
 * path under the picked folder): its files keyed by their path inside the folder, and which kind of
 * folder it is, a grpovi folder (`model.json` + `model.safetensors`) or a Hugging Face one
 * (`config.json`, `tokenizer.json`, `model.safetensors` or an index of shards). Missing files are
 * reported by name before any weight is read.
 */
import { UserFileError } from '../../util/userFileError.js';

/** A picked file: its path as the browser gives it (`picked/sub/file`) and its bytes. */
export interface PickedFile {
  path: string;
  bytes: Uint8Array;
}

export type ModelFolderKind = 'grpovi' | 'huggingface';

/** The picked folder's name and its files keyed by their path inside it (`model.json`, `sub/x`). */
export function folderFiles(picked: readonly PickedFile[]): {
  folder: string;
  files: Record<string, Uint8Array>;
} {
  if (picked.length === 0) throw new UserFileError('model folder', 'is empty (no file picked)');
  const folder = picked[0].path.split('/')[0];
  const files: Record<string, Uint8Array> = {};
  for (const { path, bytes } of picked) {
    const parts = path.split('/');
    const inside = parts.length > 1 && parts[0] === folder ? parts.slice(1).join('/') : path;
    files[inside] = bytes;
  }
  return { folder, files };
}

/** Which kind of model folder holds `files`; a folder that is neither names what is missing. */
export function modelFolderKind(
  folder: string,
  files: Readonly<Record<string, Uint8Array>>,
): ModelFolderKind {
  const has = (name: string) => Object.hasOwn(files, name);
  if (has('model.json')) {
    if (!has('model.safetensors'))
      throw new UserFileError(folder, 'has model.json (a grpovi folder) but no model.safetensors');
    return 'grpovi';
  }
  if (has('config.json')) {
    const missing = ['tokenizer.json'].filter((n) => !has(n));
    if (!has('model.safetensors') && !has('model.safetensors.index.json'))
      missing.push('model.safetensors (or model.safetensors.index.json)');
    if (missing.length > 0)
      throw new UserFileError(
        folder,
        `has config.json (a Hugging Face folder) but no ${missing.join(', no ')}`,
      );
    return 'huggingface';
  }
  const names = Object.keys(files).slice(0, 6);
  throw new UserFileError(
    folder,
    `is not a model folder: it needs model.json + model.safetensors (grpovi) or config.json + tokenizer.json + model.safetensors (Hugging Face); it holds ${JSON.stringify(names)}${Object.keys(files).length > names.length ? ' ...' : ''}`,
  );
}
