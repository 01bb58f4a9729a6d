import type { BlockNames, DecoderDescription } from '../architecture.js';
import { type DecoderParamSpec, projectionSpec, tableSpec, vectorSpec } from '../paramSpec.js';

/**
 * grpovi's own GPT: a GPT-2 variant with learned positions, LayerNorm (eps 1e-5), the quick GELU
 * x * sigmoid(1.702 x), fused q | k | v, biases everywhere and the output tied to the token
 * embedding. Its parameter names (`wte`, `wpe`, `h.N.*`, `ln_f.*`) are those of grpovi's model
 * folders and checkpoints.
 */

/** Shape of a GPT policy or reward model. Names follow the usual GPT-2 vocabulary. */
export interface GptConfig {
  /** Number of token ids. */
  vocabSize: number;
  /** Longest sequence the learned position table covers (prompt + completion). */
  contextLength: number;
  /** Residual stream width (d_model). */
  width: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads; must divide `width`. */
  heads: number;
}

/** Checks a config, naming the first bad field. */
export function validateGptConfig(config: GptConfig, source = 'model config'): void {
  const fields: (keyof GptConfig)[] = ['vocabSize', 'contextLength', 'width', 'depth', 'heads'];
  for (const field of fields) {
    const value = config[field];
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`${source}: ${field} must be a positive integer (${String(value)})`);
    }
  }
  if (config.width % config.heads !== 0) {
    throw new RangeError(`${source}: heads must divide width ${config.width} (${config.heads})`);
  }
}

/** Block l's modules; gpt2 uses the same names. */
export function gpt2BlockNames(l: number): BlockNames {
  const h = `h.${l}`;
  return {
    attentionNorm: `${h}.ln_1`,
    qkv: `${h}.attn.c_attn`,
    attentionOut: `${h}.attn.c_proj`,
    mlpNorm: `${h}.ln_2`,
    up: `${h}.mlp.c_fc`,
    down: `${h}.mlp.c_proj`,
  };
}

/**
 * The parameters of a GPT-2 style block stack in storage order (Conv1D projections, stored [in, out]
 * as in the file): tables first, then each block, then the final norm.
 */
export function gpt2StyleSpecs(
  tables: { token: string; position: string },
  vocab: number,
  context: number,
  d: number,
  inner: number,
  depth: number,
): DecoderParamSpec[] {
  // Position tables are not decayed.
  const specs = [tableSpec(tables.token, vocab, d), tableSpec(tables.position, context, d, false)];
  for (let l = 0; l < depth; l++) {
    const n = gpt2BlockNames(l);
    specs.push(
      vectorSpec(`${n.attentionNorm}.weight`, d, 'ones'),
      vectorSpec(`${n.attentionNorm}.bias`, d, 'zeros'),
      projectionSpec(`${n.qkv}.weight`, d, 3 * d, 'conv1d'),
      vectorSpec(`${n.qkv}.bias`, 3 * d, 'zeros'),
      projectionSpec(`${n.attentionOut}.weight`, d, d, 'conv1d', true),
      vectorSpec(`${n.attentionOut}.bias`, d, 'zeros'),
      vectorSpec(`${n.mlpNorm}.weight`, d, 'ones'),
      vectorSpec(`${n.mlpNorm}.bias`, d, 'zeros'),
      projectionSpec(`${n.up}.weight`, d, inner, 'conv1d'),
      vectorSpec(`${n.up}.bias`, inner, 'zeros'),
      projectionSpec(`${n.down}.weight`, inner, d, 'conv1d', true),
      vectorSpec(`${n.down}.bias`, d, 'zeros'),
    );
  }
  specs.push(vectorSpec('ln_f.weight', d, 'ones'), vectorSpec('ln_f.bias', d, 'zeros'));
  return specs;
}

/** Every parameter of the transformer body (without any output head beyond the tied embedding). */
export function gptParamSpecs(config: GptConfig): DecoderParamSpec[] {
  const { vocabSize, contextLength, width, depth } = config;
  return gpt2StyleSpecs({ token: 'wte', position: 'wpe' }, vocabSize, contextLength, width, 4 * width, depth);
}

export function grpoviGptDescription(config: GptConfig): DecoderDescription {
  const { width, heads, depth } = config;
  return {
    architecture: {
      vocabSize: config.vocabSize,
      contextLength: config.contextLength,
      width,
      depth,
      heads,
      kvHeads: heads,
      headWidth: width / heads,
      innerWidth: 4 * width,
      positions: { kind: 'learned' },
      norm: { kind: 'layer', eps: 1e-5 },
      activation: 'quick_gelu',
      gatedMlp: false,
      fusedQkv: true,
      qkvBias: true,
      outBias: true,
      mlpBias: true,
      tiedEmbeddings: true,
    },
    layout: {
      tokenTable: 'wte',
      positionTable: 'wpe',
      blocks: Array.from({ length: depth }, (_, l) => gpt2BlockNames(l)),
      finalNorm: 'ln_f',
      specs: gptParamSpecs(config),
    },
  };
}
