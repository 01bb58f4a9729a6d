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
import { CheckpointError, describeJsonValue, parseCheckpointJson } from '../nn/weights/checkpointError.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../nn/weights/safetensors.js';
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
  for (const name of folders) {
    if (keep.has(name)) continue;
    // Renamed out of the way first: a crash in the middle of the removal then leaves a temporary
    // folder (removed at the next start), never a checkpoint folder with some of its files gone.
    const doomed = join(root, `.${name}.old-${process.pid}`);
    renameSync(join(root, name), doomed);
    rmSync(doomed, { recursive: true, force: true });
  }
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
  const latest = parseCheckpointJson(readFileSync(latestPath, 'utf8'), latestPath);
  const name = (latest as { checkpoint?: unknown } | null)?.checkpoint;
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
  let text: string;
  try {
    text = readFileSync(statePath, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CheckpointError(statePath, code === 'ENOENT' ? 'file not found' : `cannot be read (${code})`);
  }
  const parsed = parseCheckpointJson(text, statePath) as Record<string, unknown>;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CheckpointError(statePath, `must hold a JSON object (${describeJsonValue(parsed)})`);
  for (const field of ['step', 'optimizerSteps'] as const) {
    if (!Number.isInteger(parsed[field]) || (parsed[field] as number) < 0) {
      throw new CheckpointError(
        statePath,
        `"${field}" must be a non-negative integer (${describeJsonValue(parsed[field])})`,
      );
    }
  }
  checkRngState(parsed.samplingRng, 'samplingRng', statePath);
  checkPromptStreamState(parsed.promptStream, statePath);
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

function isUint32(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 0xffffffff;
}

/** A generator state: four 32-bit unsigned integers, not all zero. */
function checkRngState(value: unknown, field: string, statePath: string): void {
  if (!Array.isArray(value) || value.length !== 4 || !value.every(isUint32) || value.every((w) => w === 0)) {
    throw new CheckpointError(
      statePath,
      `"${field}" must be four 32-bit unsigned integers, not all zero (${describeJsonValue(value)})`,
    );
  }
}

/** The prompt stream's state: its generator, an order of prompt indices, a position in it, an epoch. */
function checkPromptStreamState(value: unknown, statePath: string): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new CheckpointError(statePath, `"promptStream" must be an object (${describeJsonValue(value)})`);
  const stream = value as Record<string, unknown>;
  checkRngState(stream.rng, 'promptStream.rng', statePath);
  const order = stream.order;
  if (!Array.isArray(order) || order.length === 0 || !order.every((i) => Number.isInteger(i) && i >= 0)) {
    throw new CheckpointError(
      statePath,
      `"promptStream.order" must be a non-empty array of prompt indices (${describeJsonValue(order)})`,
    );
  }
  const position = stream.position;
  if (!Number.isInteger(position) || (position as number) < 0 || (position as number) > order.length) {
    throw new CheckpointError(
      statePath,
      `"promptStream.position" must be an integer from 0 to ${order.length} (${describeJsonValue(position)})`,
    );
  }
  if (!Number.isInteger(stream.epoch) || (stream.epoch as number) < 0) {
    throw new CheckpointError(
      statePath,
      `"promptStream.epoch" must be a non-negative integer (${describeJsonValue(stream.epoch)})`,
    );
  }
}
