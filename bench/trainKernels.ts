/**
 * `npm run bench:train-kernels`: where the time of the trainer's non-sampling phases goes, kernel by
 * kernel. Every wasm kernel (the BLAS path's included) is wrapped with a wall-clock timer; the phases
 * run on the shipped sentiment task's policy, reference and reward model with a real 64-completion
 * rollout: reference scoring, the policy update (forward, backward, AdamW, with the entropy
 * diagnostic as the trainer computes it) and the reward model. Prints each phase's best process CPU
 * ms and its kernels by total wall ms per call (nested kernels are counted in the outermost only).
 *
 * Flags: `--backend wasm|blas` (default blas when a CBLAS library loads), `--rounds N` (default 8),
 * `--split Kernel,Kernel` (those kernels broken down by input shapes), `--top N` (rows per phase).
 * Per-kernel wall times include whatever else runs on the machine: read them as shares of a phase.
 */
import * as tf from '@tensorflow/tfjs';
import { cblasSearch, selectBackend } from '../src/nn/backends/backend.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/training/policyUpdate.js';
import { scoreCompletions } from '../src/rewards/rewardFunction.js';
import { createSentimentTask } from '../src/tasks/sentiment.js';
import { rollout, sliceBatch } from '../src/train/rollout.js';
import { Rng } from '../src/util/rng.js';

function flag(argv: string[], name: string): string | undefined {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : undefined;
}

const argv = process.argv.slice(2);
const backend = (flag(argv, '--backend') ?? (cblasSearch().library ? 'blas' : 'wasm')) as 'wasm' | 'blas';
const rounds = Number.parseInt(flag(argv, '--rounds') ?? '8', 10);
const top = Number.parseInt(flag(argv, '--top') ?? '20', 10);
const split = new Set((flag(argv, '--split') ?? '').split(',').filter((s) => s !== ''));
if (!['wasm', 'blas'].includes(backend)) throw new Error(`--backend takes wasm or blas, got ${backend}`);
if (!(rounds >= 1) || !(top >= 1)) throw new Error('--rounds and --top take positive integers');

await selectBackend(backend, { blasThreads: 1 });

const wallMs = new Map<string, number>();
const calls = new Map<string, number>();
let depth = 0;
/** Wraps every registered wasm kernel with a timer; only the outermost kernel of a nest is counted. */
function instrumentKernels(): void {
  for (const config of tf.getKernelsForBackend('wasm')) {
    const inner = config.kernelFunc as unknown as (args: unknown) => unknown;
    const name = config.kernelName;
    const kernelFunc = ((args: { inputs: tf.NamedTensorInfoMap }) => {
      depth++;
      const began = performance.now();
      try {
        return inner(args);
      } finally {
        depth--;
        if (depth === 0) {
          const shapes = split.has(name)
            ? ` ${Object.values(args.inputs)
                .map((t) => `[${t?.shape.join(',') ?? ''}]`)
                .join(' x ')}`
            : '';
          const key = name + shapes;
          wallMs.set(key, (wallMs.get(key) ?? 0) + performance.now() - began);
          calls.set(key, (calls.get(key) ?? 0) + 1);
        }
      }
    }) as unknown as tf.KernelFunc;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...config, kernelFunc });
  }
}

const task = createSentimentTask({ seed: 1 });
const policy = task.createPolicy(1, {} as never);
const reference = policy.copy({ trainable: false });
const optimizer = new AdamW(policy.variables(), {
  beta1: 0.9,
  beta2: 0.99,
  epsilon: 1e-8,
  weightDecay: 0,
  maxGradNorm: 1,
});
const rng = Rng.derive(1, 'train-kernels');
const sampling = { maxNewTokens: 16, temperature: 1, topK: 0, topP: 1 };
const ro = rollout(policy, task.tokenizer, task.trainPrompts.slice(0, 8), 8, sampling, rng);
const rows = ro.promptTexts.length;
const { input } = sliceBatch(ro.batch, 0, rows, task.tokenizer.padId);
const advantages = Float32Array.from({ length: rows }, () => rng.normal());
const refLogProbs = scoreLogProbs(reference, ro.batch, input, { temperature: 1 }).logProbs;
const objective = {
  epsilon: 0.2,
  epsilonHigh: 0.2,
  beta: 0.04,
  lossType: 'grpo' as const,
  maxCompletionLength: 16,
};
const phases: Record<string, () => unknown> = {
  'reference scoring': () => scoreLogProbs(reference, ro.batch, input, { temperature: 1 }),
  'policy update': () =>
    policyGradientStep(policy, optimizer, { batch: ro.batch, input, refLogProbs, advantages }, objective, {
      temperature: 1,
      learningRate: 1e-5,
      entropy: true,
    }),
  'reward model': () => scoreCompletions(task.rewards, ro.promptTexts, ro.completionTexts),
};

console.log(
  `backend ${backend} (one BLAS thread), sentiment task, ${rows} completions of up to 16 tokens (model input ${input.length} positions)`,
);
instrumentKernels();
for (const [name, run] of Object.entries(phases)) {
  for (let i = 0; i < 2; i++) await run();
  wallMs.clear();
  calls.clear();
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < rounds; i++) {
    const began = process.cpuUsage();
    await run();
    const used = process.cpuUsage(began);
    best = Math.min(best, (used.user + used.system) / 1e3);
  }
  const total = [...wallMs.values()].reduce((a, b) => a + b, 0) / rounds;
  const count = [...calls.values()].reduce((a, b) => a + b, 0) / rounds;
  console.log('');
  console.log(
    `${name}: best process CPU ${best.toFixed(1)} ms; ${count} kernels per call, ${total.toFixed(1)} ms wall in them`,
  );
  console.log('| kernel | calls | wall ms per phase call | share |');
  console.log('|---|--:|--:|--:|');
  for (const [kernel, ms] of [...wallMs].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(
      `| ${kernel} | ${(calls.get(kernel) ?? 0) / rounds} | ${(ms / rounds).toFixed(2)} | ${((100 * ms) / rounds / total).toFixed(1)}% |`,
    );
}
task.dispose?.();
