import { JS_MOMENTS_ABOVE_PARAMETERS } from '../nn/training/momentStorage.js';
import { ConfigError } from './configError.js';
import { needsReference } from './referencePolicy.js';

export { needsReference };

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
  lora_r: 4096,
} as const;

/** A model's shape, as far as its memory is concerned. */
export interface ModelShape {
  vocabSize: number;
  contextLength: number;
  width: number;
  depth: number;
  heads: number;
  /** The model's parameter count when known (Hugging Face families); else grpovi's GPT formula. */
  parameters?: number;
}

/** What the memory estimate of a training step depends on. */
export interface TrainingSize {
  prompts_per_step: number;
  num_generations: number;
  max_completion_length: number;
  minibatch_size?: number;
  eval_prompts: number;
  backend: string;
  /** The fields that decide whether a frozen reference copy is kept (see `needsReference`). */
  beta?: number;
  log_kl?: boolean;
  algo?: string;
  grpovi_weights?: string;
  /** More than one minibatch per optimizer step keeps a sum of gradients beside the new ones. */
  gradient_accumulation_steps?: number;
  steps_per_generation?: number;
  /**
   * LoRA: the adapters' parameter count (see `adapterParameterCount`); absent or 0 = every weight
   * trains. With adapters the base is frozen and doubles as the reference (no copy), and gradients
   * and AdamW moments exist for the adapters only.
   */
  adapterParameters?: number;
}

/** WebAssembly memory is addressed with 32 bits: the wasm backend's tensors share 4 GiB at most. */
export const WASM_MEMORY_BYTES = 4 * 1024 ** 3;

/** Parameters of a GPT of this shape (tied embeddings counted once), or the shape's own count. */
export function parameterCount(shape: ModelShape): number {
  if (shape.parameters !== undefined) return shape.parameters;
  const d = shape.width;
  return (shape.vocabSize + shape.contextLength) * d + shape.depth * (12 * d * d + 13 * d) + 2 * d;
}

/**
 * Float32 values the gradient tape holds per token and layer, in widths, and per completion token
 * in vocabulary rows (logits, softmax, their gradients and the one-hot rows), measured with
 * tf.profile on GPT-2, Llama and grpovi GPT shapes (test/train/memoryEstimate.test.ts checks the
 * estimate against such measurements): about 100-150 widths and 6-7 vocabulary rows. TF.js keeps
 * every forward intermediate and every intermediate's gradient until the backward pass ends.
 */
const TAPE_WIDTHS_PER_LAYER_TOKEN = 150;
const TAPE_VOCAB_ROWS_PER_TOKEN = 8;
/** Scoring without a tape: the layers' intermediates of the batch and 4 vocabulary rows per token. */
const SCORING_WIDTHS_PER_LAYER_TOKEN = 40;
const SCORING_VOCAB_ROWS_PER_TOKEN = 4;

/** The parts of a training step's peak memory, in bytes (float32 tensors). */
export interface MemoryEstimate {
  /** The policy's weights, plus the frozen reference's when the run needs one (never with LoRA), plus adapters. */
  weights: number;
  /** The gradients of one minibatch, plus their running sum under gradient accumulation. */
  gradients: number;
  /** The two AdamW moments: JS memory (outside the wasm heap) above JS_MOMENTS_ABOVE_PARAMETERS. */
  optimizerMoments: number;
  /** The larger of the update's tape (one minibatch) with the gradients, and of scoring the whole batch. */
  activations: number;
  /** Peak of the backend's tensor memory (what the wasm heap must hold). */
  tensorBytes: number;
  /** Everything, for backends whose tensors live in JS memory (cpu). */
  totalBytes: number;
}

/**
 * A training step's peak memory, roughly: the policy and (when needed) the reference, the
 * gradients, the tape of one minibatch's update (per layer and token about 150 widths, per
 * completion token 8 vocabulary rows), the vocabulary table's two gradient parts when tied, and
 * the AdamW moments, which live in JS memory. Meant to catch sizes that cannot fit (it errs high);
 * the wasm heap can grow a little past the live peak by fragmentation.
 */
export function estimateMemory(shape: ModelShape, size: TrainingSize, longestPrompt: number): MemoryEstimate {
  const tokens = Math.min(shape.contextLength, longestPrompt + size.max_completion_length);
  const completion = Math.min(tokens, size.max_completion_length);
  const batchRows = size.prompts_per_step * size.num_generations;
  const updateRows = size.minibatch_size ?? batchRows;
  const params = 4 * parameterCount(shape);
  const table = 4 * shape.vocabSize * shape.width;
  const minibatches = size.steps_per_generation ?? batchRows / updateRows;
  const accumulation = size.gradient_accumulation_steps ?? minibatches;
  const adapterCount = size.adapterParameters ?? 0;
  const lora = adapterCount > 0;
  // What the optimizer trains: every weight, or (LoRA) the adapters alone on a frozen base, whose
  // reference pass is the base with the adapters off, and whose embedding table gets no gradient.
  const trained = lora ? 4 * adapterCount : params;
  const weights = lora ? params + trained : params * (needsReference(size) ? 2 : 1);
  const gradients = trained * (accumulation > 1 ? 2 : 1) + (lora ? 0 : 2 * table);
  const tape =
    4 *
    updateRows *
    (tokens * shape.depth * TAPE_WIDTHS_PER_LAYER_TOKEN * shape.width +
      completion * TAPE_VOCAB_ROWS_PER_TOKEN * shape.vocabSize);
  const scoringRows = Math.max(batchRows, size.eval_prompts);
  const scoring =
    4 *
    scoringRows *
    (tokens * shape.depth * SCORING_WIDTHS_PER_LAYER_TOKEN * shape.width +
      completion * SCORING_VOCAB_ROWS_PER_TOKEN * shape.vocabSize);
  const activations = Math.max(tape + gradients, scoring + table);
  const optimizerMoments = 2 * trained;
  const momentsInJs = trained / 4 > JS_MOMENTS_ABOVE_PARAMETERS;
  const tensorBytes = weights + activations + (momentsInJs ? 0 : optimizerMoments);
  return {
    weights,
    gradients,
    optimizerMoments,
    activations,
    tensorBytes,
    totalBytes: tensorBytes + (momentsInJs ? optimizerMoments : 0),
  };
}

/** The estimate's bytes that must fit the backend's budget (see `estimateMemory`). */
export function estimateTrainingBytes(shape: ModelShape, size: TrainingSize, longestPrompt: number): number {
  const estimate = estimateMemory(shape, size, longestPrompt);
  return size.backend === 'cpu' ? estimate.totalBytes : estimate.tensorBytes;
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
  const fields: [Exclude<keyof ModelShape, 'parameters'>, number, string][] = [
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
