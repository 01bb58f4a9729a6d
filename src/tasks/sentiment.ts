import { join } from 'node:path';
import { Gpt } from '../nn/gpt.js';
import { loadModelDir, WEIGHTS_FILE } from '../nn/modelDir.js';
import { RewardModel } from '../nn/rewardModel.js';
import { rewardModelReward } from '../rewards/rewardModel.js';
import { goldSentimentReward } from '../rewards/sentiment.js';
import { ASSET } from './assets.js';
import { heldOutStages, type PretrainCorpus, pretrainData, promptOf } from './datasets.js';
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
  const policyFiles = loadModelDir(policyDir, 'policy');
  const rmFiles = loadModelDir(rmDir, 'reward-model');
  const corpus = ((policyFiles.info.pretrain as { corpus?: PretrainCorpus } | undefined)?.corpus ??
    'sotu') as PretrainCorpus;
  const data = pretrainData(corpus);
  const stages = heldOutStages(data);
  const prompts = (texts: string[]) => [...new Set(texts.map((t) => promptOf(data, t)))];
  // Created on first use: building a task must not create tensors before the trainer picks the backend.
  let rewardModel: RewardModel | undefined;
  const loadRewardModel = () => {
    rewardModel ??= RewardModel.fromTensors(rmFiles.config, rmFiles.tensors, `${rmDir}/model.safetensors`);
    return rewardModel;
  };
  const offset = typeof rmFiles.info.scoreOffset === 'number' ? rmFiles.info.scoreOffset : 0;
  return {
    name: 'sentiment',
    description: `continue ${corpus} sentence openings; learned reward model, AFINN gold`,
    tokenizer: policyFiles.tokenizer,
    createPolicy(_seed: number, options: TaskPolicyOptions) {
      const files =
        options.policy && options.policy !== policyDir ? loadModelDir(options.policy, 'policy') : policyFiles;
      return Gpt.fromTensors(files.config, files.tensors, {
        trainable: true,
        source: join(options.policy ?? policyDir, WEIGHTS_FILE),
      });
    },
    trainPrompts: prompts(stages.rlTrain),
    evalPrompts: prompts(stages.rlEval),
    rewards: [{ fn: rewardModelReward(loadRewardModel, rmFiles.tokenizer, offset), weight: 1 }],
    gold: goldSentimentReward,
    defaults: { ...TASK_DEFAULTS.sentiment },
    dispose() {
      rewardModel?.dispose();
      rewardModel = undefined;
    },
  };
}
