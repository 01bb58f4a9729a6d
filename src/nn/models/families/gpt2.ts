import type { DecoderDescription } from '../architecture.js';
import {
  type HfConfigReader,
  type HfFamily,
  type HfFamilyConfig,
  type HfFamilyFields,
  isClassifier,
} from '../hfFamily.js';
import { tableSpec } from '../paramSpec.js';
import { gpt2BlockNames, gpt2StyleSpecs } from './grpoviGpt.js';

/**
 * Hugging Face GPT-2 (`model_type` "gpt2", modeling_gpt2.py): the block of grpovi's GPT with the
 * configured activation (tanh GELU by default) and epsilon. Its projections are Conv1D modules,
 * [in, out] in the file as grpovi stores them; `c_attn` is q, k and v fused along the output axis.
 * Names as in the file under the `transformer.` prefix (`wte.weight`, `h.N.attn.c_attn.weight`, ...);
 * `lm_head.weight` when the embedding is not tied.
 */
export function gpt2Description(config: HfFamilyConfig): DecoderDescription {
  const { vocabSize, contextLength, width, depth, innerWidth } = config;
  const specs = gpt2StyleSpecs(
    { token: 'wte.weight', position: 'wpe.weight' },
    vocabSize,
    contextLength,
    width,
    innerWidth,
    depth,
  );
  const untied = !config.tiedEmbeddings && !isClassifier(config);
  if (untied) specs.push(tableSpec('lm_head.weight', vocabSize, width));
  return {
    architecture: {
      vocabSize,
      contextLength,
      width,
      depth,
      heads: config.heads,
      kvHeads: config.heads,
      headWidth: config.headWidth,
      innerWidth,
      positions: { kind: 'learned' },
      norm: { kind: 'layer', eps: config.normEps },
      activation: config.activation,
      gatedMlp: false,
      fusedQkv: true,
      qkvBias: true,
      outBias: true,
      mlpBias: true,
      tiedEmbeddings: config.tiedEmbeddings,
    },
    layout: {
      tokenTable: 'wte.weight',
      positionTable: 'wpe.weight',
      blocks: Array.from({ length: depth }, (_, l) => gpt2BlockNames(l)),
      finalNorm: 'ln_f',
      outputTable: untied ? 'lm_head.weight' : undefined,
      specs,
    },
  };
}

/** config.json of GPT-2 (n_embd, n_head, n_layer, n_positions, ...), checked. */
export function parseGpt2Fields(r: HfConfigReader): HfFamilyFields {
  const c = r.raw;
  // GPT-2 options that change the computation and that this implementation does not have.
  if (c.scale_attn_by_inverse_layer_idx === true)
    r.fail('"scale_attn_by_inverse_layer_idx" true is not supported');
  if (c.scale_attn_weights === false) r.fail('"scale_attn_weights" false is not supported');
  if (c.add_cross_attention === true) r.fail('"add_cross_attention" true is not supported');
  const width = r.int('n_embd');
  const heads = r.int('n_head');
  if (width % heads !== 0) r.fail(`"n_head" ${heads} must divide "n_embd" ${width}`);
  return {
    family: 'gpt2',
    vocabSize: r.int('vocab_size'),
    contextLength: r.int('n_positions'),
    width,
    depth: r.int('n_layer'),
    heads,
    kvHeads: heads,
    headWidth: width / heads,
    innerWidth: r.int('n_inner', 4 * width),
    normEps: r.positive('layer_norm_epsilon', 1e-5),
    activation: r.activation('activation_function', 'gelu_new'),
    ropeTheta: 0,
    qkvBias: true,
    outBias: true,
    mlpBias: true,
    tiedEmbeddings: r.flag('tie_word_embeddings', true),
  };
}

export const gpt2Family: HfFamily = {
  architectures: { causal: 'GPT2LMHeadModel', classifier: 'GPT2ForSequenceClassification' },
  parse: parseGpt2Fields,
  describe: gpt2Description,
};
