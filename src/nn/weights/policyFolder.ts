import { existsSync, statSync } from 'node:fs';
import { CheckpointError } from './checkpointError.js';
import { diskFolder } from './diskFolder.js';
import { type PolicySource, policySourceOf } from './policyFiles.js';
import type { PolicyModel } from '../models/policyModel.js';

export { type PolicySource, policyFolderFiles, policySourceOf } from './policyFiles.js';

/**
 * Reads any policy folder grpovi accepts: its own (model.json) or a Hugging Face causal LM (gpt2,
 * llama, qwen2). Every problem is a CheckpointError naming the file and field.
 */
export function loadPolicyFolder(dir: string): PolicySource {
  // A folder that is not there is named as such (not as its missing model.json).
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CheckpointError(dir, 'model folder not found');
  return policySourceOf(diskFolder(dir));
}

/** The policy saved in a checkpoint (or any policy folder), frozen: what a resumed run assigns from. */
export function loadPolicyWeights(dir: string): PolicyModel {
  return loadPolicyFolder(dir).create({ trainable: false });
}
