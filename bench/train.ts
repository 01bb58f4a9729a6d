/**
 * `npm run bench:train`: the training phases on the wasm kernels and on the BLAS path side by side,
 * with their ratio, and each path's matmul GFLOP/s against the machine's fp32 peak measured in the
 * same run (bench/peak.ts):
 * 1. throughput at the toy and the sentiment shape: sampling, scoring, reward model, update
 *    (tokens/s, achieved FLOP/s per `modelFlops.ts`, utilization = achieved / the path's own plain
 *    matmul rate on the model's shapes);
 * 2. the whole RL step of the real trainer on the sentiment task (shipped policy and reward model),
 *    the two backends taking turns step by step;
 * 3. a short GRPO run on both backends over several seeds: the final rewards agree within seed noise.
 * `--grpovi-ratio` adds the GRPOVI/GRPO step-time ratio of the real trainer (goal: at most 1.01).
 *
 * The phases' prompts come in groups of 8 as in a GRPO batch, and sampling, scoring and the reward
 * model also run with shared-prefix inference off (`setSharedPrefix(false)`: every row runs its own
 * prompt) in the same rounds, ratio printed. `--long-prompt` adds a shape with 64-token prompts (users' tasks);
 * `--step-unshared` adds the whole step with the sharing off, taking turns with the rest.
 *
 * The machine may be shared: phase times are process CPU time, best of several rounds in a rotating
 * order, and BLAS runs on one thread (`--blas-threads N` to change), so CPU time is the time an idle
 * core would take. The trainer's step times are wall time (its own metrics), medians over steps.
 *
 * Flags: `--skip-throughput`, `--skip-step`, `--skip-agreement`, `--grpovi-ratio`, `--big` (add a
 * width-128, depth-4 model), `--long-prompt`, `--step-unshared`, `--blas-threads N`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  type ActiveBackend,
  cblasSearch,
  fusedKernels,
  selectBackend,
  setFusedKernels,
} from '../src/nn/backends/backend.js';
import { setSharedPrefix } from '../src/nn/generation/sharedPrefix.js';
import { Gpt } from '../src/nn/models/gpt.js';
import type { GptConfig } from '../src/nn/models/gptConfig.js';
import { WordTokenizer } from '../src/nn/tokenizers/tokenizer.js';
import { RewardModel } from '../src/nn/models/rewardModel.js';
import type { RewardFunction } from '../src/rewards/rewardFunction.js';
import { createSentimentTask } from '../src/tasks/sentiment.js';
import type { Task } from '../src/tasks/task.js';
import { createToyTask } from '../src/tasks/toy.js';
import { mergeConfigLayers, parseTrainConfig, type TrainConfig } from '../src/train/config.js';
import type { MetricsRow } from '../src/train/metrics.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/util/rng.js';
import { samplingFlops, scoringFlops, updateFlops } from './modelFlops.js';
import { fmaPeak, sgemmPeak } from './peak.js';
import { median, printTable, rlPhases, trainerAdamW } from './rlPhases.js';

const SEED = 20240611;
const ROWS = 64;
/** Completions per prompt in the phases' batches (the trainer's default num_generations). */
const GROUP = 8;
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
/** Users' tasks: prompts far longer than the completions (64 + 16 tokens, context 96). */
const LONG_PROMPT: ModelCase = {
  name: 'long prompts (d96 x3, V3000, P64)',
  config: { vocabSize: 3000, contextLength: 96, width: 96, depth: 3, heads: 4 },
  promptLength: 64,
  completionLength: 16,
};
const BIG: ModelCase = {
  name: 'big (d128 x4, V3000)',
  config: { vocabSize: 3000, contextLength: 48, width: 128, depth: 4, heads: 4 },
  promptLength: 5,
  completionLength: 16,
};

/**
 * Best (least) CPU seconds of each task over `rounds` rounds, after one warmup round. Every round runs
 * every task once, in a rotating order, so that all tasks (the matmul baseline included) meet the
 * same spells of background load, which on a shared machine come and go.
 */
function bestOfRounds(tasks: Record<string, () => void>, rounds = TIMED_RUNS): Record<string, number> {
  const names = Object.keys(tasks);
  const best: Record<string, number> = Object.fromEntries(names.map((n) => [n, Number.POSITIVE_INFINITY]));
  for (let round = 0; round <= rounds; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(round + k) % names.length];
      const began = process.cpuUsage();
      tasks[name]();
      const used = process.cpuUsage(began);
      if (round > 0) best[name] = Math.min(best[name], (used.user + used.system) / 1e6);
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

/**
 * Prompts of `length` ids in [3, vocab) (never pad 0, EOS 1 or unk 2), each repeated `group` times in
 * contiguous rows as in a GRPO batch.
 */
function groupedPrompts(rng: Rng, rows: number, group: number, length: number, vocab: number): number[][] {
  const distinct = Array.from({ length: rows / group }, () =>
    Array.from({ length }, () => 3 + rng.int(vocab - 3)),
  );
  return Array.from({ length: rows }, (_, r) => distinct[Math.floor(r / group)]);
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
  rewardSeconds: number;
  updateSeconds: number;
  updateTokens: number;
  scoreFlops: number;
  updateFlops: number;
  /** BLAS path only: each phase's time with the fused kernels off (the products alone native). */
  productsOnlySeconds?: Record<string, number>;
  /** Sampling and scoring with shared-prefix inference off (every row runs its own prompt). */
  unsharedSeconds: Record<SharedPhase, number>;
}

function benchThroughput(c: ModelCase): ThroughputRow {
  const { config, promptLength: P, completionLength: L } = c;
  const rng = Rng.derive(SEED, c.name);
  const model = Gpt.init(config, SEED);
  const reference = model.copy();
  const optimizer = trainerAdamW(model);
  const prompts = groupedPrompts(rng, ROWS, GROUP, P, config.vocabSize);

  const fullRows = ROWS * (P + L - 1);
  const decodeBaseline = matmulBaseline(config, ROWS, 'decode');
  const fullBaseline = matmulBaseline(config, fullRows, 'full');

  // A reward model of the same shape scoring prompt + completion, as the sentiment task's does.
  const rewardModel = RewardModel.init(config, SEED);
  const step = rlPhases({ policy: model, reference, optimizer, rewardModel }, prompts, { newTokens: L, rng });
  // The batch that scoring and the update work on; the timed sampling runs produce batches of the same shape.
  const generation = step.sample();
  const scored = step.inputs(generation);
  const refLogProbs = step.score(scored);
  const advantages = Float32Array.from({ length: ROWS }, () => rng.normal());
  const rewardInputs = step.rewardInputs(generation);
  const phases: Record<Phase, () => void> = {
    sampling: () => step.sample(),
    scoring: () => step.score(scored),
    // With the prompts' token counts, as the trainer's reward model reward passes them.
    reward: () =>
      rewardModel.score(
        rewardInputs,
        0,
        256,
        prompts.map((p) => p.length),
      ),
    update: () => step.update(scored, refLogProbs, advantages),
  };
  // On the BLAS path, each phase also with the fused kernels off (BLAS products only), in the same rounds.
  const productsOnly: Record<string, () => void> = {};
  if (fusedKernels()) {
    for (const phase of PHASES)
      productsOnly[`${phase}/products-only`] = () => {
        setFusedKernels(false);
        try {
          phases[phase]();
        } finally {
          setFusedKernels(true);
        }
      };
  }
  // Sampling and scoring with every row running its own prompt, in the same rounds.
  const unshared: Record<string, () => void> = {};
  for (const phase of SHARED_PHASES)
    unshared[`${phase}/unshared`] = () => {
      setSharedPrefix(false);
      try {
        phases[phase]();
      } finally {
        setSharedPrefix(true);
      }
    };
  const best = bestOfRounds({
    ...decodeBaseline.tasks,
    ...fullBaseline.tasks,
    ...phases,
    ...productsOnly,
    ...unshared,
  });
  const baselineDecode = decodeBaseline.rates(best);
  const baselineFull = fullBaseline.rates(best);
  decodeBaseline.dispose();
  fullBaseline.dispose();
  const {
    sampling: samplingSeconds,
    scoring: scoringSeconds,
    reward: rewardSeconds,
    update: updateSeconds,
  } = best;
  rewardModel.dispose();
  const params = model.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  model.dispose();
  reference.dispose();
  optimizer.dispose();
  return {
    model: c.name,
    params,
    productsOnlySeconds: fusedKernels()
      ? Object.fromEntries(PHASES.map((phase) => [phase, best[`${phase}/products-only`]]))
      : undefined,
    unsharedSeconds: Object.fromEntries(
      SHARED_PHASES.map((phase) => [phase, best[`${phase}/unshared`]]),
    ) as Record<SharedPhase, number>,
    fullRows,
    baselineDecode,
    baselineFull,
    samplingSeconds,
    samplingTokens: ROWS * generation.length,
    samplingFlops: samplingFlops(config, ROWS, P, generation.length),
    scoringSeconds,
    rewardSeconds,
    updateSeconds,
    updateTokens: ROWS * L,
    scoreFlops: scoringFlops(config, ROWS, P, L),
    updateFlops: updateFlops(config, ROWS, P, L),
  };
}

const gflops = (flops: number, seconds: number) => (flops / seconds / 1e9).toFixed(2);
const percent = (x: number) => `${(100 * x).toFixed(0)}%`;

interface Peak {
  /** The native FMA loop's FLOP/s, or why it did not run. */
  fma: number | string;
  fmaBits?: number;
  /** The CBLAS library's 2048^3 sgemm on one thread, when a library loads. */
  sgemm?: number;
}

function measurePeak(): Peak {
  const fma = fmaPeak();
  const library = cblasSearch().library;
  const peak: Peak = typeof fma === 'string' ? { fma } : { fma: fma.flops, fmaBits: fma.vectorBits };
  if (library !== null) peak.sgemm = sgemmPeak(library);
  return peak;
}

/** The per-core peak the utilization is taken against: the FMA loop when it ran, else the sgemm. */
function peakFlops(peak: Peak): number {
  return typeof peak.fma === 'number' ? peak.fma : (peak.sgemm ?? Number.NaN);
}

function reportPeak(peak: Peak): void {
  const g = (x: number) => (x / 1e9).toFixed(1);
  console.log(
    typeof peak.fma === 'number'
      ? `fp32 FMA peak of one core: ${g(peak.fma)} GFLOP/s (native loop of ${peak.fmaBits}-bit FMAs, 10 independent chains, cc -O2 -march=native, compiled in this run)`
      : `fp32 FMA peak of one core: not measured (${peak.fma})`,
  );
  console.log(
    peak.sgemm === undefined
      ? 'practical peak (CBLAS sgemm 2048^3, one thread): no CBLAS library'
      : `practical peak (CBLAS sgemm 2048^3, one thread): ${g(peak.sgemm)} GFLOP/s`,
  );
  console.log('');
}

const PHASES = ['sampling', 'scoring', 'reward', 'update'] as const;
type Phase = (typeof PHASES)[number];
/** The phases that compute each distinct prompt once (shared-prefix inference). */
const SHARED_PHASES = ['sampling', 'scoring', 'reward'] as const;
type SharedPhase = (typeof SHARED_PHASES)[number];

function phaseSeconds(r: ThroughputRow, phase: Phase): number {
  return {
    sampling: r.samplingSeconds,
    scoring: r.scoringSeconds,
    reward: r.rewardSeconds,
    update: r.updateSeconds,
  }[phase];
}

function phaseFlops(r: ThroughputRow, phase: Phase): number {
  return { sampling: r.samplingFlops, scoring: r.scoreFlops, reward: r.scoreFlops, update: r.updateFlops }[
    phase
  ];
}

function reportThroughput(results: Partial<Record<ActiveBackend, ThroughputRow[]>>, peak: Peak): void {
  for (const line of [
    `Sampling: generate() on ${ROWS} prompts with the KV cache. Scoring: the reference model's forward pass`,
    `on the ${ROWS} completions. Reward: a reward model of the same shape scoring prompt + completion. Update:`,
    'policyGradientStep on them (forward, backward, AdamW). FLOPs count the matrix products only',
    `(bench/modelFlops.ts; of the unshared passes, so shared sampling and scoring show more). Prompts: ${ROWS / GROUP} x ${GROUP}. Times: process CPU ms, best of ${TIMED_RUNS} rounds. Matmul = the path's plain`,
    'tf.matMul on the model shapes [rows, d] x [d, 4d] and [rows, d] x [d, vocab] (FLOP-weighted), rows = 64',
    '(a decode step) and all positions of the batch; % peak = against the FMA peak above.',
  ])
    console.log(line);
  console.log('');
  const g = (x: number) => (x / 1e9).toFixed(1);
  const backends = Object.keys(results) as ActiveBackend[];
  const peakValue = peakFlops(peak);
  printTable(
    ['model', 'rows', ...backends.flatMap((b) => [`${b} matmul GFLOP/s`, `${b} % peak`])],
    (results[backends[0]] ?? []).flatMap((first, m) =>
      (['decode', 'full'] as const).map((kind) => [
        first.model,
        String(kind === 'decode' ? ROWS : first.fullRows),
        ...backends.flatMap((b) => {
          const row = (results[b] ?? [])[m];
          const base = kind === 'decode' ? row.baselineDecode : row.baselineFull;
          return [g(base.combined), percent(base.combined / peakValue)];
        }),
      ]),
    ),
  );
  console.log('');
  const ratioHeader = backends.length === 2 ? [`${backends[0]}/${backends[1]}`] : [];
  printTable(
    ['model', 'phase', ...backends.flatMap((b) => [`${b} ms`, `${b} GFLOP/s`]), ...ratioHeader],
    (results[backends[0]] ?? []).flatMap((first, m) =>
      PHASES.map((phase) => {
        const cells = backends.flatMap((b) => {
          const row = (results[b] ?? [])[m];
          const seconds = phaseSeconds(row, phase);
          return [(seconds * 1e3).toFixed(1), gflops(phaseFlops(row, phase), seconds)];
        });
        const ratio =
          backends.length === 2
            ? [
                (
                  phaseSeconds((results[backends[0]] ?? [])[m], phase) /
                  phaseSeconds((results[backends[1]] ?? [])[m], phase)
                ).toFixed(2),
              ]
            : [];
        return [first.model, phase, ...cells, ...ratio];
      }),
    ),
  );
  console.log('');
  console.log(
    `Shared-prefix inference: each of the ${ROWS / GROUP} distinct prompts (${GROUP} rows each) computed once, against every row`,
  );
  console.log(
    'running its own prompt (setSharedPrefix(false)), in the same rounds: CPU ms, best of the rounds.',
  );
  console.log('');
  printTable(
    ['model', 'phase', ...backends.flatMap((b) => [`${b} unshared ms`, `${b} shared ms`, `${b} ratio`])],
    (results[backends[0]] ?? []).flatMap((first, m) =>
      SHARED_PHASES.map((phase) => [
        first.model,
        phase,
        ...backends.flatMap((b) => {
          const row = (results[b] ?? [])[m];
          const off = row.unsharedSeconds[phase];
          const on = phaseSeconds(row, phase);
          return [(off * 1e3).toFixed(1), (on * 1e3).toFixed(1), (off / on).toFixed(2)];
        }),
      ]),
    ),
  );
  const blas = results.blas;
  if (blas?.some((r) => r.productsOnlySeconds)) {
    console.log('');
    console.log(
      'The BLAS path with and without its fused kernels (target log-probs read off the softmax, heap-copy',
    );
    console.log(
      "slices, the KV-cached sampler's SIMD attention and LayerNorm), in the same rounds: CPU ms, best of the rounds.",
    );
    console.log('');
    printTable(
      ['model', 'phase', 'blas products only ms', 'blas fused ms', 'ratio'],
      blas.flatMap((row) =>
        PHASES.map((phase) => {
          const only = row.productsOnlySeconds?.[phase] ?? Number.NaN;
          const fused = phaseSeconds(row, phase);
          return [
            row.model,
            phase,
            (only * 1e3).toFixed(1),
            (fused * 1e3).toFixed(1),
            (only / fused).toFixed(2),
          ];
        }),
      ),
    );
  }
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

function trainerConfig(
  task: Task,
  algo: 'grpo' | 'grpovi',
  steps: number,
  extra: Record<string, unknown> = {},
): TrainConfig {
  return parseTrainConfig(
    mergeConfigLayers(task.defaults, {
      task: task.name,
      algo,
      seed: SEED,
      steps,
      eval_every: 0,
      checkpoint_every: 0,
      backend: BENCH.backend,
      blas_threads: BENCH.blasThreads,
      ...extra,
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

/** Settings from the command line, read once in `main`. */
const BENCH: { backend: ActiveBackend; blasThreads: number } = { backend: 'wasm', blasThreads: 1 };

/** A backend, or one with shared-prefix inference off (`<backend> unshared`). */
type StepVariant = string;

function variantBackend(variant: StepVariant): ActiveBackend {
  return variant.split(' ')[0] as ActiveBackend;
}

/** The trainer's timing fields of each variant's steps, the variants taking turns step by step. */
async function interleavedBackends(
  makeTask: () => Task,
  backends: StepVariant[],
  steps: number,
): Promise<{ rows: Record<string, MetricsRow[]>; cpuSeconds: Record<string, number[]> }> {
  const task = makeTask();
  const rows: Record<string, MetricsRow[]> = Object.fromEntries(backends.map((b) => [b, []]));
  // Process CPU time from the trainer's start notice to its step row: the step (each call runs one).
  const cpuSeconds: Record<string, number[]> = Object.fromEntries(backends.map((b) => [b, []]));
  let began = process.cpuUsage();
  const dirs = Object.fromEntries(backends.map((b) => [b, mkdtempSync(join(tmpdir(), 'grpovi-bench-'))]));
  try {
    for (let step = 1; step <= steps; step++) {
      for (let k = 0; k < backends.length; k++) {
        const backend = backends[(step + k) % backends.length];
        setSharedPrefix(!backend.endsWith(' unshared'));
        await train({
          config: trainerConfig(task, 'grpo', step, { backend: variantBackend(backend) }),
          task,
          outDir: dirs[backend],
          resumeFrom: step > 1 ? dirs[backend] : undefined,
          observer: {
            onStart: () => {
              began = process.cpuUsage();
            },
            onStep: (row) => {
              const used = process.cpuUsage(began);
              rows[backend].push(row);
              cpuSeconds[backend].push((used.user + used.system) / 1e6);
            },
          },
        });
      }
    }
  } finally {
    setSharedPrefix(true);
    for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
    task.dispose?.();
  }
  return { rows, cpuSeconds };
}

const STEP_FIELDS = [
  ['rollout (sampling)', 'rollout_seconds'],
  ['reward model', 'reward_seconds'],
  ['update (reference scoring + policy update)', 'update_seconds'],
  ['  of which reference scoring', 'score_seconds'],
  ['whole step', 'step_seconds'],
] as const;

/** Per step, the step's time not in its listed phases (the median of this, not of each field). */
function unlistedSeconds(row: MetricsRow): number {
  const listed = ['rollout_seconds', 'reward_seconds', 'update_seconds', 'transform_seconds'] as const;
  return (row.step_seconds ?? Number.NaN) - listed.reduce((sum, f) => sum + (row[f] ?? Number.NaN), 0);
}

async function benchWholeStep(
  backends: ActiveBackend[],
  steps: number,
  warmup: number,
  unshared: boolean,
): Promise<void> {
  for (const line of [
    `Whole RL step: the real trainer (train()) on the sentiment task (shipped policy and reward model, ${8 * 8}`,
    `completions of 16 tokens per step, GRPO), ${steps} steps per backend taking turns step by step; median wall`,
    `ms over the steps after ${warmup} warmup steps, from the run's own timing fields (each row its own median,`,
    'so the phases need not add up to the step; "outside the listed phases" is the median of each step\'s',
    'remainder); the last row is the median process CPU ms of the step (less inflated than wall time when other',
    'jobs share the machine).',
    ...(unshared
      ? [
          '"<backend> unshared": the same with shared-prefix inference off (each row samples and is scored from its',
          'own prompt); "<backend> unshared/shared" is the ratio of the medians.',
        ]
      : []),
  ])
    console.log(line);
  console.log('');
  const variants: StepVariant[] = unshared ? backends.flatMap((b) => [b, `${b} unshared`]) : backends;
  const { rows, cpuSeconds } = await interleavedBackends(
    () => createSentimentTask({ seed: SEED }),
    variants,
    steps,
  );
  const medianOf = (b: StepVariant, field: (typeof STEP_FIELDS)[number][1] | 'cpu' | 'unlisted') => {
    if (field === 'cpu') return median(cpuSeconds[b].filter((_, i) => rows[b][i].step > warmup));
    const timed = rows[b].filter((r) => r.step > warmup);
    return median(timed.map((r) => (field === 'unlisted' ? unlistedSeconds(r) : (r[field] ?? Number.NaN))));
  };
  printTable(
    [
      'phase',
      ...variants.map((b) => `${b} ms`),
      ...(backends.length === 2 ? [`${backends[0]}/${backends[1]}`] : []),
      ...(unshared ? backends.map((b) => `${b} unshared/shared`) : []),
    ],
    [
      ...STEP_FIELDS,
      ['step outside the listed phases', 'unlisted'] as const,
      ['whole step, process CPU time', 'cpu'] as const,
    ].map(([label, field]) => [
      label,
      ...variants.map((b) => (medianOf(b, field) * 1e3).toFixed(1)),
      ...(backends.length === 2
        ? [(medianOf(backends[0], field) / medianOf(backends[1], field)).toFixed(2)]
        : []),
      ...(unshared
        ? backends.map((b) => (medianOf(`${b} unshared`, field) / medianOf(b, field)).toFixed(2))
        : []),
    ]),
  );
  console.log('');
}

function meanAndSd(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, values.length - 1));
  return { mean, sd };
}

/** A short GRPO run per seed and backend; the backends should agree within the seeds' spread. */
async function benchAgreement(backends: ActiveBackend[], seeds: number[], steps: number): Promise<void> {
  console.log(
    `Agreement: GRPO on the toy task, ${steps} steps, seeds ${seeds.join(', ')}; final eval reward per backend`,
  );
  console.log(
    '(the backends differ in the last bits of every product, so runs diverge like different seeds).',
  );
  console.log('');
  const finals: Record<string, number[]> = {};
  for (const backend of backends) {
    finals[backend] = [];
    for (const seed of seeds) {
      const task = createToyTask({ seed });
      const dir = mkdtempSync(join(tmpdir(), 'grpovi-bench-'));
      try {
        const config = trainerConfig(task, 'grpo', steps, {
          backend,
          seed,
          eval_every: steps,
          eval_prompts: 64,
        });
        const rows: MetricsRow[] = [];
        await train({ config, task, outDir: dir, observer: { onStep: (row) => rows.push(row) } });
        finals[backend].push(rows.at(-1)?.eval_reward ?? Number.NaN);
      } finally {
        rmSync(dir, { recursive: true, force: true });
        task.dispose?.();
      }
    }
  }
  printTable(
    ['backend', 'final eval reward per seed', 'mean', 'sd over seeds'],
    backends.map((b) => {
      const { mean, sd } = meanAndSd(finals[b]);
      return [b, finals[b].map((x) => x.toFixed(6)).join(' '), mean.toFixed(4), sd.toFixed(4)];
    }),
  );
  if (backends.length === 2) {
    const [a, b] = backends.map((x) => meanAndSd(finals[x]));
    const standardError = Math.sqrt((a.sd ** 2 + b.sd ** 2) / seeds.length);
    const z = (a.mean - b.mean) / standardError;
    console.log('');
    console.log(
      `difference of means ${(a.mean - b.mean).toFixed(3)} = ${z.toFixed(2)} standard errors (|z| < 2: within seed noise)`,
    );
  }
  console.log('');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const args = new Set(argv);
  const threadsAt = argv.indexOf('--blas-threads');
  if (threadsAt >= 0) BENCH.blasThreads = Number.parseInt(argv[threadsAt + 1] ?? '', 10);
  if (!(BENCH.blasThreads >= 1)) throw new Error('--blas-threads takes a positive integer');
  await selectBackend('wasm');
  console.log(
    `wasm backend: SIMD ${tf.env().getBool('WASM_HAS_SIMD_SUPPORT')}, threads ${tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT')}`,
  );
  const library = cblasSearch().library;
  console.log(
    library
      ? `blas backend: ${library.path} (${library.description || library.name}), ${BENCH.blasThreads} thread(s); OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}`
      : `blas backend: no CBLAS library (${cblasSearch()
          .failures.map((f) => f.name)
          .join(', ')}): only wasm is measured`,
  );
  const backends: ActiveBackend[] = library ? ['wasm', 'blas'] : ['wasm'];
  const peak = measurePeak();
  reportPeak(peak);
  if (!args.has('--skip-throughput')) {
    const cases = [
      TOY,
      SENTIMENT_SHAPE,
      ...(args.has('--big') ? [BIG] : []),
      ...(args.has('--long-prompt') ? [LONG_PROMPT] : []),
    ];
    const results: Partial<Record<ActiveBackend, ThroughputRow[]>> = {};
    for (const backend of backends) {
      await selectBackend(backend, { blasThreads: BENCH.blasThreads });
      results[backend] = cases.map(benchThroughput);
    }
    reportThroughput(results, peak);
    console.log('');
  }
  if (!args.has('--skip-step')) await benchWholeStep(backends, 12, 2, args.has('--step-unshared'));
  if (!args.has('--skip-agreement')) await benchAgreement(backends, [1, 2, 3, 4, 5, 6], 30);
  if (args.has('--grpovi-ratio')) {
    BENCH.backend = library ? 'blas' : 'wasm';
    await selectBackend(BENCH.backend, { blasThreads: BENCH.blasThreads });
    for (const line of [
      `GRPOVI/GRPO step time of the real trainer on the ${BENCH.backend} backend: train() with the same seed and no evaluation, GRPO,`,
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
