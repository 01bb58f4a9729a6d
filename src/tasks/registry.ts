import { createArithmeticTask } from './arithmetic.js';
import { createSentimentTask } from './sentiment.js';
import type { TaskFactory } from './task.js';
import { createToyTask } from './toy.js';

/** Tasks by name, as `grpovi train --task NAME` knows them. */
export const TASKS: Record<string, { description: string; factory: TaskFactory }> = {
  toy: {
    description: 'fill the completion with letters of the prompt (tiny random policy; for tests)',
    factory: createToyTask,
  },
  sentiment: {
    description: 'RLHF on State of the Union sentence openings with a learned reward model; AFINN gold',
    factory: createSentimentTask,
  },
  arithmetic: {
    description:
      'two-digit sums and differences with a 0/1 reward (the control: GRPOVI leaves 0/1 rewards unchanged)',
    factory: createArithmeticTask,
  },
};

export function taskNames(): string[] {
  return Object.keys(TASKS);
}
