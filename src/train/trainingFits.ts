import { totalmem } from 'node:os';
import { ConfigError } from './configError.js';
import {
  checkBatchLimits,
  checkShapeLimits,
  estimateTrainingBytes,
  type ModelShape,
  parameterCount,
  type TrainingSize,
  WASM_MEMORY_BYTES,
} from './limits.js';

/**
 * The memory check of a run against this machine (Node: it reads the machine's memory); the sizes
 * and estimates it uses live in limits.ts, which runs anywhere.
 */

/** The bytes a backend can give tensors here: the machine's memory, and for wasm its 4 GiB address space. */
export function memoryBudget(backend: string, machineBytes = totalmem()): number {
  const usable = machineBytes * 0.8;
  return backend === 'cpu' ? usable : Math.min(usable, WASM_MEMORY_BYTES);
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(bytes < 1024 ** 3 ? 2 : 1)} GiB`;
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
        `(${parameterCount(shape)} parameters${(size.adapterParameters ?? 0) > 0 ? `, ${size.adapterParameters} of them LoRA adapters that train` : ''}; ${rows} completions of up to ${size.max_completion_length} tokens per update); ` +
        'lower max_completion_length or the model size, or update in smaller minibatches (minibatch_size with gradient_accumulation_steps = prompts_per_step x num_generations / minibatch_size keeps one optimizer step per batch)',
      'num_generations',
    );
  }
}
