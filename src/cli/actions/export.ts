import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import { loadModelDir, MODEL_JSON_FILE } from '../../nn/weights/modelDir.js';
import { ExportRefusedError, gptFolderAsHf } from '../../nn/weights/gptToHf.js';
import { hfFolderFiles, isHfFolder, readHfFolder, writeFolderAtomic } from '../../nn/weights/hfFolder.js';
import { CHECKPOINTS_DIR, locateCheckpoint } from '../../train/runCheckpoint.js';
import { UserInputError } from '../errors.js';
import { packageVersion } from '../version.js';

export interface ExportFlags {
  format: string;
  out: string;
}

/** The model folder SOURCE names: a run folder's latest checkpoint, a checkpoint, or a model folder. */
export function resolveModelSource(source: string): string {
  if (!existsSync(source)) throw new UserInputError(`SOURCE ${source} does not exist`);
  if (existsSync(join(source, CHECKPOINTS_DIR))) return locateCheckpoint(source).checkpointDir;
  return source;
}

/** `grpovi export SOURCE --format hf --out DIR`. */
export function executeExport(source: string, flags: ExportFlags): void {
  if (flags.format !== 'hf')
    throw new UserInputError(`--format must be "hf" (${JSON.stringify(flags.format)})`);
  if (existsSync(flags.out))
    throw new UserInputError(`--out ${flags.out} already exists; choose a new folder`);
  const dir = resolveModelSource(source);
  // Causal LMs also get onnx/model.onnx, the graph transformers.js runs.
  const onnx = { producerVersion: packageVersion() };
  let files: Record<string, Uint8Array | string>;
  let architecture: string;
  if (isHfFolder(dir)) {
    const folder = readHfFolder(dir);
    files = hfFolderFiles(folder.config, folder.tensors, {
      baseConfig: folder.rawConfig,
      sideFiles: folder.sideFiles,
      onnx,
    });
    architecture = folder.config.architecture;
  } else if (existsSync(join(dir, MODEL_JSON_FILE))) {
    try {
      files = gptFolderAsHf(loadModelDir(dir), dir, { onnx });
    } catch (error) {
      if (error instanceof ExportRefusedError) throw new UserInputError(`cannot export: ${error.message}`);
      throw error;
    }
    architecture = 'GPT2LMHeadModel';
  } else {
    throw new CheckpointError(
      dir,
      'is neither a run folder, a checkpoint, a grpovi model folder (model.json) nor a Hugging Face folder (config.json)',
    );
  }
  writeFolderAtomic(flags.out, files);
  process.stdout.write(`exported ${dir} as ${architecture} to ${flags.out}\n`);
}
