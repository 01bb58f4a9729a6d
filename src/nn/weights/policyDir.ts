import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { CheckpointError, describeJsonValue, parseCheckpointJson } from './checkpointError.js';
import { MODEL_JSON_FILE } from './modelDir.js';
import { isHfFolder } from './hfFolder.js';
import { loadPolicyFolder } from './policyFolder.js';
import type { PolicyModel } from '../models/policyModel.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

/** A policy ready to sample from, with where it was loaded from. */
export interface LoadedPolicy {
  model: PolicyModel;
  tokenizer: Tokenizer;
  /** The model folder read (for a run folder: its latest checkpoint). */
  dir: string;
}

/**
 * The model folder a `--policy` path means: a model folder itself (grpovi's or a Hugging Face one),
 * or a training run folder, whose `checkpoints/latest.json` names its latest checkpoint.
 */
export function policyFolder(dir: string): string {
  if (existsSync(join(dir, MODEL_JSON_FILE)) || isHfFolder(dir)) return dir;
  const latestPath = join(dir, 'checkpoints', 'latest.json');
  if (!existsSync(latestPath)) {
    throw new CheckpointError(
      dir,
      existsSync(dir)
        ? `neither a model folder (no ${MODEL_JSON_FILE}) nor a run folder with a checkpoint (no checkpoints/latest.json)`
        : 'model folder not found',
    );
  }
  const latest = parseCheckpointJson(readFileSync(latestPath, 'utf8'), latestPath);
  const name = (latest as { checkpoint?: unknown } | null)?.checkpoint;
  if (typeof name !== 'string' || basename(name) !== name) {
    throw new CheckpointError(
      latestPath,
      `"checkpoint" must name a checkpoint folder (${describeJsonValue(name)})`,
    );
  }
  return join(dir, 'checkpoints', name);
}

/**
 * Loads a policy for sampling (not trainable) from a model folder (any family loadPolicyFolder
 * reads) or a run folder's latest checkpoint. Call after the TF.js backend is chosen.
 */
export function loadPolicy(dir: string): LoadedPolicy {
  const folder = policyFolder(dir);
  const source = loadPolicyFolder(folder);
  return { model: source.create({ trainable: false }), tokenizer: source.tokenizer, dir: folder };
}
