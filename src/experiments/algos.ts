/**
 * The algorithms a comparison runs. Apart from src/experiments/plan.ts (which loads the tasks and
 * TF.js) so that the CLI can offer them cheaply.
 */
export const ALGOS = ['grpo', 'grpovi'] as const;
export type Algo = (typeof ALGOS)[number];
