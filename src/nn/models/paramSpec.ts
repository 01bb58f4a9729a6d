/** A parameter's name and shape, in the order the model stores them. */
export interface ParamSpec {
  name: string;
  shape: number[];
  /** How the seeded initialization fills it. */
  init: 'normal' | 'residual' | 'zeros' | 'ones';
  /** AdamW decays matrices only (not biases, norm gains or position tables). */
  decay: boolean;
}

/**
 * A decoder parameter as grpovi stores it and as the family's files hold it. grpovi stores every
 * projection [in, out] (a plain `x @ W`); a file may hold it [out, in] (PyTorch's nn.Linear), which
 * `transposed` marks and `fileShape` gives.
 */
export interface DecoderParamSpec extends ParamSpec {
  /** The shape in the family's files. */
  fileShape: number[];
  /** Stored transposed relative to the file. */
  transposed: boolean;
}

/** A vector (bias, norm gain) of `n` entries. */
export function vectorSpec(name: string, n: number, init: ParamSpec['init']): DecoderParamSpec {
  return { name, shape: [n], fileShape: [n], init, decay: false, transposed: false };
}

/** A table [rows, cols] stored as in the file (embeddings, position tables, lm_head). */
export function tableSpec(name: string, rows: number, cols: number, decay = true): DecoderParamSpec {
  return { name, shape: [rows, cols], fileShape: [rows, cols], init: 'normal', decay, transposed: false };
}

/**
 * An [in, out] projection. `fileLayout` 'linear' = nn.Linear in the file ([out, in]), 'conv1d' =
 * GPT-2's Conv1D ([in, out], as grpovi stores it). Residual projections (the ones writing into the
 * residual stream) start smaller (see the decoder's initialization).
 */
export function projectionSpec(
  name: string,
  inputs: number,
  outputs: number,
  fileLayout: 'linear' | 'conv1d',
  residual = false,
): DecoderParamSpec {
  const linear = fileLayout === 'linear';
  return {
    name,
    shape: [inputs, outputs],
    fileShape: linear ? [outputs, inputs] : [inputs, outputs],
    init: residual ? 'residual' : 'normal',
    decay: true,
    transposed: linear,
  };
}

/** Parameter count of a list of specs (tied embeddings counted once). */
export function countParams(specs: readonly ParamSpec[]): number {
  return specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** [rows, cols] row-major -> [cols, rows] row-major (an nn.Linear weight to grpovi's layout and back). */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = data[base + c];
  }
  return out;
}
