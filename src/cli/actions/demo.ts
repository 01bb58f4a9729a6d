import { fileURLToPath } from 'node:url';
import { ALGOS } from '../../experiments/algos.js';
import { addDemoSection, DEMO_SWEEP, demoSection } from '../../experiments/demo.js';
import { readComparisonRecord } from '../../experiments/plan.js';
import type { DemoFlags } from '../options/demo.js';
import { executeCompare } from './compare.js';

/** The demo's settings, shipped with the package. */
export const DEMO_CONFIG = fileURLToPath(new URL('../../../examples/demo.json', import.meta.url));

/**
 * `grpovi demo`: GRPO against GRPOVI under the paper's premise and under GRPO's default scale (one
 * comparison, swept over `scale_rewards`), then the sentences that say which setting shows what, on
 * stdout and at the top of report.md.
 */
export async function executeDemo(flags: DemoFlags): Promise<void> {
  const command = [
    `grpovi demo --out ${flags.out} --seeds ${flags.seeds} --steps ${flags.steps} --jobs ${flags.jobs}`,
    ...(flags.backend === undefined ? [] : [`--backend ${flags.backend}`]),
  ].join(' ');
  await executeCompare(
    {
      out: flags.out,
      seeds: flags.seeds,
      steps: flags.steps,
      jobs: flags.jobs,
      backend: flags.backend,
      config: DEMO_CONFIG,
      algos: [...ALGOS],
      sweep: [DEMO_SWEEP],
    },
    command,
    (result) => {
      const temperature = Number(readComparisonRecord(flags.out).base_config.reward_temperature ?? 1);
      const section = demoSection(result.summary, temperature);
      addDemoSection(result.reportPath, section);
      return section;
    },
  );
}
