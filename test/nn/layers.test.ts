import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/nn/backends/backend.js';
import { TEST_BACKEND } from '../backends.js';
import { columnSums } from '../../src/nn/ops/layers.js';

beforeAll(async () => {
  await selectBackend(TEST_BACKEND);
});

/** Allocates and frees some memory: a corrupted wasm heap fails here rather than in a later test. */
function probeHeap(): void {
  for (let i = 0; i < 10; i++) tf.tidy(() => tf.ones([512, 512]).add(1).sum().dataSync());
}

describe('columnSums', () => {
  // 8 x 16384 and 1280 x 16384 once corrupted the wasm heap through XNNPACK's average pooling.
  for (const [rows, columns] of [
    [1, 7],
    [8, 16384],
    [1280, 16384],
    [3, 9000],
  ]) {
    it(`equals a plain row sum for ${rows} x ${columns} and leaves the heap intact`, () => {
      const x = tf.randomUniform([rows, columns], -1, 1, 'float32', 7) as tf.Tensor2D;
      const got = tf.tidy(() => columnSums(x).dataSync());
      const values = x.dataSync();
      x.dispose();
      for (let c = 0; c < columns; c += Math.max(1, Math.floor(columns / 97))) {
        let want = 0;
        for (let r = 0; r < rows; r++) want += values[r * columns + c];
        expect(got[c]).toBeCloseTo(want, 3);
      }
      expect(got.length).toBe(columns);
      probeHeap();
    });
  }
});
