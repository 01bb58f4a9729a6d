import * as tf from '@tensorflow/tfjs';

/**
 * A matrix product for software WebGPU adapters (SwiftShader and the like), registered as the
 * webgpu backend's BatchMatMul and _FusedMatMul (bias only) when the adapter is a software one.
 *
 * Why: TF.js's products share tiles through workgroup memory with a barrier per tile. A software
 * driver runs the invocations of a workgroup on a CPU thread and has to switch between them at
 * every barrier; measured on SwiftShader (bench/webgpuMatMul.ts), a [7, 16] x [16, 50257] product
 * took about 2 s. This shader has no barrier and no shared memory: one invocation per output
 * element, the inner products summed in order (deterministic, like the tiled shader). On a real
 * GPU the tiled shaders are the faster ones, so they stay there.
 */

/** The parts of TF.js's webgpu backend this kernel uses. */
interface ProgramBackend {
  runWebGPUProgram(
    program: object,
    inputs: tf.TensorInfo[],
    dtype: tf.DataType,
    uniforms?: { type: string; data: number[] }[],
  ): tf.TensorInfo;
  disposeData(dataId: object): void;
}

const WORKGROUP = 64;
/** Products with fewer rows, columns or inner terms than this run here rather than tiled. */
const PLAIN_BELOW = 32;
/** Rows longer than this, when there are few of them, are reduced by TF.js's shader. */
const LONG_ROW = 4096;

/** A TF.js webgpu program: [batch, M, N] = A x B with a flat dispatch of one invocation per element. */
class PlainMatMulProgram {
  readonly variableNames: string[];
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout: { x: number[] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly uniforms = 'dimInner : i32,';
  readonly size = true;

  constructor(
    outputShape: [number, number, number],
    private readonly transposeA: boolean,
    private readonly transposeB: boolean,
    private readonly hasBias: boolean,
  ) {
    this.outputShape = outputShape;
    this.variableNames = hasBias ? ['A', 'B', 'bias'] : ['A', 'B'];
    this.shaderKey = `grpoviPlainMatMul_${transposeA}_${transposeB}_${hasBias}`;
    this.dispatchLayout = { x: [0, 1, 2] };
    const elements = outputShape[0] * outputShape[1] * outputShape[2];
    this.dispatch = [Math.ceil(elements / WORKGROUP), 1, 1];
  }

  getUserCode(): string {
    // The buffers may hold int32 for a float32 tensor (TF.js casts some by reinterpretation): f32().
    // A is [batchA, M, K] ([batchA, K, M] transposed), B is [batchB, K, N] ([batchB, N, K]).
    const aIndex = this.transposeA
      ? 'aBase + k * uniforms.aShape[2] + row'
      : 'aBase + row * uniforms.aShape[2] + k';
    const bIndex = this.transposeB
      ? 'bBase + col * uniforms.bShape[2] + k'
      : 'bBase + k * uniforms.bShape[2] + col';
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) {
          return;
        }
        let coords = getCoordsFromIndex(index);
        let batch = coords[0];
        let row = coords[1];
        let col = coords[2];
        let aBase = (batch % uniforms.aShape[0]) * uniforms.aShape[1] * uniforms.aShape[2];
        let bBase = (batch % uniforms.bShape[0]) * uniforms.bShape[1] * uniforms.bShape[2];
        var sum = 0.0;
        for (var k = 0; k < uniforms.dimInner; k = k + 1) {
          sum = sum + f32(A[${aIndex}]) * f32(B[${bIndex}]);
        }
        ${this.hasBias ? 'sum = sum + f32(bias[col]);' : ''}
        result[index] = sum;
      }
    `;
  }
}

interface MatMulAttrs {
  transposeA?: boolean;
  transposeB?: boolean;
  activation?: string | null;
}

/**
 * The product of `a` and `b` (rank 2 or more, batch dimensions broadcast as tf.matMul does), with
 * an optional bias of shape [N]; undefined when the inputs are outside what this shader does
 * (another dtype, a bias of another shape), so that the caller runs TF.js's kernel.
 */
export function plainMatMul(
  backend: ProgramBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  attrs: MatMulAttrs,
  bias?: tf.TensorInfo,
): tf.TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return undefined;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const inner = transposeA ? a.shape[aRank - 2] : a.shape[aRank - 1];
  const outerA = transposeA ? a.shape[aRank - 1] : a.shape[aRank - 2];
  const outerB = transposeB ? b.shape[bRank - 2] : b.shape[bRank - 1];
  // The tiled shader wins on full tiles: square-ish products of 32 or more rows and columns
  // without transposes (bench:webgpu-matmul on SwiftShader: 64x768x768 313 ms tiled, 507 ms here;
  // 8x768x50257 with the table transposed 15.8 s tiled, 4.9 s here).
  const skinny = Math.min(outerA, outerB) < PLAIN_BELOW || inner < PLAIN_BELOW;
  if (!skinny && !transposeA && !transposeB) return undefined;
  if (bias !== undefined && (bias.dtype !== 'float32' || bias.shape.length !== 1 || bias.shape[0] !== outerB))
    return undefined;
  const batchDims = (shape: number[]) => shape.slice(0, -2);
  const batchA = batchDims(a.shape).reduce((n, d) => n * d, 1);
  const batchB = batchDims(b.shape).reduce((n, d) => n * d, 1);
  // Batches broadcast only as whole (one side 1 or both equal), as TF.js's own kernel requires.
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) return undefined;
  const outBatchDims = tf.broadcast_util.assertAndGetBroadcastShape(batchDims(a.shape), batchDims(b.shape));
  const batch = Math.max(batchA, batchB);
  const a3 = { ...a, shape: transposeA ? [batchA, inner, outerA] : [batchA, outerA, inner] };
  const b3 = { ...b, shape: transposeB ? [batchB, outerB, inner] : [batchB, inner, outerB] };
  const program = new PlainMatMulProgram([batch, outerA, outerB], transposeA, transposeB, bias !== undefined);
  const inputs = bias === undefined ? [a3, b3] : [a3, b3, bias];
  const out = backend.runWebGPUProgram(program, inputs, 'float32', [{ type: 'int32', data: [inner] }]);
  return { ...out, shape: [...outBatchDims, outerA, outerB] };
}

/** out[c, r] = x[r, c], one invocation per element (TF.js's 2-D transpose tiles through workgroup memory). */
class PlainTransposeProgram {
  readonly variableNames = ['x'];
  readonly outputShape: number[];
  readonly shaderKey = 'grpoviPlainTranspose2d';
  readonly dispatchLayout = { x: [0, 1] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly size = true;

  constructor(rows: number, columns: number) {
    this.outputShape = [columns, rows];
    this.dispatch = [Math.ceil((rows * columns) / WORKGROUP), 1, 1];
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index < uniforms.size) {
          let coords = getCoordsFromIndex(index);
          result[index] = x[coords[1] * uniforms.xShape[1] + coords[0]];
        }
      }
    `;
  }
}

/** The transpose of a 2-D tensor; undefined for other ranks or permutations (TF.js's kernel runs those). */
export function plainTranspose(
  backend: ProgramBackend,
  x: tf.TensorInfo,
  perm: number[],
): tf.TensorInfo | undefined {
  if (
    x.shape.length !== 2 ||
    perm[0] !== 1 ||
    perm[1] !== 0 ||
    x.dtype === 'string' ||
    x.dtype === 'complex64'
  )
    return undefined;
  return backend.runWebGPUProgram(new PlainTransposeProgram(x.shape[0], x.shape[1]), [x], x.dtype);
}

/** What a row program computes over each row of [rows, columns]. */
type RowOp = 'Sum' | 'Mean' | 'Max' | 'Min' | 'Softmax';

/**
 * One invocation per row of [rows, columns], looping over the row: reductions to [rows] (sum, mean,
 * max, min) and softmax. TF.js's reductions and softmax share partial results through workgroup
 * memory with barriers (slow on a software adapter, see the top of this file).
 */
class PlainRowProgram {
  readonly variableNames = ['x'];
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly uniforms = 'rows : i32, columns : i32,';

  constructor(
    private readonly op: RowOp,
    rows: number,
    columns: number,
  ) {
    this.outputShape = op === 'Softmax' ? [rows * columns] : [rows];
    this.shaderKey = `grpoviPlainRow_${op}`;
    this.dispatch = [Math.ceil(rows / WORKGROUP), 1, 1];
  }

  getUserCode(): string {
    const loop = (body: string) => `for (var i = 1; i < uniforms.columns; i = i + 1) { ${body} }`;
    const bodies: Record<RowOp, string> = {
      Sum: `var acc = f32(x[base]); ${loop('acc = acc + f32(x[base + i]);')} result[row] = acc;`,
      Mean: `var acc = f32(x[base]); ${loop('acc = acc + f32(x[base + i]);')} result[row] = acc / f32(uniforms.columns);`,
      Max: `var acc = f32(x[base]); ${loop('acc = max(acc, f32(x[base + i]));')} result[row] = acc;`,
      Min: `var acc = f32(x[base]); ${loop('acc = min(acc, f32(x[base + i]));')} result[row] = acc;`,
      Softmax: `var top = f32(x[base]); ${loop('top = max(top, f32(x[base + i]));')}
        var total = 0.0;
        for (var i = 0; i < uniforms.columns; i = i + 1) { total = total + exp(f32(x[base + i]) - top); }
        for (var i = 0; i < uniforms.columns; i = i + 1) { result[base + i] = exp(f32(x[base + i]) - top) / total; }`,
    };
    return `
      fn main(row : i32) {
        if (row < uniforms.rows) {
          let base = row * uniforms.columns;
          ${bodies[this.op]}
        }
      }
    `;
  }
}

function runRows(
  backend: ProgramBackend,
  op: RowOp,
  x: tf.TensorInfo,
  rows: number,
  columns: number,
): tf.TensorInfo {
  const program = new PlainRowProgram(op, rows, columns);
  const flat = { ...x, shape: [rows * columns] };
  return backend.runWebGPUProgram(program, [flat], 'float32', [{ type: 'int32', data: [rows, columns] }]);
}

/**
 * A reduction (Sum, Mean, Max, Min) of a float32 tensor over its innermost axes (the ones grpovi
 * reduces over); undefined for other axes or dtypes (TF.js's kernel runs those).
 */
export function plainReduce(
  backend: ProgramBackend,
  op: Exclude<RowOp, 'Softmax'>,
  x: tf.TensorInfo,
  axis: number | number[],
  keepDims: boolean,
): tf.TensorInfo | undefined {
  if (x.dtype !== 'float32') return undefined;
  const rank = x.shape.length;
  const axes = [...new Set(tf.util.parseAxisParam(axis, x.shape))].sort((p, q) => p - q);
  if (axes.length === 0 || axes.some((a, i) => a !== rank - axes.length + i)) return undefined;
  const kept = x.shape.slice(0, rank - axes.length);
  const columns = x.shape.slice(rank - axes.length).reduce((n, d) => n * d, 1);
  const rows = kept.reduce((n, d) => n * d, 1);
  if (columns === 0 || rows === 0) return undefined;
  // Few long rows (a whole gradient's sum of squares) keep TF.js's workgroup-parallel reduction:
  // on SwiftShader the sum of 38.6M values took 688 ms there and 1076 ms in one invocation here,
  // while the 50257 row sums of the same [50257, 768] took 4181 ms there and 472 ms here.
  if (rows < WORKGROUP && columns > LONG_ROW) return undefined;
  const out = runRows(backend, op, x, rows, columns);
  return { ...out, shape: keepDims ? [...kept, ...axes.map(() => 1)] : kept };
}

/** Softmax of a float32 tensor over its last axis; undefined otherwise. */
export function plainSoftmax(
  backend: ProgramBackend,
  x: tf.TensorInfo,
  dim: number,
): tf.TensorInfo | undefined {
  const rank = x.shape.length;
  if (x.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1)) return undefined;
  const columns = x.shape[rank - 1];
  const rows = x.shape.slice(0, -1).reduce((n, d) => n * d, 1);
  if (columns === 0 || rows === 0) return undefined;
  const out = runRows(backend, 'Softmax', x, rows, columns);
  return { ...out, shape: [...x.shape] };
}
