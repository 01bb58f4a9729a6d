import type { Command } from 'commander';
import { runBackendOption } from '../options/backend.js';
import type { DemoFlags } from '../options/demo.js';
import { integerArg } from '../parsers.js';

/** Registers `grpovi demo`: GRPO against GRPOVI on the sentiment task, in the regime where GRPOVI helps and in one where it does not. */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'compare GRPO and GRPOVI on the sentiment RLHF task from the shipped models, where GRPOVI helps and where it does not (a few minutes on 2 cores)',
    )
    .option('--out <dir>', 'comparison folder (an existing one is extended)', 'runs/demo')
    .option('--seeds <k>', 'seeds per algorithm and setting', integerArg(1), 3)
    .option('--steps <n>', 'training steps per run', integerArg(1), 50)
    .option('--jobs <n>', 'runs in parallel (one core each)', integerArg(1), 2)
    .addOption(runBackendOption())
    .addHelpText(
      'after',
      `
Starts from the shipped base policy (assets/sentiment-policy) and reward model
(assets/sentiment-reward-model) with rewards bunched by a reward temperature of 10 (a group's
rewards differ by a few hundredths on [0, 1]), and trains GRPO and GRPOVI with the same seeds and
learning rate (examples/demo.json) in two settings:
  scale_rewards=none   the paper's premise: no std scale, so GRPO's advantages are as small as the
                       rewards' spread; GRPOVI's wider spread makes it reach GRPO's target sooner
  scale_rewards=group  GRPO's default group std scale, which already gives every group unit-std
                       advantages; GRPOVI has little to add
Then it prints both settings' results tables and one sentence per setting saying what it shows,
and writes them to report.md (with summary.json and plots). It is
\`grpovi compare --config examples/demo.json --sweep scale_rewards=none,group\` with small defaults
(12 runs, 2 at a time). Ctrl-C stops with checkpoints; rerunning the same command resumes, and
extends the same folder instead of starting over.`,
    )
    .action(async (flags: DemoFlags) => {
      process.stderr.write(
        `grpovi demo: GRPO vs GRPOVI on the sentiment task with bunched rewards, scale_rewards none and group, ` +
          `${flags.seeds} seeds x ${flags.steps} steps, ${flags.jobs} runs at a time, into ${flags.out}\n`,
      );
      const { executeDemo } = await import('../actions/demo.js');
      await executeDemo(flags);
    });
}
