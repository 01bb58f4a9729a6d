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

/** A parameter's name and shape, in the order the model stores them. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** How the seeded initialization fills it. */
  init: 'normal' | 'residual' | 'zeros' | 'ones';
  /** AdamW decays matrices only (not biases, LayerNorm gains or position tables). */
  decay: boolean;
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

/** Every parameter of the transformer body (without any output head beyond the tied embedding). */
export function gptParamSpecs(config: GptConfig): ParamSpec[] {
  const { vocabSize: V, contextLength: C, width: d, depth } = config;
  const specs: ParamSpec[] = [
    { name: 'wte', shape: [V, d], init: 'normal', decay: true },
    { name: 'wpe', shape: [C, d], init: 'normal', decay: false },
  ];
  for (let l = 0; l < depth; l++) {
    const h = `h.${l}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [d], init: 'ones', decay: false },
      { name: `${h}.ln_1.bias`, shape: [d], init: 'zeros', decay: false },
      { name: `${h}.attn.c_attn.weight`, shape: [d, 3 * d], init: 'normal', decay: true },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * d], init: 'zeros', decay: false },
      { name: `${h}.attn.c_proj.weight`, shape: [d, d], init: 'residual', decay: true },
      { name: `${h}.attn.c_proj.bias`, shape: [d], init: 'zeros', decay: false },
      { name: `${h}.ln_2.weight`, shape: [d], init: 'ones', decay: false },
      { name: `${h}.ln_2.bias`, shape: [d], init: 'zeros', decay: false },
      { name: `${h}.mlp.c_fc.weight`, shape: [d, 4 * d], init: 'normal', decay: true },
      { name: `${h}.mlp.c_fc.bias`, shape: [4 * d], init: 'zeros', decay: false },
      { name: `${h}.mlp.c_proj.weight`, shape: [4 * d, d], init: 'residual', decay: true },
      { name: `${h}.mlp.c_proj.bias`, shape: [d], init: 'zeros', decay: false },
    );
  }
  specs.push(
    { name: 'ln_f.weight', shape: [d], init: 'ones', decay: false },
    { name: 'ln_f.bias', shape: [d], init: 'zeros', decay: false },
  );
  return specs;
}

/** Parameter count of a config (tied embeddings counted once). */
export function countParams(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
