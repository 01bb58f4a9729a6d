import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../weights/checkpointError.js';
import type { HfTokenizer } from '../tokenizers/hfTokenizer.js';
import { matMul, readFloats } from '../ops/layers.js';
import type { TrainableParam } from '../training/optimizer.js';
import type { NamedTensor } from '../weights/safetensors.js';
import { buildSequenceInput } from './sequenceBatch.js';
import { scoreInBatches } from './rewardModel.js';
import { Rng } from '../../util/rng.js';
import { HF_ARCHITECTURES, type HfDecoderConfig } from './hfConfig.js';
import { HfDecoder } from './hfDecoder.js';
import { HF_CONFIG_FILE, type HfFolder, hfFolderFiles } from '../weights/hfFolder.js';
import { isClassifier } from './hfParams.js';

const SCORE_WEIGHT = 'score.weight';

/**
 * The score of each sequence at its last non-pad token, as transformers pools it: trailing pad tokens
 * are dropped (at least one token is kept), the rows are left-padded so every last token sits in the
 * last position, and `head` ([width, 1]) maps that hidden state (the Decoder's `lastHidden`) to a
 * scalar. Differentiable.
 */
function lastTokenScores(
  body: HfDecoder,
  head: tf.Tensor2D,
  sequences: readonly (readonly number[])[],
  padId: number,
): tf.Tensor1D {
  const trimmed = sequences.map((s) => {
    let end = s.length;
    while (end > 1 && s[end - 1] === padId) end--;
    return s.slice(0, Math.max(end, 1));
  });
  const input = buildSequenceInput(trimmed, new Int32Array(0), 0, padId);
  // The Decoder's own last-position pass: its last block skips the other positions' queries and MLP.
  const last = body.lastHidden(input);
  return matMul(last, head).reshape([trimmed.length]) as tf.Tensor1D;
}

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
    const out = new Float32Array(sequences.length);
    for (let start = 0; start < sequences.length; start += batchSize) {
      const part = sequences.slice(start, start + batchSize);
      out.set(
        readFloats(() => lastTokenScores(this.body, this.head, part, this.tokenizer.padId)),
        start,
      );
    }
    return out;
  }

  dispose(): void {
    this.body.dispose();
    this.head.dispose();
  }
}

/**
 * A trainable `*ForSequenceClassification` reward model made from a causal-LM folder: the decoder body
 * (trainable, started from the folder's weights; its lm_head is dropped) and a new `score` head
 * (nn.Linear without bias, weight [1, width], seeded normal * 0.02), scoring at the last non-pad
 * token exactly as HfRewardModel does. Trained by `bradleyTerryStep`; `folderFiles` writes a folder
 * that HfRewardModel.fromFolder loads.
 */
export class HfBradleyTerryModel {
  readonly body: HfDecoder;
  readonly padId: number;
  private readonly source: HfFolder;
  /** score.weight transposed: [width, 1]. */
  private readonly head: tf.Variable;

  private constructor(source: HfFolder, body: HfDecoder, head: tf.Variable, padId: number) {
    this.source = source;
    this.body = body;
    this.head = head;
    this.padId = padId;
  }

  /** The classifier config of a causal-LM config: the family's *ForSequenceClassification, one label. */
  static classifierConfig(config: HfDecoderConfig, padId: number): HfDecoderConfig {
    return { ...config, architecture: HF_ARCHITECTURES[config.modelType].classifier, numLabels: 1, padId };
  }

  static init(source: HfFolder, seed: number): HfBradleyTerryModel {
    const padId = source.tokenizer.padId;
    const config = HfBradleyTerryModel.classifierConfig(source.config, padId);
    const body = HfDecoder.fromHfTensors(config, source.tensors, { trainable: true, source: source.dir });
    const rng = Rng.derive(seed, 'reward-head');
    const w = Float32Array.from({ length: config.width }, () => rng.normal() * 0.02);
    const init = tf.tensor2d(w, [config.width, 1]);
    const head = tf.variable(init, true);
    init.dispose();
    return new HfBradleyTerryModel(source, body, head, padId);
  }

  scoreTensor(sequences: readonly (readonly number[])[], padId: number): tf.Tensor1D {
    return lastTokenScores(this.body, this.head as tf.Tensor2D, sequences, padId);
  }

  /** Scores without gradients, in batches of at most `batchSize`. */
  score(sequences: readonly (readonly number[])[], padId: number, batchSize = 64): Float32Array {
    return scoreInBatches(this, sequences, padId, batchSize);
  }

  variables(): TrainableParam[] {
    return [...this.body.variables(), { name: SCORE_WEIGHT, variable: this.head, decay: true }];
  }

  /**
   * The files of the trained folder: config.json (the source's, with the classifier architecture,
   * num_labels 1 and pad_token_id), model.safetensors (the body under transformers' prefix and
   * score.weight [1, width]) and the source's tokenizer files.
   */
  folderFiles(): Record<string, Uint8Array | string> {
    const config = this.body.config;
    // [width, 1] row-major is the same numbers as [1, width].
    const score: NamedTensor = {
      dtype: 'F32',
      shape: [1, config.width],
      data: Float32Array.from(this.head.dataSync()),
    };
    const baseConfig: Record<string, unknown> = {
      ...this.source.rawConfig,
      num_labels: 1,
      pad_token_id: this.padId,
    };
    delete baseConfig.id2label;
    delete baseConfig.label2id;
    return hfFolderFiles(
      config,
      { ...this.body.toHfTensors(), [SCORE_WEIGHT]: score },
      {
        baseConfig,
        sideFiles: this.source.sideFiles,
        architecture: config.architecture,
      },
    );
  }

  dispose(): void {
    this.body.dispose();
    this.head.dispose();
  }
}
