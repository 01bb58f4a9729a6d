import type { DecoderParamSpec } from './paramSpec.js';

/** MLP activations by their transformers names (activations.py); see `activate`. */
export type Activation = 'gelu_new' | 'gelu' | 'quick_gelu' | 'silu' | 'relu';

/**
 * What the one decoder computes, as numbers and switches: every family (grpovi's GPT, gpt2, llama,
 * qwen2) is one of these plus a parameter layout. Pre-norm blocks: x += attention(norm1(x)),
 * x += mlp(norm2(x)), then a final norm and the output projection.
 */
/** The sizes every decoder has, however its family names them. */
export interface DecoderShape {
  vocabSize: number;
  /** Longest sequence (the learned position table's rows, or RoPE's max_position_embeddings). */
  contextLength: number;
  /** Residual stream width. */
  width: number;
  depth: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads: `heads` / `kvHeads` query heads share each one (grouped-query attention). */
  kvHeads: number;
  headWidth: number;
  /** The MLP's hidden width. */
  innerWidth: number;
}

export interface DecoderArchitecture extends DecoderShape {
  /** Learned absolute positions added to the token embedding, or rotary embeddings on q and k. */
  positions: { kind: 'learned' } | { kind: 'rope'; theta: number };
  /** LayerNorm (gain and bias) or RMSNorm (gain only), with its epsilon. */
  norm: { kind: 'layer' | 'rms'; eps: number };
  activation: Activation;
  /** down(act(gate(x)) * up(x)) rather than down(act(up(x))). */
  gatedMlp: boolean;
  /** One [width, q | k | v] projection (GPT-2's c_attn) rather than three. */
  fusedQkv: boolean;
  qkvBias: boolean;
  outBias: boolean;
  mlpBias: boolean;
  /** The output projection is the token embedding (no separate table). */
  tiedEmbeddings: boolean;
}

/**
 * A block's modules by parameter-name prefix: a projection `P` is `P.weight` (+ `P.bias` when the
 * architecture has that bias), a norm `N` is `N.weight` (+ `N.bias` for LayerNorm).
 */
export interface BlockNames {
  attentionNorm: string;
  /** The fused q | k | v projection (fusedQkv), else `query`, `key` and `value`. */
  qkv?: string;
  query?: string;
  key?: string;
  value?: string;
  attentionOut: string;
  mlpNorm: string;
  /** GPT-2's c_fc, Llama's up_proj. */
  up: string;
  /** Llama's gate_proj (gatedMlp only). */
  gate?: string;
  /** GPT-2's c_proj, Llama's down_proj. */
  down: string;
}

/** Where a family keeps each weight: parameter names (without any file prefix) and their specs. */
export interface DecoderLayout {
  tokenTable: string;
  /** The learned position table (learned positions only). */
  positionTable?: string;
  blocks: BlockNames[];
  finalNorm: string;
  /** The untied output table [vocab, width] (lm_head.weight), absent when tied or headless. */
  outputTable?: string;
  /** Every parameter in storage order (the order of `variables()` and of checkpoints). */
  specs: DecoderParamSpec[];
}

/** A family's model: what it computes and where its weights are. */
export interface DecoderDescription {
  architecture: DecoderArchitecture;
  layout: DecoderLayout;
}
