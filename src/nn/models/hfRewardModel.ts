import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../checkpointError.js';
import type { HfTokenizer } from '../hfTokenizer.js';
import { matMul, readFloats } from '../layers.js';
import { buildSequenceInput } from '../sequenceBatch.js';
import { HfDecoder } from './hfDecoder.js';
import { HF_CONFIG_FILE, type HfFolder } from './hfFolder.js';
import { isClassifier } from './hfParams.js';

/**
 * A `GPT2ForSequenceClassification` / `LlamaForSequenceClassification` (or Qwen2) reward model: the
 * decoder body, then the `score` head (nn.Linear without bias, weight [num_labels, width]) applied to
 * the hidden state of each sequence's last non-pad token, as transformers pools it. Inference only.
 */
export class HfRewardModel {
  readonly body: HfDecoder;
  readonly tokenizer: HfTokenizer;
  /** score.weight transposed: [width, 1]. */
  private readonly head: tf.Tensor2D;

  private constructor(body: HfDecoder, head: tf.Tensor2D, tokenizer: HfTokenizer) {
    this.body = body;
    this.head = head;
    this.tokenizer = tokenizer;
  }

  /** Checks that a folder holds a single-score classifier; throws a CheckpointError naming the field. */
  static check(folder: HfFolder): void {
    const configPath = `${folder.dir}/${HF_CONFIG_FILE}`;
    if (!isClassifier(folder.config))
      throw new CheckpointError(
        configPath,
        `holds a ${folder.config.architecture}; a reward model must be a ...ForSequenceClassification`,
      );
    if (folder.config.numLabels !== 1)
      throw new CheckpointError(
        configPath,
        `"num_labels" is ${folder.config.numLabels}; a reward model needs a single score (num_labels 1)`,
      );
    const score = folder.tensors['score.weight'];
    if (score === undefined) throw new CheckpointError(folder.dir, 'tensor "score.weight" is missing');
    if (score.shape.length !== 2 || score.shape[0] !== 1 || score.shape[1] !== folder.config.width)
      throw new CheckpointError(
        folder.dir,
        `tensor "score.weight" has shape [${score.shape.join(', ')}] but config.json needs [1, ${folder.config.width}]`,
      );
    if (folder.tensors['score.bias'] !== undefined)
      throw new CheckpointError(
        folder.dir,
        'tensor "score.bias" is not part of a transformers score head (bias=False)',
      );
  }

  static fromFolder(folder: HfFolder): HfRewardModel {
    HfRewardModel.check(folder);
    const body = HfDecoder.fromHfTensors(folder.config, folder.tensors, {
      trainable: false,
      source: folder.dir,
    });
    const score = folder.tensors['score.weight'];
    // [1, width] is row-major; as [width, 1] it is the same numbers.
    const head = tf.tensor2d(Float32Array.from(score.data), [folder.config.width, 1]);
    return new HfRewardModel(body, head, folder.tokenizer);
  }

  /**
   * Scores [rows] of token sequences. Trailing pad tokens are dropped first (transformers reads the
   * last non-pad token); sequences are then left-padded, so each row's last token is the last position.
   */
  score(sequences: readonly (readonly number[])[], batchSize = 64): Float32Array {
    const padId = this.tokenizer.padId;
    const trimmed = sequences.map((s) => {
      let end = s.length;
      while (end > 1 && s[end - 1] === padId) end--;
      return s.slice(0, Math.max(end, 1));
    });
    const width = this.body.config.width;
    const out = new Float32Array(trimmed.length);
    for (let start = 0; start < trimmed.length; start += batchSize) {
      const part = trimmed.slice(start, start + batchSize);
      const input = buildSequenceInput(part, new Int32Array(0), 0, padId);
      const scores = readFloats(() => {
        const { hidden } = this.body.forward(input);
        const last = hidden
          .reshape([part.length, input.length, width])
          .slice([0, input.length - 1, 0], [part.length, 1, width])
          .reshape([part.length, width]) as tf.Tensor2D;
        return matMul(last, this.head).reshape([part.length]);
      });
      out.set(scores, start);
    }
    return out;
  }

  dispose(): void {
    this.body.dispose();
    this.head.dispose();
  }
}
