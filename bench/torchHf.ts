/**
 * `npm run bench:torch-hf`: one GRPO step of Hugging Face-sized models, grpovi against a plain PyTorch
 * twin (bench/torch_hf.py, run by Debian's /usr/bin/python3 with python3-torch), one thread each, on
 * the same weights: random weights of distilgpt2's (GPT-2, 81.9M) and SmolLM2-135M's (Llama, 134.5M)
 * shapes, written once as a transformers folder (config.json + model.safetensors) that both sides
 * load. Full fine-tuning, then LoRA (unless `--no-lora`): r 16, alpha 32, dropout 0 on PEFT's default
 * targets (gpt2: c_attn; llama: q_proj, v_proj), the same adapter matrices on both sides (A
 * Kaiming-uniform, B nonzero so the check exercises them; adapter_model.safetensors beside the
 * weights), the base frozen, the reference pass the base with the adapters off, AdamW over the
 * adapters only. grpovi's side attaches them as the trainer does (Decoder.attachAdapter,
 * adaptersOffView).
 *
 * A step: 2 prompts x 4 completions (16 random prompt ids, 16 new tokens, every row drawing all of
 * them): KV-cached sampling, the frozen reference's log-probs of the completions, the update
 * (forward, GRPO loss with beta 0.04, backward, clip at 1, AdamW 0.9/0.99), and the whole step.
 * Every run is a process of its own (`--warmup` untimed steps, then `--steps` timed), so each side's
 * peak RSS is its own; the sides take turns round by round (rotating order) so they meet the same
 * spells of background load. Printed: the median wall ms of each phase over all rounds, their
 * ratio, each round's whole-step ratio, both peaks, and the largest logit difference on a batch of
 * 4 x 32 tokens (grpovi's logits written beside the weights; the script fails beyond 1e-3), with
 * the adapters on for the LoRA rows.
 *
 * Flags: `--rounds N` (3), `--steps N` (1), `--warmup N` (1), `--threads N` (1), `--only gpt2|llama`,
 * `--python PATH` (else GRPOVI_TORCH_PYTHON, else /usr/bin/python3), `--no-lora` (full fine-tuning only; `--lora` is accepted and is the default).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { groupAdvantages } from '../src/grpo/advantages.js';
import { selectBackend } from '../src/nn/backends/backend.js';
import { parseHfConfig } from '../src/nn/models/hfConfig.js';
import { HfDecoder } from '../src/nn/models/hfDecoder.js';
import type { RewardModel } from '../src/nn/models/rewardModel.js';
import { openSafetensorsFile } from '../src/nn/weights/safetensorsFile.js';
import { adaptersOffView } from '../src/train/loraRun.js';
import { Rng } from '../src/util/rng.js';
import { DISTILGPT2_CONFIG, SMOLLM2_135M_CONFIG } from './hfShapes.js';
import { ADAPTER_FILE, LORA, loadAdapter, writeTwinFolder } from './torchHfFolder.js';
import { median, printTable, rlPhases, trainerAdamW } from './rlPhases.js';
import { DEFAULT_TORCH_PYTHON, torchVersion } from './torchCheck.js';

const THIS_FILE = fileURLToPath(import.meta.url);
const TWIN = fileURLToPath(new URL('./torch_hf.py', import.meta.url));
const PROMPTS = 2;
const GENERATIONS = 4;
const PROMPT_TOKENS = 16;
const NEW_TOKENS = 16;
const CHECK_ROWS = 4;
const SEED = 20241206;

const MODELS = {
  gpt2: { label: 'distilgpt2 shape (GPT-2)', config: DISTILGPT2_CONFIG },
  llama: { label: 'SmolLM2-135M shape (Llama)', config: SMOLLM2_135M_CONFIG },
} as const;
type ModelKey = keyof typeof MODELS;

const PHASES = ['sampling', 'reference', 'update', 'step'] as const;
type Phase = (typeof PHASES)[number];
type PhaseTimes = Record<Phase, number[]>;
type Mode = 'full' | 'lora';

/** What a run of either side reports. */
interface RunReport {
  ms: PhaseTimes;
  /** Process CPU ms of the same intervals (less inflated by other jobs on a shared machine). */
  cpu_ms: PhaseTimes;
  peak_rss_bytes: number;
  /** Trained parameters (the adapters' with LoRA). */
  parameters?: number;
  /** The base model's parameters (the twin's count). */
  base_parameters?: number;
  /** The adapted modules' target names (the twin's, LoRA runs). */
  lora_targets?: string[];
  torch?: string;
  check?: {
    rows: number;
    positions: number;
    max_abs_logit: number;
    logits_max_abs_diff: number;
    /** LoRA: the largest |logit with adapters - logit without| (what the agreement is measured against). */
    adapter_max_abs_effect?: number;
  };
}

interface Settings {
  rounds: number;
  steps: number;
  warmup: number;
  threads: number;
  only?: ModelKey;
  python: string;
  /** Whether the LoRA rows run too (default yes; `--no-lora` skips them). */
  lora: boolean;
}

function parseSettings(argv: string[]): Settings {
  const settings: Settings = {
    rounds: 3,
    steps: 1,
    warmup: 1,
    threads: 1,
    python: DEFAULT_TORCH_PYTHON,
    lora: true,
  };
  const counts = {
    '--rounds': 'rounds',
    '--steps': 'steps',
    '--warmup': 'warmup',
    '--threads': 'threads',
  } as const;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '--lora') settings.lora = true;
    else if (flag === '--no-lora') settings.lora = false;
    else if (flag === '--python') {
      const path = argv[++i];
      if (!path) throw new RangeError(`--python takes a path (${JSON.stringify(path ?? null)})`);
      settings.python = path;
    } else if (flag === '--only') {
      const key = argv[++i];
      if (key !== 'gpt2' && key !== 'llama')
        throw new RangeError(`--only takes gpt2 or llama (${JSON.stringify(key ?? null)})`);
      settings.only = key;
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

// ---------------------------------------------------------------------------------------------
// Workers (each in a process of its own)

/** Seeded random weights of a shape as the folder both sides load (see bench/torchHfFolder.ts). */
async function prepare(key: ModelKey, dir: string): Promise<void> {
  await selectBackend('auto', { blasThreads: 1 });
  writeTwinFolder(dir, MODELS[key].config, MODELS[key].label, {
    seed: SEED,
    rows: CHECK_ROWS,
    length: PROMPT_TOKENS + NEW_TOKENS,
  });
}

/** The fraction of even token ids per completion (the twin's stand-in reward too). */
function evenTokenRewards(tokens: Int32Array, rows: number, length: number): number[] {
  return Array.from({ length: rows }, (_, b) => {
    let even = 0;
    for (let t = 0; t < length; t++) if (tokens[b * length + t] % 2 === 0) even++;
    return even / length;
  });
}

/**
 * With GRPOVI_TORCH_HF_TRACE set, the worker writes to stderr the peak RSS so far and the wasm heap's
 * size after loading and after each phase of each step (where the peak is reached).
 */
function traceMemory(what: string): void {
  if (!process.env.GRPOVI_TORCH_HF_TRACE) return;
  const heap = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.byteLength ?? 0;
  const mib = (bytes: number) => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;
  process.stderr.write(
    `memory ${what}: peak RSS ${mib(process.resourceUsage().maxRSS * 1024)}, RSS ${mib(process.memoryUsage.rss())}, wasm heap ${mib(heap)}\n`,
  );
}

/** grpovi's side: load the folder, run the steps, report the timed ones and the peak RSS. */
async function grpoviRun(dir: string, settings: Settings, round: number, mode: Mode): Promise<RunReport> {
  await selectBackend('auto', { blasThreads: settings.threads });
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as unknown;
  const config = parseHfConfig(raw, join(dir, 'config.json'));
  const file = join(dir, 'model.safetensors');
  traceMemory('started');
  // As readHfFolder reads it: one tensor at a time from the file.
  const policy = HfDecoder.fromHfTensors(config, openSafetensorsFile(file).tensors, {
    trainable: true,
    source: file,
  });
  // As the trainer does: full fine-tuning keeps a frozen copy as the reference; LoRA attaches the
  // adapter (policy.variables() become its matrices) and scores with the adapters off, no copy.
  const adapter = mode === 'lora' ? loadAdapter(dir, policy) : undefined;
  if (adapter) policy.attachAdapter(adapter);
  const reference = adapter ? adaptersOffView(policy, adapter) : policy.copy({ trainable: false });
  const optimizer = trainerAdamW(policy);
  traceMemory('loaded');
  const rng = Rng.derive(SEED, `torch-hf/${round}`);
  const distinct = Array.from({ length: PROMPTS }, () =>
    Array.from({ length: PROMPT_TOKENS }, () => rng.int(config.vocabSize)),
  );
  const prompts = distinct.flatMap((p) => Array.from({ length: GENERATIONS }, () => p));
  const phases = rlPhases(
    { policy, reference, optimizer, rewardModel: undefined as unknown as RewardModel },
    prompts,
    { newTokens: NEW_TOKENS, rng, padId: 0, learningRate: 1e-5 },
  );
  const ms: PhaseTimes = { sampling: [], reference: [], update: [], step: [] };
  const cpuMs: PhaseTimes = { sampling: [], reference: [], update: [], step: [] };
  const cpuNow = () => {
    const used = process.cpuUsage();
    return (used.user + used.system) / 1e3;
  };
  for (let step = 0; step < settings.warmup + settings.steps; step++) {
    const marks = [performance.now()];
    const cpu = [cpuNow()];
    const generation = phases.sample();
    marks.push(performance.now());
    cpu.push(cpuNow());
    traceMemory(`step ${step} sampled`);
    const scored = phases.inputs(generation);
    const refLogProbs = phases.score(scored);
    marks.push(performance.now());
    cpu.push(cpuNow());
    traceMemory(`step ${step} scored`);
    const rewards = evenTokenRewards(generation.tokens, prompts.length, generation.length);
    const advantages = Float32Array.from(
      groupAdvantages(rewards, GENERATIONS, { scale: 'group', eps: 1e-4 }),
    );
    phases.update(scored, refLogProbs, advantages);
    marks.push(performance.now());
    cpu.push(cpuNow());
    traceMemory(`step ${step} updated`);
    if (step < settings.warmup) continue;
    for (const [record, clock] of [
      [ms, marks],
      [cpuMs, cpu],
    ] as const) {
      PHASES.slice(0, 3).forEach((phase, k) => record[phase].push(clock[k + 1] - clock[k]));
      record.step.push(clock[3] - clock[0]);
    }
  }
  const parameters = policy.variables().reduce((n, p) => n + p.variable.size, 0);
  optimizer.dispose();
  reference.dispose();
  policy.attachAdapter(undefined);
  adapter?.dispose();
  policy.dispose();
  return { ms, cpu_ms: cpuMs, peak_rss_bytes: process.resourceUsage().maxRSS * 1024, parameters };
}

// ---------------------------------------------------------------------------------------------
// The orchestrator

function spawnJson(command: string, args: string[], what: string): RunReport {
  const run = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  process.stderr.write(run.stderr ?? '');
  if (run.status !== 0) {
    console.error(`bench:torch-hf: ${what} failed (exit ${run.status}): ${command} ${args.join(' ')}`);
    process.exit(1);
  }
  const last = run.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(last) as RunReport;
}

function worker(args: string[]): string[] {
  return ['--import', 'tsx', THIS_FILE, '--worker', ...args];
}

const loadLine = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

function compare(key: ModelKey, settings: Settings): void {
  const dir = mkdtempSync(join(tmpdir(), `grpovi-torch-hf-${key}-`));
  try {
    const prepared = spawnSync(process.execPath, worker(['prepare', key, dir]), { stdio: 'inherit' });
    if (prepared.status !== 0) {
      console.error(`bench:torch-hf: writing the ${key} weights failed (exit ${prepared.status})`);
      process.exit(1);
    }
    const modes: Mode[] = settings.lora ? ['full', 'lora'] : ['full'];
    for (const mode of modes) compareMode(key, mode, dir, settings);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The rounds of one mode (full fine-tuning or LoRA) on the prepared folder, and their table. */
function compareMode(key: ModelKey, mode: Mode, dir: string, settings: Settings): void {
  const runs: Record<'grpovi' | 'torch', RunReport[]> = { grpovi: [], torch: [] };
  const counts = [
    '--steps',
    String(settings.steps),
    '--warmup',
    String(settings.warmup),
    '--threads',
    String(settings.threads),
  ];
  for (let round = 0; round < settings.rounds; round++) {
    const order = round % 2 === 0 ? (['torch', 'grpovi'] as const) : (['grpovi', 'torch'] as const);
    for (const side of order) {
      if (side === 'torch') {
        const check = round === 0 ? ['--check', dir] : [];
        const lora =
          mode === 'lora' ? ['--lora', join(dir, ADAPTER_FILE), '--lora-alpha', String(LORA.alpha)] : [];
        const args = [TWIN, '--model', dir, ...counts, '--seed', String(round), ...lora, ...check];
        runs.torch.push(spawnJson(settings.python, args, `the PyTorch twin (${mode})`));
      } else {
        const args = worker(['grpovi', dir, String(round), mode, ...counts]);
        runs.grpovi.push(spawnJson(process.execPath, args, `the grpovi run (${mode})`));
      }
    }
  }
  const pooled = (side: 'grpovi' | 'torch', phase: Phase, clock: 'ms' | 'cpu_ms') =>
    median(runs[side].flatMap((r) => r[clock][phase]));
  const total = runs.torch[0].base_parameters;
  const trained = ((runs.grpovi[0].parameters ?? 0) / 1e6).toFixed(2);
  const what =
    mode === 'full'
      ? `full fine-tuning (${trained}M trained)`
      : `LoRA r ${LORA.r}, alpha ${LORA.alpha} on ${runs.torch[0].lora_targets?.join(', ')} (${trained}M trained, PyTorch ${((runs.torch[0].parameters ?? 0) / 1e6).toFixed(2)}M)`;
  console.log('');
  console.log(
    `${MODELS[key].label}, ${((total ?? 0) / 1e6).toFixed(1)}M parameters, ${what} (wall ms, then process CPU ms):`,
  );
  printTable(
    ['phase', 'grpovi ms', 'PyTorch ms', 'ratio', 'grpovi CPU ms', 'PyTorch CPU ms', 'CPU ratio'],
    PHASES.map((phase) => {
      const cells = (['ms', 'cpu_ms'] as const).flatMap((clock) => {
        const [ours, theirs] = [pooled('grpovi', phase, clock), pooled('torch', phase, clock)];
        return [ours.toFixed(0), theirs.toFixed(0), (ours / theirs).toFixed(2)];
      });
      return [phase === 'step' ? 'whole step' : phase, ...cells];
    }),
  );
  const ratios = runs.grpovi.map((r, i) => median(r.ms.step) / median(runs.torch[i].ms.step));
  console.log(`whole-step ratio of each round: ${ratios.map((x) => x.toFixed(2)).join(', ')}`);
  const peak = (side: 'grpovi' | 'torch') => Math.max(...runs[side].map((r) => r.peak_rss_bytes));
  console.log(
    `peak RSS: grpovi ${gib(peak('grpovi'))}, PyTorch ${gib(peak('torch'))} (ratio ${(peak('grpovi') / peak('torch')).toFixed(2)})`,
  );
  const check = runs.torch[0].check;
  if (check)
    console.log(
      `logits agreement${mode === 'lora' ? ' (adapters on)' : ''}: max |grpovi - PyTorch| = ${check.logits_max_abs_diff.toExponential(2)} over ${check.rows} rows x ${check.positions} positions (largest |logit| ${check.max_abs_logit.toFixed(2)}${check.adapter_max_abs_effect === undefined ? '' : `; the adapters move the logits by up to ${check.adapter_max_abs_effect.toExponential(2)}`}, tolerance 1e-3)`,
    );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--worker') {
    const [, kind, ...rest] = argv;
    if (kind === 'prepare') return prepare(rest[0] as ModelKey, rest[1]);
    const mode = rest[2] === 'lora' ? 'lora' : 'full';
    const report = await grpoviRun(rest[0], parseSettings(rest.slice(3)), Number(rest[1]), mode);
    console.log(JSON.stringify(report));
    return;
  }
  let settings: Settings;
  try {
    settings = parseSettings(argv);
  } catch (error) {
    console.error(`bench:torch-hf: ${(error as Error).message}`);
    process.exit(2);
  }
  const version = torchVersion(settings.python);
  if (version === undefined) {
    console.log(
      `bench:torch-hf: skipped: ${settings.python} cannot import torch and numpy (Debian: apt-get install python3-torch python3-numpy; or --python PATH)`,
    );
    return;
  }
  console.log(
    `One GRPO step, grpovi (backend auto, ${settings.threads} BLAS thread(s)) against PyTorch ${version} (${settings.threads} thread(s)), same weights:`,
  );
  console.log(
    `${PROMPTS} prompts x ${GENERATIONS} completions, ${PROMPT_TOKENS} prompt + ${NEW_TOKENS} new tokens; median wall ms of ${settings.steps} step(s) after ${settings.warmup} warmup in each of ${settings.rounds} round(s), sides taking turns.`,
  );
  console.log(`load average at the start: ${loadLine()}`);
  for (const key of Object.keys(MODELS) as ModelKey[])
    if (!settings.only || settings.only === key) compare(key, settings);
  console.log('');
  console.log(`load average at the end: ${loadLine()}`);
}

await main();
