import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointError, describeJsonValue } from '../nn/checkpointError.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../nn/safetensors.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { RngState } from '../util/rng.js';
import type { PromptStreamState } from './promptStream.js';

export const CHECKPOINTS_DIR = 'checkpoints';
const LATEST_FILE = 'latest.json';
const STATE_FILE = 'state.json';
const OPTIMIZER_FILE = 'optimizer.safetensors';
const KEEP_CHECKPOINTS = 2;

/** Everything besides the policy's weights that a resumed run needs to continue exactly. */
export interface TrainerState {
  /** Training steps completed. */
  step: number;
  optimizerSteps: number;
  samplingRng: RngState;
  promptStream: PromptStreamState;
}

/** Files written into a checkpoint folder by their names (the policy's model folder files included). */
export type CheckpointFiles = Record<string, Uint8Array | string>;

function writeDurably(path: string, data: Uint8Array | string): void {
  writeFileSync(path, data);
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes a checkpoint of a run: files go to a temporary folder that is renamed into place, then
 * `latest.json` is replaced atomically. A crash at any point leaves the previous checkpoint intact
 * and `latest.json` pointing at a complete folder. Older checkpoints beyond the last two are removed.
 */
export function writeRunCheckpoint(
  runDir: string,
  state: TrainerState,
  optimizerTensors: Record<string, NamedTensor>,
  modelFiles: CheckpointFiles,
): string {
  const root = join(runDir, CHECKPOINTS_DIR);
  mkdirSync(root, { recursive: true });
  const base = `step-${String(state.step).padStart(6, '0')}`;
  let name = base;
  for (let k = 1; existsSync(join(root, name)); k++) name = `${base}-${k}`;
  const temp = join(root, `.${name}.tmp-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  for (const [file, data] of Object.entries(modelFiles)) writeDurably(join(temp, file), data);
  writeDurably(join(temp, OPTIMIZER_FILE), encodeSafetensors(optimizerTensors));
  writeDurably(
    join(temp, STATE_FILE),
    `${JSON.stringify({ format: 'grpovi-trainer-state', version: 1, ...state })}\n`,
  );
  renameSync(temp, join(root, name));
  writeFileAtomic(join(root, LATEST_FILE), `${JSON.stringify({ checkpoint: name, step: state.step })}\n`);
  pruneCheckpoints(root, name);
  return join(root, name);
}

function pruneCheckpoints(root: string, latest: string): void {
  const folders = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name.startsWith('step-'))
    .map((e) => e.name)
    .sort();
  const keep = new Set([latest, ...folders.slice(-KEEP_CHECKPOINTS)]);
  for (const name of folders) if (!keep.has(name)) rmSync(join(root, name), { recursive: true, force: true });
  // Temporary folders of interrupted writes.
  for (const e of readdirSync(root))
    if (e.startsWith('.step-')) rmSync(join(root, e), { recursive: true, force: true });
}

/**
 * Finds the checkpoint folder for `path`: a checkpoint folder itself, or a run folder whose
 * `checkpoints/latest.json` names one. Returns the checkpoint folder and its run folder.
 */
export function locateCheckpoint(path: string): { checkpointDir: string; runDir: string } {
  if (existsSync(join(path, STATE_FILE))) return { checkpointDir: path, runDir: dirname(dirname(path)) };
  const latestPath = join(path, CHECKPOINTS_DIR, LATEST_FILE);
  if (!existsSync(path)) throw new CheckpointError(path, 'run folder not found');
  if (!existsSync(latestPath))
    throw new CheckpointError(latestPath, 'file not found: the run folder has no checkpoint to resume from');
  let latest: unknown;
  try {
    latest = JSON.parse(readFileSync(latestPath, 'utf8'));
  } catch (error) {
    throw new CheckpointError(latestPath, `is not valid JSON (${(error as Error).message})`);
  }
  const name = (latest as { checkpoint?: unknown }).checkpoint;
  if (typeof name !== 'string' || basename(name) !== name) {
    throw new CheckpointError(
      latestPath,
      `"checkpoint" must name a checkpoint folder (${describeJsonValue(name)})`,
    );
  }
  const checkpointDir = join(path, CHECKPOINTS_DIR, name);
  if (!existsSync(join(checkpointDir, STATE_FILE)))
    throw new CheckpointError(join(checkpointDir, STATE_FILE), 'file not found');
  return { checkpointDir, runDir: path };
}

/** Reads the trainer state and optimizer moments of a checkpoint folder. */
export function readRunCheckpoint(checkpointDir: string): {
  state: TrainerState;
  optimizer: Record<string, NamedTensor>;
} {
  const statePath = join(checkpointDir, STATE_FILE);
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(statePath, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      statePath,
      code === 'ENOENT' ? 'file not found' : `is not valid JSON (${(error as Error).message})`,
    );
  }
  for (const field of ['step', 'optimizerSteps'] as const) {
    if (!Number.isInteger(parsed[field]) || (parsed[field] as number) < 0) {
      throw new CheckpointError(
        statePath,
        `"${field}" must be a non-negative integer (${describeJsonValue(parsed[field])})`,
      );
    }
  }
  if (
    !Array.isArray(parsed.samplingRng) ||
    typeof parsed.promptStream !== 'object' ||
    parsed.promptStream === null
  ) {
    throw new CheckpointError(
      statePath,
      `"samplingRng" and "promptStream" are required (${describeJsonValue(parsed.samplingRng)})`,
    );
  }
  const optimizerPath = join(checkpointDir, OPTIMIZER_FILE);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(optimizerPath));
  } catch {
    throw new CheckpointError(optimizerPath, 'file not found');
  }
  const { tensors } = decodeSafetensors(bytes, optimizerPath);
  return { state: parsed as unknown as TrainerState, optimizer: tensors };
}
