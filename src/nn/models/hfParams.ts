import type { ParamSpec } from './gptConfig.js';
import type { HfDecoderConfig } from './hfConfig.js';

/**
 * The parameters of a Hugging Face decoder, by the names transformers gives them once the
 * `transformer.` (GPT-2) or `model.` (Llama) prefix is removed, and how grpovi stores each one.
 *
 * Layout decisions, from transformers' modeling_gpt2.py and modeling_llama.py:
 * - GPT-2's projections are `Conv1D` modules whose weight is [in, out] (y = x W + b): stored as they are.
 *   `c_attn` is q, k and v fused along the output axis, in that order.
 * - Llama's projections are `nn.Linear` whose weight is [out, in] (y = x W^T + b): grpovi stores the
 *   transpose, [in, out], so every projection is a plain `x @ W`; export transposes back.
 * - Embeddings are [vocab, width] in both; so is a separate `lm_head.weight` (an nn.Linear), kept
 *   as it is and transposed for the logits like the tied embedding.
 */
export interface HfParamSpec extends ParamSpec {
  /** The shape in the Hugging Face file. */
  hfShape: number[];
  /** Stored transposed relative to the file (Llama's nn.Linear weights). */
  transposed: boolean;
}

function vector(name: string, n: number, init: ParamSpec['init']): HfParamSpec {
  return { name, shape: [n], hfShape: [n], init, decay: false, transposed: false };
}

/** An [in, out] projection; `linear` = nn.Linear in the file ([out, in]), else Conv1D ([in, out]). */
function projection(
  name: string,
  inputs: number,
  outputs: number,
  linear: boolean,
  residual = false,
): HfParamSpec {
  return {
    name,
    shape: [inputs, outputs],
    hfShape: linear ? [outputs, inputs] : [inputs, outputs],
    init: residual ? 'residual' : 'normal',
    decay: true,
    transposed: linear,
  };
}

/** Every parameter of the causal LM (the embedding, the blocks, the final norm, lm_head when untied). */
export function hfParamSpecs(config: HfDecoderConfig): HfParamSpec[] {
  const { vocabSize: V, width: d, depth, innerWidth: f, heads, kvHeads, headWidth: hd } = config;
  const specs: HfParamSpec[] = [];
  const matrix = (
    name: string,
    rows: number,
    cols: number,
    init: ParamSpec['init'] = 'normal',
  ): HfParamSpec => ({
    name,
    shape: [rows, cols],
    hfShape: [rows, cols],
    init,
    decay: init === 'normal',
    transposed: false,
  });
  if (config.family === 'gpt2') {
    specs.push(matrix('wte.weight', V, d), matrix('wpe.weight', config.contextLength, d, 'normal'));
    // Position tables are not decayed (as grpovi's own GPT).
    specs[1].decay = false;
    for (let l = 0; l < depth; l++) {
      const h = `h.${l}`;
      specs.push(
        vector(`${h}.ln_1.weight`, d, 'ones'),
        vector(`${h}.ln_1.bias`, d, 'zeros'),
        projection(`${h}.attn.c_attn.weight`, d, 3 * d, false),
        vector(`${h}.attn.c_attn.bias`, 3 * d, 'zeros'),
        projection(`${h}.attn.c_proj.weight`, d, d, false, true),
        vector(`${h}.attn.c_proj.bias`, d, 'zeros'),
        vector(`${h}.ln_2.weight`, d, 'ones'),
        vector(`${h}.ln_2.bias`, d, 'zeros'),
        projection(`${h}.mlp.c_fc.weight`, d, f, false),
        vector(`${h}.mlp.c_fc.bias`, f, 'zeros'),
        projection(`${h}.mlp.c_proj.weight`, f, d, false, true),
        vector(`${h}.mlp.c_proj.bias`, d, 'zeros'),
      );
    }
    specs.push(vector('ln_f.weight', d, 'ones'), vector('ln_f.bias', d, 'zeros'));
  } else {
    specs.push(matrix('embed_tokens.weight', V, d));
    for (let l = 0; l < depth; l++) {
      const h = `layers.${l}`;
      const a = `${h}.self_attn`;
      specs.push(vector(`${h}.input_layernorm.weight`, d, 'ones'));
      specs.push(projection(`${a}.q_proj.weight`, d, heads * hd, true));
      if (config.qkvBias) specs.push(vector(`${a}.q_proj.bias`, heads * hd, 'zeros'));
      specs.push(projection(`${a}.k_proj.weight`, d, kvHeads * hd, true));
      if (config.qkvBias) specs.push(vector(`${a}.k_proj.bias`, kvHeads * hd, 'zeros'));
      specs.push(projection(`${a}.v_proj.weight`, d, kvHeads * hd, true));
      if (config.qkvBias) specs.push(vector(`${a}.v_proj.bias`, kvHeads * hd, 'zeros'));
      specs.push(projection(`${a}.o_proj.weight`, heads * hd, d, true, true));
      if (config.outBias) specs.push(vector(`${a}.o_proj.bias`, d, 'zeros'));
      specs.push(vector(`${h}.post_attention_layernorm.weight`, d, 'ones'));
      for (const [name, i, o] of [
        ['gate_proj', d, f],
        ['up_proj', d, f],
        ['down_proj', f, d],
      ] as const) {
        specs.push(projection(`${h}.mlp.${name}.weight`, i, o, true, name === 'down_proj'));
        if (config.mlpBias) specs.push(vector(`${h}.mlp.${name}.bias`, o, 'zeros'));
      }
    }
    specs.push(vector('norm.weight', d, 'ones'));
  }
  // A ForSequenceClassification model has a `score` head instead of lm_head (see hfRewardModel.ts).
  if (!config.tiedEmbeddings && !isClassifier(config)) specs.push(matrix('lm_head.weight', V, d));
  return specs;
}

/** Whether the folder holds a sequence-classification (reward) model rather than a causal LM. */
export function isClassifier(config: HfDecoderConfig): boolean {
  return config.architecture.endsWith('ForSequenceClassification');
}

/** The key prefix of the body in transformers' files: `transformer.` (GPT-2) or `model.` (Llama). */
export function bodyPrefix(config: HfDecoderConfig): string {
  return config.family === 'gpt2' ? 'transformer.' : 'model.';
}

/** [rows, cols] row-major -> [cols, rows] row-major. */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}
