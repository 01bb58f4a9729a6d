import { Gpt } from '../nn/models/gpt.js';
import { CharTokenizer } from '../nn/tokenizers/tokenizer.js';
import type { RewardFunction } from '../rewards/rewardFunction.js';
import { Rng } from '../util/rng.js';
import type { Task, TaskContext, TaskPolicyOptions } from './task.js';
import { TASK_DEFAULTS } from './taskDefaults.js';

const LETTERS = 'abcdefgh';
const COMPLETION_LENGTH = TASK_DEFAULTS.toy.max_completion_length;
const EVAL_PROMPTS = 64;

/**
 * Rewards the share of the completion's slots filled with a letter that occurs in the prompt, counted
 * against the full completion length: a continuous reward in [0, 1] with many distinct values, so
 * that GRPOVI's adjustment changes it (unlike a 0/1 reward). Emitting one fixed letter scores about
 * 0.33 on average; more needs the prompt.
 */
export const promptLettersReward: RewardFunction = {
  name: 'prompt_letters',
  range: [0, 1],
  score(prompts, completions) {
    return completions.map((completion, i) => {
      const letters = new Set(prompts[i].replace(':', ''));
      let hits = 0;
      for (const ch of completion.slice(0, COMPLETION_LENGTH)) if (letters.has(ch)) hits++;
      return hits / COMPLETION_LENGTH;
    });
  },
};

/** Every three-letter prompt `xyz:` over the alphabet, split into train and held-out prompts by the seed. */
function toyPrompts(seed: number): { train: string[]; heldOut: string[] } {
  const all: string[] = [];
  for (const a of LETTERS) for (const b of LETTERS) for (const c of LETTERS) all.push(`${a}${b}${c}:`);
  Rng.derive(seed, 'toy-prompts').shuffle(all);
  return { heldOut: all.slice(0, EVAL_PROMPTS), train: all.slice(EVAL_PROMPTS) };
}

/**
 * The toy task for tests and CI: short prompts, a tiny randomly initialized policy, and a reward it
 * learns within tens of steps on two cores.
 */
export function createToyTask(context: TaskContext): Task {
  const tokenizer = CharTokenizer.fit([`${LETTERS}:`]);
  const { train, heldOut } = toyPrompts(context.seed);
  return {
    name: 'toy',
    description: 'fill the completion with letters of the prompt (continuous reward in [0, 1])',
    tokenizer,
    createPolicy(seed: number, options: TaskPolicyOptions) {
      const model = options.model ?? { width: 32, depth: 2, heads: 2, context_length: 16 };
      return Gpt.init(
        {
          vocabSize: tokenizer.vocabSize,
          contextLength: model.context_length,
          width: model.width,
          depth: model.depth,
          heads: model.heads,
        },
        seed,
      );
    },
    trainPrompts: train,
    evalPrompts: heldOut,
    rewards: [{ fn: promptLettersReward, weight: 1 }],
    defaults: { ...TASK_DEFAULTS.toy },
  };
}
