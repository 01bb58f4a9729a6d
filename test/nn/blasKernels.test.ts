import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentBackend, requireBlas, selectBackend } from '../../src/nn/backends/backend.js';
import { GROUPED_MATMUL } from '../../src/nn/backends/blas/blasKernels.js';
import { findCblas } from '../../src/nn/backends/blas/cblasLibrary.js';
import {
  batchMatMulPlan,
  broadcastBatch,
  groupedMatMulPlan,
} from '../../src/nn/backends/blas/productPlan.js';
import { Rng } from '../../src/util/rng.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED } from '../backends.js';

function randomTensor(rng: Rng, shape: number[]): { values: Float32Array; shape: number[] } {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.normal();
  return { values, shape };
}

/**
 * |blas - wasm| <= 1e-5 * (|A| |B|)_ij per entry: the scale a float32 dot product's rounding error
 * is bounded by, so the check holds for entries that cancel to near zero as well.
 */
function expectClose(actual: Float32Array, expected: Float32Array, scale: Float64Array): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / Math.max(scale[i], 1e-30));
  }
  expect(worst).toBeLessThan(1e-5);
}

/**
 * Brute-force product in float64 with NumPy broadcasting of the batch dims, and the error scale
 * (|A| |B|) of each entry: the independent reference for every case.
 */
function bruteForce(
  a: { values: Float32Array; shape: number[] },
  b: { values: Float32Array; shape: number[] },
  transposeA: boolean,
  transposeB: boolean,
): { values: Float64Array; scale: Float64Array } {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const [m, k] = transposeA ? [ac, ar] : [ar, ac];
  const n = transposeB ? br : bc;
  const batch = broadcastBatch(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const count = batch.reduce((x, y) => x * y, 1);
  const values = new Float64Array(count * m * n);
  const scale = new Float64Array(count * m * n);
  const batchIndex = (shape: number[], flat: number) => {
    const dims = shape.slice(0, -2);
    const padded = [...Array<number>(batch.length - dims.length).fill(1), ...dims];
    let rest = flat;
    let index = 0;
    let stride = 1;
    for (let axis = batch.length - 1; axis >= 0; axis--) {
      if (padded[axis] !== 1) index += (rest % batch[axis]) * stride;
      rest = Math.floor(rest / batch[axis]);
      stride *= padded[axis];
    }
    return index;
  };
  for (let t = 0; t < count; t++) {
    const aBase = batchIndex(a.shape, t) * ar * ac;
    const bBase = batchIndex(b.shape, t) * br * bc;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        let abs = 0;
        for (let p = 0; p < k; p++) {
          const x = a.values[aBase + (transposeA ? p * ac + i : i * ac + p)];
          const y = b.values[bBase + (transposeB ? j * bc + p : p * bc + j)];
          sum += x * y;
          abs += Math.abs(x * y);
        }
        values[(t * m + i) * n + j] = sum;
        scale[(t * m + i) * n + j] = abs;
      }
    }
  }
  return { values, scale };
}

const ACTIVATIONS: Record<string, (x: number, alpha: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(x, 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  elu: (x) => (x >= 0 ? x : Math.exp(x) - 1),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  leakyrelu: (x, alpha) => (x >= 0 ? x : alpha * x),
  prelu: (x, alpha) => (x >= 0 ? x : alpha * x),
};

interface ProductCase {
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

/** Random shapes: transposed either way, batched, broadcast (a batch dim of 1 or missing). */
function randomCases(rng: Rng, count: number): ProductCase[] {
  const cases: ProductCase[] = [];
  for (let c = 0; c < count; c++) {
    const m = 1 + rng.int(40);
    const n = 1 + rng.int(40);
    const k = 1 + rng.int(40);
    const transposeA = rng.int(2) === 1;
    const transposeB = rng.int(2) === 1;
    const kind = c % 4;
    const batchA = kind === 0 ? [] : kind === 1 ? [3] : kind === 2 ? [2, 1] : [1, 3];
    const batchB = kind === 0 ? [] : kind === 1 ? [3] : kind === 2 ? [1, 4] : [3];
    cases.push({
      a: [...batchA, ...(transposeA ? [k, m] : [m, k])],
      b: [...batchB, ...(transposeB ? [n, k] : [k, n])],
      transposeA,
      transposeB,
    });
  }
  // The model's own shapes: MLP input, output projection with the tied embedding (transposed).
  cases.push({ a: [84, 96], b: [96, 384], transposeA: false, transposeB: false });
  cases.push({ a: [84, 96], b: [3000, 96], transposeA: false, transposeB: true });
  cases.push({ a: [84, 96], b: [84, 384], transposeA: true, transposeB: false });
  return cases;
}

describe('product plans (pure shape arithmetic)', () => {
  it('broadcasts batch dims as NumPy does and rejects incompatible ones', () => {
    expect(broadcastBatch([2, 1], [1, 4])).toEqual([2, 4]);
    expect(broadcastBatch([], [3])).toEqual([3]);
    expect(broadcastBatch([5, 1, 3], [2, 1])).toEqual([5, 2, 3]);
    expect(() => broadcastBatch([2], [3])).toThrow(/do not broadcast/);
  });

  it('a batch plan visits the operand batches a brute-force broadcast would', () => {
    const plan = batchMatMulPlan([2, 1, 3, 4], [5, 4, 6], false, false);
    expect(plan.outShape).toEqual([2, 5, 3, 6]);
    const expected = [];
    for (let i = 0; i < 2; i++) for (let j = 0; j < 5; j++) expected.push([i, j]);
    expect(plan.calls.map((c) => [c.aOffset / 12, c.bOffset / 24])).toEqual(expected);
    expect(() => batchMatMulPlan([3, 4], [5, 6], false, false)).toThrow(/inner sizes 4 and 5/);
  });

  it('a grouped plan strides through the middle axis', () => {
    const plan = groupedMatMulPlan([7, 3, 5], [4, 3, 5], false, true);
    expect(plan).toMatchObject({ m: 7, n: 4, k: 5, lda: 15, ldb: 15, ldc: 12, outShape: [7, 3, 4] });
    expect(plan.calls[2]).toEqual({ aOffset: 10, bOffset: 10, cOffset: 8 });
  });
});

describe('CBLAS library search', () => {
  it('reports every candidate that fails to load, with the loader reason', () => {
    const found = findCblas(['/nonexistent/libcblas-grpovi-test.so', 'libgrpovi-no-such-blas.so']);
    expect(found.library).toBeNull();
    expect(found.failures.map((f) => f.name)).toEqual([
      '/nonexistent/libcblas-grpovi-test.so',
      'libgrpovi-no-such-blas.so',
    ]);
    for (const f of found.failures) expect(f.reason.length).toBeGreaterThan(0);
  });

  it('backend "blas" without a library is an error naming what was tried and why', () => {
    const found = findCblas(['libgrpovi-no-such-blas.so']);
    expect(() => requireBlas(found)).toThrow(
      /no CBLAS library loaded \(tried libgrpovi-no-such-blas\.so \(.+\)\)/,
    );
  });
});

describe.skipIf(!BLAS_AVAILABLE)(`BLAS kernels against the wasm kernels${BLAS_SKIPPED}`, () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });
  afterAll(async () => {
    await selectBackend('wasm');
  });

  /**
   * Runs `op` on the wasm kernels, on the BLAS kernels and on TF.js's pure-JS cpu kernels, with the
   * same inputs. The cpu kernels are the reference where the wasm ones are wrong (see the cases).
   */
  async function allPaths(
    op: () => tf.Tensor,
  ): Promise<{ wasm: Float32Array; blas: Float32Array; cpu: Float32Array }> {
    const results: Record<string, Float32Array> = {};
    for (const backend of ['wasm', 'blas', 'cpu'] as const) {
      await selectBackend(backend);
      expect(currentBackend()).toBe(backend);
      results[backend] = tf.tidy(op).dataSync() as Float32Array;
    }
    await selectBackend('wasm');
    return { wasm: results.wasm, blas: results.blas, cpu: results.cpu };
  }

  it('BatchMatMul: random transposed, batched and broadcast shapes', async () => {
    const rng = new Rng(41);
    for (const c of randomCases(rng, 24)) {
      const a = randomTensor(rng, c.a);
      const b = randomTensor(rng, c.b);
      const run = () =>
        tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape), c.transposeA, c.transposeB);
      const { wasm, blas } = await allPaths(run);
      const reference = bruteForce(a, b, c.transposeA, c.transposeB);
      expectClose(blas, Float32Array.from(reference.values), reference.scale);
      // TF.js 4.22's wasm (and cpu) kernels mis-size a product whose batch dims both broadcast ([2, 1] x [1, 4]).
      const bothBroadcast = c.a.length === 4 && c.b.length === 4;
      if (!bothBroadcast) expectClose(blas, wasm, reference.scale);
      else expect(wasm.length).toBeLessThan(blas.length);
    }
  });

  it('_FusedMatMul: bias (vector and scalar) and every activation the wasm kernel fuses', async () => {
    const rng = new Rng(43);
    const activations = ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const;
    for (const [i, activation] of activations.entries()) {
      const [m, k, n] = [5 + i, 17, 9 + 2 * i];
      const transposeB = i % 2 === 1;
      const a = randomTensor(rng, [m, k]);
      const b = randomTensor(rng, transposeB ? [n, k] : [k, n]);
      const bias = randomTensor(rng, i === 3 ? [1] : [n]);
      const alpha = randomTensor(rng, [n]);
      const run = () =>
        tf.fused.matMul({
          a: tf.tensor2d(a.values, a.shape as [number, number]),
          b: tf.tensor2d(b.values, b.shape as [number, number]),
          transposeB,
          bias: tf.tensor(bias.values, bias.shape),
          activation,
          preluActivationWeights: activation === 'prelu' ? tf.tensor1d(alpha.values) : undefined,
          leakyreluAlpha: 0.3,
        });
      const { wasm, blas } = await allPaths(run);
      const product = bruteForce(a, b, false, transposeB);
      const expected = product.values.map((x, e) => {
        const column = e % n;
        const biased = x + bias.values[bias.values.length === 1 ? 0 : column];
        return ACTIVATIONS[activation](biased, activation === 'prelu' ? alpha.values[column] : 0.3);
      });
      // The bias is exact and the activations are 1-Lipschitz: the product's error scale bounds theirs.
      const scale = product.scale.map(
        (x, e) => x + Math.abs(bias.values[bias.values.length === 1 ? 0 : e % n]),
      );
      expectClose(blas, Float32Array.from(expected), scale);
      // TF.js 4.22's wasm kernel adds a one-element bias to the first column only, and mis-adds a bias
      // when b is transposed; elsewhere it is the second reference.
      if (bias.values.length > 1 && !transposeB) expectClose(blas, wasm, scale);
    }
  });

  it('the gradient of a product (TF.js autodiff through the BLAS kernels) matches the wasm one', async () => {
    const rng = new Rng(47);
    const a = randomTensor(rng, [2, 6, 5]);
    const b = randomTensor(rng, [2, 5, 7]);
    const run = () => {
      const grads = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).square().sum())([
        tf.tensor(a.values, a.shape),
        tf.tensor(b.values, b.shape),
      ]);
      return tf.concat(grads.map((g) => g.reshape([-1])));
    };
    const { wasm, blas } = await allPaths(run);
    const norm = Math.max(...wasm.map(Math.abs));
    for (let i = 0; i < wasm.length; i++) expect(Math.abs(blas[i] - wasm[i])).toBeLessThan(1e-5 * norm);
  });

  it(`${GROUPED_MATMUL}: every transpose combination against per-group wasm matMuls`, async () => {
    const rng = new Rng(53);
    // Random sizes, then a decode step's shapes (one query per group) and a training step's.
    const sizes = [
      ...Array.from({ length: 4 }, () => [1 + rng.int(20), 1 + rng.int(9), 1 + rng.int(30), 1 + rng.int(20)]),
      [1, 256, 24, 21],
      [21, 64, 24, 21],
    ];
    for (const [round, [m, groups, k, n]] of sizes.entries()) {
      const [transposeA, transposeB] = [round % 2 === 1, round % 4 >= 2];
      const a = randomTensor(rng, transposeA ? [k, groups, m] : [m, groups, k]);
      const b = randomTensor(rng, transposeB ? [n, groups, k] : [k, groups, n]);
      await selectBackend('wasm');
      // Reference: move the group axis to the front and use the wasm kernel's batched product.
      const reference = (abs: boolean) =>
        Float64Array.from(
          tf
            .tidy(() => {
              const ta = tf.tensor(a.values, a.shape).transpose([1, 0, 2]);
              const tb = tf.tensor(b.values, b.shape).transpose([1, 0, 2]);
              return tf
                .matMul(abs ? ta.abs() : ta, abs ? tb.abs() : tb, transposeA, transposeB)
                .transpose([1, 0, 2]);
            })
            .dataSync(),
        );
      const wasm = Float32Array.from(reference(false));
      const scale = reference(true);
      await selectBackend('blas');
      const blas = tf
        .tidy(() =>
          tf
            .engine()
            .runKernel<tf.Tensor>(
              GROUPED_MATMUL,
              { a: tf.tensor(a.values, a.shape), b: tf.tensor(b.values, b.shape) },
              { transposeA, transposeB },
            ),
        )
        .dataSync() as Float32Array;
      expectClose(blas, wasm, scale);
      await selectBackend('wasm');
    }
  });

  it('is bit-identical from run to run', async () => {
    await selectBackend('blas');
    const rng = new Rng(59);
    const a = randomTensor(rng, [64, 96]);
    const b = randomTensor(rng, [96, 3000]);
    const run = () =>
      Array.from(
        tf.tidy(() => tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape))).dataSync(),
      );
    expect(run()).toEqual(run());
    await selectBackend('wasm');
  });

  it('switching back to wasm restores its own kernels (results differ from BLAS in the last bits only)', async () => {
    const rng = new Rng(61);
    const a = randomTensor(rng, [33, 70]);
    const b = randomTensor(rng, [70, 45]);
    const run = () => tf.matMul(tf.tensor(a.values, a.shape), tf.tensor(b.values, b.shape));
    const first = await allPaths(run);
    const again = tf.tidy(run).dataSync() as Float32Array;
    expect(Array.from(again)).toEqual(Array.from(first.wasm));
  });
});
