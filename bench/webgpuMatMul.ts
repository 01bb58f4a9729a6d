/**
 * `npm run bench:webgpu-matmul`: milliseconds per matrix product on the webgpu backend for the
 * product shapes of a GRPO step (skinny decode products, vocabulary-wide output layers, weight
 * gradients with a short inner dimension, square ones). Run it with
 * GRPOVI_WEBGPU_SOFTWARE_KERNELS=0 and without to compare TF.js's tiled shaders with grpovi's
 * barrier-free one on a software adapter (softwareAdapterKernels.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { backendLine, describeBackend, selectBackend } from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';

/** [M, K, N, transposeA, transposeB, what]. */
const SHAPES: [number, number, number, boolean, boolean, string][] = [
  [8, 768, 3072, false, false, 'decode MLP, 8 rows'],
  [8, 768, 50257, false, true, 'decode output layer (tied table)'],
  [64, 768, 768, false, false, 'prompt projection, 64 rows'],
  [768, 64, 3072, true, false, 'weight gradient, 64 tokens'],
  [256, 256, 256, false, false, 'square 256'],
  [512, 512, 512, false, false, 'square 512'],
];

async function main(): Promise<void> {
  await selectBackend('webgpu');
  console.log(backendLine(describeBackend('webgpu')));
  console.log(
    `grpovi kernels on a software adapter: ${process.env.GRPOVI_WEBGPU_SOFTWARE_KERNELS === '0' ? 'off (TF.js shaders)' : 'on'}`,
  );
  for (const [m, k, n, ta, tb, what] of SHAPES) {
    const a = tf.randomNormal(ta ? [k, m] : [m, k], 0, 1, 'float32', 1);
    const b = tf.randomNormal(tb ? [n, k] : [k, n], 0, 1, 'float32', 2);
    let best = Infinity;
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const c = tf.matMul(a, b, ta, tb);
      await c.data();
      c.dispose();
      if (r > 0) best = Math.min(best, performance.now() - t0);
    }
    tf.dispose([a, b]);
    const gflops = (2 * m * k * n) / (best / 1000) / 1e9;
    console.log(
      `${`${m}x${k}x${n}${ta ? ' tA' : ''}${tb ? ' tB' : ''}`.padEnd(20)} ${best.toFixed(1).padStart(8)} ms  ${gflops.toFixed(3)} GFLOP/s  (${what})`,
    );
  }
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  })
  .finally(releaseWebgpu);
