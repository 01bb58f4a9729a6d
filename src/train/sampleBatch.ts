import type { PolicyModel } from '../nn/models/policyModel.js';
import {
  type PromptRow,
  type Scores,
  scoreCompletions,
  type WeightedReward,
} from '../rewards/rewardFunction.js';
import type { Task } from '../tasks/task.js';
import type { Rng } from '../util/rng.js';
import { gatherRollout, gatherScores } from './batchRows.js';
import type { TrainConfig } from './config.js';
import { dynamicSample } from './dynamicSampling.js';
import type { MetricsRow } from './core/metricsRow.js';
import type { PromptStream } from './promptStream.js';
import type { Rollout, SamplingSettings } from './rollout.js';
import { sumToolCounts, taskRollout, toolMetrics } from './tools/taskRollout.js';

/** The sampling options of a config. */
export function samplingSettings(config: TrainConfig): SamplingSettings {
  return {
    maxNewTokens: config.max_completion_length,
    temperature: config.temperature,
    topK: config.top_k,
    topP: config.top_p,
    minP: config.min_p,
    repetitionPenalty: config.repetition_penalty,
  };
}

/** The rows of the picked prompts, each repeated for its group (undefined when the task has none). */
function groupRows(
  rows: readonly PromptRow[] | undefined,
  picked: readonly number[],
  groupSize: number,
): PromptRow[] | undefined {
  return rows && picked.flatMap((i) => Array.from({ length: groupSize }, () => rows[i]));
}

/** A step's generation batch, scored, with the time spent sampling and scoring it. */
export interface SampledBatch {
  ro: Rollout;
  scores: Scores;
  rolloutSeconds: number;
  rewardSeconds: number;
  /** Metrics of dynamic sampling, when it is on, and of tool calls, when the task has tools. */
  dynamic?: Partial<MetricsRow>;
}

const now = () => performance.now() / 1000;

/** Samples and scores a step's prompts; with dynamic sampling, replaces zero-std groups by fresh ones. */
export async function sampleBatch(
  source: {
    config: TrainConfig;
    task: Task;
    policy: PolicyModel;
    stream: PromptStream;
    samplingRng: Rng;
    /** The rewards to score with, when not the task's own (e.g. compressed by reward_temperature). */
    rewards?: readonly WeightedReward[];
  },
  yieldToEventLoop: () => Promise<void>,
): Promise<SampledBatch> {
  const { config, task, policy } = source;
  const G = config.num_generations;
  let rolloutSeconds = 0;
  let rewardSeconds = 0;
  const draw = async (count: number) => {
    const t0 = now();
    const picked = source.stream.nextIndices(count);
    const prompts = picked.map((i) => task.trainPrompts[i]);
    const rows = groupRows(task.trainRows, picked, G);
    const { ro, conversations, toolCounts } = await taskRollout(
      task,
      config,
      policy,
      prompts,
      picked.map((i) => task.trainRows?.[i] ?? {}),
      G,
      samplingSettings(config),
      source.samplingRng,
    );
    await yieldToEventLoop();
    const t1 = now();
    const scores = await scoreCompletions(
      source.rewards ?? task.rewards,
      ro.promptTexts,
      ro.completionTexts,
      rows,
      conversations,
    );
    rolloutSeconds += t1 - t0;
    rewardSeconds += now() - t1;
    return { ro, scores, toolCounts };
  };
  if (!config.dynamic_sampling) {
    const { ro, scores, toolCounts } = await draw(config.prompts_per_step);
    return { ro, scores, rolloutSeconds, rewardSeconds, dynamic: toolMetrics(toolCounts) };
  }
  const result = await dynamicSample(draw, (d) => d.scores.total, {
    groups: config.prompts_per_step,
    groupSize: G,
    maxRounds: config.dynamic_sampling_max_rounds,
  });
  const ro = gatherRollout(
    result.draws.map((d) => d.ro),
    result.picks,
    task.tokenizer.padId,
  );
  const scores = gatherScores(
    result.draws.map((d) => d.scores),
    result.picks,
  );
  const dynamic: Partial<MetricsRow> = {
    'dynamic_sampling/rounds': result.rounds,
    'dynamic_sampling/extra_prompts': result.extraPrompts,
    'dynamic_sampling/zero_std_groups': result.zeroStdGroups,
    'dynamic_sampling/filled_groups': result.filledGroups,
    // Over every completion sampled this step, the dropped groups' too: their tool calls ran.
    ...toolMetrics(sumToolCounts(result.draws.map((d) => d.toolCounts))),
  };
  return { ro, scores, rolloutSeconds, rewardSeconds, dynamic };
}
