/**
 * `npm run bench:webgpu-profile`: where the time of a GRPO step goes on the WebGPU backend. Runs
 * the phases of bench:webgpu (sampling, scoring, reward, update) for a few steps at one shape and
 * counts, per phase: shader pipelines compiled (and the time spent creating them), GPU programs
 * dispatched, synchronous reads (and the time spent waiting in them), and the kernels that ran on
 * a backend other than webgpu (there should be none).
 *
 * Flags: `--shape toy|sentiment` (default toy: the `train --task toy` policy), `--steps N` (3),
 * `--per-kernel` (then one more sampling pass timed kernel by kernel), `--prompts P` (2), `--flag NAME=NUMBER` (a TF.js flag, e.g. WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE=100), `--group G` (4), `--prompt-tokens N` (6), `--new-tokens N` (8).
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { groupAdvantages } from '../src/grpo/advantages.js';
import { backendLine, describeBackend, selectBackend } from '../src/nn/backends/backend.js';
import { releaseWebgpu } from '../src/nn/backends/webgpu/webgpuBackend.js';
import { completionInput } from '../src/nn/generation/logProbs.js';
import { generate } from '../src/nn/generation/sampler.js';
import { Gpt } from '../src/nn/models/gpt.js';
import { RewardModel } from '../src/nn/models/rewardModel.js';
import { AdamW } from '../src/nn/training/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/training/policyUpdate.js';
import { Rng } from '../src/util/rng.js';
import { type KernelCounts, countKernels, timeKernels } from './webgpuCounters.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const num = (name: string, fallback: number) => Number(flag(name, String(fallback)));

const SHAPES = {
  toy: { vocabSize: 40, contextLength: 16, width: 32, depth: 2, heads: 2 },
  sentiment: { vocabSize: 3000, contextLength: 48, width: 96, depth: 3, heads: 4 },
} as const;
const SHAPE = flag('--shape', 'toy') as keyof typeof SHAPES;
const STEPS = num('--steps', 3);
const PROMPTS = num('--prompts', 2);
const GROUP = num('--group', 4);
const PROMPT_TOKENS = num('--prompt-tokens', 6);
const NEW_TOKENS = num('--new-tokens', 8);

const line = (name: string, seconds: number, c: KernelCounts) =>
  `  ${name.padEnd(7)} ${seconds.toFixed(2).padStart(7)} s  pipelines ${String(c.pipelines).padStart(4)} (${(c.compileMs / 1000).toFixed(2)} s)  dispatches ${String(c.dispatches).padStart(6)}  sync reads ${String(c.syncReads).padStart(4)} (${(c.syncReadMs / 1000).toFixed(2)} s)  off-gpu kernels ${c.offGpu}`;

async function main(): Promise<void> {
  if (SHAPES[SHAPE] === undefined)
    throw new Error(`--shape: unknown shape ${JSON.stringify(SHAPE)} (toy, sentiment)`);
  await selectBackend('webgpu');
  for (const setting of process.argv.filter((_, i) => process.argv[i - 1] === '--flag')) {
    const [name, value] = setting.split('=');
    tf.env().set(name, Number(value));
    console.log(`TF.js flag ${name} = ${value}`);
  }
  console.log(backendLine(describeBackend('webgpu')));
  const config = SHAPES[SHAPE];
  console.log(
    `shape ${SHAPE}; ${PROMPTS} prompts x ${GROUP} completions, ${PROMPT_TOKENS} prompt + ${NEW_TOKENS} new tokens`,
  );
  const policy = Gpt.init(config, 1);
  const rm = RewardModel.init(config, 2);
  const optimizer = new AdamW(policy.variables(), {
    beta1: 0.9,
    beta2: 0.999,
    epsilon: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
  });
  const counter = countKernels(tf.backend());
  for (let s = 0; s < STEPS; s++) {
    const rng = new Rng(10 + s);
    const vocab = config.vocabSize;
    const prompts = Array.from({ length: PROMPTS }, () =>
      Array.from({ length: PROMPT_TOKENS }, () => 1 + rng.int(vocab - 2)),
    );
    const expanded = prompts.flatMap((p) => Array.from({ length: GROUP }, () => p));
    console.log(`step ${s}`);
    const phase = async <T>(name: string, run: () => T): Promise<T> => {
      counter.reset();
      const t0 = performance.now();
      const out = run();
      const vars = policy.variables();
      await vars[vars.length - 1].variable.data();
      console.log(line(name, (performance.now() - t0) / 1000, counter.read()));
      return out;
    };
    const gen = await phase('sample', () =>
      generate(policy, expanded, { maxNewTokens: NEW_TOKENS, eosId: vocab - 1, padId: 0, rng }),
    );
    const batch = { prompts: expanded, completions: gen.tokens, mask: gen.mask, length: gen.length };
    const input = completionInput(batch, 0);
    const ref = await phase('score', () => scoreLogProbs(policy, batch, input, { temperature: 1 }));
    const scores = await phase('reward', () =>
      rm.score(
        expanded.map((p, b) => [
          ...p,
          ...gen.tokens.subarray(b * gen.length, b * gen.length + gen.lengths[b]),
        ]),
        0,
      ),
    );
    const advantages = Float32Array.from(
      groupAdvantages(Float64Array.from(scores), GROUP, { scale: 'group', eps: 1e-4 }),
    );
    await phase('update', () =>
      policyGradientStep(
        policy,
        optimizer,
        { batch, input, oldLogProbs: gen.logProbs, refLogProbs: ref.logProbs, advantages },
        { epsilon: 0.2, epsilonHigh: 0.2, beta: 0.04, lossType: 'grpo', maxCompletionLength: NEW_TOKENS },
        { temperature: 1, learningRate: 1e-3 },
      ),
    );
  }
  counter.uninstall();
  if (process.argv.includes('--per-kernel')) {
    // One more step with a synchronous read after every kernel: the GPU time lands on its kernel.
    const timing = timeKernels();
    const rng = new Rng(99);
    const prompts = Array.from({ length: PROMPTS * GROUP }, () =>
      Array.from({ length: PROMPT_TOKENS }, () => 1 + rng.int(config.vocabSize - 2)),
    );
    generate(policy, prompts, { maxNewTokens: NEW_TOKENS, eosId: config.vocabSize - 1, padId: 0, rng });
    console.log(`sampling, time by kernel (each followed by a read): ${timing.table()}`);
    timing.stop();
  }
  policy.dispose();
  rm.dispose();
  optimizer.dispose();
}

main()
  .catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exitCode = 1;
  })
  .finally(releaseWebgpu);
