import type { BlockNames, DecoderDescription } from '../architecture.js';
import { type HfDecoderConfig, isClassifier } from '../hfConfig.js';
import { type DecoderParamSpec, projectionSpec, tableSpec, vectorSpec } from '../paramSpec.js';

/**
 * Llama (`model_type` "llama", modeling_llama.py): RMSNorm, rotary positions, separate q/k/v
 * projections with grouped-query attention (kvHeads key/value heads), the gated SiLU MLP
 * down(act(gate(x)) * up(x)), biases as the config says (attention_bias, mlp_bias). Projections are
 * nn.Linear, [out, in] in the file: grpovi stores them transposed. Names as in the file under the
 * `model.` prefix; `lm_head.weight` when the embedding is not tied.
 */
function llamaBlockNames(l: number): BlockNames {
  const h = `layers.${l}`;
  return {
    attentionNorm: `${h}.input_layernorm`,
    query: `${h}.self_attn.q_proj`,
    key: `${h}.self_attn.k_proj`,
    value: `${h}.self_attn.v_proj`,
    attentionOut: `${h}.self_attn.o_proj`,
    mlpNorm: `${h}.post_attention_layernorm`,
    gate: `${h}.mlp.gate_proj`,
    up: `${h}.mlp.up_proj`,
    down: `${h}.mlp.down_proj`,
  };
}

/** The Llama layout and architecture; Qwen2 (qwen2.ts) is this with its own biases. */
export function llamaDescription(config: HfDecoderConfig): DecoderDescription {
  const { vocabSize: V, width: d, depth, innerWidth: f, heads, kvHeads, headWidth: hd } = config;
  const specs: DecoderParamSpec[] = [tableSpec('embed_tokens.weight', V, d)];
  const blocks: BlockNames[] = [];
  const projection = (name: string, inputs: number, outputs: number, bias: boolean, residual = false) => {
    specs.push(projectionSpec(`${name}.weight`, inputs, outputs, 'linear', residual));
    if (bias) specs.push(vectorSpec(`${name}.bias`, outputs, 'zeros'));
  };
  for (let l = 0; l < depth; l++) {
    const n = llamaBlockNames(l);
    blocks.push(n);
    specs.push(vectorSpec(`${n.attentionNorm}.weight`, d, 'ones'));
    projection(n.query as string, d, heads * hd, config.qkvBias);
    projection(n.key as string, d, kvHeads * hd, config.qkvBias);
    projection(n.value as string, d, kvHeads * hd, config.qkvBias);
    projection(n.attentionOut, heads * hd, d, config.outBias, true);
    specs.push(vectorSpec(`${n.mlpNorm}.weight`, d, 'ones'));
    projection(n.gate as string, d, f, config.mlpBias);
    projection(n.up, d, f, config.mlpBias);
    projection(n.down, f, d, config.mlpBias, true);
  }
  specs.push(vectorSpec('norm.weight', d, 'ones'));
  const untied = !config.tiedEmbeddings && !isClassifier(config);
  if (untied) specs.push(tableSpec('lm_head.weight', V, d));
  return {
    architecture: {
      vocabSize: V,
      contextLength: config.contextLength,
      width: d,
      depth,
      heads,
      kvHeads,
      headWidth: hd,
      innerWidth: f,
      positions: { kind: 'rope', theta: config.ropeTheta },
      norm: { kind: 'rms', eps: config.normEps },
      activation: config.activation,
      gatedMlp: true,
      fusedQkv: false,
      qkvBias: config.qkvBias,
      outBias: config.outBias,
      mlpBias: config.mlpBias,
      tiedEmbeddings: config.tiedEmbeddings,
    },
    layout: {
      tokenTable: 'embed_tokens.weight',
      blocks,
      finalNorm: 'norm',
      outputTable: untied ? 'lm_head.weight' : undefined,
      specs,
    },
  };
}
