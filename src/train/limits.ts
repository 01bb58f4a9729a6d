import { totalmem } from 'node:os';
import { ConfigError } from './configError.js';

/**
 * Resource limits, checked before anything is allocated or written: a size far beyond what a
 * run on one machine can hold fails at once with the field and the limit, instead of a stack
 * overflow, an allocation failure or an hour of swapping. The bounds are generous (well beyond
 * what fits the memory of this machine class); the memory estimate below catches combinations.
 */
export const LIMITS = {
  num_generations: 4096,
  prompts_per_step: 4096,
  /** prompts_per_step x num_generations. */
  batch_rows: 65_536,
  max_completion_length: 65_536,
  eval_prompts: 65_536,
  width: 16_384,
  depth: 512,
  heads: 1024,
  context_length: 65_536,
  vocab_size: 4_194_304,
} as const;

/** A model's shape, as far as its memory is concerned. */
export interface ModelShape {
  vocabSize: number;
  contextLength: number;
  width: number;
  depth: number;
  heads: number;
}

/** What the memory estimate of a training step depends on. */
export interface TrainingSize {
  prompts_per_step: number;
  num_generations: number;
  max_completion_length: number;
  minibatch_size?: number;
  eval_prompts: number;
  backend: string;
}

/** WebAssembly memory is addressed with 32 bits: the wasm backend's tensors share 4 GiB at most. */
const WASM_MEMORY_BYTES = 4 * 1024 ** 3;

/** Parameters of a GPT of this shape (tied embeddings counted once). */
export function parameterCount(shape: ModelShape): number {
  const d = shape.width;
  return (shape.vocabSize + shape.contextLength) * d + shape.depth * (12 * d * d + 13 * d) + 2 * d;
}

/**
 * Bytes a training step needs at its peak, roughly, in float32: the policy, the frozen reference,
 * the two AdamW moments, the gradients and an update temporary (6 copies of the parameters), the
 * activations the gradient tape keeps for a minibatch (per layer and token about 16 widths plus
 * two attention rows per head, doubled for the backward pass), and the logits with their softmax
 * and gradients (4 copies of rows x tokens x vocabulary). Meant to catch sizes that cannot fit,
 * not to budget memory closely.
 */
export function estimateTrainingBytes(shape: ModelShape, size: TrainingSize, longestPrompt: number): number {
  const tokens = Math.min(shape.contextLength, longestPrompt + size.max_completion_length);
  const rows = Math.max(
    size.minibatch_size ?? size.prompts_per_step * size.num_generations,
    size.eval_prompts,
  );
  const perToken = shape.depth * 2 * (16 * shape.width + 2 * shape.heads * tokens) + 4 * shape.vocabSize;
  return 4 * (6 * parameterCount(shape) + rows * tokens * perToken);
}

/** The bytes a backend can give tensors here: the machine's memory, and for wasm its 4 GiB address space. */
export function memoryBudget(backend: string, machineBytes = totalmem()): number {
  const usable = machineBytes * 0.8;
  return backend === 'cpu' ? usable : Math.min(usable, WASM_MEMORY_BYTES);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GiB`;
}

/**
 * Checks the batch sizes against LIMITS (values that pass the config schema's own bounds); throws
 * a ConfigError naming the field, the limit and the value.
 */
export function checkBatchLimits(size: TrainingSize, source = 'config'): void {
  const rows = size.prompts_per_step * size.num_generations;
  if (rows > LIMITS.batch_rows) {
    throw new ConfigError(
      `${source}: fields "prompts_per_step" x "num_generations" = ${rows} completions per step exceed the limit of ${LIMITS.batch_rows} (${size.prompts_per_step} x ${size.num_generations})`,
      'num_generations',
    );
  }
}

/** Checks a model's shape against LIMITS; `source` names where the shape comes from. */
export function checkShapeLimits(shape: ModelShape, source: string): void {
  const fields: [keyof ModelShape, number, string][] = [
    ['width', LIMITS.width, 'width'],
    ['depth', LIMITS.depth, 'depth'],
    ['heads', LIMITS.heads, 'heads'],
    ['contextLength', LIMITS.context_length, 'context_length'],
    ['vocabSize', LIMITS.vocab_size, 'vocabulary size'],
  ];
  for (const [key, limit, name] of fields) {
    if (shape[key] > limit)
      throw new ConfigError(`${source}: ${name} must be at most ${limit} (${shape[key]})`, `model.${key}`);
  }
}

/**
 * Checks that a run fits its model before the run allocates: a prompt plus `max_completion_length`
 * within the model's context, and the estimated peak memory within the backend's budget.
 */
export function checkTrainingFits(
  shape: ModelShape,
  size: TrainingSize,
  longestPrompt: number,
  options: { source?: string; machineBytes?: number } = {},
): void {
  const source = options.source ?? 'config';
  checkShapeLimits(shape, `${source}: model`);
  checkBatchLimits(size, source);
  if (longestPrompt + size.max_completion_length > shape.contextLength) {
    throw new ConfigError(
      `${source}: field "max_completion_length" must leave room for the longest prompt (${longestPrompt} tokens) in the model's context of ${shape.contextLength} tokens, so be at most ${Math.max(0, shape.contextLength - longestPrompt)} (${size.max_completion_length})`,
      'max_completion_length',
    );
  }
  const needed = estimateTrainingBytes(shape, size, longestPrompt);
  const budget = memoryBudget(size.backend, options.machineBytes);
  if (needed > budget) {
    const rows = size.minibatch_size ?? size.prompts_per_step * size.num_generations;
    throw new ConfigError(
      `${source}: the run needs about ${gib(needed)} of memory, more than the ${gib(budget)} the ${size.backend} backend can use here ` +
        `(${parameterCount(shape)} parameters; ${rows} completions of up to ${size.max_completion_length} tokens per update); ` +
        'lower prompts_per_step, num_generations, minibatch_size, max_completion_length or the model size',
      'num_generations',
    );
  }
}
