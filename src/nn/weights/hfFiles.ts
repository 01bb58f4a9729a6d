import { parseJson } from '../../util/jsonText.js';
import { CheckpointError, describeJsonValue, parseCheckpointJson } from './checkpointError.js';
import { type FolderReader, readSafetensors, readText } from './folderReader.js';
import { HfTokenizer } from '../tokenizers/hfTokenizer.js';
import { encodeSafetensors, type NamedTensor } from './safetensors.js';
import { type HfDecoderConfig, parseHfConfig } from '../models/hfConfig.js';
import { bodyPrefix, hfParamSpecs, isClassifier } from '../models/hfParams.js';
import { type OnnxExportOptions, onnxCausalLm } from './onnxExport.js';

/** Hugging Face model folders as files (node-free: hfFolder.ts reads and writes them on disk). */

export const HF_CONFIG_FILE = 'config.json';
export const HF_WEIGHTS_FILE = 'model.safetensors';
export const HF_INDEX_FILE = 'model.safetensors.index.json';
/** Tokenizer and generation files copied as they are between folders. */
const SIDE_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'generation_config.json',
  'chat_template.jinja',
];

/** A Hugging Face model folder as read: config, weights (body prefix removed, file layout), tokenizer. */
export interface HfFolder {
  dir: string;
  config: HfDecoderConfig;
  /** config.json as parsed, kept to write it back with only the needed fields changed. */
  rawConfig: Record<string, unknown>;
  /** Tensors by name without the `transformer.`/`model.` prefix; head tensors (`score.weight`, `lm_head.weight`) as named. */
  tensors: Record<string, NamedTensor>;
  tokenizer: HfTokenizer;
  /** The tokenizer and generation files by name, as read (written back by checkpoints and export). */
  sideFiles: Record<string, string>;
}

/** Whether a folder is a Hugging Face one (config.json with a model_type) rather than a grpovi one (model.json). */
export function isHfFiles(folder: FolderReader): boolean {
  if (folder.has('model.json') || !folder.has(HF_CONFIG_FILE)) return false;
  try {
    const json = parseJson(readText(folder, HF_CONFIG_FILE), HF_CONFIG_FILE);
    return typeof json === 'object' && json !== null && 'model_type' in json;
  } catch {
    return true; // a broken config.json is reported by parseHfFolder, naming the problem
  }
}

function readJsonObject(folder: FolderReader, name: string): Record<string, unknown> {
  const path = folder.path(name);
  const value = parseCheckpointJson(readText(folder, name), path);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CheckpointError(path, `must hold a JSON object (${describeJsonValue(value)})`);
  return value as Record<string, unknown>;
}

/** Tensors of a single file or of the shards an index names; every name is checked against its shard. */
function readWeights(folder: FolderReader): Record<string, NamedTensor> {
  const indexPath = folder.path(HF_INDEX_FILE);
  // On disk, tensors are read from the file one at a time when a model is built from them.
  const decode = (name: string) => readSafetensors(folder, name, { widenHalfFloats: true });
  if (folder.has(HF_WEIGHTS_FILE)) return decode(HF_WEIGHTS_FILE);
  if (!folder.has(HF_INDEX_FILE))
    throw new CheckpointError(
      folder.dir,
      `has neither ${HF_WEIGHTS_FILE} nor ${HF_INDEX_FILE} (only safetensors weights are read)`,
    );
  const index = readJsonObject(folder, HF_INDEX_FILE);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map))
    throw new CheckpointError(
      indexPath,
      `"weight_map" must be an object of tensor names to files (${describeJsonValue(map)})`,
    );
  const byFile = new Map<string, string[]>();
  for (const [name, file] of Object.entries(map as Record<string, unknown>)) {
    if (typeof file !== 'string' || file.includes('/'))
      throw new CheckpointError(
        indexPath,
        `"weight_map"."${name}" must name a file in the folder (${describeJsonValue(file)})`,
      );
    byFile.set(file, [...(byFile.get(file) ?? []), name]);
  }
  const tensors: Record<string, NamedTensor> = {};
  for (const [file, names] of byFile) {
    const path = folder.path(file);
    if (!folder.has(file)) throw new CheckpointError(path, `file not found (named by ${HF_INDEX_FILE})`);
    const shard = decode(file);
    for (const name of names) {
      if (shard[name] === undefined)
        throw new CheckpointError(path, `has no tensor "${name}", which ${HF_INDEX_FILE} places there`);
      tensors[name] = shard[name];
    }
  }
  return tensors;
}

/** Buffers some files carry that are not parameters: GPT-2's causal masks, RoPE frequencies. */
const BUFFER = /(\.attn\.(masked_)?bias|rotary_emb\.inv_freq)$/;

/**
 * Removes the body prefix (`transformer.` or `model.`, which GPT2LMHeadModel / LlamaForCausalLM
 * add; the original gpt2 files have none) and drops buffers. Any other unknown tensor is an error:
 * it means a variant this implementation would silently compute wrong.
 */
function canonicalTensors(
  config: HfDecoderConfig,
  raw: Record<string, NamedTensor>,
  source: string,
): Record<string, NamedTensor> {
  const prefix = bodyPrefix(config);
  const expected = new Set(hfParamSpecs(config).map((s) => s.name));
  const heads = new Set(['lm_head.weight', 'score.weight', 'score.bias']);
  const out: Record<string, NamedTensor> = {};
  for (const [key, tensor] of Object.entries(raw)) {
    const name = key.startsWith(prefix) ? key.slice(prefix.length) : key;
    // Buffers, and the copy of the embedding that some tied files carry as lm_head.
    if (BUFFER.test(name) || (name === 'lm_head.weight' && config.tiedEmbeddings)) continue;
    if (!expected.has(name) && !heads.has(name))
      throw new CheckpointError(
        source,
        `tensor "${key}" is not a parameter of ${config.architecture} with this config.json`,
      );
    out[name] = tensor;
  }
  return out;
}

/** Reads a Hugging Face folder's files; every problem is a CheckpointError naming the file and field. */
export function parseHfFolder(folder: FolderReader): HfFolder {
  const dir = folder.dir;
  const configPath = folder.path(HF_CONFIG_FILE);
  const rawConfig = readJsonObject(folder, HF_CONFIG_FILE);
  const config = parseHfConfig(rawConfig, configPath);
  const tokenizerPath = folder.path('tokenizer.json');
  const sideFiles: Record<string, string> = {};
  for (const name of SIDE_FILES) if (folder.has(name)) sideFiles[name] = readText(folder, name);
  if (sideFiles['tokenizer.json'] === undefined)
    throw new CheckpointError(
      tokenizerPath,
      'file not found (grpovi reads Hugging Face tokenizers from tokenizer.json)',
    );
  const tokenizer = new HfTokenizer(
    sideFiles['tokenizer.json'],
    sideFiles['tokenizer_config.json'],
    config,
    dir,
    {
      chatTemplateJinja: sideFiles['chat_template.jinja'],
      generationConfigJson: sideFiles['generation_config.json'],
    },
  );
  if (tokenizer.vocabSize > config.vocabSize)
    throw new CheckpointError(
      configPath,
      `"vocab_size" ${config.vocabSize} is smaller than the ${tokenizer.vocabSize} tokens of tokenizer.json`,
    );
  const tensors = canonicalTensors(config, readWeights(folder), dir);
  return { dir, config, rawConfig, tensors, tokenizer, sideFiles };
}

/** config.json for `config` written back over `base` (the source folder's config, or none for a new one). */
export function hfConfigJson(
  config: HfDecoderConfig,
  base: Record<string, unknown> = {},
  architecture?: string,
): string {
  const out: Record<string, unknown> = { ...base, model_type: config.modelType };
  out.architectures = [architecture ?? config.architecture];
  out.vocab_size = config.vocabSize;
  out.tie_word_embeddings = config.tiedEmbeddings;
  out.torch_dtype = 'float32';
  if (config.bosId !== undefined) out.bos_token_id ??= config.bosId;
  if (config.eosId !== undefined) out.eos_token_id ??= config.eosId;
  if (config.family === 'gpt2') {
    Object.assign(out, {
      n_positions: config.contextLength,
      n_embd: config.width,
      n_layer: config.depth,
      n_head: config.heads,
      n_inner: config.innerWidth,
      activation_function: config.activation,
      layer_norm_epsilon: config.normEps,
    });
  } else {
    Object.assign(out, {
      max_position_embeddings: config.contextLength,
      hidden_size: config.width,
      num_hidden_layers: config.depth,
      num_attention_heads: config.heads,
      num_key_value_heads: config.kvHeads,
      head_dim: config.headWidth,
      intermediate_size: config.innerWidth,
      hidden_act: config.activation,
      rms_norm_eps: config.normEps,
      rope_theta: config.ropeTheta,
    });
    if (config.modelType === 'llama')
      Object.assign(out, { attention_bias: config.qkvBias, mlp_bias: config.mlpBias });
  }
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Whether transformers.js can run an exported folder: causal LMs get onnx/model.onnx, classifiers do not. */
export function hasOnnxExport(config: HfDecoderConfig): boolean {
  return !isClassifier(config);
}

/**
 * The files of a Hugging Face folder by name: config.json, model.safetensors (F32, prefixed names),
 * tokenizer files, and with `onnx` (export) the ONNX graph transformers.js loads, for causal LMs.
 */
export function hfFolderFiles(
  config: HfDecoderConfig,
  hfTensors: Record<string, NamedTensor>,
  options: {
    baseConfig?: Record<string, unknown>;
    sideFiles: Record<string, string>;
    architecture?: string;
    onnx?: OnnxExportOptions;
  },
): Record<string, Uint8Array | string> {
  const prefix = bodyPrefix(config);
  const heads = new Set(['lm_head.weight', 'score.weight', 'score.bias']);
  const named: Record<string, NamedTensor> = {};
  for (const [name, tensor] of Object.entries(hfTensors))
    named[heads.has(name) ? name : prefix + name] = tensor;
  let baseConfig = options.baseConfig;
  let onnxFiles: Record<string, Uint8Array> = {};
  if (options.onnx && hasOnnxExport(config)) {
    const onnx = onnxCausalLm(config, hfTensors, options.onnx);
    onnxFiles = onnx.files;
    // transformers.js reads this block: only the fp32 graph exists (its wasm device would otherwise
    // ask for model_quantized.onnx), with its weights in model.onnx_data when they are external.
    const jsConfig: Record<string, unknown> = { dtype: 'fp32' };
    if (onnx.externalData) jsConfig.use_external_data_format = true;
    baseConfig = { ...baseConfig, 'transformers.js_config': jsConfig };
  }
  return {
    ...options.sideFiles,
    [HF_WEIGHTS_FILE]: encodeSafetensors(named, { format: 'pt', producer: 'grpovi' }),
    [HF_CONFIG_FILE]: hfConfigJson(config, baseConfig, options.architecture),
    ...onnxFiles,
  };
}
