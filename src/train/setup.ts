import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { formatValue } from '../adjust/errors.js';
import type { BackendName } from '../nn/backends/backend.js';
import { TASKS, taskNames } from '../tasks/registry.js';
import { createFileTask, FILE_TASK } from '../tasks/sources/fileTask.js';
import { isTaskModulePath, loadTaskModule } from '../tasks/sources/taskModule.js';
import { changedUserFiles, readUserFiles } from '../tasks/sources/userFiles.js';
import type { Task, TaskContext } from '../tasks/task.js';
import { parseStrictJson, StrictJsonError } from '../util/strictJson.js';
import {
  ConfigError,
  mergeConfigLayers,
  parseTrainConfig,
  type TrainConfig,
  TrainConfigSchema,
} from './config.js';
import { locateCheckpoint, readRunCheckpoint } from './runCheckpoint.js';
import { assertFolderPath, runFolderStage } from './runFolder.js';
import { checkRewardRange, runFolderInUse, trainingRewards } from './trainer.js';

/**
 * Turning what a user asked for (flags, a config file, a task's defaults, a run folder to resume)
 * into a checked configuration and task, before anything is written. Shared by `train` and `compare`.
 */

/** A run folder that cannot be used as asked (in use, finished, ...). */
export class RunSetupError extends Error {
  override readonly name = 'RunSetupError';
}

/** A config file's values, with its path for messages. */
export interface ConfigFileLayer {
  path: string;
  values: Record<string, unknown>;
}

/** The configuration layers, lowest precedence first after the schema's own defaults. */
export interface ConfigLayers {
  taskDefaults?: Record<string, unknown>;
  configFile?: ConfigFileLayer;
  /** Values from command-line flags, by config key (snake_case); undefined means not given. */
  flags?: Record<string, unknown>;
  /** How each config key is spelt as a flag, for messages (default `--key-with-dashes`). */
  flagNames?: Readonly<Record<string, string>>;
}

/** The schema's defaults for every field that has one (the lowest layer). */
export function globalDefaults(): Record<string, unknown> {
  const { task: _task, ...defaults } = TrainConfigSchema.parse({ task: '-' });
  return defaults;
}

/** `--learning-rate` for `learning_rate`: how a config key is spelt as a flag when no other name is given. */
export function defaultFlagName(key: string): string {
  return `--${key.replaceAll('_', '-')}`;
}

/**
 * Reads a JSON config file: an object with the snake_case keys of TrainConfigSchema. Every problem
 * is a ConfigError naming the file (and, for bad JSON, the line and column).
 */
export function readConfigFile(path: string): ConfigFileLayer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error));
    throw new ConfigError(`config file ${JSON.stringify(path)} cannot be read: ${why}`);
  }
  let parsed: unknown;
  const source = `config file ${JSON.stringify(path)}`;
  try {
    // Strict: a duplicate key would otherwise hide one of its values, deep nesting overflow later code.
    parsed = parseStrictJson(text.replace(/^\uFEFF/, ''), source);
  } catch (error) {
    if (!(error instanceof StrictJsonError)) throw error;
    if (error.kind !== 'syntax') throw new ConfigError(error.message);
    const where =
      text.trim() === '' ? ': the file is empty' : ` at line ${error.line}, column ${error.column}`;
    throw new ConfigError(`${source} is not valid JSON${where} (${error.detail})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(
      `config file ${JSON.stringify(path)} must hold a JSON object of config fields, like {"learning_rate": 0.001} (${formatValue(parsed)})`,
    );
  }
  return { path, values: resolveConfigPaths(parsed as Record<string, unknown>, dirname(resolve(path))) };
}

/**
 * A config file's paths made absolute, relative to the file's folder (`prompts`, `eval_prompts_file`,
 * `rewards[].path`, `reward_model`, `policy`, `adapter`, and `task` when it names a module). A string
 * `eval_prompts` names a held-out prompt file and becomes `eval_prompts_file` (a number stays the count).
 */
export function resolveConfigPaths(values: Record<string, unknown>, base: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...values };
  if (typeof out.eval_prompts === 'string' && out.eval_prompts_file === undefined) {
    out.eval_prompts_file = out.eval_prompts;
    delete out.eval_prompts;
  }
  const at = (value: unknown) => (typeof value === 'string' && value !== '' ? resolve(base, value) : value);
  for (const key of ['prompts', 'eval_prompts_file', 'reward_model', 'policy', 'tools', 'adapter'])
    out[key] = at(out[key]);
  // A chat template is a file or a template name: a path when such a file exists beside the config.
  if (typeof out.chat_template === 'string' && existsSync(resolve(base, out.chat_template)))
    out.chat_template = at(out.chat_template);
  if (typeof out.task === 'string' && isTaskModulePath(out.task)) out.task = at(out.task);
  if (Array.isArray(out.rewards)) {
    out.rewards = out.rewards.map((r: unknown) =>
      typeof r === 'object' && r !== null && !Array.isArray(r)
        ? { ...r, path: at((r as { path?: unknown }).path) }
        : r,
    );
  }
  for (const key of Object.keys(out)) if (out[key] === undefined) delete out[key];
  return out;
}

/** Edit distance, for "did you mean" hints on misspelt fields. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

function suggestField(unknown: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(unknown.length / 3)) + 1;
  for (const key of Object.keys(TrainConfigSchema.shape)) {
    const distance = editDistance(unknown, key);
    if (distance < bestDistance) {
      best = key;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Merges the layers (schema defaults < task defaults < config file < flags) and validates the result.
 * A bad value is reported with the layer it came from: the flag (`--lr: field "learning_rate" ...`),
 * the config file (`config file "my.json": field ...`), or `config` for a value no layer set.
 */
export function resolveTrainConfig(layers: ConfigLayers): TrainConfig {
  const merged = mergeConfigLayers(layers.taskDefaults, layers.configFile?.values, layers.flags);
  try {
    return parseTrainConfig(merged, 'config');
  } catch (error) {
    if (!(error instanceof ConfigError) || error.field === undefined) throw error;
    const key = error.field.split('.')[0];
    const fromFile = layers.configFile?.values[key] !== undefined;
    let source = 'config';
    if (layers.flags?.[key] !== undefined) source = layers.flagNames?.[key] ?? defaultFlagName(key);
    else if (fromFile) source = `config file ${JSON.stringify(layers.configFile?.path)}`;
    else if (layers.taskDefaults?.[key] !== undefined) source = 'task defaults';
    let message = `${source}${error.message.slice('config'.length)}`;
    if (message.includes(': unknown field "') && !error.field.includes('.')) {
      const hint = suggestField(key);
      if (hint !== undefined) message += `; did you mean "${hint}"?`;
    }
    throw new ConfigError(message, error.field);
  }
}

/** What a task is built from: the seed, the optional model folders and the user's files of a config. */
export function taskContext(values: {
  seed?: unknown;
  policy?: unknown;
  reward_model?: unknown;
  reward_model_weight?: unknown;
  prompts?: unknown;
  eval_prompts_file?: unknown;
  rewards?: unknown;
  chat_template?: unknown;
  tools?: unknown;
}): TaskContext {
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const rewards = Array.isArray(values.rewards)
    ? values.rewards
        .filter(
          (r): r is { path: string; weight?: unknown } => typeof (r as { path?: unknown })?.path === 'string',
        )
        .map((r) => ({ path: r.path, weight: typeof r.weight === 'number' ? r.weight : 1 }))
    : undefined;
  return {
    seed:
      typeof values.seed === 'number' && Number.isInteger(values.seed) && values.seed >= 0 ? values.seed : 0,
    policy: text(values.policy),
    rewardModel: text(values.reward_model),
    rewardModelWeight:
      typeof values.reward_model_weight === 'number' ? values.reward_model_weight : undefined,
    prompts: text(values.prompts),
    evalPrompts: text(values.eval_prompts_file),
    rewards,
    ...(typeof values.chat_template === 'string' ? { chatTemplate: values.chat_template } : {}),
    ...(typeof values.tools === 'string' ? { tools: values.tools } : {}),
  };
}

function sameContext(a: TaskContext, b: TaskContext): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The task a config names: `task`, else the task from files when `prompts` is given. */
export function taskNameOf(values: { task?: unknown; prompts?: unknown }): unknown {
  return values.task ?? (values.prompts !== undefined ? FILE_TASK : undefined);
}

/** Which of the user's inputs a built-in task reads (the others it would silently ignore). */
const BUILT_IN_INPUTS: Record<string, { policy: boolean; rewardModel: boolean }> = {
  toy: { policy: false, rewardModel: false },
  sentiment: { policy: true, rewardModel: true },
  arithmetic: { policy: true, rewardModel: false },
};

function refuseIgnoredInputs(name: string, context: TaskContext): void {
  const fileInputs = [
    context.prompts !== undefined && '--prompts',
    context.evalPrompts !== undefined && '--eval-prompts FILE',
    (context.rewards?.length ?? 0) > 0 && '--reward',
    context.rewardModelWeight !== undefined && 'a --reward-model weight',
  ].filter((f): f is string => f !== false);
  if (fileInputs.length > 0) {
    throw new ConfigError(
      `${fileInputs[0]} cannot be used with the built-in task ${JSON.stringify(name)}, which has its own prompts and rewards; ` +
        'leave out --task to train on your files (or give a task module, --task ./my-task.mjs)',
      fileInputs[0] === '--reward' ? 'rewards' : 'prompts',
    );
  }
  // Built-in tasks have plain prompts: no chat template renders them and no tool is offered.
  for (const [given, field] of [
    [context.chatTemplate !== undefined && `--chat-template ${context.chatTemplate}`, 'chat_template'],
    [context.tools !== undefined && `--tools ${context.tools}`, 'tools'],
  ] as const) {
    if (given !== false)
      throw new ConfigError(
        `${given} cannot be used with the built-in task ${JSON.stringify(name)}: its prompts are plain text, which no chat template renders; ` +
          'give conversational prompts with --prompts FILE',
        field,
      );
  }
  const takes = BUILT_IN_INPUTS[name] ?? { policy: true, rewardModel: true };
  if (context.policy !== undefined && !takes.policy) {
    throw new ConfigError(
      `--policy cannot be used with the task ${JSON.stringify(name)}: it starts from a freshly initialized policy and would ignore ${context.policy}`,
      'policy',
    );
  }
  if (context.rewardModel !== undefined && !takes.rewardModel) {
    throw new ConfigError(
      `--reward-model cannot be used with the task ${JSON.stringify(name)}: its reward is rule-based and would ignore ${context.rewardModel}`,
      'reward_model',
    );
  }
}

/**
 * Creates a task: a built-in one by name, the task from files (`files`: prompt files, reward modules,
 * a reward model), or a task module (a path ending in .mjs/.js or containing a slash). An unknown name
 * is a ConfigError listing the known ones; inputs a built-in task would ignore are refused.
 */
export async function loadTask(name: string, context: TaskContext): Promise<Task> {
  if (name === FILE_TASK) return createFileTask(context);
  if (isTaskModulePath(name)) return loadTaskModule(resolve(name), context);
  const entry = Object.hasOwn(TASKS, name) ? TASKS[name] : undefined;
  if (entry === undefined) {
    throw new ConfigError(
      `unknown task ${JSON.stringify(name)}; known tasks: ${taskNames().join(', ')}, or a task module path (./my-task.mjs)`,
      'task',
    );
  }
  refuseIgnoredInputs(name, context);
  return entry.factory(context);
}

/** Where a run goes when no folder is given: `runs/<task>-<algo>-s<seed>`. */
export function defaultRunDir(config: Pick<TrainConfig, 'task' | 'algo' | 'seed'>): string {
  return join('runs', `${config.task}-${config.algo}-s${config.seed}`);
}

/**
 * Refuses a run folder that already holds a run with checkpoints, so that a new run never
 * overwrites one (a run that stopped before its first checkpoint may be started again), and a
 * `--out` that cannot be a folder (a file, or a path under one).
 */
export function assertRunFolderFree(outDir: string): void {
  if (runFolderInUse(outDir)) {
    throw new RunSetupError(
      `${outDir} already holds a run with checkpoints; continue it with --resume ${outDir}, or choose another --out`,
    );
  }
  assertFolderPath(outDir);
}

/** A fresh run asked for by flags and an optional config file. */
export interface FreshRunRequest {
  /** Flag values by config key; undefined means not given. */
  flags: Record<string, unknown>;
  flagNames?: Readonly<Record<string, string>>;
  /** Path of a JSON config file. */
  configPath?: string;
}

/**
 * Resolves a fresh run's configuration and creates its task, checking everything that can be
 * checked before training (fields, task name, GRPOVI's reward range). Writes nothing.
 */
export async function prepareFreshRun(
  request: FreshRunRequest,
): Promise<{ config: TrainConfig; task: Task }> {
  const configFile = request.configPath === undefined ? undefined : readConfigFile(request.configPath);
  const { flagNames } = request;
  const taskName = taskNameOf({
    task: request.flags.task ?? configFile?.values.task,
    prompts: request.flags.prompts ?? configFile?.values.prompts,
  });
  if (taskName === undefined) {
    throw new ConfigError(
      `field "task" is missing: pass --task NAME (known tasks: ${taskNames().join(', ')}), a task module, or --prompts FILE`,
      'task',
    );
  }
  const flags = { ...request.flags, task: taskName };
  if (typeof taskName !== 'string') {
    throw new ConfigError(
      `config file ${configFile?.path}: field "task" must be a task name (${formatValue(taskName)})`,
      'task',
    );
  }
  // The task's defaults depend on the task, and the task on the seed and model folders: build it with
  // the values known so far, and again if the resolved config changes them.
  const known = {
    ...configFile?.values,
    ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
  };
  const firstContext = taskContext({ seed: globalDefaults().seed, ...known });
  let task = await loadTask(taskName, firstContext);
  try {
    const config = resolveTrainConfig({
      taskDefaults: task.defaults as Record<string, unknown>,
      configFile,
      flags,
      flagNames,
    });
    if (!sameContext(taskContext(config), firstContext)) {
      task.dispose?.();
      task = await loadTask(taskName, taskContext(config));
    }
    checkRewardRange(config, task);
    trainingRewards(config, task);
    return { config, task };
  } catch (error) {
    task.dispose?.();
    throw error;
  }
}

/** A run to continue from its latest checkpoint (or a given checkpoint folder). */
export interface ResumePlan {
  config: TrainConfig;
  runDir: string;
  /** Undefined for a run that stopped before its first checkpoint (it resumes from step 0). */
  checkpointDir?: string;
  /** Steps the checkpoint has completed. */
  checkpointStep: number;
  /** User files that changed since the run recorded them (resumed anyway: `allowChangedFiles`). */
  changedFiles: string[];
}

/**
 * Plans `--resume DIR`: DIR is a run folder or a checkpoint folder inside one. The run's own
 * config.json is the configuration; only the step count (raised or lowered, but past the checkpoint)
 * and the backend (and its BLAS threads) may change. Writes nothing.
 */
export function planResume(
  dir: string,
  changes: { steps?: number; backend?: BackendName; blas_threads?: number; allowChangedFiles?: boolean } = {},
): ResumePlan {
  // A run that stopped before its first checkpoint resumes from step 0 with its recorded config.
  const unstarted =
    existsSync(dir) && runFolderStage(dir) === 'started' && !existsSync(join(dir, 'state.json'));
  const { checkpointDir, runDir } = unstarted
    ? { checkpointDir: undefined, runDir: dir }
    : locateCheckpoint(dir);
  const configPath = join(runDir, 'config.json');
  if (!existsSync(configPath)) {
    throw new RunSetupError(`${configPath} is missing: ${dir} is not a run folder written by grpovi train`);
  }
  const saved = readConfigFile(configPath);
  const savedConfig = parseTrainConfig(saved.values, configPath);
  const state = checkpointDir === undefined ? { step: 0 } : readRunCheckpoint(checkpointDir).state;
  const steps = changes.steps ?? savedConfig.steps;
  if (steps <= state.step) {
    if (changes.steps !== undefined) {
      throw new ConfigError(
        `--steps must be greater than the ${state.step} steps the checkpoint ${checkpointDir} has done (${steps})`,
        'steps',
      );
    }
    throw new RunSetupError(
      `the run in ${runDir} has finished its ${steps} steps; pass --steps N with N > ${state.step} to train further`,
    );
  }
  const config = parseTrainConfig(
    mergeConfigLayers(saved.values, { steps, backend: changes.backend, blas_threads: changes.blas_threads }),
    `${configPath} with --steps/--backend`,
  );
  const changedFiles = changedUserFiles(readUserFiles(runDir) ?? []);
  if (changedFiles.length > 0 && !changes.allowChangedFiles) {
    throw new RunSetupError(
      `${changedFiles.join('; ')}; resuming would train on other data or rewards than the run's first part: ` +
        'restore the file, or pass --allow-changed-files to resume with it as it is now',
    );
  }
  return { config, runDir, checkpointDir, checkpointStep: state.step, changedFiles };
}

/** Whether two paths name the same folder. */
export function sameFolder(a: string, b: string): boolean {
  return resolve(a) === resolve(b);
}
