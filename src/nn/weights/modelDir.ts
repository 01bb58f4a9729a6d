import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomicWrite.js';
import { CheckpointError } from './checkpointError.js';
import { diskFolder } from './diskFolder.js';
import { type ModelFiles, type ModelKind, modelDirFiles, parseModelFolder } from './modelFiles.js';

export {
  checkFiniteTensors,
  type ModelFiles,
  type ModelKind,
  MODEL_JSON_FILE,
  modelDirFiles,
  parseModelFolder,
  WEIGHTS_FILE,
} from './modelFiles.js';

/**
 * Writes `dir/model.safetensors` then `dir/model.json`, each atomically. The JSON goes last, so a
 * folder whose JSON exists always has its weights complete.
 */
export function saveModelDir(dir: string, files: ModelFiles): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, data] of Object.entries(modelDirFiles(files))) writeFileAtomic(join(dir, name), data);
}

/** Reads and checks a model folder on disk; every problem is a CheckpointError naming the file. */
export function loadModelDir(dir: string, expectedKind?: ModelKind): ModelFiles {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'model folder not found');
  return parseModelFolder(diskFolder(dir), expectedKind);
}
