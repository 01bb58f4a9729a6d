import type { Task } from '../tasks/task.js';

/**
 * The token ids a run feeds the policy for a prompt text: the task's encoding (rendered
 * conversations without the tokenizer's added specials), left-truncated to `max_prompt_length`
 * (TRL's name and side: the prompt's start goes, its end, where the answer begins, stays).
 */
export function promptIdsOf(task: Task, maxPromptLength?: number): (text: string) => number[] {
  const encode = task.encodePrompt ?? ((text: string) => task.tokenizer.encode(text));
  if (maxPromptLength === undefined) return encode;
  return (text) => {
    const ids = encode(text);
    return ids.length > maxPromptLength ? ids.slice(ids.length - maxPromptLength) : ids;
  };
}

/** How many of the task's training and evaluation prompts `max_prompt_length` cuts, for the run's log. */
export function truncatedPromptCount(
  task: Task,
  maxPromptLength: number,
): { truncated: number; total: number } {
  const encode = promptIdsOf(task);
  let truncated = 0;
  const all = [...task.trainPrompts, ...task.evalPrompts];
  for (const text of all) if (encode(text).length > maxPromptLength) truncated++;
  return { truncated, total: all.length };
}
