import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoraAdapter, type LoraOptions } from '../adapters/lora.js';
import {
  type AdaptableSpec,
  type AdapterFamily,
  fanInFanOut,
  type TargetModules,
} from '../adapters/loraTargets.js';
import { CheckpointError, describeJsonValue } from './checkpointError.js';
import { writeFolderAtomic } from './hfFolder.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from './safetensors.js';

/**
 * PEFT adapter folders: `adapter_config.json` (a LoraConfig as PEFT's save_pretrained writes it) and
 * `adapter_model.safetensors` (keys `base_model.model.<module>.lora_A.weight` / `lora_B.weight`, A
 * [r, in] and B [out, r] for every layer type; see ../adapters/loraTargets.ts). The folder names its
 * base model but does not hold it: `--policy BASE --adapter DIR` loads the two together.
 */
export const PEFT_CONFIG_FILE = 'adapter_config.json';
export const PEFT_WEIGHTS_FILE = 'adapter_model.safetensors';

/** An adapter folder as read: its LoRA options and its tensors under PEFT's keys. */
export interface PeftFolder {
  dir: string;
  options: LoraOptions & { targetModules: TargetModules | undefined };
  /** `base_model_name_or_path` as written (a hub name or a path); null when absent. */
  baseModel: string | null;
  /** adapter_config.json as parsed. */
  rawConfig: Record<string, unknown>;
  tensors: Record<string, NamedTensor>;
}

/** Whether `dir` holds an adapter folder (adapter_config.json). */
export function isPeftFolder(dir: string): boolean {
  return existsSync(join(dir, PEFT_CONFIG_FILE));
}

/** adapter_config.json for an adapter, with the fields PEFT's LoraConfig reads back. */
export function peftConfigJson(adapter: LoraAdapter, baseModel: string): string {
  const config = {
    alpha_pattern: {},
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: fanInFanOut(adapter.family),
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: adapter.alpha,
    lora_dropout: adapter.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: adapter.r,
    rank_pattern: {},
    revision: null,
    target_modules: adapter.targetModules,
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: adapter.rsLora,
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The two files of an adapter folder. */
export function peftFolderFiles(
  adapter: LoraAdapter,
  baseModel: string,
): Record<string, Uint8Array | string> {
  return {
    [PEFT_CONFIG_FILE]: peftConfigJson(adapter, baseModel),
    // PEFT's own files carry {"format": "pt"}, which safetensors' torch loader checks.
    [PEFT_WEIGHTS_FILE]: encodeSafetensors(adapter.toPeftTensors(), { format: 'pt' }),
  };
}

/** Writes an adapter folder at once; refuses an existing `dir`. */
export function writePeftFolder(dir: string, adapter: LoraAdapter, baseModel: string): void {
  writeFolderAtomic(dir, peftFolderFiles(adapter, baseModel));
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

/** Reads and checks adapter_config.json; errors name the file, the field and the value. */
export function parsePeftConfig(
  raw: Record<string, unknown>,
  path: string,
): { options: PeftFolder['options']; baseModel: string | null } {
  const fail = (field: string, problem: string): never => {
    throw new CheckpointError(path, `field "${field}" ${problem} (${describeJsonValue(raw[field])})`);
  };
  if (raw.peft_type !== 'LORA') fail('peft_type', 'must be "LORA" (only LoRA adapters are read)');
  const r = raw.r;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) fail('r', 'must be a positive integer');
  const alpha = raw.lora_alpha ?? 8;
  if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha <= 0)
    fail('lora_alpha', 'must be a positive number');
  const dropout = raw.lora_dropout ?? 0;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
    fail('lora_dropout', 'must be in [0, 1)');
  const targets = raw.target_modules;
  let targetModules: TargetModules | undefined;
  if (targets === undefined || targets === null) targetModules = undefined;
  else if (typeof targets === 'string') targetModules = targets;
  else if (Array.isArray(targets) && targets.length > 0 && targets.every((t) => typeof t === 'string'))
    targetModules = targets as string[];
  else fail('target_modules', 'must be a non-empty list of module names or a regular expression');
  if ((raw.bias ?? 'none') !== 'none')
    fail('bias', 'must be "none" (adapters that train the base biases are not supported)');
  if (raw.task_type !== undefined && raw.task_type !== null && raw.task_type !== 'CAUSAL_LM')
    fail('task_type', 'must be "CAUSAL_LM" (a policy is a causal language model)');
  const rsLora = raw.use_rslora ?? false;
  if (typeof rsLora !== 'boolean') fail('use_rslora', 'must be true or false');
  // Variants that change the computation beyond x A^T B^T * scale.
  for (const field of ['use_dora', 'lora_bias', 'use_qalora', 'use_alora']) {
    if (!isEmpty(raw[field])) fail(field, 'is not supported (only plain LoRA adapters are read)');
  }
  for (const field of ['rank_pattern', 'alpha_pattern', 'modules_to_save', 'layers_to_transform']) {
    if (!isEmpty(raw[field]))
      fail(field, 'is not supported (every adapted module must share r and lora_alpha)');
  }
  const base = raw.base_model_name_or_path;
  if (base !== undefined && base !== null && typeof base !== 'string')
    fail('base_model_name_or_path', 'must be a string');
  return {
    options: {
      r: r as number,
      alpha: alpha as number,
      dropout: dropout as number,
      targetModules,
      rsLora: rsLora as boolean,
    },
    baseModel: typeof base === 'string' ? base : null,
  };
}

/** Reads an adapter folder (config and tensors), without the base model. */
export function readPeftFolder(dir: string): PeftFolder {
  const configPath = join(dir, PEFT_CONFIG_FILE);
  if (!existsSync(configPath))
    throw new CheckpointError(dir, `is not a PEFT adapter folder (no ${PEFT_CONFIG_FILE})`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (error) {
    throw new CheckpointError(configPath, `is not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CheckpointError(configPath, `must hold a JSON object (${describeJsonValue(raw)})`);
  const rawConfig = raw as Record<string, unknown>;
  const { options, baseModel } = parsePeftConfig(rawConfig, configPath);
  const weightsPath = join(dir, PEFT_WEIGHTS_FILE);
  if (!existsSync(weightsPath)) {
    const pickled = existsSync(join(dir, 'adapter_model.bin'));
    throw new CheckpointError(
      dir,
      pickled
        ? `holds adapter_model.bin but not ${PEFT_WEIGHTS_FILE} (only safetensors weights are read; save with safe_serialization=True)`
        : `has no ${PEFT_WEIGHTS_FILE}`,
    );
  }
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(weightsPath)), weightsPath, {
    widenHalfFloats: true,
  });
  return { dir, options, baseModel, rawConfig, tensors };
}

/** The adapter of a folder on a base model of this family and these parameter specs; every key and shape checked. */
export function adapterFromPeftFolder(
  folder: PeftFolder,
  family: AdapterFamily,
  specs: readonly AdaptableSpec[],
): LoraAdapter {
  return LoraAdapter.fromPeftTensors(
    family,
    specs,
    folder.options,
    folder.tensors,
    join(folder.dir, PEFT_WEIGHTS_FILE),
  );
}
