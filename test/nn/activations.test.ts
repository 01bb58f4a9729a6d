import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { geluNew } from '../../src/nn/ops/activations.js';
import { Rng } from '../../src/util/rng.js';
import { TEST_BACKEND } from '../backends.js';

/** transformers' NewGELUActivation, in float64 with Math.tanh (an independent form of the formula). */
function reference(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
}

function inputs(): Float32Array {
  const rng = new Rng(7);
  const special = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 3, -3, 9, -9, 20, -20, 1e3, -1e3, 1e20, -1e20];
  return Float32Array.from([...special, ...Array.from({ length: 1000 }, () => rng.normal() * 3)]);
}

afterAll(async () => {
  await selectBackend(TEST_BACKEND);
});

for (const backend of [TEST_BACKEND, 'cpu'] as const) {
  describe(`geluNew on the ${backend} backend`, () => {
    // The wasm kernel rounds a float64 result once; elsewhere five float32 ops round in turn.
    const relative = backend === 'cpu' ? 4e-6 : 4e-7;
    it(`matches the float64 tanh formula to ${relative} relative`, async () => {
      await selectBackend(backend);
      const x = inputs();
      const y = tf.tidy(() => geluNew(tf.tensor(x, [4, x.length / 4])).dataSync());
      x.forEach((v, i) => {
        const want = reference(v);
        // 1 + tanh(u) cancels in float64 for u far below 0: the reference is good to 1e-16 |x| there.
        expect(Math.abs(y[i] - want)).toBeLessThanOrEqual(relative * Math.abs(want) + 1e-15 * Math.abs(v));
      });
    });

    it('matches the six-op form the Hugging Face decoder used (0.5 x (1 + tanh(...)))', async () => {
      await selectBackend(backend);
      const x = tf.tensor(inputs().subarray(16));
      const ours = tf.tidy(() => geluNew(x).dataSync());
      const ops = tf.tidy(() =>
        x
          .mul(0.5)
          .mul(tf.tanh(x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1))
          .dataSync(),
      );
      ours.forEach((v, i) =>
        expect(Math.abs(v - ops[i])).toBeLessThanOrEqual(2e-6 * Math.max(1, Math.abs(v))),
      );
      x.dispose();
    });

    it('has the gradient of finite differences (float64 on the tanh formula, and float32 on the op itself)', async () => {
      await selectBackend(backend);
      const rng = new Rng(3);
      const x = Float32Array.from({ length: 64 }, () => rng.normal() * 2.5);
      const dy = Float32Array.from({ length: 64 }, () => rng.normal());
      const grad = tf.tidy(() =>
        tf
          .grad((t: tf.Tensor) =>
            geluNew(t)
              .mul(tf.tensor(dy, [8, 8]))
              .sum(),
          )(tf.tensor(x, [8, 8]))
          .dataSync(),
      );
      const h = 1e-5;
      x.forEach((v, i) => {
        const fd = ((reference(v + h) - reference(v - h)) / (2 * h)) * dy[i];
        expect(Math.abs(grad[i] - fd)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(fd)));
      });
      // Central differences of the op itself in float32 (step 1e-2: truncation about 1e-4).
      const step = 1e-2;
      const plus = tf.tidy(() => geluNew(tf.tensor(x.map((v) => v + step))).dataSync());
      const minus = tf.tidy(() => geluNew(tf.tensor(x.map((v) => v - step))).dataSync());
      x.forEach((_, i) => {
        const fd = ((plus[i] - minus[i]) / (2 * step)) * dy[i];
        expect(Math.abs(grad[i] - fd)).toBeLessThanOrEqual(2e-3 * Math.max(1, Math.abs(dy[i])));
      });
    });

    it('leaves no tensors behind, forward and backward', async () => {
      await selectBackend(backend);
      const x = tf.tensor([0.5, -1, 2, 3], [2, 2]);
      const before = tf.memory().numTensors;
      const g = tf.grad((t: tf.Tensor) => geluNew(t).sum())(x);
      g.dispose();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });
}
