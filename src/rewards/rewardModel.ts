import type { RewardModel } from '../nn/models/rewardModel.js';
import type { Tokenizer } from '../nn/tokenizers/tokenizer.js';
import type { RewardFunction } from './rewardFunction.js';

/** Token ids the reward model reads: the prompt followed by the completion. */
export function rewardModelInput(tokenizer: Tokenizer, prompt: string, completion: string): number[] {
  const ids = [...tokenizer.encode(prompt), ...tokenizer.encode(completion)];
  return ids.length > 0 ? ids : [tokenizer.unkId];
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/**
 * A learned reward: sigmoid(score - offset) of a Bradley-Terry reward model, in the declared range
 * [0, 1]. `offset` centres typical completions near 0.5; the sigmoid keeps the model's scale, so
 * completions the model barely tells apart get rewards that bunch together (`reward_temperature`
 * compresses them further through `learnedScore`). `model` is called at
 * each scoring, so the caller can create the model lazily (after the TF.js backend is chosen).
 */
export function rewardModelReward(
  model: () => RewardModel,
  tokenizer: Tokenizer,
  offset: number,
  name = 'reward_model',
): RewardFunction {
  const scores = (prompts: readonly string[], completions: readonly string[]) => {
    const inputs = completions.map((c, i) => rewardModelInput(tokenizer, prompts[i], c));
    // Each input starts with its prompt's own tokens (an empty one has none), so the rows of one
    // prompt can share that prefix.
    const promptTokens = new Map<string, number>();
    const prefixLengths = prompts.map((p) => {
      let n = promptTokens.get(p);
      if (n === undefined) promptTokens.set(p, (n = tokenizer.encode(p).length));
      return n;
    });
    return model().score(inputs, tokenizer.padId, undefined, prefixLengths);
  };
  return {
    name,
    range: [0, 1],
    score(prompts, completions) {
      return Array.from(scores(prompts, completions), (s) => sigmoid(s - offset));
    },
    learnedScore: { offset, scores },
  };
}
