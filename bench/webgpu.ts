/**
 * `npm run bench:webgpu`: one GRPO step's phases on the WebGPU adapter found against the BLAS path
 * (else wasm) in the same run, plus matmul TFLOP/s on each. Phases: sampling with the KV cache,
 * scoring the completions under the reference (timed on the policy, as bench:hf does), the reward
 * (a grpovi reward model of the sentiment shape scoring prompt + completion), and one AdamW update
 * on the GRPO loss; step is their sum. Random weights at the model shapes, nothing downloaded.
 *
 * Flags: `--shapes sentiment,distilgpt2,smollm2` (default sentiment: on a software adapter the big
 * shapes take very long), `--prompts P` (2), `--group G` (4), `--prompt-tokens N` (8),
 * `--new-tokens N` (8), `--runs N` (best of, default 1, after a warm-up step), `--matmul N` (the
 * square size of the TFLOP/s figure, default 512), `--baseline blas|wasm` (default blas when a
 * CBLAS library loads, else wasm). On Linux without a GPU driver, point VK_ICD_FILENAMES at a
 * software driver (e.g. /usr/lib/chromium/vk_swiftshader_icd.json) to run it at all.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { groupAdvantages } from '../src/grpo/advantages.js';
import type { ObjectiveOptions } from '../src/grpo/objective.js';
import {
  type ActiveBackend,
  backendLine,
  cblasSearch,
  describeBackend,
  selectBackend,
} from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';
import { completionInput } from '../src/nn/generation/logProbs.js';
import { generate } from '../src/nn/generation/sampler.js';
import { Gpt } from '../src/nn/models/gpt.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import type { PolicyModel } from '../src/nn/models/policyModel.js';
import { RewardModel } from '../src/nn/models/rewardModel.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/training/policyUpdate.js';
import { Rng } from '../src/util/rng.js';
import { DISTILGPT2, SMOLLM2_135M } from './hfShapes.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const num = (name: string, fallback: number) => Number(flag(name, String(fallback)));

const PROMPTS = num('--prompts', 2);
const GROUP = num('--group', 4);
const PROMPT_TOKENS = num('--prompt-tokens', 8);
const NEW_TOKENS = num('--new-tokens', 8);
const RUNS = num('--runs', 1);
const MATMUL = num('--matmul', 512);
const SHAPES = flag('--shapes', 'sentiment').split(',');
const BASELINE = flag('--baseline', cblasSearch().library !== null ? 'blas' : 'wasm') as 'blas' | 'wasm';

const SENTIMENT = { vocabSize: 3000, contextLength: 48, width: 96, depth: 3, heads: 4 };
const MODELS: Record<string, { label: string; make: () => PolicyModel }> = {
  sentiment: { label: 'grpovi GPT, sentiment shape', make: () => Gpt.init(SENTIMENT, 1) },
  distilgpt2: { label: 'HF gpt2, distilgpt2 shape', make: () => HfDecoder.init(DISTILGPT2, 1) },
  smollm2: { label: 'HF llama, SmolLM2-135M shape', make: () => HfDecoder.init(SMOLLM2_135M, 1) },
};

const OBJECTIVE: ObjectiveOptions = {
  epsilon: 0.2,
  epsilonHigh: 0.2,
  beta: 0.04,
  lossType: 'grpo',
  maxCompletionLength: NEW_TOKENS,
};

interface Phases {
  sample: number;
  score: number;
  reward: number;
  update: number;
  step: number;
}

/** Waits until the GPU has run everything queued (a read of a value the last update wrote). */
async function fence(model: PolicyModel): Promise<void> {
  const vars = model.variables();
  await vars[vars.length - 1].variable.data();
}

async function step(
  policy: PolicyModel,
  rm: RewardModel,
  optimizer: AdamW,
  rows: number,
  seed: number,
): Promise<Phases> {
  const rng = new Rng(seed);
  const vocab = policy.config.vocabSize;
  const prompts = Array.from({ length: rows / GROUP }, () =>
    Array.from({ length: PROMPT_TOKENS }, () => rng.int(vocab - 1)),
  );
  const expanded = prompts.flatMap((p) => Array.from({ length: GROUP }, () => p));
  await fence(policy);
  const t0 = performance.now();
  const gen = generate(policy, expanded, { maxNewTokens: NEW_TOKENS, eosId: vocab - 1, padId: 0, rng });
  const t1 = performance.now();
  const batch = { prompts: expanded, completions: gen.tokens, mask: gen.mask, length: gen.length };
  const input = completionInput(batch, 0);
  const ref = scoreLogProbs(policy, batch, input, { temperature: 1 });
  const t2 = performance.now();
  const rmVocab = rm.config.vocabSize;
  const sequences = expanded.map((p, b) =>
    [...p, ...gen.tokens.subarray(b * gen.length, b * gen.length + gen.lengths[b])].map(
      (id) => 1 + (id % (rmVocab - 1)),
    ),
  );
  const scores = rm.score(sequences, 0);
  const advantages = Float32Array.from(
    groupAdvantages(Float64Array.from(scores), GROUP, { scale: 'group', eps: 1e-4 }),
  );
  const t3 = performance.now();
  policyGradientStep(
    policy,
    optimizer,
    { batch, input, oldLogProbs: gen.logProbs, refLogProbs: ref.logProbs, advantages },
    OBJECTIVE,
    { temperature: 1, learningRate: 1e-6 },
  );
  await fence(policy);
  const t4 = performance.now();
  const s = (a: number, b: number) => (b - a) / 1000;
  return { sample: s(t0, t1), score: s(t1, t2), reward: s(t2, t3), update: s(t3, t4), step: s(t0, t4) };
}

async function measure(backend: ActiveBackend, shape: string): Promise<Phases> {
  await selectBackend(backend);
  const policy = MODELS[shape].make();
  const rm = RewardModel.init(SENTIMENT, 2);
  // On webgpu the moments stay on the GPU at every size (AdamW's default above 16M parameters keeps
  // them in JS memory, which on webgpu would read every gradient back).
  const optimizer = new AdamW(
    policy.variables(),
    { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, maxGradNorm: 1 },
    backend === 'webgpu' ? false : undefined,
  );
  try {
    await step(policy, rm, optimizer, GROUP, 1); // warm-up: shaders, packed weights
    let best: Phases | undefined;
    for (let r = 0; r < RUNS; r++) {
      const t = await step(policy, rm, optimizer, PROMPTS * GROUP, 100 + r);
      if (best === undefined || t.step < best.step) best = t;
    }
    return best as Phases;
  } finally {
    policy.dispose();
    rm.dispose();
    optimizer.dispose();
  }
}

/** fp32 matmul TFLOP/s at n x n x n, best of 3 batches of 10 products (read back at the end). */
async function matmulTflops(backend: ActiveBackend, n: number): Promise<number> {
  await selectBackend(backend);
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const batch = async () => {
    const t0 = performance.now();
    const outs = Array.from({ length: 10 }, () => tf.matMul(a, b));
    await Promise.all(outs.map((o) => o.data()));
    const seconds = (performance.now() - t0) / 1000;
    tf.dispose(outs);
    return seconds;
  };
  await batch(); // warm-up
  let best = Infinity;
  for (let r = 0; r < 3; r++) best = Math.min(best, await batch());
  tf.dispose([a, b]);
  return (10 * 2 * n ** 3) / best / 1e12;
}

/** TFLOP/s with enough digits for a software adapter's figures too. */
const tflops = (t: number) => `${t.toPrecision(3)} TFLOP/s`;

const format = (p: Phases) =>
  `step ${p.step.toFixed(2)} s (sample ${p.sample.toFixed(2)}, score ${p.score.toFixed(2)}, reward ${p.reward.toFixed(2)}, update ${p.update.toFixed(2)})`;

async function main(): Promise<void> {
  for (const shape of SHAPES)
    if (MODELS[shape] === undefined)
      throw new Error(`--shapes: unknown shape ${JSON.stringify(shape)} (sentiment, distilgpt2, smollm2)`);
  const baseline = await selectBackend(BASELINE);
  const baselineLine = backendLine(describeBackend(baseline));
  await selectBackend('webgpu');
  const gpuLine = backendLine(describeBackend('webgpu'));
  console.log(`baseline: ${baselineLine}`);
  console.log(`webgpu:   ${gpuLine}`);
  console.log(
    `one GRPO step: ${PROMPTS} prompts x ${GROUP} completions, ${PROMPT_TOKENS} prompt + ${NEW_TOKENS} new tokens; best of ${RUNS} after a warm-up`,
  );
  const mmBase = await matmulTflops(baseline, MATMUL);
  const mmGpu = await matmulTflops('webgpu', MATMUL);
  console.log(
    `matmul ${MATMUL}^3 fp32: ${baseline} ${tflops(mmBase)}, webgpu ${tflops(mmGpu)} (webgpu / ${baseline} = ${(mmGpu / mmBase).toPrecision(3)})`,
  );
  for (const shape of SHAPES) {
    const base = await measure(baseline, shape);
    const gpu = await measure('webgpu', shape);
    console.log(`${MODELS[shape].label}`);
    console.log(`  ${baseline.padEnd(6)} ${format(base)}`);
    console.log(`  webgpu ${format(gpu)}`);
    const ratio = (k: keyof Phases) => `${k} ${(base[k] / gpu[k]).toFixed(2)}x`;
    console.log(
      `  speed-up of webgpu over ${baseline}: ${(['step', 'sample', 'score', 'reward', 'update'] as const).map(ratio).join(', ')}`,
    );
  }
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  })
  .finally(releaseWebgpu);
