/**
 * `npm run bench:torch`: one sentiment RL step of grpovi against the same work in PyTorch on one
 * thread (bench/torch_step.py, run by Debian's /usr/bin/python3 with python3-torch and python3-numpy).
 *
 * Both sides load the shipped policy and reward model and run, per step, the four phases of the
 * trainer's sentiment step at its shape: 8 prompts x 8 completions of 16 tokens (prompts of 5 random
 * ids; every row samples all 16 tokens, so the work is fixed), the reference model's log-probs of
 * the completions, the reward model's last-position scores of prompt + completion, and the policy
 * update (forward with the entropy diagnostic, GRPO loss with beta 0.04, backward, clip at 1,
 * AdamW). Each side times wall ms per phase and per step and takes the median over the timed steps
 * (`--steps`, after `--warmup` untimed steps) of all rounds; the sides take turns round by round in a
 * rotating order, so that each meets the same spells of background load. grpovi runs on the BLAS path
 * with `--threads` BLAS threads (default 1) and on the wasm kernels; PyTorch with as many threads.
 *
 * Before timing, grpovi writes a batch of 8 left-padded rows (prompts of 1-5 tokens, 16 completion
 * tokens) with its logits at every position, its reward scores, and its GRPO loss and gradient norm
 * on it; the script recomputes them with its own model and fails (exit 1) when a logit differs by
 * more than 1e-3.
 *
 * Flags: `--rounds N` (3), `--steps N` (10), `--warmup N` (2), `--threads N` (1), `--python PATH`
 * (else GRPOVI_TORCH_PYTHON, else /usr/bin/python3), `--skip-wasm`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupAdvantages } from '../src/grpo/advantages.js';
import { type ActiveBackend, cblasSearch, selectBackend } from '../src/nn/backend.js';
import { readFloats } from '../src/nn/layers.js';
import { completionInput } from '../src/nn/logProbs.js';
import { loadModelDir } from '../src/nn/modelDir.js';
import { loadPolicyFolder } from '../src/nn/models/policyFolder.js';
import { policyGradientStep, scoreLogProbs } from '../src/nn/policyUpdate.js';
import { RewardModel } from '../src/nn/rewardModel.js';
import { buildSequenceInput } from '../src/nn/sequenceBatch.js';
import { ASSET } from '../src/tasks/assets.js';
import { Rng } from '../src/util/rng.js';
import { median, printTable, randomPrompts, rlPhases, taskObjective, trainerAdamW } from './rlPhases.js';

const SEED = 20240611;
const PROMPTS = 8;
const GENERATIONS = 8;
const PROMPT_LENGTH = 5;
const NEW_TOKENS = 16;
const LEARNING_RATE = 3e-4;
const SCRIPT = fileURLToPath(new URL('./torch_step.py', import.meta.url));
/** Prompt lengths of the agreement batch: left padding of 0 to 4 tokens. */
const CHECK_PROMPT_LENGTHS = [5, 4, 3, 5, 2, 5, 1, 4];

const PHASES = ['sampling', 'scoring', 'reward', 'update', 'step'] as const;
type Phase = (typeof PHASES)[number];
type PhaseTimes = Record<Phase, number[]>;
type Side = 'torch' | ActiveBackend;

interface Settings {
  rounds: number;
  steps: number;
  warmup: number;
  threads: number;
  python: string;
  skipWasm: boolean;
}

function parseSettings(argv: string[]): Settings {
  const settings: Settings = {
    rounds: 3,
    steps: 10,
    warmup: 2,
    threads: 1,
    python: process.env.GRPOVI_TORCH_PYTHON || '/usr/bin/python3',
    skipWasm: false,
  };
  const counts = {
    '--rounds': 'rounds',
    '--steps': 'steps',
    '--warmup': 'warmup',
    '--threads': 'threads',
  } as const;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--skip-wasm') settings.skipWasm = true;
    else if (flag === '--python') settings.python = argv[++i] ?? '';
    else if (flag in counts) {
      const key = counts[flag as keyof typeof counts];
      const value = argv[++i];
      const n = Number(value);
      const least = key === 'warmup' ? 0 : 1;
      if (!Number.isInteger(n) || n < least)
        throw new RangeError(`${flag} takes an integer >= ${least} (${JSON.stringify(value ?? null)})`);
      settings[key] = n;
    } else throw new RangeError(`unknown flag ${JSON.stringify(flag)}`);
  }
  return settings;
}

/** torch's version when `python` imports torch and numpy, else undefined. */
function torchVersion(python: string): string | undefined {
  const probe = spawnSync(python, ['-c', 'import numpy, torch; print(torch.__version__)'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return probe.status === 0 ? probe.stdout.trim() : undefined;
}

const policySource = loadPolicyFolder(ASSET.sentimentPolicy);
const rewardFiles = loadModelDir(ASSET.sentimentRewardModel, 'reward-model');
const scoreOffset = typeof rewardFiles.info.scoreOffset === 'number' ? rewardFiles.info.scoreOffset : 0;
const padId = policySource.tokenizer.padId;
const vocabSize = policySource.tokenizer.vocabSize;

function loadModels() {
  const policy = policySource.create({ trainable: true });
  const rewardModel = RewardModel.fromTensors(
    rewardFiles.config,
    rewardFiles.tensors,
    `${ASSET.sentimentRewardModel}/model.safetensors`,
  );
  const dispose = () => {
    policy.dispose();
    rewardModel.dispose();
  };
  return { policy, rewardModel, dispose };
}

interface CheckEntry {
  backend: ActiveBackend;
  logits: string;
  scores: number[];
  loss: number;
  gradNorm: number;
}

/**
 * Writes the agreement batch and grpovi's outputs on it into `dir` (check.json and one float32 file
 * of logits per backend), for torch_step.py --check.
 */
async function writeCheck(dir: string, backends: ActiveBackend[], threads: number): Promise<void> {
  const rng = Rng.derive(SEED, 'torch-check');
  const prompts = randomPrompts(rng, CHECK_PROMPT_LENGTHS.length, PROMPT_LENGTH, vocabSize).map((p, i) =>
    p.slice(0, CHECK_PROMPT_LENGTHS[i]),
  );
  const completions = randomPrompts(rng, prompts.length, NEW_TOKENS, vocabSize);
  const advantages = Float32Array.from(prompts, () => rng.normal());
  const noise = Float32Array.from({ length: prompts.length * NEW_TOKENS }, () => 0.3 * rng.normal());
  const flat = Int32Array.from(completions.flat());
  const batch = {
    prompts,
    completions: flat,
    mask: new Float32Array(flat.length).fill(1),
    length: NEW_TOKENS,
  };
  let refLogProbs: Float32Array | undefined;
  const entries: CheckEntry[] = [];
  for (const backend of backends) {
    await selectBackend(backend, { blasThreads: threads });
    const { policy, rewardModel, dispose } = loadModels();
    try {
      const full = buildSequenceInput(prompts, flat, NEW_TOKENS, padId);
      const logits = readFloats(() => policy.logits(policy.forward(full).hidden));
      const scores = rewardModel.score(
        prompts.map((p, i) => [...p, ...completions[i]]),
        padId,
      );
      const input = completionInput(batch, padId);
      // Reference log-probs near the policy's (the first backend's, shared by all): a KL term of a few tenths.
      if (refLogProbs === undefined) {
        const own = scoreLogProbs(policy, batch, input, { temperature: 1 }).logProbs;
        refLogProbs = own.map((x, i) => x + noise[i]);
      }
      const optimizer = trainerAdamW(policy);
      const { loss, gradNorm } = policyGradientStep(
        policy,
        optimizer,
        { batch, input, refLogProbs, advantages },
        taskObjective(NEW_TOKENS),
        { temperature: 1, learningRate: LEARNING_RATE, entropy: true },
      );
      optimizer.dispose();
      const file = `logits-${backend}.f32`;
      writeFileSync(join(dir, file), new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength));
      entries.push({ backend, logits: file, scores: Array.from(scores), loss, gradNorm });
    } finally {
      dispose();
    }
  }
  const spec = {
    prompts,
    completions,
    advantages: Array.from(advantages),
    refLogProbs: Array.from(refLogProbs ?? []),
    backends: entries,
  };
  writeFileSync(join(dir, 'check.json'), `${JSON.stringify(spec)}\n`);
}

interface TorchCheck {
  rows: number;
  positions: number;
  max_abs_logit: number;
  torch_cached_vs_full_max_abs_diff: number;
  loss: number;
  grad_norm: number;
  backends: {
    backend: ActiveBackend;
    logits_max_abs_diff: number;
    scores_max_abs_diff: number;
    loss_abs_diff: number;
    grad_norm_rel_diff: number;
  }[];
}

interface TorchRun {
  torch: string;
  threads: number;
  ms: PhaseTimes;
  check?: TorchCheck;
}

/** One run of torch_step.py; exits the benchmark when the script fails (its stderr says why). */
function runTorch(settings: Settings, round: number, checkDir?: string): TorchRun {
  const args = [
    SCRIPT,
    '--threads',
    String(settings.threads),
    '--steps',
    String(settings.steps),
    '--warmup',
    String(settings.warmup),
    '--seed',
    String(round),
    ...(checkDir ? ['--check', checkDir] : []),
  ];
  const run = spawnSync(settings.python, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
  if (run.status !== 0) {
    console.error(`bench:torch: ${settings.python} ${args.join(' ')} failed (exit ${run.status})`);
    process.exit(1);
  }
  return JSON.parse(run.stdout) as TorchRun;
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** The four phases through grpovi on `backend`, wall ms per phase and step after the warmup steps. */
async function grpoviRun(backend: ActiveBackend, settings: Settings, round: number): Promise<PhaseTimes> {
  await selectBackend(backend, { blasThreads: settings.threads });
  const { policy, rewardModel, dispose } = loadModels();
  const reference = policy.copy({ trainable: false });
  const optimizer = trainerAdamW(policy);
  const rng = Rng.derive(SEED, `torch-bench/${round}`);
  const prompts = randomPrompts(rng, PROMPTS, PROMPT_LENGTH, vocabSize).flatMap((p) =>
    Array.from({ length: GENERATIONS }, () => p),
  );
  const phases = rlPhases({ policy, reference, rewardModel, optimizer }, prompts, {
    newTokens: NEW_TOKENS,
    rng,
    padId,
    learningRate: LEARNING_RATE,
  });
  const times: PhaseTimes = { sampling: [], scoring: [], reward: [], update: [], step: [] };
  try {
    for (let step = 0; step < settings.warmup + settings.steps; step++) {
      const marks = [performance.now()];
      const generation = phases.sample();
      marks.push(performance.now());
      const scored = phases.inputs(generation);
      const refLogProbs = phases.score(scored);
      marks.push(performance.now());
      const scores = phases.reward(phases.rewardInputs(generation));
      const rewards = Array.from(scores, (s) => sigmoid(s - scoreOffset));
      const advantages = Float32Array.from(
        groupAdvantages(rewards, GENERATIONS, { scale: 'group', eps: 1e-4 }),
      );
      marks.push(performance.now());
      phases.update(scored, refLogProbs, advantages, true);
      marks.push(performance.now());
      if (step < settings.warmup) continue;
      PHASES.slice(0, 4).forEach((phase, k) => times[phase].push(marks[k + 1] - marks[k]));
      times.step.push(marks[4] - marks[0]);
    }
  } finally {
    optimizer.dispose();
    reference.dispose();
    dispose();
  }
  return times;
}

function pooled(runs: PhaseTimes[]): PhaseTimes {
  const out: PhaseTimes = { sampling: [], scoring: [], reward: [], update: [], step: [] };
  for (const run of runs) for (const phase of PHASES) out[phase].push(...run[phase]);
  return out;
}

const loadLine = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');

async function main(): Promise<void> {
  const settings = parseSettings(process.argv.slice(2));
  const version = torchVersion(settings.python);
  if (version === undefined) {
    console.log(
      `bench:torch: skipped: ${settings.python} cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy; or --python PATH)`,
    );
    return;
  }
  const library = cblasSearch().library;
  const backends: ActiveBackend[] = [
    ...(library ? ['blas' as const] : []),
    ...(settings.skipWasm ? [] : ['wasm' as const]),
  ];
  if (backends.length === 0) {
    console.log('bench:torch: nothing to compare: no CBLAS library and --skip-wasm');
    return;
  }
  const startLoad = loadLine();
  const threadWord = settings.threads === 1 ? 'thread' : 'threads';
  for (const line of [
    `One sentiment RL step, grpovi against PyTorch ${version} (${settings.python}, ${settings.threads} ${threadWord}), same work:`,
    `the shipped policy and reward model, ${PROMPTS} prompts x ${GENERATIONS} completions of ${NEW_TOKENS} tokens (prompts of ${PROMPT_LENGTH} random ids, every row`,
    'samples all 16 tokens with the KV cache); scoring = the reference log-probs of the completions; reward =',
    'the reward model at the last position of prompt + completion; update = forward with the entropy',
    'diagnostic, GRPO loss (beta 0.04, loss type grpo), backward, clip at 1, AdamW (0.9/0.99, eps 1e-8, wd 0).',
    `Times: wall ms per phase and per step, measured the same way on both sides (a clock around each phase),`,
    `median over ${settings.steps} steps after ${settings.warmup} warmup steps in each of ${settings.rounds} round(s); the sides take turns round by`,
    `round in a rotating order. grpovi: ${library ? `BLAS path (${library.path}, ${settings.threads} ${threadWord})` : 'no CBLAS library, BLAS path not measured'}${settings.skipWasm ? '' : ' and the wasm kernels'}.`,
  ])
    console.log(line);
  console.log(`load average at the start: ${startLoad}`);
  console.log('');

  const checkDir = mkdtempSync(join(tmpdir(), 'grpovi-torch-'));
  const runs: Record<Side, PhaseTimes[]> = { torch: [], blas: [], wasm: [], cpu: [] };
  let check: TorchCheck | undefined;
  let threads = settings.threads;
  try {
    await writeCheck(checkDir, backends, settings.threads);
    const sides: Side[] = ['torch', ...backends];
    for (let round = 0; round < settings.rounds; round++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(round + k) % sides.length];
        if (side === 'torch') {
          const run = runTorch(settings, round, round === 0 ? checkDir : undefined);
          check ??= run.check;
          threads = run.threads;
          runs.torch.push(run.ms);
        } else runs[side].push(await grpoviRun(side, settings, round));
      }
    }
  } finally {
    rmSync(checkDir, { recursive: true, force: true });
  }

  const medians = Object.fromEntries(
    (['torch', ...backends] as Side[]).map((side) => {
      const all = pooled(runs[side]);
      return [side, Object.fromEntries(PHASES.map((p) => [p, median(all[p])]))];
    }),
  ) as Record<Side, Record<Phase, number>>;
  const torchHeader = `PyTorch ${threads} ${threads === 1 ? 'thread' : 'threads'} ms`;
  const label = (b: ActiveBackend) => (b === 'blas' ? 'BLAS' : b);
  printTable(
    [
      'phase',
      torchHeader,
      ...backends.map((b) => `grpovi ${label(b)} ms`),
      ...backends.map((b) => `${label(b)}/PyTorch`),
    ],
    PHASES.map((phase) => [
      phase === 'step' ? 'whole step' : phase,
      medians.torch[phase].toFixed(1),
      ...backends.map((b) => medians[b][phase].toFixed(1)),
      ...backends.map((b) => (medians[b][phase] / medians.torch[phase]).toFixed(2)),
    ]),
  );
  console.log('');
  const perRound = (side: Side) => runs[side].map((r) => median(r.step).toFixed(1)).join(' / ');
  console.log(
    `whole step per round (median ms): ${(['torch', ...backends] as Side[]).map((s) => `${s === 'torch' ? 'PyTorch' : `grpovi ${label(s as ActiveBackend)}`} ${perRound(s)}`).join('; ')}`,
  );
  if (check) {
    for (const entry of check.backends) {
      console.log(
        `logits agreement (${label(entry.backend)}): max |grpovi - PyTorch| = ${entry.logits_max_abs_diff.toExponential(2)} over ${check.rows} rows x ${check.positions} positions x ${vocabSize} (largest |logit| ${check.max_abs_logit.toFixed(2)}, tolerance 1e-3); reward scores ${entry.scores_max_abs_diff.toExponential(2)}; GRPO loss ${entry.loss_abs_diff.toExponential(2)} (of ${check.loss.toFixed(5)}); gradient norm relative ${entry.grad_norm_rel_diff.toExponential(2)} (of ${check.grad_norm.toFixed(4)})`,
      );
    }
    console.log(
      `PyTorch's own KV-cached logits against its full forward pass on the same batch: max diff ${check.torch_cached_vs_full_max_abs_diff.toExponential(2)}`,
    );
  }
  console.log(`load average at the end: ${loadLine()}`);
}

await main();
