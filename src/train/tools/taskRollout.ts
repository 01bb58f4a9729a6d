import type { PolicyModel } from '../../nn/models/policyModel.js';
import type { ChatMessage, ChatTemplate } from '../../nn/tokenizers/chatTemplate.js';
import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';
import type { PromptRow } from '../../rewards/rewardFunction.js';
import type { Task } from '../../tasks/task.js';
import type { Rng } from '../../util/rng.js';
import type { TrainConfig } from '../config.js';
import type { MetricsRow } from '../metrics.js';
import { promptIdsOf } from '../promptIds.js';
import { type Rollout, rollout, type SamplingSettings } from '../rollout.js';
import type { ToolSet } from './toolModule.js';
import { type ToolRollout, toolRollout, type ToolRolloutOptions } from './toolRollout.js';

/** Seconds a tool may run before its call fails, when the config does not say. */
export const DEFAULT_TOOL_TIMEOUT = 10;

/** A rollout of a task's prompts, with the completions as messages when the policy called tools. */
export interface TaskRollout {
  ro: Rollout;
  /** Each row's completion as messages (tool turns included), for reward functions that take messages. */
  conversations?: ChatMessage[][];
  /** The tool calls made, when the task has tools (summed over dynamic sampling's rollouts). */
  toolCounts?: ToolCounts;
}

/** Tool calls and failed calls over a number of sampled completions. */
export interface ToolCounts {
  completions: number;
  calls: number;
  failures: number;
}

/** The sum of several rollouts' tool counts (undefined when none has tools). */
export function sumToolCounts(parts: readonly (ToolCounts | undefined)[]): ToolCounts | undefined {
  const present = parts.filter((c): c is ToolCounts => c !== undefined);
  if (present.length === 0) return undefined;
  return {
    completions: present.reduce((a, c) => a + c.completions, 0),
    calls: present.reduce((a, c) => a + c.calls, 0),
    failures: present.reduce((a, c) => a + c.failures, 0),
  };
}

/** `tools/call_frequency` (calls per completion) and `tools/failure_frequency` (failed calls per call). */
export function toolMetrics(counts: ToolCounts | undefined): Partial<MetricsRow> {
  if (counts === undefined) return {};
  return {
    'tools/call_frequency': counts.completions > 0 ? counts.calls / counts.completions : 0,
    'tools/failure_frequency': counts.calls > 0 ? counts.failures / counts.calls : 0,
  };
}

/**
 * Samples `groupSize` completions of `prompts`: the plain rollout, or the tool-calling one when the
 * task has tools (its prompts' messages come from `rows`).
 */
export async function taskRollout(
  task: Task,
  config: Pick<TrainConfig, 'max_prompt_length' | 'max_tool_calling_iterations' | 'tool_timeout'>,
  policy: PolicyModel,
  prompts: readonly string[],
  rows: readonly PromptRow[] | undefined,
  groupSize: number,
  sampling: SamplingSettings,
  rng: Rng,
): Promise<TaskRollout> {
  const encode = promptIdsOf(task, config.max_prompt_length);
  if (task.tools === undefined || task.chatTemplate === undefined || rows === undefined)
    return { ro: rollout(policy, task.tokenizer, prompts, groupSize, sampling, rng, encode) };
  const ro = await toolRollout(
    policy,
    task.tokenizer,
    prompts,
    groupSize,
    sampling,
    rng,
    encode,
    toolRolloutOptions(task.chatTemplate, task.tools, rows, task.tokenizer, config),
  );
  return { ro, conversations: ro.completionMessages, toolCounts: toolCountsOf(ro) };
}

/**
 * The tool-calling rollout's options from the run's settings (`train`'s config keys, which
 * `sample`'s flags mirror): each prompt's messages from its row, the timeout in seconds
 * (DEFAULT_TOOL_TIMEOUT when not given), tool turns encoded without added special tokens.
 */
export function toolRolloutOptions(
  template: ChatTemplate,
  tools: ToolSet,
  rows: readonly PromptRow[],
  tokenizer: Tokenizer,
  settings: Pick<TrainConfig, 'max_tool_calling_iterations' | 'tool_timeout'>,
): ToolRolloutOptions {
  return {
    template,
    tools,
    conversations: rows.map((r) => r.prompt as ChatMessage[]),
    maxIterations: settings.max_tool_calling_iterations,
    timeoutMs: 1000 * (settings.tool_timeout ?? DEFAULT_TOOL_TIMEOUT),
    encode: (text) => tokenizer.encode(text, { addSpecialTokens: false }),
  };
}

/** A tool-calling rollout's counts. */
export function toolCountsOf(ro: ToolRollout): ToolCounts {
  return { completions: ro.completionTexts.length, calls: ro.toolCalls, failures: ro.toolFailures };
}
