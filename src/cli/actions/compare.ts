import {
  type CompareRequest,
  planComparisonRuns,
  type RenderResult,
  renderComparison,
  runComparison,
  shellQuote,
} from '../../experiments/compare.js';
import { ComparisonError } from '../../experiments/errors.js';
import { formatSweepValue, parseSweeps, SweepError } from '../../experiments/sweep.js';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import { ConfigError } from '../../train/configError.js';
import { watchBrokenPipe } from '../../train/interrupt.js';
import { UserFileError } from '../../util/userFileError.js';
import { UserInputError } from '../errors.js';
import { grpoviInvocation } from '../invocation.js';
import type { CompareFlags } from '../options/compare.js';

/** What `compare`, `demo` and `report` do; loaded only when one of them runs (it loads TF.js and vega). */

/** The command line with every option spelt out (defaults included), so that it reruns the same comparison. */
function commandLine(flags: CompareFlags, seeds: number[], sweepSpecs: string[]): string {
  const args = ['grpovi', 'compare'];
  args.push(...taskFlagArgs(flags.taskValues ?? (flags.task === undefined ? {} : { task: flags.task })));
  if (flags.seedList !== undefined) args.push('--seed-list', seeds.join(','));
  else args.push('--seeds', String(seeds.length));
  if (flags.steps !== undefined) args.push('--steps', String(flags.steps));
  args.push('--out', flags.out, '--algos', flags.algos.join(','));
  if (flags.config !== undefined) args.push('--config', flags.config);
  for (const spec of sweepSpecs) args.push('--sweep', spec);
  args.push('--jobs', String(flags.jobs));
  if (flags.backend !== undefined) args.push('--backend', flags.backend);
  if (flags.plan) args.push('--plan');
  if (flags.plan && flags.planCommand !== undefined) args.push('--plan-command', flags.planCommand);
  return args.map(shellQuote).join(' ');
}

/** The task flags as they would be typed again (paths absolute, as the runs record them). */
function taskFlagArgs(values: Record<string, unknown>): string[] {
  const args: string[] = [];
  const weighted = (path: unknown, weight: unknown) =>
    weight === undefined ? String(path) : `${String(path)}:${String(weight)}`;
  if (values.task !== undefined) args.push('--task', String(values.task));
  if (values.prompts !== undefined) args.push('--prompts', String(values.prompts));
  if (values.eval_prompts_file !== undefined) args.push('--eval-prompts', String(values.eval_prompts_file));
  if (values.eval_prompts !== undefined) args.push('--eval-prompts', String(values.eval_prompts));
  for (const r of (values.rewards as { path: string; weight?: number }[] | undefined) ?? [])
    args.push('--reward', weighted(r.path, r.weight));
  if (values.reward_model !== undefined)
    args.push('--reward-model', weighted(values.reward_model, values.reward_model_weight));
  if (values.policy !== undefined) args.push('--policy', String(values.policy));
  if (values.adapter !== undefined) args.push('--adapter', String(values.adapter));
  for (const [key, flag] of [
    ['lora_r', '--lora-r'],
    ['lora_alpha', '--lora-alpha'],
    ['lora_dropout', '--lora-dropout'],
  ] as const)
    if (values[key] !== undefined) args.push(flag, String(values[key]));
  if (values.lora_target_modules !== undefined)
    args.push('--lora-target-modules', (values.lora_target_modules as string[]).join(','));
  return args;
}

/** Maps the experiment layer's errors to the CLI's user errors. */
export function asUserError(error: unknown): unknown {
  if (error instanceof ComparisonError) return new UserInputError(error.message, error.exitCode);
  if (
    error instanceof SweepError ||
    error instanceof ConfigError ||
    error instanceof UserFileError ||
    error instanceof CheckpointError
  )
    return new UserInputError(error.message);
  return error;
}

/**
 * Runs a comparison as the CLI does: Ctrl-C checkpoints running runs, the table and paths go to
 * stdout, failures become exit codes. Shared by `compare` and `demo`; `epilogue` (the demo's
 * sentences) is called once the comparison finished and its text printed after the table.
 */
export async function executeCompare(
  flags: CompareFlags,
  command?: string,
  epilogue?: (result: RenderResult) => string,
): Promise<void> {
  if (flags.seeds !== undefined && flags.seedList !== undefined) {
    throw new UserInputError(
      `give --seeds or --seed-list, not both (--seeds ${flags.seeds}, --seed-list ${flags.seedList.join(',')})`,
    );
  }
  const seeds = flags.seedList ?? Array.from({ length: flags.seeds ?? 3 }, (_, i) => i);
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write(
      '\ngrpovi: stopping: running runs save a checkpoint; rerun the same command to resume (Ctrl-C again to quit now)\n',
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // A closed stdout or stderr (`| head`, a killed terminal multiplexer) stops the runs the same way.
  let pipeClosed = false;
  const unwatchPipes = watchBrokenPipe(() => {
    if (interrupts === 0) onSignal();
    pipeClosed = true;
  });
  try {
    const sweep = parseSweeps(flags.sweep);
    const canonicalSpecs = sweep.map(
      (axis) =>
        `${axis.key === 'learning_rate' ? 'lr' : axis.key}=${axis.values.map(formatSweepValue).join(',')}`,
    );
    const request: CompareRequest = {
      task: flags.task,
      taskFlags: flags.taskValues,
      allowChangedFiles: flags.allowChangedFiles,
      configFile: flags.config,
      steps: flags.steps,
      seeds,
      algos: flags.algos,
      sweep,
      out: flags.out,
      jobs: flags.jobs,
      backend: flags.backend,
      command: command ?? commandLine(flags, seeds, canonicalSpecs),
      progress: process.stderr,
      signal: controller.signal,
    };
    if (flags.plan) {
      // The commands start grpovi as this process was started (npx grpovi, or node and the absolute
      // script), so that they run as printed where `grpovi` is not on the PATH.
      const program = flags.planCommand ?? grpoviInvocation();
      const commands = await planComparisonRuns(request, program);
      process.stdout.write(commands.map((c) => `${c.command}\n`).join(''));
      const done = commands.filter((c) => c.finished).length;
      process.stderr.write(
        `grpovi: planned ${commands.length} run(s) in ${flags.out} (${done} already finished); run the commands above ` +
          `in any order, then: ${program} report ${shellQuote(flags.out)}\n`,
      );
      return;
    }
    const result = await runComparison(request);
    const after = result.outcome === 'finished' && epilogue !== undefined ? `\n${epilogue(result)}` : '';
    process.stdout.write(
      `${result.text}\n${after}\nsummary: ${result.summaryPath}\nreport: ${result.reportPath}\n`,
    );
    if (result.outcome === 'failed') {
      const failures = result.outcomes.filter((o) => o.status === 'failed').map((o) => o.job.dir);
      throw new UserInputError(
        `${failures.length} run(s) failed; see worker.log in ${failures.join(', ')}`,
        1,
      );
    }
    if (result.outcome === 'interrupted') {
      throw new UserInputError(
        'comparison stopped before every run finished; rerun the same command to resume',
        pipeClosed ? 141 : 130,
      );
    }
  } catch (error) {
    throw asUserError(error);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    unwatchPipes();
  }
}

/** `grpovi report DIR`: re-renders a comparison folder's summary, plots and report.md from its runs. */
export async function executeReport(dir: string): Promise<void> {
  try {
    const result = await renderComparison(dir);
    process.stdout.write(`${result.text}\n\nsummary: ${result.summaryPath}\nreport: ${result.reportPath}\n`);
  } catch (error) {
    throw asUserError(error);
  }
}
