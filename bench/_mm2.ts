import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';
await selectBackend('webgpu');
const V = 50257, D = 16, T = 7;
const h = tf.randomNormal([T, D]); const w = tf.randomNormal([V, D]);
const logits = tf.randomNormal([T, V]);
const a = tf.randomNormal([64, 96]); const b = tf.randomNormal([96, 288]);
const cases: [string, () => tf.Tensor][] = [
  ['matmul h w^T', () => tf.matMul(h, w, false, true)],
  ['matmul dy^T h (grad w)', () => tf.matMul(logits, h, true, false)],
  ['matmul 64x96x288', () => tf.matMul(a, b)],
];
for (const type of [-1, 0, 2, 3]) {
  tf.env().set('WEBGPU_MATMUL_PROGRAM_TYPE', type);
  for (const [name, f] of cases) {
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now(); const y = f(); await y.data(); y.dispose();
      if (r > 0) best = Math.min(best, performance.now() - t0);
    }
    console.log(type, name, best.toFixed(1), 'ms');
  }
}
releaseWebgpu();
