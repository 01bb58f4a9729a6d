import type { TaskFactory } from './task.js';
import { createToyTask } from './toy.js';

/** Tasks by name, as `grpovi train --task NAME` knows them. */
export const TASKS: Record<string, { description: string; factory: TaskFactory }> = {
  toy: { description: 'fill the completion with letters of the prompt (tiny random policy; for tests)', factory: createToyTask },
};

export function taskNames(): string[] {
  return Object.keys(TASKS);
}
