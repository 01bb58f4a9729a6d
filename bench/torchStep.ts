/**
 * `npm run bench:torch`: one sentiment RL step of grpovi against the same work in PyTorch on one
 * thread (bench/torch_step.py, run by Debian's /usr/bin/python3 with python3-torch and python3-numpy).
 *
 * Both sides load the shipped policy and reward model and run, per step, the four phases of the
 * trainer's sentiment step at its shape: 8 prompts x 8 completions of 16 tokens (prompts of 5 random
 * ids; every row samples all 16 tokens, so the work is fixed), the reference model's log-probs of
 * the completions, the reward model's last-position scores of prompt + completion, and the policy
 * update (forward with the entropy diagnostic, GRPO loss with beta 0.04, backward, clip at 1,
 * AdamW). Each side times wall ms (and process CPU ms, a second table) per phase and per step and
 * takes the median over the timed steps (`--steps`, after `--warmup` untimed steps) of all rounds; the
 * sides take turns round by round in a rotating order, so that each meets the same spells of
 * background load, and the ratio of each round's median steps is printed too. grpovi runs on the BLAS path
 * with `--threads` BLAS threads (default 1) and on the wasm kernels; PyTorch with as many threads.
 *
 * Before timing, grpovi writes a batch of 8 left-padded rows (prompts of 1-5 tokens, 16 completion
 * tokens) with its logits at every position, its reward scores, and its GRPO loss and gradient norm
 * on it; the script recomputes them with its own model and fails (exit 1) when a logit differs by
 * more than 1e-3.
 *
 * grpovi's shared-prefix inference is off, since the PyTorch side computes every row's prompt.
 *
 * Flags: `--rounds N` (3), `--steps N` (10), `--warmup N` (2), `--threads N` (1), `--python PATH`
 * (else GRPOVI_TORCH_PYTHON, else /usr/bin/python3), `--skip-wasm`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { groupAdvantages } from '../src/grpo/advantages.js';
import { type ActiveBackend, cblasSearch, selectBackend } from '../src/nn/backends/backend.js';
import { setSharedPrefix } from '../src/nn/generation/sharedPrefix.js';
import { Rng } from '../src/util/rng.js';
import { median, printTable, randomPrompts, rlPhases, trainerAdamW } from './rlPhases.js';
import {
  DEFAULT_TORCH_PYTHON,
  runTorchScript,
  sentimentModels,
  type TorchCheck,
  torchArgs,
  torchVersion,
  writeCheck,
} from './torchCheck.js';

const SEED = 20240611;
const PROMPTS = 8;
const GENERATIONS = 8;
const PROMPT_LENGTH = 5;
const NEW_TOKENS = 16;
const LEARNING_RATE = 3e-4;

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
    python: DEFAULT_TORCH_PYTHON,
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
    else if (flag === '--python') {
      const path = argv[++i];
      if (!path) throw new RangeError(`--python takes a path (${JSON.stringify(path ?? null)})`);
      settings.python = path;
    } else if (flag in counts) {
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

const models = sentimentModels();
const { padId, vocabSize, scoreOffset } = models;

interface TorchRun {
  torch: string;
  threads: number;
  ms: PhaseTimes;
  cpu_ms: PhaseTimes;
  check?: TorchCheck;
}

/** Wall and process CPU ms of each timed step. */
interface RunTimes {
  wall: PhaseTimes;
  cpu: PhaseTimes;
}

const emptyTimes = (): PhaseTimes => ({ sampling: [], scoring: [], reward: [], update: [], step: [] });

/** Wall ms (performance.now) and process CPU ms (user + system) now. */
function clocks(): [number, number] {
  const cpu = process.cpuUsage();
  return [performance.now(), (cpu.user + cpu.system) / 1e3];
}

/** One run of torch_step.py; exits the benchmark when the script fails (its stderr says why). */
function runTorch(settings: Settings, round: number, checkDir?: string): TorchRun {
  const args = torchArgs({ ...settings, seed: round, checkDir });
  const run = runTorchScript(settings.python, args);
  process.stderr.write(run.stderr);
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
async function grpoviRun(backend: ActiveBackend, settings: Settings, round: number): Promise<RunTimes> {
  await selectBackend(backend, { blasThreads: settings.threads });
  // The same work as the PyTorch side, which runs every prompt row in full: grpovi's shared-prefix
  // inference (each distinct prompt computed once) stays off here.
  setSharedPrefix(false);
  const { policy, rewardModel, dispose } = models.create();
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
  const times: RunTimes = { wall: emptyTimes(), cpu: emptyTimes() };
  try {
    for (let step = 0; step < settings.warmup + settings.steps; step++) {
      const marks = [clocks()];
      const generation = phases.sample();
      marks.push(clocks());
      const scored = phases.inputs(generation);
      const refLogProbs = phases.score(scored);
      marks.push(clocks());
      const scores = phases.reward(phases.rewardInputs(generation));
      const rewards = Array.from(scores, (s) => sigmoid(s - scoreOffset));
      const advantages = Float32Array.from(
        groupAdvantages(rewards, GENERATIONS, { scale: 'group', eps: 1e-4 }),
      );
      marks.push(clocks());
      phases.update(scored, refLogProbs, advantages, true);
      marks.push(clocks());
      if (step < settings.warmup) continue;
      for (const [clock, record] of [times.wall, times.cpu].entries()) {
        PHASES.slice(0, 4).forEach((phase, k) => record[phase].push(marks[k + 1][clock] - marks[k][clock]));
        record.step.push(marks[4][clock] - marks[0][clock]);
      }
    }
  } finally {
    optimizer.dispose();
    reference.dispose();
    dispose();
  }
  return times;
}

function pooled(runs: PhaseTimes[]): PhaseTimes {
  const out = emptyTimes();
  for (const run of runs) for (const phase of PHASES) out[phase].push(...run[phase]);
  return out;
}

const loadLine = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');

async function main(): Promise<void> {
  let settings: Settings;
  try {
    settings = parseSettings(process.argv.slice(2));
  } catch (error) {
    console.error(`bench:torch: ${(error as Error).message}`);
    process.exit(2);
  }
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
    `Times: wall ms per phase and per step (then process CPU ms), measured the same way on both sides (clocks around each phase),`,
    `median over ${settings.steps} steps after ${settings.warmup} warmup steps in each of ${settings.rounds} round(s); the sides take turns round by`,
    `round in a rotating order. grpovi: ${library ? `BLAS path (${library.path}, ${settings.threads} ${threadWord})` : 'no CBLAS library, BLAS path not measured'}${settings.skipWasm ? '' : ' and the wasm kernels'}.`,
  ])
    console.log(line);
  console.log(`load average at the start: ${startLoad}`);
  console.log('');

  const checkDir = mkdtempSync(join(tmpdir(), 'grpovi-torch-'));
  const runs: Record<Side, RunTimes[]> = { torch: [], blas: [], wasm: [], webgpu: [], cpu: [] };
  let check: TorchCheck | undefined;
  let threads = settings.threads;
  try {
    await writeCheck(checkDir, models, backends, settings.threads);
    const sides: Side[] = ['torch', ...backends];
    for (let round = 0; round < settings.rounds; round++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(round + k) % sides.length];
        if (side === 'torch') {
          const run = runTorch(settings, round, round === 0 ? checkDir : undefined);
          check ??= run.check;
          threads = run.threads;
          runs.torch.push({ wall: run.ms, cpu: run.cpu_ms });
        } else runs[side].push(await grpoviRun(side, settings, round));
      }
    }
  } finally {
    rmSync(checkDir, { recursive: true, force: true });
  }

  const sides = ['torch', ...backends] as Side[];
  const label = (side: Side) => (side === 'torch' ? 'PyTorch' : `grpovi ${side === 'blas' ? 'BLAS' : side}`);
  const short = (b: ActiveBackend) => (b === 'blas' ? 'BLAS' : b);
  for (const clock of ['wall', 'cpu'] as const) {
    const medians = Object.fromEntries(
      sides.map((side) => {
        const all = pooled(runs[side].map((r) => r[clock]));
        return [side, Object.fromEntries(PHASES.map((p) => [p, median(all[p])]))];
      }),
    ) as Record<Side, Record<Phase, number>>;
    const unit = clock === 'wall' ? 'ms' : 'CPU ms';
    if (clock === 'cpu') {
      console.log('');
      console.log(
        'The same steps in process CPU time (less inflated than wall time when other jobs share the machine;',
      );
      console.log("grpovi's includes V8's garbage-collection threads):");
      console.log('');
    }
    printTable(
      [
        'phase',
        `PyTorch ${threads} ${threads === 1 ? 'thread' : 'threads'} ${unit}`,
        ...backends.map((b) => `grpovi ${short(b)} ${unit}`),
        ...backends.map((b) => `${short(b)}/PyTorch`),
      ],
      PHASES.map((phase) => [
        phase === 'step' ? 'whole step' : phase,
        medians.torch[phase].toFixed(1),
        ...backends.map((b) => medians[b][phase].toFixed(1)),
        ...backends.map((b) => (medians[b][phase] / medians.torch[phase]).toFixed(2)),
      ]),
    );
  }
  console.log('');
  const perRound = (side: Side) => runs[side].map((r) => median(r.wall.step).toFixed(1)).join(' / ');
  console.log(
    `whole step per round (median wall ms): ${sides.map((s) => `${label(s)} ${perRound(s)}`).join('; ')}`,
  );
  for (const b of backends) {
    const ratios = runs[b].map((r, i) => median(r.wall.step) / median(runs.torch[i].wall.step));
    console.log(
      `${short(b)}/PyTorch of each round's median step: ${ratios.map((x) => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
    );
  }
  if (check) {
    for (const entry of check.backends) {
      console.log(
        `logits agreement (${short(entry.backend)}): max |grpovi - PyTorch| = ${entry.logits_max_abs_diff.toExponential(2)} over ${check.rows} rows x ${check.positions} positions x ${vocabSize} (largest |logit| ${check.max_abs_logit.toFixed(2)}, tolerance 1e-3); reward scores ${entry.scores_max_abs_diff.toExponential(2)}; GRPO loss ${entry.loss_abs_diff.toExponential(2)} (of ${check.loss.toFixed(5)}); gradient norm relative ${entry.grad_norm_rel_diff.toExponential(2)} (of ${check.grad_norm.toFixed(4)})`,
      );
    }
    console.log(
      `PyTorch's own KV-cached logits against its full forward pass on the same batch: max diff ${check.torch_cached_vs_full_max_abs_diff.toExponential(2)}`,
    );
  }
  console.log(`load average at the end: ${loadLine()}`);
}

await main();
