// A task in code for `grpovi train --task examples/own-task/letters-task.mjs`: the default export is a
// task factory (context) => Task. Prompts are three letters and a colon; the reward is the share of
// the completion's first 6 characters that are letters of the prompt (continuous, in [0, 1]).
import { CharTokenizer, Gpt } from 'grpovi';

const LETTERS = 'abcdef';

export default function createLettersTask(context) {
  const tokenizer = CharTokenizer.fit([`${LETTERS}:`]);
  const prompts = [];
  for (const a of LETTERS) for (const b of LETTERS) for (const c of LETTERS) prompts.push(`${a}${b}${c}:`);
  const reward = {
    name: 'prompt_letters',
    range: [0, 1],
    score: (promptTexts, completions) =>
      completions.map((completion, i) => {
        const letters = new Set(promptTexts[i]);
        return [...completion.slice(0, 6)].filter((ch) => letters.has(ch)).length / 6;
      }),
  };
  return {
    name: 'letters',
    description: 'fill the completion with letters of the prompt',
    tokenizer,
    createPolicy: (seed) =>
      Gpt.init({ vocabSize: tokenizer.vocabSize, contextLength: 16, width: 32, depth: 2, heads: 2 }, seed),
    trainPrompts: prompts.filter((_, i) => i % 8 !== 0),
    evalPrompts: prompts.filter((_, i) => i % 8 === 0),
    rewards: [{ fn: reward, weight: 1 }],
    defaults: { max_completion_length: 6, learning_rate: 3e-3, eval_every: 5, eval_prompts: 27 },
    // context.seed, context.policy, ... are what the command line gave.
  };
}
