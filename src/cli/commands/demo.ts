import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { ALGOS } from '../../experiments/algos.js';
import { integerArg } from '../parsers.js';

/** The demo's settings, shipped with the package. */
export const DEMO_CONFIG = fileURLToPath(new URL('../../../examples/demo.json', import.meta.url));

interface DemoFlags {
  out: string;
  seeds: number;
  steps: number;
  jobs: number;
}

/** Registers `grpovi demo`: a small GRPO-versus-GRPOVI comparison on the sentiment task from the shipped models. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('compare GRPO and GRPOVI on the sentiment RLHF task from the shipped models (a few minutes)')
    .option('--out <dir>', 'comparison folder (an existing one is extended)', 'runs/demo')
    .option('--seeds <k>', 'seeds per algorithm', integerArg(1), 3)
    .option('--steps <n>', 'training steps per run', integerArg(1), 80)
    .option('--jobs <n>', 'runs in parallel (TF.js wasm uses one core per run)', integerArg(1), 2)
    .addHelpText(
      'after',
      `
Starts from the shipped base policy (assets/sentiment-policy) and reward model
(assets/sentiment-reward-model), trains GRPO and GRPOVI with the same seeds and settings
(examples/demo.json), then prints the results table and writes report.md, summary.json and plots.
It is \`grpovi compare --task sentiment --config examples/demo.json\` with small defaults; on 2 cores
it takes about 4 minutes. Rerunning extends the same folder instead of starting over.`,
    )
    .action(async (flags: DemoFlags) => {
      process.stderr.write(
        `grpovi demo: GRPO vs GRPOVI on the sentiment task, ${flags.seeds} seeds x ${flags.steps} steps, ` +
          `${flags.jobs} runs at a time, into ${flags.out}\n`,
      );
      const { executeCompare } = await import('../actions/compare.js');
      await executeCompare(
        {
          out: flags.out,
          seeds: flags.seeds,
          steps: flags.steps,
          jobs: flags.jobs,
          config: DEMO_CONFIG,
          algos: [...ALGOS],
          sweep: [],
        },
        `grpovi demo --out ${flags.out} --seeds ${flags.seeds} --steps ${flags.steps} --jobs ${flags.jobs}`,
      );
    });
}
