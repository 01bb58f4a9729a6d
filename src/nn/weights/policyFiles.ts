import { CheckpointError } from './checkpointError.js';
import { Gpt } from '../models/gpt.js';
import type { FolderReader } from './folderReader.js';
import { modelDirFiles, parseModelFolder, WEIGHTS_FILE } from './modelFiles.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { HfDecoder } from '../models/hfDecoder.js';
import { hfFolderFiles, isHfFiles, parseHfFolder } from './hfFiles.js';
import { isClassifier } from '../models/hfParams.js';
import type { PolicyModel } from '../models/policyModel.js';
import type { LoraAdapter } from '../adapters/lora.js';

/** Policy folders as files (node-free: policyFolder.ts reads them from disk). */

/** A policy folder read (from disk or memory), before any tensor exists (tensors are made once the backend is chosen). */
export interface PolicySource {
  /** `grpovi` for model.json folders, `hf` for Hugging Face folders (config.json + safetensors + tokenizer.json). */
  format: 'grpovi' | 'hf';
  dir: string;
  tokenizer: Tokenizer;
  /** What the folder says about how it was made (grpovi folders' `info`; empty for Hugging Face ones). */
  info: Record<string, unknown>;
  /** Builds the model; trainable by default. */
  create(options?: { trainable?: boolean }): PolicyModel;
}

/**
 * Reads the files of any policy folder grpovi accepts: its own (model.json) or a Hugging Face causal LM (gpt2,
 * llama, qwen2). Every problem is a CheckpointError naming the file and field.
 */
export function policySourceOf(files: FolderReader): PolicySource {
  const dir = files.dir;
  if (isHfFiles(files)) {
    const folder = parseHfFolder(files);
    if (isClassifier(folder.config))
      throw new CheckpointError(
        files.path('config.json'),
        `holds a ${folder.config.architecture} (a reward model); a policy needs a causal LM such as ${folder.config.modelType === 'gpt2' ? 'GPT2LMHeadModel' : 'LlamaForCausalLM'}`,
      );
    return {
      format: 'hf',
      dir,
      tokenizer: folder.tokenizer,
      info: {},
      create(options = {}) {
        const model = HfDecoder.fromHfTensors(folder.config, folder.tensors, {
          trainable: options.trainable ?? true,
          source: dir,
        });
        model.origin = { rawConfig: folder.rawConfig, sideFiles: folder.sideFiles };
        return model;
      },
    };
  }
  const model = parseModelFolder(files, 'policy');
  return {
    format: 'grpovi',
    dir,
    tokenizer: model.tokenizer,
    info: model.info,
    create(options = {}) {
      return Gpt.fromTensors(model.config, model.tensors, {
        trainable: options.trainable ?? true,
        source: files.path(WEIGHTS_FILE),
      });
    },
  };
}

/**
 * The model files of a checkpoint: a grpovi model folder for grpovi's GPT, a Hugging Face folder
 * (F32 weights, the original tokenizer files) for a Hugging Face model, so that a checkpoint of either
 * can be resumed, sampled from and exported like the folder it started from. With `merge` (a LoRA
 * run) the weights are the base's with the adapter merged in.
 */
export function policyFolderFiles(
  policy: PolicyModel,
  tokenizer: Tokenizer,
  info: Record<string, unknown>,
  options: { merge?: LoraAdapter } = {},
): Record<string, Uint8Array | string> {
  const { merge } = options;
  if (policy instanceof HfDecoder) {
    const tensors = policy.toHfTensors();
    return hfFolderFiles(policy.config, merge ? merge.mergeIntoFileLayout(tensors) : tensors, {
      baseConfig: policy.origin?.rawConfig,
      sideFiles: policy.origin?.sideFiles ?? {},
    });
  }
  if (!(policy instanceof Gpt)) throw new TypeError('unknown policy model class');
  return modelDirFiles({
    kind: 'policy',
    config: policy.config,
    tokenizer,
    tensors: merge ? merge.mergeInto(policy.toTensors()) : policy.toTensors(),
    info,
  });
}
