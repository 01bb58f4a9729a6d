import { join } from 'node:path';
import type { BackendName } from '../../nn/backends/backendNames.js';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import { RewardFunctionError } from '../../rewards/rewardFunction.js';
import type { Task } from '../../tasks/task.js';
import type { TrainConfig } from '../../train/config.js';
import { ConfigError } from '../../train/configError.js';
import { INTERRUPTED_EXIT_CODE, STOP_SIGNALS, watchInterrupts } from '../../train/interrupt.js';
import { type MetricsRow, readMetrics } from '../../train/metrics.js';
import { needsReference } from '../../train/limits.js';
import { TrainProgress } from '../../train/progress.js';
import { RunFolderError } from '../../train/runFolderError.js';
import {
  assertRunFolderFree,
  defaultRunDir,
  loadTask,
  planResume,
  prepareFreshRun,
  RunSetupError,
  sameFolder,
  taskContext,
} from '../../train/setup.js';
import { checkRewardRange, type TrainResult, train } from '../../train/trainer.js';
import { UserFileError } from '../../util/userFileError.js';
import { truncatedPromptCount } from '../../train/promptIds.js';
import { RewardRangeError, TrainingDivergedError } from '../../train/trainingErrors.js';
import type { ConfigFlagSet, TrainFlags } from '../options/train.js';
import { UserInputError } from '../errors.js';

/** What `grpovi train` does (prepare a run, train, summarize); loaded only when it runs (it loads TF.js). */

/** Config keys a resumed run may change; every other config flag is refused with --resume. */
const RESUME_CHANGEABLE = new Set(['steps', 'backend', 'blas_threads']);

interface PreparedRun {
  config: TrainConfig;
  task: Task;
  outDir: string;
  resumeFrom?: string;
  /** Where reward_range came from, for a reward outside it. */
  rewardRangeSource?: string;
}

/** Everything that can go wrong with the user's input is found here, before anything is written. */
async function prepare(flags: TrainFlags, configFlags: ConfigFlagSet): Promise<PreparedRun> {
  const { values, names } = configFlags.collect(flags);
  if (flags.resume !== undefined) {
    const refused = Object.keys(values).filter((key) => !RESUME_CHANGEABLE.has(key));
    const refusedFlag =
      flags.config !== undefined ? '--config' : refused.length > 0 ? names[refused[0]] : undefined;
    if (refusedFlag !== undefined) {
      throw new UserInputError(
        `${refusedFlag} cannot be used with --resume: a resumed run keeps the configuration in its config.json (only --steps, --backend and --blas-threads may change)`,
      );
    }
    const plan = planResume(flags.resume, {
      steps: values.steps as number | undefined,
      backend: values.backend as BackendName | undefined,
      blas_threads: values.blas_threads as number | undefined,
      allowChangedFiles: flags.allowChangedFiles,
    });
    for (const change of plan.changedFiles)
      process.stderr.write(`grpovi: warning: ${change} (--allow-changed-files)\n`);
    if (flags.out !== undefined && !sameFolder(flags.out, plan.runDir)) {
      throw new UserInputError(
        `--out ${flags.out} differs from the run folder being resumed (${plan.runDir}); leave out --out`,
      );
    }
    const task = await loadTask(plan.config.task, taskContext(plan.config));
    try {
      checkRewardRange(plan.config, task);
    } catch (error) {
      task.dispose?.();
      throw error;
    }
    return {
      config: plan.config,
      task,
      outDir: plan.runDir,
      resumeFrom: flags.resume,
      rewardRangeSource: `reward_range in ${join(plan.runDir, 'config.json')}`,
    };
  }
  const { config, task } = await prepareFreshRun({
    flags: values,
    flagNames: names,
    configPath: flags.config,
  });
  const outDir = flags.out ?? defaultRunDir(config);
  try {
    if (!flags.printConfig) assertRunFolderFree(outDir);
  } catch (error) {
    task.dispose?.();
    throw error;
  }
  const rewardRangeSource =
    values.reward_range !== undefined
      ? (names.reward_range ?? '--reward-range')
      : flags.config !== undefined
        ? `reward_range in config file ${JSON.stringify(flags.config)}`
        : undefined;
  return { config, task, outDir, rewardRangeSource };
}

function asUserError(error: unknown): unknown {
  if (
    error instanceof ConfigError ||
    error instanceof RunSetupError ||
    error instanceof CheckpointError ||
    error instanceof UserFileError ||
    error instanceof RunFolderError ||
    error instanceof TrainingDivergedError ||
    error instanceof RewardRangeError
  ) {
    return new UserInputError(error.message);
  }
  return error;
}

/** Runs `grpovi train` with the parsed flags: Ctrl-C checkpoints, progress to stderr, the summary to stdout. */
export async function executeTrain(flags: TrainFlags, configFlags: ConfigFlagSet): Promise<void> {
  let run: PreparedRun;
  try {
    run = await prepare(flags, configFlags);
  } catch (error) {
    throw asUserError(error);
  }
  const { config, task, outDir } = run;
  for (const notice of task.notices ?? []) process.stderr.write(`grpovi: ${notice}\n`);
  if (config.max_prompt_length !== undefined) {
    const { truncated, total } = truncatedPromptCount(task, config.max_prompt_length);
    process.stderr.write(
      `grpovi: max_prompt_length ${config.max_prompt_length} truncates ${truncated} of the ${total} prompts (their first tokens go)\n`,
    );
  }
  if (flags.printConfig) {
    task.dispose?.();
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return;
  }

  const progress = new TrainProgress({ quiet: flags.quiet, klComputed: needsReference(config) });
  const interrupts = watchInterrupts(
    (signal, parentGone) => {
      const what = parentGone
        ? 'the process that started grpovi is gone'
        : signal === 'SIGINT'
          ? 'Ctrl-C'
          : signal === 'SIGPIPE'
            ? 'the reader of its output is gone'
            : signal;
      const again =
        parentGone || signal === 'SIGPIPE'
          ? ''
          : ` (${signal === 'SIGINT' ? 'press Ctrl-C' : `send ${signal}`} again to quit at once)`;
      progress.note(`${what}: stopping after this step and writing a checkpoint${again}`);
    },
    // --no-hangup: keep training when the terminal closes or the parent exits (e.g. under nohup).
    flags.hangup === false ? ['SIGINT', 'SIGTERM'] : STOP_SIGNALS,
    { watchParent: flags.hangup !== false },
  );
  let result: TrainResult;
  try {
    result = await train({
      config,
      task,
      outDir,
      resumeFrom: run.resumeFrom,
      observer: progress,
      shouldStop: () => interrupts.requested,
      rewardRangeSource: run.rewardRangeSource,
    });
  } catch (error) {
    // A reward function that returns the wrong count, NaN, non-numbers or values outside its range is the user's to fix.
    if (error instanceof RewardFunctionError)
      throw new UserInputError(`training stopped: ${error.message}`, 2);
    throw asUserError(error);
  } finally {
    interrupts.dispose();
    progress.close();
    task.dispose?.();
  }

  process.stdout.write(summarize(config, outDir, result));
  if (result.interrupted) {
    throw new UserInputError(
      `interrupted after step ${result.step} of ${config.steps}; continue with: grpovi train --resume ${outDir}`,
      interrupts.exitCode ?? INTERRUPTED_EXIT_CODE,
    );
  }
}

/** The end-of-run summary: steps, the last evaluation, where the metrics and checkpoint are. */
export function summarize(config: TrainConfig, outDir: string, result: TrainResult): string {
  const metricsPath = join(outDir, 'metrics.jsonl');
  const rows = readMetrics(metricsPath);
  const evals = rows.filter(
    (row): row is MetricsRow & { eval_reward: number } => row.eval_reward !== undefined,
  );
  const lines: string[] = [];
  const what = `${config.task} with ${config.algo} (seed ${config.seed})`;
  lines.push(
    result.interrupted
      ? `stopped after step ${result.step} of ${config.steps}: ${what}`
      : `trained ${result.step} steps: ${what}`,
  );
  const last = evals.at(-1);
  if (last === undefined) {
    lines.push('no evaluation (eval_every is 0)');
  } else {
    const first = evals[0];
    const start = first.step < last.step ? ` (step ${first.step}: ${first.eval_reward.toFixed(4)})` : '';
    lines.push(`eval reward ${last.eval_reward.toFixed(4)} at step ${last.step}${start}`);
    if (last.eval_gold !== undefined)
      lines.push(`eval gold   ${last.eval_gold.toFixed(4)} at step ${last.step}`);
  }
  lines.push(`metrics:    ${metricsPath}`);
  if (result.checkpoint !== undefined) lines.push(`checkpoint: ${result.checkpoint}`);
  return `${lines.join('\n')}\n`;
}
