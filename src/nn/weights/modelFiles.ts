import { CheckpointError, describeJsonValue, parseCheckpointJson } from './checkpointError.js';
import { type FolderReader, readText } from './folderReader.js';
import { type GptConfig, validateGptConfig } from '../models/gptConfig.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';
import { type Tokenizer, type TokenizerJson, tokenizerFromJson } from '../tokenizers/tokenizer.js';

/** grpovi's own model folders as files (node-free: modelDir.ts reads and writes them on disk). */

export type ModelKind = 'policy' | 'reward-model';

export const WEIGHTS_FILE = 'model.safetensors';
export const MODEL_JSON_FILE = 'model.json';
const FORMAT = 'grpovi-model';

/** A model folder's contents, before any tensor is created. */
export interface ModelFiles {
  kind: ModelKind;
  config: GptConfig;
  tokenizer: Tokenizer;
  tensors: Record<string, NamedTensor>;
  /** Free-form facts about how the model was made (command, seed, held-out metrics). */
  info: Record<string, unknown>;
}

interface ModelJson {
  format: typeof FORMAT;
  version: 1;
  kind: ModelKind;
  config: GptConfig;
  tokenizer: TokenizerJson;
  info: Record<string, unknown>;
}

/** The two files of a model folder, by name; the JSON is listed last because it must be written last. */
export function modelDirFiles(files: ModelFiles): Record<string, Uint8Array | string> {
  const json: ModelJson = {
    format: FORMAT,
    version: 1,
    kind: files.kind,
    config: files.config,
    tokenizer: files.tokenizer.toJSON(),
    info: files.info,
  };
  return {
    [WEIGHTS_FILE]: encodeSafetensors(files.tensors, { format: 'pt', producer: 'grpovi' }),
    [MODEL_JSON_FILE]: `${JSON.stringify(json, null, 2)}\n`,
  };
}

/** Reads and checks a model folder (model.json + model.safetensors); every problem is a CheckpointError naming the file. */
export function parseModelFolder(folder: FolderReader, expectedKind?: ModelKind): ModelFiles {
  const jsonPath = folder.path(MODEL_JSON_FILE);
  const parsed = parseCheckpointJson(readText(folder, MODEL_JSON_FILE), jsonPath);
  if (typeof parsed !== 'object' || parsed === null)
    throw new CheckpointError(jsonPath, `must hold a JSON object (${describeJsonValue(parsed)})`);
  const json = parsed as Partial<ModelJson>;
  if (json.format !== FORMAT)
    throw new CheckpointError(jsonPath, `"format" must be "${FORMAT}" (${describeJsonValue(json.format)})`);
  if (json.kind !== 'policy' && json.kind !== 'reward-model') {
    throw new CheckpointError(
      jsonPath,
      `"kind" must be "policy" or "reward-model" (${describeJsonValue(json.kind)})`,
    );
  }
  if (expectedKind !== undefined && json.kind !== expectedKind) {
    throw new CheckpointError(jsonPath, `holds a ${json.kind}, but a ${expectedKind} is needed here`);
  }
  if (typeof json.config !== 'object' || json.config === null) {
    throw new CheckpointError(jsonPath, `"config" must be an object (${describeJsonValue(json.config)})`);
  }
  try {
    validateGptConfig(json.config, 'config');
  } catch (error) {
    throw new CheckpointError(jsonPath, (error as Error).message);
  }
  const tokenizer = tokenizerFromJson(json.tokenizer, `${jsonPath} "tokenizer"`);
  if (tokenizer.vocabSize !== json.config.vocabSize) {
    throw new CheckpointError(
      jsonPath,
      `the tokenizer has ${tokenizer.vocabSize} tokens but config.vocabSize is ${json.config.vocabSize}`,
    );
  }
  const weightsPath = folder.path(WEIGHTS_FILE);
  const { tensors } = decodeSafetensors(folder.read(WEIGHTS_FILE), weightsPath);
  checkFiniteTensors(tensors, weightsPath);
  const info = typeof json.info === 'object' && json.info !== null ? json.info : {};
  return { kind: json.kind, config: json.config, tokenizer, tensors, info };
}

/**
 * Refuses weights holding NaN or infinities (a diverged run, a corrupt file): loaded, they would
 * only turn every output into NaN later, far from the cause.
 */
export function checkFiniteTensors(tensors: Record<string, NamedTensor>, file: string): void {
  for (const [name, tensor] of Object.entries(tensors)) {
    const { data } = tensor;
    for (let i = 0; i < data.length; i++) {
      const value = Number(data[i]);
      if (!Number.isFinite(value)) {
        throw new CheckpointError(
          file,
          `tensor "${name}" holds a non-finite value (${value} at element ${i}): the weights are unusable`,
        );
      }
    }
  }
}
