import { describeValue, jsonProblem, parseJson } from '../../util/jsonText.js';

/**
 * A checkpoint file (weights, tokenizer, ...) that cannot be used as it stands. The message starts with
 * the file and names the bad field and value, e.g.
 * `model.safetensors: tensor "wte" has data_offsets [0, 12] but shape [2, 2] of F32 needs 16 bytes`.
 */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
  /** The file (or label) that is wrong, as the caller named it. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly problem: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.file = file;
    this.problem = problem;
  }
}

/** Renders a parsed JSON value for an error message: short, and unambiguous about its type (bounded, see util/boundedJson). */
export function describeJsonValue(value: unknown): string {
  return describeValue(value);
}

/** Parses the JSON text of a checkpoint or model file; a text that is not acceptable is a CheckpointError naming `file`. */
export function parseCheckpointJson(text: string, file: string): unknown {
  try {
    return parseJson(text, file);
  } catch (error) {
    throw new CheckpointError(file, jsonProblem(error));
  }
}
