/**
 * Shapes and offsets of matrix products as sequences of row-major sgemm calls: pure arithmetic on
 * shapes, shared by the BLAS kernels and their tests.
 */

/** One sgemm call's operands as element offsets into flat row-major buffers. */
export interface GemmCall {
  aOffset: number;
  bOffset: number;
  cOffset: number;
}

/** A product split into equal-sized sgemm calls that differ only in their offsets. */
export interface GemmPlan {
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
  lda: number;
  ldb: number;
  ldc: number;
  outShape: number[];
  calls: GemmCall[];
}

export class ProductShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProductShapeError';
  }
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** NumPy-style broadcast of two batch shapes (aligned at the right). */
export function broadcastBatch(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1)
      throw new ProductShapeError(`batch dims [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** For every batch index of `out`, the matching batch index of an operand with batch shape `dims`. */
function batchIndices(dims: readonly number[], out: readonly number[]): Int32Array {
  const count = product(out);
  const indices = new Int32Array(count);
  const rank = out.length;
  const padded = [...Array<number>(rank - dims.length).fill(1), ...dims];
  for (let flat = 0; flat < count; flat++) {
    let rest = flat;
    let index = 0;
    let stride = 1;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const coordinate = rest % out[axis];
      rest = Math.floor(rest / out[axis]);
      if (padded[axis] !== 1) index += coordinate * stride;
      stride *= padded[axis];
    }
    indices[flat] = index;
  }
  return indices;
}

/**
 * TF.js `BatchMatMul` semantics: a [...batchA, m, k] (or [..., k, m] transposed) times
 * b [...batchB, k, n] (or [..., n, k]), batch dims broadcast, one sgemm per output batch entry.
 */
export function batchMatMulPlan(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): GemmPlan {
  if (aShape.length < 2 || bShape.length < 2)
    throw new ProductShapeError(
      `matMul needs rank >= 2, got [${aShape.join(', ')}] and [${bShape.join(', ')}]`,
    );
  const [aRows, aCols] = aShape.slice(-2);
  const [bRows, bCols] = bShape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const kB = transposeB ? bCols : bRows;
  const n = transposeB ? bRows : bCols;
  if (k !== kB)
    throw new ProductShapeError(
      `inner sizes ${k} and ${kB} of [${aShape.join(', ')}] and [${bShape.join(', ')}] differ`,
    );
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const batch = broadcastBatch(batchA, batchB);
  const aIndex = batchIndices(batchA, batch);
  const bIndex = batchIndices(batchB, batch);
  const calls: GemmCall[] = [];
  for (let i = 0; i < aIndex.length; i++) {
    calls.push({ aOffset: aIndex[i] * m * k, bOffset: bIndex[i] * k * n, cOffset: i * m * n });
  }
  return {
    m,
    n,
    k,
    transposeA,
    transposeB,
    lda: aCols,
    ldb: bCols,
    ldc: n,
    outShape: [...batch, m, n],
    calls,
  };
}

/**
 * Grouped products in a "group in the middle" layout: out[m, g, n] = sum_k A[m, g, k] B[k, g, n],
 * with A stored [m, G, k] (or [k, G, m] when transposed) and B stored [k, G, n] (or [n, G, k]).
 * Group g's matrices are strided views (leading dimension G times the row length), so token-major
 * attention tensors go to sgemm without a transpose.
 */
export function groupedMatMulPlan(
  aShape: readonly number[],
  bShape: readonly number[],
  transposeA: boolean,
  transposeB: boolean,
): GemmPlan {
  if (aShape.length !== 3 || bShape.length !== 3 || aShape[1] !== bShape[1])
    throw new ProductShapeError(
      `grouped matMul needs [rows, groups, cols] operands with equal groups, got [${aShape.join(', ')}] and [${bShape.join(', ')}]`,
    );
  const groups = aShape[1];
  const m = transposeA ? aShape[2] : aShape[0];
  const k = transposeA ? aShape[0] : aShape[2];
  const kB = transposeB ? bShape[2] : bShape[0];
  const n = transposeB ? bShape[0] : bShape[2];
  if (k !== kB)
    throw new ProductShapeError(
      `inner sizes ${k} and ${kB} of [${aShape.join(', ')}] and [${bShape.join(', ')}] differ`,
    );
  const calls: GemmCall[] = [];
  for (let g = 0; g < groups; g++) {
    calls.push({ aOffset: g * aShape[2], bOffset: g * bShape[2], cOffset: g * n });
  }
  return {
    m,
    n,
    k,
    transposeA,
    transposeB,
    lda: groups * aShape[2],
    ldb: groups * bShape[2],
    ldc: groups * n,
    outShape: [m, groups, n],
    calls,
  };
}

/** A plan whose product is empty or trivially zero (a zero size): sgemm rejects such leading dims. */
export function isDegenerate(plan: GemmPlan): boolean {
  return plan.m === 0 || plan.n === 0 || plan.k === 0 || plan.calls.length === 0;
}
