/**
 * What a comparison runs: the base config (task defaults < --config file < flags), the settings of
 * the sweep, and one run folder per (setting, algorithm, seed), recorded in `DIR/comparison.json`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { taskNames } from '../tasks/registry.js';
import { parseTrainConfig, type TrainConfig } from '../train/config.js';
import { loadTask, readConfigFile, resolveTrainConfig, taskContext, taskNameOf } from '../train/setup.js';
import { checkRewardRange, trainingRewards } from '../train/trainer.js';
import { writeFileAtomic } from '../util/atomicWrite.js';
import type { Algo } from './algos.js';
import { ComparisonError } from './errors.js';
import type { MachineInfo } from './machine.js';
import { GRPOVI_ONLY_KEYS, type Setting, type SweepAxis, settingsOf, withoutKeys } from './sweep.js';
import { jsonProblem, parseJson } from '../util/boundedJson.js';

export { ALGOS, type Algo } from './algos.js';

export const COMPARISON_FILE = 'comparison.json';

/** One `grpovi compare` invocation on a folder. */
export interface Invocation {
  command: string;
  started_at: string;
  finished_at: string | null;
  wall_seconds: number | null;
  /** Runs this invocation started (new, resumed or restarted); finished runs are skipped. */
  runs_started: number;
  jobs: number;
  machine: MachineInfo;
  /** `planned`: `compare --plan` printed the runs' commands and trained nothing. */
  outcome: 'running' | 'finished' | 'interrupted' | 'failed' | 'planned';
}

/** `DIR/comparison.json`: everything needed to rerun, extend or re-report the comparison. */
export interface ComparisonRecord {
  format: 'grpovi-comparison';
  version: 1;
  task: string;
  steps: number;
  /** The resolved config every run starts from, without `seed` and `algo`. */
  base_config: Record<string, unknown>;
  config_file: string | null;
  sweep: SweepAxis[];
  algos: Algo[];
  seeds: number[];
  /** The latest command line. */
  command: string;
  invocations: Invocation[];
}

/** One run folder of the comparison. */
export interface PlannedRun {
  /** The setting the run's config has (for GRPO, without the GRPOVI-only fields). */
  setting: Setting;
  algo: Algo;
  seed: number;
  /** Relative to the comparison folder: `<setting>/<algo>/seed-<s>`. */
  relDir: string;
  config: TrainConfig;
}

export interface ComparisonPlan {
  settings: Setting[];
  /** Unique run folders in execution order: by seed, then setting, then algorithm. */
  runs: PlannedRun[];
  /** The run that serves a (setting, algorithm, seed) cell; GRPO runs are shared across GRPOVI-only values. */
  cell(settingLabel: string, algo: Algo, seed: number): PlannedRun;
}

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ComparisonError(
      `cannot read ${what} ${JSON.stringify(path)}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`,
    );
  }
  try {
    return parseJson(text, path);
  } catch (error) {
    throw new ComparisonError(`${what} ${JSON.stringify(path)} ${jsonProblem(error)}`);
  }
}

export interface BaseConfigRequest {
  task?: string;
  /** Config values of the task flags (`prompts`, `rewards`, `reward_model`, `policy`, ...). */
  taskFlags?: Record<string, unknown>;
  configFile?: string;
  steps?: number;
  /** The algorithms that will run; GRPOVI's reward range is checked when it is among them. */
  algos?: readonly Algo[];
}

/**
 * Resolves the config every run starts from: task defaults < `--config` file < flags (`--task`,
 * `--steps`), through the same resolution as `grpovi train`. `seed` and `algo` are set per run, so
 * they are ignored in the file and dropped from the result.
 */
export async function resolveBaseConfig(
  request: BaseConfigRequest,
): Promise<{ task: string; steps: number; base: Record<string, unknown> }> {
  const file = request.configFile === undefined ? undefined : readConfigFile(request.configFile);
  const taskFlags = Object.fromEntries(
    Object.entries(request.taskFlags ?? {}).filter(([, v]) => v !== undefined),
  );
  const taskName = taskNameOf({
    task: request.task ?? taskFlags.task ?? file?.values.task,
    prompts: taskFlags.prompts ?? file?.values.prompts,
  });
  if (typeof taskName !== 'string') {
    throw new ComparisonError(
      `--task is required (or a "task" field in the --config file, or --prompts FILE); tasks: ${taskNames().join(', ')}`,
    );
  }
  const task = await loadTask(taskName, taskContext({ ...file?.values, ...taskFlags, seed: 0 }));
  try {
    const { seed: _seed, algo: _algo, ...fileValues } = file?.values ?? {};
    const config = resolveTrainConfig({
      taskDefaults: task.defaults as Record<string, unknown>,
      configFile: file && { path: file.path, values: fileValues },
      flags: { ...taskFlags, task: taskName, steps: request.steps, seed: 0, algo: 'grpo' },
      flagNames: { task: '--task', steps: '--steps' },
    });
    if (config.eval_every === 0) {
      throw new ComparisonError(
        'config field "eval_every" must be positive for a comparison: its statistics come from evaluations (0)',
      );
    }
    if (request.algos?.includes('grpovi')) checkRewardRange({ ...config, algo: 'grpovi' }, task);
    trainingRewards(config, task);
    const { seed: _s, algo: _a, ...base } = config;
    return { task: taskName, steps: config.steps, base: base as Record<string, unknown> };
  } finally {
    task.dispose?.();
  }
}

/** The fields on which two base configs differ, each as `field: old -> new`. */
export function configDifferences(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map(
      (key) =>
        `${key}: ${JSON.stringify(before[key]) ?? '(absent)'} -> ${JSON.stringify(after[key]) ?? '(absent)'}`,
    );
}

export function readComparisonRecord(dir: string): ComparisonRecord {
  const path = join(dir, COMPARISON_FILE);
  if (!existsSync(path))
    throw new ComparisonError(`${JSON.stringify(dir)} holds no comparison (${COMPARISON_FILE} not found)`);
  const record = readJsonFile(path, 'comparison file') as Partial<ComparisonRecord>;
  if (record.format !== 'grpovi-comparison' || record.version !== 1) {
    throw new ComparisonError(
      `${path}: not a grpovi comparison record (format ${JSON.stringify(record.format)})`,
    );
  }
  return record as ComparisonRecord;
}

export function writeComparisonRecord(dir: string, record: ComparisonRecord): void {
  writeFileAtomic(join(dir, COMPARISON_FILE), `${JSON.stringify(record, null, 2)}\n`);
}

/**
 * Refuses to extend a folder made with another task, step count or base config (exit code 2):
 * its finished runs would not be comparable with new ones.
 */
export function checkExtension(
  existing: ComparisonRecord,
  task: string,
  base: Record<string, unknown>,
  dir: string,
): void {
  if (existing.task !== task) {
    throw new ComparisonError(
      `${dir} holds a comparison on task ${JSON.stringify(existing.task)}, not ${JSON.stringify(task)}; choose another --out`,
    );
  }
  const differences = configDifferences(existing.base_config, base);
  if (differences.length > 0) {
    throw new ComparisonError(
      `${dir} holds a comparison made with a different config (${differences.join('; ')}); ` +
        'pass the same --config and --steps to extend it, or choose another --out',
    );
  }
}

/** The run folders of a comparison, with their configs; GRPO runs are shared over GRPOVI-only fields. */
export function planComparison(record: ComparisonRecord): ComparisonPlan {
  const settings = settingsOf(record.sweep);
  const runs: PlannedRun[] = [];
  const byDir = new Map<string, PlannedRun>();
  const cells = new Map<string, PlannedRun>();
  for (const seed of record.seeds) {
    for (const setting of settings) {
      for (const algo of record.algos) {
        const own = algo === 'grpo' ? withoutKeys(setting, GRPOVI_ONLY_KEYS, record.sweep) : setting;
        const relDir = `${own.label}/${algo}/seed-${seed}`;
        let run = byDir.get(relDir);
        if (!run) {
          const config = parseTrainConfig(
            { ...record.base_config, ...own.overrides, algo, seed },
            `--sweep ${own.label}`,
          );
          run = { setting: own, algo, seed, relDir, config };
          byDir.set(relDir, run);
          runs.push(run);
        }
        cells.set(`${setting.label}\u0000${algo}\u0000${seed}`, run);
      }
    }
  }
  return {
    settings,
    runs,
    cell(settingLabel, algo, seed) {
      const run = cells.get(`${settingLabel}\u0000${algo}\u0000${seed}`);
      if (!run) throw new Error(`no run for ${settingLabel}, ${algo}, seed ${seed}`);
      return run;
    },
  };
}
