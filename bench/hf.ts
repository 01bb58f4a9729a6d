/**
 * `npm run bench:hf`: what one GRPO step costs for Hugging Face models of real sizes, with random
 * weights of distilgpt2's and SmolLM2-135M's shapes (nothing is downloaded). A step is the trainer's
 * work for one batch: sample the completions with the KV cache, score them under the frozen
 * reference, one AdamW update of the policy on the GRPO loss.
 *
 * The reference forward pass is timed on the policy itself (see `measure`). Baseline measured in
 * the same run: grpovi's own GPT at distilgpt2's shape (same widths, depth,
 * heads, vocabulary and FLOPs; it differs only in the GELU form), so the first ratio is the cost of
 * the Hugging Face code path itself. Every time is the best of `--runs N` steps (default 2) after a
 * warm-up step, since the machine may be shared.
 *
 * Memory: the wasm heap never shrinks, so its size after the steps is the run's high-water mark;
 * it is printed with the estimate of src/train/limits.ts for the same sizes. Run one model per
 * process (`--only gpt2`, `--only smollm2`, `--only baseline`) to read each model's own peak;
 * `--no-update` times sampling and scoring alone.
 *
 * Flags: `--backend auto|wasm|blas` (default auto, as `grpovi train`), `--prompts P` (default 2),
 * `--group G` (default 4), `--prompt-tokens N` (16), `--new-tokens N` (16).
 */
import { performance } from 'node:perf_hooks';
import type { ObjectiveOptions } from '../src/grpo/objective.js';
import { selectBackend } from '../src/nn/backends/backend.js';
import { Gpt } from '../src/nn/models/gpt.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import type { PolicyModel } from '../src/nn/models/policyModel.js';
import * as tf from '@tensorflow/tfjs';
import { groupAdvantages } from '../src/grpo/advantages.js';
import { countParams } from '../src/nn/models/gptConfig.js';
import { estimateMemory } from '../src/train/limits.js';
import { completionInput } from '../src/nn/generation/logProbs.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/training/policyUpdate.js';
import { generate } from '../src/nn/generation/sampler.js';
import { Rng } from '../src/util/rng.js';
import { DISTILGPT2, SMOLLM2_135M } from './hfShapes.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const PROMPTS = flag('--prompts', 2);
const GROUP = flag('--group', 4);
const PROMPT_TOKENS = flag('--prompt-tokens', 16);
const NEW_TOKENS = flag('--new-tokens', 16);
const RUNS = flag('--runs', 2);
/** Sampling and scoring only (no optimizer): what fits the wasm heap at every size. */
const NO_UPDATE = process.argv.includes('--no-update');

const OBJECTIVE: ObjectiveOptions = {
  epsilon: 0.2,
  epsilonHigh: 0.2,
  beta: 0.04,
  lossType: 'grpo',
  maxCompletionLength: NEW_TOKENS,
};

interface StepTimes {
  sample: number;
  reference: number;
  reward: number;
  update: number;
  total: number;
}

/** A stand-in rule-based reward: the fraction of even token ids in each completion. */
function evenTokenReward(tokens: Int32Array, mask: Float32Array, rows: number, length: number): Float64Array {
  const out = new Float64Array(rows);
  for (let b = 0; b < rows; b++) {
    let even = 0;
    let count = 0;
    for (let t = 0; t < length; t++) {
      const i = b * length + t;
      count += mask[i];
      if (mask[i] > 0 && tokens[i] % 2 === 0) even++;
    }
    out[b] = count > 0 ? even / count : 0;
  }
  return out;
}

/** The wasm heap's size: the high-water mark of the tensors' memory (it never shrinks). */
function wasmHeapBytes(): number | undefined {
  const backend = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return backend.wasm?.HEAPU8.buffer.byteLength;
}

/** One GRPO step's phases on `policy` (with `reference` frozen), in seconds. */
function step(
  policy: PolicyModel,
  reference: PolicyModel,
  optimizer: AdamW | undefined,
  rows: number,
  promptTokens: number,
  newTokens: number,
  seed: number,
): StepTimes {
  const rng = new Rng(seed);
  const vocab = policy.config.vocabSize;
  // EOS = vocab - 1 is never sampled in practice here, so every completion has `newTokens` tokens.
  const prompts = Array.from({ length: rows / GROUP }, () =>
    Array.from({ length: promptTokens }, () => rng.int(vocab - 1)),
  );
  const expanded = prompts.flatMap((p) => Array.from({ length: GROUP }, () => p));
  const t0 = performance.now();
  const gen = generate(policy, expanded, {
    maxNewTokens: newTokens,
    eosId: vocab - 1,
    padId: 0,
    rng,
    temperature: 1,
  });
  const t1 = performance.now();
  const batch = { prompts: expanded, completions: gen.tokens, mask: gen.mask, length: gen.length };
  const input = completionInput(batch, 0);
  const ref = scoreLogProbs(reference, batch, input, { temperature: 1 });
  const t2 = performance.now();
  const rewards = evenTokenReward(gen.tokens, gen.mask, rows, gen.length);
  const advantages = Float32Array.from(groupAdvantages(rewards, GROUP, { scale: 'group', eps: 1e-4 }));
  const t2b = performance.now();
  if (optimizer !== undefined)
    policyGradientStep(
      policy,
      optimizer,
      { batch, input, oldLogProbs: gen.logProbs, refLogProbs: ref.logProbs, advantages },
      OBJECTIVE,
      { temperature: 1, learningRate: 1e-6 },
    );
  const t3 = performance.now();
  return {
    sample: (t1 - t0) / 1000,
    reference: (t2 - t1) / 1000,
    reward: (t2b - t2) / 1000,
    update: (t3 - t2b) / 1000,
    total: (t3 - t0) / 1000,
  };
}

function measure(name: string, make: () => PolicyModel): StepTimes {
  const policy = make();
  // The reference forward pass is timed on the policy itself (the same computation as on a frozen
  // copy). The trainer keeps a copy only when it reads it (beta > 0, log_kl, GRPOVI weights): add
  // one copy of the weights to the memory figures below for such runs.
  const reference = policy;
  const optimizer = NO_UPDATE
    ? undefined
    : new AdamW(policy.variables(), {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weightDecay: 0,
        maxGradNorm: 1,
      });
  step(policy, reference, optimizer, GROUP, 4, 2, 1); // warm-up: kernels, packed weights
  let best: StepTimes | undefined;
  for (let r = 0; r < RUNS; r++) {
    const t = step(policy, reference, optimizer, PROMPTS * GROUP, PROMPT_TOKENS, NEW_TOKENS, 100 + r);
    if (best === undefined || t.total < best.total) best = t;
  }
  const params = countParams(policy.specs);
  const b = best as StepTimes;
  console.log(
    `${name.padEnd(34)} ${(params / 1e6).toFixed(1).padStart(6)}M  step ${b.total.toFixed(2).padStart(6)} s  ` +
      `(sample ${b.sample.toFixed(2)} s, reference ${b.reference.toFixed(2)} s, reward ${b.reward.toFixed(3)} s, update ${b.update.toFixed(2)} s)`,
  );
  const config = policy.config as PolicyModel['config'] & { depth: number; heads: number };
  const estimate = estimateMemory(
    { ...config, parameters: params },
    {
      prompts_per_step: PROMPTS,
      num_generations: GROUP,
      max_completion_length: NEW_TOKENS,
      eval_prompts: 1,
      backend: 'wasm',
      beta: 0, // as measured: no reference copy (see above)
    },
    PROMPT_TOKENS,
  );
  const heap = wasmHeapBytes();
  console.log(
    `${''.padEnd(34)} memory: wasm heap ${heap === undefined ? 'n/a' : `${(heap / 1024 ** 3).toFixed(2)} GiB`} ` +
      `(estimate ${(estimate.tensorBytes / 1024 ** 3).toFixed(2)} GiB of tensors without a reference copy), ` +
      `AdamW moments in JS ${(estimate.optimizerMoments / 1024 ** 3).toFixed(2)} GiB`,
  );
  policy.dispose();
  optimizer?.dispose();
  return b;
}

async function main(): Promise<void> {
  const requested = process.argv.includes('--backend')
    ? (process.argv[process.argv.indexOf('--backend') + 1] as 'auto' | 'wasm' | 'blas')
    : 'auto';
  const backend = await selectBackend(requested);
  console.log(
    `one GRPO step: ${PROMPTS} prompts x ${GROUP} completions, ${PROMPT_TOKENS} prompt + ${NEW_TOKENS} new tokens; ` +
      `backend ${backend}; best of ${RUNS} after a warm-up`,
  );
  const { vocabSize, contextLength, width, depth, heads } = DISTILGPT2;
  const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
  const cases: [string, string, () => PolicyModel][] = [
    [
      'baseline',
      'grpovi GPT, distilgpt2 shape',
      () => Gpt.init({ vocabSize, contextLength, width, depth, heads }, 1),
    ],
    ['gpt2', 'HF gpt2, distilgpt2 shape', () => HfDecoder.init(DISTILGPT2, 1)],
    ['smollm2', 'HF llama, SmolLM2-135M shape', () => HfDecoder.init(SMOLLM2_135M, 1)],
  ];
  const times = new Map<string, StepTimes>();
  for (const [key, name, make] of cases)
    if (only === undefined || only === key) times.set(key, measure(name, make));
  const ratio = (a: string, b: string, label: string) => {
    const x = times.get(a);
    const y = times.get(b);
    if (x && y) console.log(`${label}: ${(x.total / y.total).toFixed(2)}`);
  };
  ratio('gpt2', 'baseline', 'HF gpt2 / grpovi GPT (same shape)');
  ratio('smollm2', 'gpt2', 'SmolLM2-135M shape / distilgpt2 shape');
}

await main();
