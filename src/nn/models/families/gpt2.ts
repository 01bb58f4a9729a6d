import type { DecoderDescription } from '../architecture.js';
import { type HfDecoderConfig, isClassifier } from '../hfConfig.js';
import { tableSpec } from '../paramSpec.js';
import { gpt2BlockNames, gpt2StyleSpecs } from './grpoviGpt.js';

/**
 * Hugging Face GPT-2 (`model_type` "gpt2", modeling_gpt2.py): the block of grpovi's GPT with the
 * configured activation (tanh GELU by default) and epsilon. Its projections are Conv1D modules,
 * [in, out] in the file as grpovi stores them; `c_attn` is q, k and v fused along the output axis.
 * Names as in the file under the `transformer.` prefix (`wte.weight`, `h.N.attn.c_attn.weight`, ...);
 * `lm_head.weight` when the embedding is not tied.
 */
export function gpt2Description(config: HfDecoderConfig): DecoderDescription {
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
