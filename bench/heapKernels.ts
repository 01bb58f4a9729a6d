/**
 * `npm run bench:heap-kernels`: the heap kernels of src/nn/backends/heapKernels/ against what they
 * replace, at distilgpt2's sizes, each ratio against its baseline measured in the same run:
 * - AdamW over distilgpt2's parameter tensors (81.9M values): the JS loop over values copied out of
 *   the heap (the path before, the baseline), the SIMD loop in the optimizer's own moment memory
 *   (today's path above JS_MOMENTS_ABOVE_PARAMETERS), and the SIMD loop on the heap as a kernel
 *   (the moments as backend tensors);
 * - GPT-2's tanh GELU forward and backward on [256, 3072] (8 rows x 32 tokens of distilgpt2's MLP):
 *   the six TF.js ops of transformers' formula (the baseline) against `geluNew`.
 * Times are process CPU ms (less inflated than wall time on a shared machine), the median of
 * `--runs N` (default 5) after one warm-up (a GELU run is ten calls, its time per call printed). Flags: `--backend auto|wasm|blas` (default auto).
 */
import * as tf from '@tensorflow/tfjs';
import { loadavg } from 'node:os';
import { selectBackend } from '../src/nn/backends/backend.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import { geluNew } from '../src/nn/ops/activations.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { DISTILGPT2 } from './hfShapes.js';
import { median, printTable } from './rlPhases.js';

const RUNS = process.argv.includes('--runs') ? Number(process.argv[process.argv.indexOf('--runs') + 1]) : 5;

function cpuMs(work: () => void): number {
  const began = process.cpuUsage();
  work();
  const used = process.cpuUsage(began);
  return (used.user + used.system) / 1e3;
}

/** Median CPU ms of `work` over RUNS runs after a warm-up. */
function measure(work: () => void): number {
  work();
  return median(Array.from({ length: RUNS }, () => cpuMs(work)));
}

function adamwRows(): string[][] {
  // distilgpt2's parameter tensors (random values; only their sizes matter here).
  const model = HfDecoder.init(DISTILGPT2, 1);
  const params = model.variables();
  const grads = new Map(params.map((p) => [p.name, tf.randomNormal(p.variable.shape)]));
  const size = params.reduce((n, p) => n + p.variable.size, 0);
  const options = { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, maxGradNorm: 1 };
  const paths: [string, boolean, boolean][] = [
    ['JS loop on copies (before)', true, false],
    ['SIMD loop in the moment memory', true, true],
    ['SIMD loop on the heap (kernel)', false, true],
  ];
  const times = paths.map(([, inJs, simd]) => {
    const optimizer = new AdamW(params, options, inJs, simd);
    const ms = measure(() => optimizer.apply(grads, 1e-5));
    optimizer.dispose();
    return ms;
  });
  for (const g of grads.values()) g.dispose();
  model.dispose();
  return paths.map(([label], i) => [
    `AdamW (clip + update), ${(size / 1e6).toFixed(1)}M values: ${label}`,
    times[i].toFixed(0),
    (times[i] / times[0]).toFixed(2),
  ]);
}

function geluRows(): string[][] {
  const x = tf.randomNormal([256, 3072]);
  const sixOps = (t: tf.Tensor) =>
    t.mul(0.5).mul(tf.tanh(t.add(t.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI))).add(1));
  const forms: [string, (t: tf.Tensor) => tf.Tensor][] = [
    ['six TF.js ops (before)', sixOps],
    ['geluNew', geluNew],
  ];
  const rows: string[][] = [];
  // Ten calls per run; no values read back (a readSync would cost as much as the op).
  const tenTimes = (work: () => void) => () => {
    for (let i = 0; i < 10; i++) tf.tidy(work);
  };
  const gradient = (f: (t: tf.Tensor) => tf.Tensor) => () => void tf.grad((t: tf.Tensor) => f(t).sum())(x);
  const forward = forms.map(([, f]) => measure(tenTimes(() => void f(x))) / 10);
  const both = forms.map(([, f]) => measure(tenTimes(gradient(f))) / 10);
  forms.forEach(([label], i) => {
    rows.push([
      `tanh GELU forward [256, 3072]: ${label}`,
      forward[i].toFixed(1),
      (forward[i] / forward[0]).toFixed(2),
    ]);
  });
  forms.forEach(([label], i) => {
    rows.push([`tanh GELU forward + backward: ${label}`, both[i].toFixed(1), (both[i] / both[0]).toFixed(2)]);
  });
  x.dispose();
  return rows;
}

const requested = process.argv.includes('--backend')
  ? (process.argv[process.argv.indexOf('--backend') + 1] as 'auto' | 'wasm' | 'blas')
  : 'auto';
const backend = await selectBackend(requested, { blasThreads: 1 });
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(', ');
console.log(`heap kernels against what they replace; backend ${backend}; median CPU ms of ${RUNS} runs`);
console.log(`load average at the start: ${load()}`);
// GELU first: the AdamW part leaves gigabytes for the garbage collector.
const gelu = geluRows();
printTable(['work', 'CPU ms', 'ratio to before'], [...gelu, ...adamwRows()]);
console.log(`load average at the end: ${load()}`);
