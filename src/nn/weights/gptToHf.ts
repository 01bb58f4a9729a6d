import type { ModelFiles } from './modelDir.js';
import type { NamedTensor } from './safetensors.js';
import { PAD_ID, EOS_ID, SPECIAL_TOKENS, UNK_TOKEN, type Tokenizer } from '../tokenizers/tokenizer.js';
import type { HfDecoderConfig } from '../models/hfConfig.js';
import { hfFolderFiles } from './hfFolder.js';
import type { OnnxExportOptions } from './onnxExport.js';

/** A model that has no exact Hugging Face equivalent; the message says why. */
export class ExportRefusedError extends Error {
  override readonly name = 'ExportRefusedError';
}

/**
 * grpovi's own GPT as the nearest standard architecture, GPT-2 (GPT2LMHeadModel), which is exact:
 * - the blocks are GPT-2's (pre-LayerNorm with eps 1e-5, biases everywhere, fused q|k|v projection
 *   in that order, learned positions, lm_head tied to the token embedding), and grpovi's projections
 *   are already [in, out] like GPT-2's Conv1D;
 * - grpovi's GELU is x * sigmoid(1.702 x), which transformers calls "quick_gelu" and GPT-2 accepts
 *   as its activation_function;
 * - the word-level tokenizer becomes a tokenizer.json WordLevel model split on single spaces, with
 *   the specials at the same ids (one difference: text that spells a special token, like the word
 *   "<eos>", is that special token for transformers, where grpovi reads it as an unknown word).
 * Refused: reward models (grpovi's score head has a bias, GPT2ForSequenceClassification's has none)
 * and char-level tokenizers (no exact tokenizer.json form is written here).
 */
export function gptFolderAsHf(
  files: ModelFiles,
  source: string,
  options: { onnx?: OnnxExportOptions } = {},
): Record<string, Uint8Array | string> {
  if (files.kind !== 'policy')
    throw new ExportRefusedError(
      `${source} holds a grpovi reward model, whose score head has a bias that GPT2ForSequenceClassification lacks: no exact export`,
    );
  if (files.tokenizer.kind !== 'word')
    throw new ExportRefusedError(
      `${source} uses grpovi's ${files.tokenizer.kind}-level tokenizer, which has no exact tokenizer.json form here (only word-level tokenizers export)`,
    );
  const { vocabSize, contextLength, width, depth, heads } = files.config;
  const config: HfDecoderConfig = {
    modelType: 'gpt2',
    family: 'gpt2',
    architecture: 'GPT2LMHeadModel',
    vocabSize,
    contextLength,
    width,
    depth,
    heads,
    kvHeads: heads,
    headWidth: width / heads,
    innerWidth: 4 * width,
    normEps: 1e-5,
    activation: 'quick_gelu',
    ropeTheta: 0,
    qkvBias: true,
    outBias: true,
    mlpBias: true,
    tiedEmbeddings: true,
    eosId: EOS_ID,
    padId: PAD_ID,
    numLabels: 1,
  };
  const tensors: Record<string, NamedTensor> = {};
  for (const [name, tensor] of Object.entries(files.tensors)) {
    const hfName = name === 'wte' || name === 'wpe' ? `${name}.weight` : name;
    tensors[hfName] = tensor;
  }
  return hfFolderFiles(config, tensors, {
    ...options,
    baseConfig: { pad_token_id: PAD_ID },
    sideFiles: {
      'tokenizer.json': wordTokenizerJson(files.tokenizer),
      'tokenizer_config.json': `${JSON.stringify(
        {
          pad_token: SPECIAL_TOKENS[PAD_ID],
          eos_token: SPECIAL_TOKENS[EOS_ID],
          unk_token: UNK_TOKEN,
          clean_up_tokenization_spaces: false,
          model_max_length: contextLength,
        },
        null,
        2,
      )}\n`,
    },
  });
}

/** tokenizer.json of a word-level vocabulary: split on single spaces, look each word up, join with spaces. */
function wordTokenizerJson(tokenizer: Tokenizer): string {
  const vocab: Record<string, number> = {};
  for (let id = 0; id < tokenizer.vocabSize; id++) vocab[tokenizer.tokenToString(id)] = id;
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    // A Regex pattern: @huggingface/tokenizers 0.2 keeps the spaces of a String pattern as pieces.
    pre_tokenizer: { type: 'Split', pattern: { Regex: ' ' }, behavior: 'Removed', invert: false },
    post_processor: null,
    decoder: null,
    model: { type: 'WordLevel', vocab, unk_token: UNK_TOKEN },
  });
}
