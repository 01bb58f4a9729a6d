import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoraAdapter, type LoraOptions } from '../nn/adapters/lora.js';
import {
  type AdaptableSpec,
  adaptableProjections,
  type AdapterFamily,
  adapterParameterCount,
  AdapterTargetError,
  selectTargets,
} from '../nn/adapters/loraTargets.js';
import { Gpt } from '../nn/models/gpt.js';
import { HfDecoder } from '../nn/models/hfDecoder.js';
import type { PolicyModel } from '../nn/models/policyModel.js';
import { CheckpointError, describeJsonValue } from '../nn/weights/checkpointError.js';
import {
  adapterFromPeftFolder,
  PEFT_CONFIG_FILE,
  peftFolderFiles,
  readPeftFolder,
} from '../nn/weights/peftFolder.js';
import type { TrainConfig } from './config.js';
import { ConfigError } from './configError.js';

/**
 * A LoRA run on the trainer's side: the adapter a run trains (fresh, or from `adapter`), the base
 * it sits on (identified by a hash of its weights), and the adapter files of its checkpoints.
 */

/** PEFT's default lora_alpha. */
export const DEFAULT_LORA_ALPHA = 8;
/** What a LoRA checkpoint records about the frozen base it was trained on. */
export const LORA_BASE_FILE = 'lora-base.json';

/** The adapter family of a policy model: grpovi's GPT, or the Hugging Face model type. */
export function adapterFamilyOf(policy: PolicyModel): AdapterFamily {
  if (policy instanceof HfDecoder) return policy.config.modelType;
  if (policy instanceof Gpt) return 'gpt';
  throw new TypeError('LoRA adapters need a grpovi GPT or Hugging Face decoder policy');
}

/** The LoRA options of a config (lora_r > 0). */
export function loraOptionsOf(config: TrainConfig): LoraOptions {
  return {
    r: config.lora_r ?? 0,
    alpha: config.lora_alpha ?? DEFAULT_LORA_ALPHA,
    dropout: config.lora_dropout ?? 0,
    targetModules: config.lora_target_modules,
  };
}

/**
 * The adapter a run starts from: the `adapter` folder's (whose r, alpha, dropout and targets win;
 * a different lora_r in the config is refused), or a fresh one seeded by the run's seed.
 */
export function createRunAdapter(policy: PolicyModel, config: TrainConfig): LoraAdapter {
  const family = adapterFamilyOf(policy);
  if (config.adapter !== undefined) {
    const folder = readPeftFolder(config.adapter);
    for (const [field, value, own] of [
      ['lora_r', config.lora_r, folder.options.r],
      ['lora_alpha', config.lora_alpha, folder.options.alpha],
      ['lora_dropout', config.lora_dropout, folder.options.dropout],
    ] as const) {
      if (value !== undefined && value !== own)
        throw new ConfigError(
          `config: field "${field}" must match the adapter folder ${config.adapter}, whose ${PEFT_CONFIG_FILE} says ${own} (${value})`,
          field,
        );
    }
    return asConfigError(() => adapterFromPeftFolder(folder, family, policy.specs));
  }
  return asConfigError(() => LoraAdapter.init(family, policy.specs, loraOptionsOf(config), config.seed));
}

/** A target list that does not fit the policy is the user's config error (its message names the input). */
function asConfigError<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    if (error instanceof AdapterTargetError) throw new ConfigError(error.message, 'lora_target_modules');
    throw error;
  }
}

/**
 * The adapter parameters a LoRA config will train on a model of these specs, before anything is
 * allocated (for the memory estimate); undefined when not known yet (an adapter folder's rank, or a
 * target list that does not fit, which the adapter's creation reports).
 */
export function plannedAdapterParameters(
  family: AdapterFamily,
  specs: readonly AdaptableSpec[],
  config: TrainConfig,
): number | undefined {
  if ((config.lora_r ?? 0) === 0 || config.adapter !== undefined) return undefined;
  try {
    const targets = selectTargets(family, adaptableProjections(family, specs), config.lora_target_modules);
    return adapterParameterCount(targets, config.lora_r as number);
  } catch (error) {
    if (error instanceof AdapterTargetError) return undefined;
    throw error;
  }
}

/** sha256 over the base's parameter names, shapes and float32 bytes, in parameter order. */
export function baseWeightsHash(policy: PolicyModel): string {
  const hash = createHash('sha256');
  const tensors = policy.toTensors();
  for (const spec of policy.specs) {
    const t = tensors[spec.name];
    hash.update(`${spec.name}[${t.shape.join(',')}]`);
    hash.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return hash.digest('hex');
}

/** Where the base came from: the policy folder, or the task that initializes it from the seed. */
export interface LoraBase {
  /** The policy folder (absolute), or `task:<name>` for a policy the task initializes. */
  path: string;
  sha256: string;
}

export function loraBaseOf(policy: PolicyModel, config: TrainConfig): LoraBase {
  return {
    path: config.policy ?? `task:${config.task} (seed ${config.seed})`,
    sha256: baseWeightsHash(policy),
  };
}

/** The adapter files of a checkpoint: a PEFT folder's two files and the base's path and hash. */
export function loraCheckpointFiles(
  adapter: LoraAdapter,
  base: LoraBase,
): Record<string, Uint8Array | string> {
  return {
    ...peftFolderFiles(adapter, base.path),
    [LORA_BASE_FILE]: `${JSON.stringify({ format: 'grpovi-lora-base', version: 1, ...base }, null, 2)}\n`,
  };
}

/** Whether a checkpoint (or policy) folder holds a LoRA run's adapter. */
export function holdsLoraAdapter(dir: string): boolean {
  return existsSync(join(dir, LORA_BASE_FILE));
}

/** The base a LoRA checkpoint was trained on, as recorded. */
export function readLoraBase(dir: string): LoraBase {
  const path = join(dir, LORA_BASE_FILE);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      path,
      code === 'ENOENT' ? 'file not found' : `is not valid JSON (${(error as Error).message})`,
    );
  }
  const record = parsed as Partial<LoraBase> | null;
  if (typeof record?.path !== 'string')
    throw new CheckpointError(path, `"path" must be a string (${describeJsonValue(record?.path)})`);
  if (typeof record.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(record.sha256))
    throw new CheckpointError(path, `"sha256" must be 64 hex digits (${describeJsonValue(record.sha256)})`);
  return { path: record.path, sha256: record.sha256 };
}

/**
 * Loads a checkpoint's adapter matrices into the run's adapter, after checking that the run's base
 * is the one the checkpoint was trained on (same weights, by hash).
 */
export function restoreAdapter(
  checkpointDir: string,
  adapter: LoraAdapter,
  policy: PolicyModel,
  base: LoraBase,
): void {
  const recorded = readLoraBase(checkpointDir);
  if (recorded.sha256 !== base.sha256)
    throw new CheckpointError(
      join(checkpointDir, LORA_BASE_FILE),
      `the adapter was trained on a base with weights sha256 ${recorded.sha256.slice(0, 12)}... (${recorded.path}), but this run's base has ${base.sha256.slice(0, 12)}... (${base.path})`,
    );
  const saved = adapterFromPeftFolder(readPeftFolder(checkpointDir), adapterFamilyOf(policy), policy.specs);
  try {
    adapter.assign(saved);
  } finally {
    saved.dispose();
  }
}

/**
 * The policy with its adapters off, as the reference policy: the frozen base, without a copy of
 * its weights (PEFT's disable_adapter()). Disposing it disposes nothing.
 */
export function adaptersOffView(policy: PolicyModel, adapter: LoraAdapter): PolicyModel {
  return {
    config: policy.config,
    specs: policy.specs,
    forward: (input, past) => adapter.withAdaptersOff(() => policy.forward(input, past)),
    outputProjection: () => policy.outputProjection(),
    logits: (hidden, projection) => policy.logits(hidden, projection),
    variables: () => [],
    assign: () => {
      throw new Error('the reference view of a LoRA policy cannot be assigned to');
    },
    copy: (options) => policy.copy(options),
    toTensors: () => policy.toTensors(),
    dispose: () => {},
  };
}
