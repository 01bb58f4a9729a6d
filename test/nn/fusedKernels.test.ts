import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { targetLogProbs } from '../../src/nn/backends/blas/logProbKernels.js';
import { sliceRuns } from '../../src/nn/backends/blas/slicePlan.js';
import { softmaxEntropy, softmaxStats, tokenLogProbs } from '../../src/nn/ops/layers.js';
import { Rng } from '../../src/util/rng.js';
import { BLAS_AVAILABLE, BLAS_SKIPPED, TEST_BACKEND } from '../backends.js';

function normals(rng: Rng, size: number, scale = 1): Float32Array {
  return Float32Array.from({ length: size }, () => rng.normal() * scale);
}

/** The slice by brute force: every output index mapped back to its input index. */
function bruteSlice(values: Float32Array, shape: number[], begin: number[], size: number[]): Float32Array {
  const total = size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(total);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let index = 0;
    let stride = 1;
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      index += (begin[axis] + (rest % size[axis])) * stride;
      rest = Math.floor(rest / size[axis]);
      stride *= shape[axis];
    }
    out[flat] = values[index];
  }
  return out;
}

/** log softmax(x)[t] and log Z per row in float64. */
function bruteLogProbs(logits: Float32Array, targets: Int32Array, vocab: number) {
  const logProbs: number[] = [];
  const logZ: number[] = [];
  for (let r = 0; r < targets.length; r++) {
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, logits[r * vocab + j]);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[r * vocab + j] - max);
    logZ.push(max + Math.log(sum));
    logProbs.push(logits[r * vocab + targets[r]] - logZ[r]);
  }
  return { logProbs, logZ };
}

/** Logits with ordinary rows and rows whose target is so unlikely that its float32 probability is 0. */
function logitCase(rng: Rng, rows: number, vocab: number) {
  const logits = normals(rng, rows * vocab, 3);
  const targets = Int32Array.from({ length: rows }, () => rng.int(vocab));
  for (let r = 0; r < rows; r += 5) logits[r * vocab + targets[r]] -= 150;
  return { logits, targets };
}

describe('slice runs (pure shape arithmetic)', () => {
  it('copy exactly the elements a brute-force slice picks, on random shapes', () => {
    const rng = Rng.derive(1, 'slice-runs');
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + rng.int(4);
      const shape = Array.from({ length: rank }, () => 1 + rng.int(5));
      const begin = shape.map((n) => rng.int(n));
      const size = shape.map((n, a) => rng.int(n - begin[a] + 1));
      const values = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => i);
      const runs = sliceRuns(shape, begin, size);
      const copied: number[] = [];
      for (const start of runs.starts) copied.push(...values.subarray(start, start + runs.length));
      expect(copied).toEqual(Array.from(bruteSlice(values, shape, begin, size)));
    }
  });
});

describe('target log-probs read off the softmax (pure arithmetic)', () => {
  it('equal the float64 log-softmax to 1e-5, also where the probability underflows', () => {
    const rng = Rng.derive(2, 'target-log-probs');
    const rows = 40;
    const vocab = 300;
    const { logits, targets } = logitCase(rng, rows, vocab);
    const exact = bruteLogProbs(logits, targets, vocab);
    // A float32 softmax, as the kernel gets it (the backend's own is compared in the BLAS tests below).
    const probs = Float32Array.from(logits, (x, i) => Math.exp(x - exact.logZ[Math.floor(i / vocab)]));
    const logProbs = new Float32Array(rows);
    const logZ = new Float32Array(rows);
    targetLogProbs(probs, logits, targets, vocab, logProbs, logZ);
    const expected = bruteLogProbs(logits, targets, vocab);
    for (let r = 0; r < rows; r++) {
      expect(Math.abs(logProbs[r] - expected.logProbs[r])).toBeLessThan(
        1e-5 * Math.max(1, Math.abs(expected.logProbs[r])),
      );
      expect(Math.abs(logZ[r] - expected.logZ[r])).toBeLessThan(
        1e-5 * Math.max(1, Math.abs(expected.logZ[r])),
      );
    }
    // The underflowing rows really are underflowing: the fallback is exercised.
    expect(probs[targets[0]]).toBeLessThan(1e-30);
  });
});

describe.skipIf(!BLAS_AVAILABLE)(
  `fused kernels of the BLAS path against the unfused wasm ops${BLAS_SKIPPED}`,
  () => {
    afterAll(async () => {
      await selectBackend(TEST_BACKEND);
    });

    /** The same computation on the wasm backend (unfused ops) and on the BLAS path (fused kernels). */
    async function onBoth<T>(compute: () => T): Promise<{ wasm: T; blas: T }> {
      await selectBackend('wasm');
      const wasm = compute();
      await selectBackend('blas');
      const blas = compute();
      return { wasm, blas };
    }

    it('Slice and SplitV copy exactly what the wasm kernels copy', async () => {
      const rng = Rng.derive(3, 'slices');
      const shape = [7, 5, 12];
      const values = normals(rng, 7 * 5 * 12);
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor3d(values, shape as [number, number, number]);
          const parts = tf.split(x, [3, 4, 5], 2).map((p) => Array.from(p.dataSync()));
          const sliced = Array.from(tf.slice(x, [1, 2, 3], [4, 2, 6]).dataSync());
          const ints = Array.from(tf.slice(x.cast('int32'), [0, 1, 0], [7, 3, 12]).dataSync());
          return { parts, sliced, ints };
        });
      const { wasm, blas } = await onBoth(run);
      expect(blas).toEqual(wasm);
      expect(blas.sliced).toEqual(Array.from(bruteSlice(values, shape, [1, 2, 3], [4, 2, 6])));
    });

    it('Concat copies exactly what the wasm kernel and a brute-force concatenation give', async () => {
      const rng = Rng.derive(6, 'concat');
      const cases = Array.from({ length: 40 }, () => {
        const rank = 1 + rng.int(4);
        const axis = rng.int(rank);
        const base = Array.from({ length: rank }, () => 1 + rng.int(4));
        // Pieces differ along the axis; some are empty (skipped by both kernels).
        const shapes = Array.from({ length: 1 + rng.int(4) }, () =>
          base.map((n, a) => (a === axis ? rng.int(4) : n)),
        );
        const values = shapes.map((shape) =>
          normals(
            rng,
            shape.reduce((x, y) => x * y, 1),
          ),
        );
        return { axis, shapes, values, int: rng.int(3) === 0 };
      });
      const run = () =>
        cases.map(({ axis, shapes, values, int }) =>
          tf.tidy(() => {
            const parts = shapes.map((shape, i) => {
              const t = tf.tensor(values[i], shape);
              return int ? t.mul(100).cast('int32') : t;
            });
            return Array.from(tf.concat(parts, axis).dataSync());
          }),
        );
      const { wasm, blas } = await onBoth(run);
      expect(blas).toEqual(wasm);
      // Brute force: the output's outer index o takes piece i's block o, for every piece in order.
      cases.forEach(({ axis, shapes, values, int }, c) => {
        const outer = shapes[0].slice(0, axis).reduce((x, y) => x * y, 1);
        const expected: number[] = [];
        for (let o = 0; o < outer; o++) {
          shapes.forEach((shape, i) => {
            const inner = shape.slice(axis).reduce((x, y) => x * y, 1);
            for (const v of values[i].subarray(o * inner, (o + 1) * inner))
              expected.push(int ? Math.trunc(Math.fround(v * 100)) | 0 : v);
          });
        }
        expect(blas[c]).toEqual(expected);
      });
    });

    it('tokenLogProbs: value, log Z and gradient agree with the unfused path and the float64 formula', async () => {
      const rng = Rng.derive(4, 'token-log-probs');
      const rows = 30;
      const vocab = 257;
      const { logits, targets } = logitCase(rng, rows, vocab);
      const upstream = normals(rng, rows);
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor2d(logits, [rows, vocab]);
          const stats = softmaxStats(x, targets);
          const value = tokenLogProbs(x, targets, stats);
          // With the stats passed in, as the trainer does when it also wants the entropy.
          const grad = tf.grad((t: tf.Tensor) =>
            tokenLogProbs(t as tf.Tensor2D, targets, softmaxStats(t as tf.Tensor2D, targets))
              .mul(upstream)
              .sum(),
          )(x);
          return {
            value: value.dataSync() as Float32Array,
            logZ: stats.logNormalizer.dataSync() as Float32Array,
            grad: grad.dataSync() as Float32Array,
          };
        });
      const { wasm, blas } = await onBoth(run);
      const expected = bruteLogProbs(logits, targets, vocab);
      for (let r = 0; r < rows; r++) {
        const tolerance = 1e-5 * Math.max(1, Math.abs(expected.logProbs[r]));
        expect(Math.abs(blas.value[r] - expected.logProbs[r])).toBeLessThan(tolerance);
        expect(Math.abs(blas.value[r] - wasm.value[r])).toBeLessThan(tolerance);
        expect(Math.abs(blas.logZ[r] - wasm.logZ[r])).toBeLessThan(
          1e-5 * Math.max(1, Math.abs(wasm.logZ[r])),
        );
        for (let j = 0; j < vocab; j++) {
          const i = r * vocab + j;
          const p = Math.exp(logits[i] - expected.logZ[r]);
          const exact = ((j === targets[r] ? 1 : 0) - p) * upstream[r];
          expect(Math.abs(blas.grad[i] - exact)).toBeLessThan(1e-5 * Math.max(1, Math.abs(upstream[r])));
          expect(Math.abs(blas.grad[i] - wasm.grad[i])).toBeLessThan(
            1e-5 * Math.max(1, Math.abs(upstream[r])),
          );
        }
      }
    });

    it('softmaxEntropy (one sdot per row) agrees with the unfused ops and the float64 entropy', async () => {
      const rng = Rng.derive(7, 'entropy');
      for (const [rows, vocab] of [
        [30, 257],
        [5, 3000],
        [1, 1],
      ]) {
        // Peaked and flat rows, and a target far out in the tail (underflowing probabilities).
        const { logits, targets } = logitCase(rng, rows, vocab);
        const run = () =>
          tf.tidy(() => {
            const x = tf.tensor2d(logits, [rows, vocab]);
            const entropy = softmaxEntropy(x, softmaxStats(x, targets));
            const plain = softmaxEntropy(x);
            return {
              entropy: entropy.dataSync() as Float32Array,
              plain: plain.dataSync() as Float32Array,
            };
          });
        const before = tf.memory().numTensors;
        const { wasm, blas } = await onBoth(run);
        expect(tf.memory().numTensors).toBe(before);
        const { logZ } = bruteLogProbs(logits, targets, vocab);
        for (let r = 0; r < rows; r++) {
          let exact = logZ[r];
          for (let j = 0; j < vocab; j++) {
            const x = logits[r * vocab + j];
            exact -= Math.exp(x - logZ[r]) * x;
          }
          // Entropy is a difference of two numbers of the logits' scale: tolerance on that scale.
          let scale = Math.abs(logZ[r]);
          for (let j = 0; j < vocab; j++) scale = Math.max(scale, Math.abs(logits[r * vocab + j]));
          const tolerance = 1e-5 * Math.max(1, scale);
          for (const value of [blas.entropy[r], blas.plain[r]]) {
            expect(Math.abs(value - exact)).toBeLessThan(tolerance);
            expect(Math.abs(value - wasm.entropy[r])).toBeLessThan(tolerance);
          }
        }
      }
    });
  },
);
