/**
 * `npm run bench:train`: throughput of sampling and of the policy update on the wasm backend, as
 * tokens/s, achieved FLOP/s (see `modelFlops.ts`) and utilization = achieved / the backend's own plain
 * matmul FLOP/s measured in the same run on the model's shapes; then the GRPOVI/GRPO step-time ratio of
 * the real trainer (goal: at most 1.01, since GRPOVI only adds the reward adjustment).
 *
 * The machine may be shared, so every time is the best of several runs (the least disturbed one), and
 * the trainer's two algorithms alternate step by step (see `interleavedSteps`).
 *
 * Flags: `--skip-trainer` (throughput only), `--skip-throughput` (trainer ratio only), `--big` (add a
 * width-128, depth-4 model).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/nn/backend.js';
import { Gpt } from '../src/nn/gpt.js';
import type { GptConfig } from '../src/nn/gptConfig.js';
import { completionInput } from '../src/nn/logProbs.js';
import { AdamW } from '../src/nn/optimizer.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/policyUpdate.js';
import { generate } from '../src/nn/sampler.js';
import { WordTokenizer } from '../src/nn/tokenizer.js';
import type { RewardFunction } from '../src/rewards/rewardFunction.js';
import type { Task } from '../src/tasks/task.js';
import { createToyTask } from '../src/tasks/toy.js';
import { mergeConfigLayers, parseTrainConfig, type TrainConfig } from '../src/train/config.js';
import type { MetricsRow } from '../src/train/metrics.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { samplingFlops, scoringFlops, updateFlops } from './modelFlops.js';

const SEED = 20240611;
const ROWS = 64;
const TIMED_RUNS = 9;

interface ModelCase {
  name: string;
  config: GptConfig;
  promptLength: number;
  completionLength: number;
}

const TOY: ModelCase = {
  name: 'toy (d32 x2, V12)',
  config: { vocabSize: 12, contextLength: 16, width: 32, depth: 2, heads: 2 },
  // The toy task's prompts `abc:` and its 8-token completions (its context of 16 has no room for 16 more).
  promptLength: 4,
  completionLength: 8,
};
const SENTIMENT_SHAPE: ModelCase = {
  name: 'sentiment shape (d96 x3, V3000)',
  config: { vocabSize: 3000, contextLength: 48, width: 96, depth: 3, heads: 4 },
  promptLength: 5,
  completionLength: 16,
};
const BIG: ModelCase = {
  name: 'big (d128 x4, V3000)',
  config: { vocabSize: 3000, contextLength: 48, width: 128, depth: 4, heads: 4 },
  promptLength: 5,
  completionLength: 16,
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Best (least) seconds of each task over `rounds` rounds, after one warmup round. Every round runs
 * every task once, in a rotating order, so that all tasks (the matmul baseline included) meet the
 * same spells of background load, which on a shared machine come and go.
 */
function bestOfRounds(tasks: Record<string, () => void>, rounds = TIMED_RUNS): Record<string, number> {
  const names = Object.keys(tasks);
  const best: Record<string, number> = Object.fromEntries(names.map((n) => [n, Number.POSITIVE_INFINITY]));
  for (let round = 0; round <= rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      const began = performance.now();
      tasks[name]();
      if (round > 0) best[name] = Math.min(best[name], (performance.now() - began) / 1000);
    }
  }
  return best;
}

/**
 * The backend's plain 2-D matmul on the model's own shapes with `rows` rows: the MLP input layer
 * [rows, d] x [d, 4d] and the output layer [rows, d] x [d, vocab]. Returns timing tasks (each repeats
 * its product enough times to take a few milliseconds) and turns their best times into FLOP/s.
 */
function matmulBaseline(config: GptConfig, rows: number, label: string) {
  const { width, vocabSize } = config;
  const x = tf.randomNormal([rows, width]) as tf.Tensor2D;
  const weights = { mlp: tf.randomNormal([width, 4 * width]), output: tf.randomNormal([width, vocabSize]) };
  const flops = { mlp: 2 * rows * width * 4 * width, output: 2 * rows * width * vocabSize };
  const reps = { mlp: Math.ceil(2e7 / flops.mlp), output: Math.ceil(2e7 / flops.output) };
  const tasks: Record<string, () => void> = {};
  for (const kind of ['mlp', 'output'] as const) {
    // The wasm backend computes synchronously: the product is done when matMul returns.
    tasks[`${label}-${kind}`] = () => {
      for (let r = 0; r < reps[kind]; r++) tf.matMul(x, weights[kind] as tf.Tensor2D).dispose();
    };
  }
  const rates = (best: Record<string, number>): Baseline => {
    const mlpSeconds = best[`${label}-mlp`] / reps.mlp;
    const outputSeconds = best[`${label}-output`] / reps.output;
    return {
      mlp: flops.mlp / mlpSeconds,
      output: flops.output / outputSeconds,
      combined: (flops.mlp + flops.output) / (mlpSeconds + outputSeconds),
    };
  };
  const dispose = () => tf.dispose([x, weights.mlp, weights.output]);
  return { tasks, rates, dispose };
}

/** Prompts of `length` ids in [3, vocab): never pad (0), EOS (1) or unk (2). */
function randomPrompts(rng: Rng, rows: number, length: number, vocab: number): number[][] {
  return Array.from({ length: rows }, () => Array.from({ length }, () => 3 + rng.int(vocab - 3)));
}

interface Baseline {
  mlp: number;
  output: number;
  combined: number;
}

interface ThroughputRow {
  model: string;
  params: number;
  fullRows: number;
  baselineDecode: Baseline;
  baselineFull: Baseline;
  samplingSeconds: number;
  samplingTokens: number;
  samplingFlops: number;
  scoringSeconds: number;
  updateSeconds: number;
  updateTokens: number;
  scoreFlops: number;
  updateFlops: number;
}

function benchThroughput(c: ModelCase): ThroughputRow {
  const { config, promptLength: P, completionLength: L } = c;
  const rng = Rng.derive(SEED, c.name);
  const model = Gpt.init(config, SEED);
  const reference = model.copy();
  const optimizer = new AdamW(model.variables(), {
    beta1: 0.9,
    beta2: 0.99,
    epsilon: 1e-8,
    weightDecay: 0,
    maxGradNorm: 1,
  });
  const prompts = randomPrompts(rng, ROWS, P, config.vocabSize);
  // An EOS id outside the vocabulary: every row samples exactly L tokens, so every run does the same work.
  const sampling = { maxNewTokens: L, eosId: -1, padId: 0, rng, temperature: 1 };

  const fullRows = ROWS * (P + L - 1);
  const decodeBaseline = matmulBaseline(config, ROWS, 'decode');
  const fullBaseline = matmulBaseline(config, fullRows, 'full');

  // The batch that scoring and the update work on; the timed sampling runs produce batches of the same shape.
  const generation = generate(model, prompts, sampling);
  const batch = { prompts, completions: generation.tokens, mask: generation.mask, length: generation.length };
  const input = completionInput(batch, 0);
  const refLogProbs = scoreLogProbs(reference, batch, input, { temperature: 1 }).logProbs;
  const advantages = Float32Array.from({ length: ROWS }, () => rng.normal());
  const objective = {
    epsilon: 0.2,
    epsilonHigh: 0.2,
    beta: 0.04,
    lossType: 'grpo' as const,
    maxCompletionLength: L,
  };
  const best = bestOfRounds({
    ...decodeBaseline.tasks,
    ...fullBaseline.tasks,
    sampling: () => generate(model, prompts, sampling),
    scoring: () => scoreLogProbs(reference, batch, input, { temperature: 1 }),
    update: () =>
      policyGradientStep(model, optimizer, { batch, input, refLogProbs, advantages }, objective, {
        temperature: 1,
        learningRate: 1e-5,
      }),
  });
  const baselineDecode = decodeBaseline.rates(best);
  const baselineFull = fullBaseline.rates(best);
  decodeBaseline.dispose();
  fullBaseline.dispose();
  const { sampling: samplingSeconds, scoring: scoringSeconds, update: updateSeconds } = best;
  const params = model.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  model.dispose();
  reference.dispose();
  optimizer.dispose();
  return {
    model: c.name,
    params,
    fullRows,
    baselineDecode,
    baselineFull,
    samplingSeconds,
    samplingTokens: ROWS * generation.length,
    samplingFlops: samplingFlops(config, ROWS, P, generation.length),
    scoringSeconds,
    updateSeconds,
    updateTokens: ROWS * L,
    scoreFlops: scoringFlops(config, ROWS, P, L),
    updateFlops: updateFlops(config, ROWS, P, L),
  };
}

function printTable(header: string[], rows: string[][]): void {
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map((h) => `${'-'.repeat(Math.max(h.length + 1, 3))}:`).join('|')}|`);
  for (const row of rows)
    console.log(`| ${row.map((cell, k) => cell.padStart(header[k].length)).join(' | ')} |`);
}

const gflops = (flops: number, seconds: number) => (flops / seconds / 1e9).toFixed(2);
const percent = (x: number) => `${(100 * x).toFixed(0)}%`;

function reportThroughput(rows: ThroughputRow[]): void {
  console.log(
    `Sampling: generate() on ${ROWS} prompts with the KV cache. Scoring: the reference model's forward pass`,
  );
  console.log(
    `on the ${ROWS} completions. Update: policyGradientStep on them (forward, backward, AdamW). Tokens are`,
  );
  console.log(
    `completion tokens; FLOPs count the matrix products only (bench/modelFlops.ts). Best of ${TIMED_RUNS} rounds.`,
  );
  console.log(
    'Utilization = achieved FLOP/s / the plain tf.matMul rate on the same model shapes, measured in this run:',
  );
  console.log(
    `[rows, d] x [d, 4d] and [rows, d] x [d, vocab] with rows = ${ROWS} (a decode step) for sampling and`,
  );
  console.log(
    'rows = all positions of the batch for scoring and the update (FLOP-weighted over the two shapes).',
  );
  console.log('');
  const g = (x: number) => (x / 1e9).toFixed(1);
  printTable(
    ['model', 'params', 'rows', 'd x 4d GFLOP/s', 'd x vocab GFLOP/s', 'baseline GFLOP/s'],
    rows.flatMap((r) =>
      [
        [ROWS, r.baselineDecode],
        [r.fullRows, r.baselineFull],
      ].map(([n, b]) => {
        const base = b as Baseline;
        return [r.model, String(r.params), String(n), g(base.mlp), g(base.output), g(base.combined)];
      }),
    ),
  );
  console.log('');
  printTable(
    ['model', 'phase', 'ms', 'tokens/s', 'GFLOP/s', 'utilization'],
    rows.flatMap((r) => [
      phaseRow(r.model, 'sampling', r.samplingSeconds, r.samplingTokens, r.samplingFlops, r.baselineDecode),
      phaseRow(r.model, 'scoring', r.scoringSeconds, r.updateTokens, r.scoreFlops, r.baselineFull),
      phaseRow(r.model, 'update', r.updateSeconds, r.updateTokens, r.updateFlops, r.baselineFull),
    ]),
  );
}

/** One phase's table row: time, throughput, FLOP/s and utilization against the matching matmul baseline. */
function phaseRow(
  model: string,
  phase: string,
  seconds: number,
  tokens: number,
  flops: number,
  baseline: Baseline,
): string[] {
  return [
    model,
    phase,
    (seconds * 1e3).toFixed(0),
    (tokens / seconds).toFixed(0),
    gflops(flops, seconds),
    percent(flops / seconds / baseline.combined),
  ];
}

/** A continuous reward in [0, 1]: the share of the completion's slots holding a word of the prompt's parity class. */
function parityReward(completionLength: number): RewardFunction {
  const parity = (word: string) => Number(word.slice(1)) % 2;
  return {
    name: 'parity_share',
    range: [0, 1],
    score(prompts, completions) {
      return completions.map((completion, i) => {
        const target = parity(prompts[i].split(' ')[0]);
        const hits = completion.split(' ').filter((w) => w !== '' && parity(w) === target).length;
        return Math.min(hits, completionLength) / completionLength;
      });
    },
  };
}

/** A task with the sentiment policy's shape and random weights: word prompts, 16-token completions. */
function syntheticTask(c: ModelCase): Task {
  const vocab = ['<pad>', '<eos>', '<unk>'];
  for (let i = 3; i < c.config.vocabSize; i++) vocab.push(`w${i}`);
  const tokenizer = WordTokenizer.fromVocab(vocab, 'synthetic vocabulary');
  const rng = Rng.derive(SEED, 'synthetic-prompts');
  const prompt = () =>
    Array.from({ length: c.promptLength }, () => `w${3 + rng.int(c.config.vocabSize - 3)}`).join(' ');
  const trainPrompts = Array.from({ length: 512 }, prompt);
  return {
    name: 'synthetic',
    description: 'random-weight policy of the sentiment shape, parity reward',
    tokenizer,
    createPolicy: (seed) => Gpt.init(c.config, seed),
    trainPrompts,
    evalPrompts: trainPrompts.slice(0, 64),
    rewards: [{ fn: parityReward(c.completionLength), weight: 1 }],
    defaults: {
      max_completion_length: c.completionLength,
      learning_rate: 3e-4,
      prompts_per_step: 8,
      num_generations: 8,
    },
  };
}

interface TrainerSetting {
  name: string;
  makeTask: () => Task;
  steps: number;
  warmup: number;
}

function trainerConfig(task: Task, algo: 'grpo' | 'grpovi', steps: number): TrainConfig {
  return parseTrainConfig(
    mergeConfigLayers(task.defaults, {
      task: task.name,
      algo,
      seed: SEED,
      steps,
      eval_every: 0,
      checkpoint_every: 0,
    }),
    'benchmark config',
  );
}

type RunName = 'grpo' | 'grpovi' | 'grpo-again';
const RUNS: { name: RunName; algo: 'grpo' | 'grpovi' }[] = [
  { name: 'grpo', algo: 'grpo' },
  { name: 'grpovi', algo: 'grpovi' },
  // The same GRPO run once more: its ratio to the first shows how much the machine's noise alone moves a ratio.
  { name: 'grpo-again', algo: 'grpo' },
];

/**
 * Runs GRPO, GRPOVI and GRPO again with the same seed, one step of each in turn (the trainer resumes
 * each run from its checkpoint for the next step): all three see the same background load, which on a
 * shared machine drifts more between whole runs than between neighbouring steps. Returns the metrics
 * rows of every step of each run.
 */
async function interleavedSteps(setting: TrainerSetting): Promise<Record<RunName, MetricsRow[]>> {
  const task = setting.makeTask();
  const rows: Record<RunName, MetricsRow[]> = { grpo: [], grpovi: [], 'grpo-again': [] };
  const dirs = Object.fromEntries(
    RUNS.map((r) => [r.name, mkdtempSync(join(tmpdir(), 'grpovi-bench-'))]),
  ) as Record<RunName, string>;
  try {
    for (let step = 1; step <= setting.steps; step++) {
      // Rotate the order so that no run always goes first (right after another run's checkpoint write).
      for (let k = 0; k < RUNS.length; k++) {
        const run = RUNS[(step + k) % RUNS.length];
        await train({
          config: trainerConfig(task, run.algo, step),
          task,
          outDir: dirs[run.name],
          resumeFrom: step > 1 ? dirs[run.name] : undefined,
          observer: { onStep: (row) => rows[run.name].push(row) },
        });
      }
    }
  } finally {
    for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
    task.dispose?.();
  }
  return rows;
}

/**
 * A distribution-free 95% confidence interval for the median of `values`: the order statistics
 * k and n + 1 - k with k = n/2 - 1.96 sqrt(n)/2 (the normal approximation of the sign test).
 */
function medianInterval(values: readonly number[]): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const k = Math.max(1, Math.floor(n / 2 - (1.96 * Math.sqrt(n)) / 2));
  return [sorted[k - 1], sorted[n - k]];
}

interface TrainerResult {
  cells: string[];
  ratio: number;
  interval: [number, number];
}

async function benchTrainer(setting: TrainerSetting): Promise<TrainerResult> {
  const rows = await interleavedSteps(setting);
  const timed = (run: RunName, field: 'step_seconds' | 'transform_seconds') =>
    rows[run].filter((row) => row.step > setting.warmup).map((row) => row[field] ?? Number.NaN);
  const grpo = timed('grpo', 'step_seconds');
  const grpovi = timed('grpovi', 'step_seconds');
  const again = timed('grpo-again', 'step_seconds');
  // Paired: each step's GRPOVI (or repeated GRPO) time over the GRPO time of the same step number.
  const ratios = grpovi.map((t, i) => t / grpo[i]);
  const controls = again.map((t, i) => t / grpo[i]);
  const transform = timed('grpovi', 'transform_seconds');
  const ratio = median(ratios);
  const interval = medianInterval(ratios);
  const range = (values: number[]) =>
    medianInterval(values)
      .map((x) => x.toFixed(3))
      .join(', ');
  const cells = [
    setting.name,
    `${setting.steps} (${setting.warmup} warmup)`,
    (median(grpo) * 1e3).toFixed(1),
    (median(grpovi) * 1e3).toFixed(1),
    `${ratio.toFixed(3)} [${range(ratios)}]`,
    `${median(controls).toFixed(3)} [${range(controls)}]`,
    `${((100 * median(transform)) / median(grpovi)).toFixed(3)}%`,
  ];
  return { cells, ratio, interval };
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const backend = await selectBackend('wasm');
  console.log(
    `backend ${backend} (SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')})`,
  );
  console.log('');
  if (!args.has('--skip-throughput')) {
    const cases = [TOY, SENTIMENT_SHAPE, ...(args.has('--big') ? [BIG] : [])];
    reportThroughput(cases.map(benchThroughput));
    console.log('');
  }
  if (!args.has('--skip-trainer')) {
    for (const line of [
      'GRPOVI/GRPO step time of the real trainer: train() with the same seed and no evaluation, GRPO,',
      'GRPOVI and GRPO again taking turns step by step. GRPOVI/GRPO = median over the steps after warmup of',
      "GRPOVI's step_seconds over GRPO's for the same step, with a 95% interval for that median. GRPO/GRPO =",
      'the same for the repeated GRPO run: identical work, so it shows the noise floor. Adjustment = the',
      "reward adjustment (transform_seconds, GRPOVI's only extra work) as a share of its step time.",
    ]) {
      console.log(line);
    }
    console.log('');
    const settings: TrainerSetting[] = [
      { name: 'toy task', makeTask: () => createToyTask({ seed: SEED }), steps: 200, warmup: 5 },
      {
        name: 'sentiment shape (synthetic)',
        makeTask: () => syntheticTask(SENTIMENT_SHAPE),
        steps: 60,
        warmup: 3,
      },
    ];
    const results: TrainerResult[] = [];
    for (const setting of settings) results.push(await benchTrainer(setting));
    printTable(
      ['setting', 'steps', 'GRPO ms/step', 'GRPOVI ms/step', 'GRPOVI/GRPO', 'GRPO/GRPO', 'adjustment'],
      results.map((r) => r.cells),
    );
    console.log('');
    for (const [i, r] of results.entries()) {
      const verdict =
        r.ratio <= 1.01 ? 'met' : r.interval[0] <= 1.01 ? 'not excluded by the noise' : 'NOT met';
      console.log(
        `${settings[i].name}: goal GRPOVI/GRPO <= 1.01, measured ${r.ratio.toFixed(3)} (${verdict})`,
      );
    }
  }
}

await main();
