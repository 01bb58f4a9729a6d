/**
 * The FLOP model the training benchmark uses everywhere: multiply-adds count as 2 FLOPs, and only the
 * matrix products count (embedding gathers, LayerNorm, GELU, softmax and the optimizer are left out,
 * so achieved FLOP/s is a lower bound on the work done). Attention is counted as computed: dense over
 * every key of the pass, masked keys included.
 */
import type { GptConfig } from '../src/nn/models/gptConfig.js';

/** One forward pass: how many positions run through the blocks, and how many through the output layer. */
export interface ForwardPass {
  /** Positions (batch rows x sequence positions) that run through the transformer blocks. */
  tokens: number;
  /** Keys each position's attention scores cover (the sequence length, or the cache length plus one). */
  keysPerToken: number;
  /** Rows whose next-token logits are computed (the tied output projection). */
  outputRows: number;
}

/** Weights per block that enter matrix products: qkv (3 d^2), attention output (d^2), MLP (4 d^2 + 4 d^2). */
export function blockMatmulParams(width: number): number {
  return 12 * width * width;
}

/**
 * FLOPs of one forward pass:
 * per token and block 2 * 12 d^2 (the dense layers) + 2 * 2 * keys * d (scores q.k and the mix p.v),
 * plus 2 * d * vocab per output row (logits through the tied embedding).
 */
export function forwardFlops(
  config: Pick<GptConfig, 'width' | 'depth' | 'vocabSize'>,
  pass: ForwardPass,
): number {
  const { width, depth, vocabSize } = config;
  const perTokenPerBlock = 2 * blockMatmulParams(width) + 2 * 2 * pass.keysPerToken * width;
  return pass.tokens * depth * perTokenPerBlock + pass.outputRows * 2 * width * vocabSize;
}

/**
 * FLOPs of `generate` with the KV cache: one prefill over the (padded) prompts, then one decode pass per
 * sampled token but the last, each over one new position attending to the cache plus itself. Logits
 * are computed for each row's last position only.
 */
export function samplingFlops(
  config: Pick<GptConfig, 'width' | 'depth' | 'vocabSize'>,
  rows: number,
  promptLength: number,
  sampledTokens: number,
): number {
  let flops = forwardFlops(config, {
    tokens: rows * promptLength,
    keysPerToken: promptLength,
    outputRows: rows,
  });
  for (let step = 0; step < sampledTokens - 1; step++) {
    flops += forwardFlops(config, { tokens: rows, keysPerToken: promptLength + step + 1, outputRows: rows });
  }
  return flops;
}

/** FLOPs of the full-sequence forward pass that scores `completionLength` tokens after the prompts. */
export function scoringFlops(
  config: Pick<GptConfig, 'width' | 'depth' | 'vocabSize'>,
  rows: number,
  promptLength: number,
  completionLength: number,
): number {
  const length = promptLength + completionLength - 1;
  return forwardFlops(config, {
    tokens: rows * length,
    keysPerToken: length,
    outputRows: rows * completionLength,
  });
}

/** FLOPs of one gradient step: forward plus backward, the backward counted as twice the forward. */
export function updateFlops(
  config: Pick<GptConfig, 'width' | 'depth' | 'vocabSize'>,
  rows: number,
  promptLength: number,
  completionLength: number,
): number {
  return 3 * scoringFlops(config, rows, promptLength, completionLength);
}
