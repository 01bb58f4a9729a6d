import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { CheckpointError } from './checkpointError.js';
import { diskFolder } from './diskFolder.js';
import { type HfFolder, isHfFiles, parseHfFolder } from './hfFiles.js';

export {
  HF_CONFIG_FILE,
  HF_INDEX_FILE,
  HF_WEIGHTS_FILE,
  type HfFolder,
  hasOnnxExport,
  hfConfigJson,
  hfFolderFiles,
  isHfFiles,
  parseHfFolder,
} from './hfFiles.js';

/** Whether `dir` is a Hugging Face folder (config.json with a model_type) rather than a grpovi one (model.json). */
export function isHfFolder(dir: string): boolean {
  return isHfFiles(diskFolder(dir));
}

/** Reads a Hugging Face folder on disk; every problem is a CheckpointError naming the file and field. */
export function readHfFolder(dir: string): HfFolder {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'model folder not found');
  return parseHfFolder(diskFolder(dir));
}

/**
 * Writes a folder at once: into a temporary sibling, renamed into place, so that `dir` either does
 * not exist or is complete. Refuses an existing `dir` (nothing is overwritten). File names may hold
 * one subfolder level (`onnx/model.onnx`).
 */
export function writeFolderAtomic(dir: string, files: Record<string, Uint8Array | string>): void {
  const target = resolve(dir);
  if (existsSync(target)) throw new CheckpointError(dir, 'already exists; choose a new folder to write to');
  mkdirSync(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  try {
    for (const [name, data] of Object.entries(files)) {
      mkdirSync(dirname(join(temp, name)), { recursive: true });
      writeFileAtomic(join(temp, name), data);
    }
    renameSync(temp, target);
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}
