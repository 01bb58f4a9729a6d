import { loadModelDir } from '../nn/weights/modelDir.js';
import { isHfFolder } from '../nn/weights/hfFolder.js';
import { loadPolicyFolder } from '../nn/weights/policyFolder.js';
import { RewardModel } from '../nn/models/rewardModel.js';
import { hfRewardModelReward } from '../rewards/hfRewardModel.js';
import { rewardModelReward } from '../rewards/rewardModel.js';
import { goldSentimentReward } from '../rewards/sentiment.js';
import { ASSET } from './assets.js';
import { heldOutStages, policyCorpus, pretrainData, promptOf } from './datasets.js';
import type { Task, TaskContext, TaskPolicyOptions } from './task.js';
import { TASK_DEFAULTS } from './taskDefaults.js';

/**
 * RLHF on real text: continue the first words of held-out State of the Union sentences; the reward
 * is a learned Bradley-Terry reward model, and the gold preference (AFINN valence) is reported as
 * `eval_gold`.
 */
export function createSentimentTask(context: TaskContext): Task {
  const policyDir = context.policy ?? ASSET.sentimentPolicy;
  const rmDir = context.rewardModel ?? ASSET.sentimentRewardModel;
  const policy = loadPolicyFolder(policyDir);
  const corpus = policyCorpus(policy.info);
  const data = pretrainData(corpus);
  const stages = heldOutStages(data);
  const prompts = (texts: string[]) => [...new Set(texts.map((t) => promptOf(data, t)))];
  // Created on first use: building a task must not create tensors before the trainer picks the backend.
  let rewardModel: RewardModel | undefined;
  // A Hugging Face sequence classifier scores as sigmoid(score); grpovi's own as sigmoid(score - offset).
  const hfReward = isHfFolder(rmDir) ? hfRewardModelReward(rmDir) : undefined;
  const reward = hfReward ?? grpoviRewardModel();
  function grpoviRewardModel() {
    const rmFiles = loadModelDir(rmDir, 'reward-model');
    const offset = typeof rmFiles.info.scoreOffset === 'number' ? rmFiles.info.scoreOffset : 0;
    const load = () => {
      rewardModel ??= RewardModel.fromTensors(rmFiles.config, rmFiles.tensors, `${rmDir}/model.safetensors`);
      return rewardModel;
    };
    return rewardModelReward(load, rmFiles.tokenizer, offset);
  }
  return {
    name: 'sentiment',
    description: `continue ${corpus} sentence openings; learned reward model, AFINN gold`,
    tokenizer: policy.tokenizer,
    createPolicy(_seed: number, options: TaskPolicyOptions) {
      const chosen =
        options.policy && options.policy !== policyDir ? loadPolicyFolder(options.policy) : policy;
      return chosen.create({ trainable: true });
    },
    trainPrompts: prompts(stages.rlTrain),
    evalPrompts: prompts(stages.rlEval),
    rewards: [{ fn: reward, weight: 1 }],
    gold: goldSentimentReward,
    defaults: { ...TASK_DEFAULTS.sentiment },
    dispose() {
      rewardModel?.dispose();
      rewardModel = undefined;
      hfReward?.dispose();
    },
  };
}
