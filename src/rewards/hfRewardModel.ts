import { HfRewardModel } from '../nn/models/hfRewardModel.js';
import { readHfFolder } from '../nn/weights/hfFolder.js';
import type { RewardFunction } from './rewardFunction.js';

export interface HfRewardOptions {
  /** The range the raw scores lie in (`--reward-range`); without it the reward is sigmoid(score), in [0, 1]. */
  range?: readonly [number, number];
  name?: string;
}

/**
 * A Hugging Face sequence-classification folder as a reward function: it reads the prompt followed
 * by the completion as one text, tokenized by the folder's own tokenizer (with its BOS, as
 * transformers' tokenizer(text) gives it). The folder is checked now; the tensors are made on the
 * first scoring (after the trainer has chosen the TF.js backend). `dispose` frees them.
 */
export function hfRewardModelReward(
  dir: string,
  options: HfRewardOptions = {},
): RewardFunction & { dispose(): void } {
  const folder = readHfFolder(dir);
  HfRewardModel.check(folder);
  let model: HfRewardModel | undefined;
  const range = options.range;
  return {
    name: options.name ?? 'reward_model',
    range: range ?? [0, 1],
    score(prompts, completions) {
      model ??= HfRewardModel.fromFolder(folder);
      const tokenizer = model.tokenizer;
      const scores = model.score(completions.map((c, i) => tokenizer.encode(prompts[i] + c)));
      return Array.from(scores, (s) => (range ? s : 1 / (1 + Math.exp(-s))));
    },
    dispose() {
      model?.dispose();
      model = undefined;
    },
  };
}
