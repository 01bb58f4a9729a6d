import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import { loadModelDir, MODEL_JSON_FILE } from '../../nn/weights/modelDir.js';
import { ExportRefusedError, gptFolderAsHf } from '../../nn/weights/gptToHf.js';
import { hfFolderFiles, isHfFolder, readHfFolder, writeFolderAtomic } from '../../nn/weights/hfFolder.js';
import { PEFT_CONFIG_FILE, PEFT_WEIGHTS_FILE, readPeftFolder } from '../../nn/weights/peftFolder.js';
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

/** The formats `export` writes. */
export const EXPORT_FORMATS = ['hf', 'peft'] as const;

/**
 * `--format peft`: the adapter of a LoRA run's checkpoint (or an adapter folder), checked and written
 * as the PEFT folder it is: adapter_config.json and adapter_model.safetensors, byte for byte.
 */
function exportPeft(dir: string, out: string): void {
  if (!existsSync(join(dir, PEFT_CONFIG_FILE)))
    throw new UserInputError(
      `${dir} holds no LoRA adapter (no ${PEFT_CONFIG_FILE}): only runs trained with --lora-r (or --adapter) export as PEFT folders`,
    );
  const folder = readPeftFolder(dir);
  writeFolderAtomic(out, {
    [PEFT_CONFIG_FILE]: new Uint8Array(readFileSync(join(dir, PEFT_CONFIG_FILE))),
    [PEFT_WEIGHTS_FILE]: new Uint8Array(readFileSync(join(dir, PEFT_WEIGHTS_FILE))),
  });
  process.stdout.write(
    `exported the LoRA adapter of ${dir} (r ${folder.options.r}, base ${folder.baseModel ?? 'not named'}) as a PEFT folder to ${out}\n`,
  );
}

/** `grpovi export SOURCE --format hf|peft --out DIR`. */
export function executeExport(source: string, flags: ExportFlags): void {
  if (!(EXPORT_FORMATS as readonly string[]).includes(flags.format))
    throw new UserInputError(`--format must be "hf" or "peft" (${JSON.stringify(flags.format)})`);
  if (existsSync(flags.out))
    throw new UserInputError(`--out ${flags.out} already exists; choose a new folder`);
  const dir = resolveModelSource(source);
  if (flags.format === 'peft') {
    exportPeft(dir, flags.out);
    return;
  }
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
