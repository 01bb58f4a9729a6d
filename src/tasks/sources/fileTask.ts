import { join } from 'node:path';
import { loadModelDir, WEIGHTS_FILE } from '../../nn/weights/modelDir.js';
import { isHfFolder } from '../../nn/weights/hfFolder.js';
import { loadPolicyFolder } from '../../nn/weights/policyFolder.js';
import { hfRewardModelReward } from '../../rewards/hfRewardModel.js';
import { RewardModel } from '../../nn/models/rewardModel.js';
import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';
import type { WeightedReward } from '../../rewards/rewardFunction.js';
import { rewardModelReward } from '../../rewards/rewardModel.js';
import { distinctNames, loadRewardModule } from '../../rewards/rewardModule.js';
import { ConfigError } from '../../train/configError.js';
import { UserFileError } from '../../util/userFileError.js';
import { ASSET } from '../assets.js';
import { HELD_OUT_SHARE, holdOutPrompts } from './heldOut.js';
import type { Task, TaskContext, TaskPolicyOptions } from '../task.js';
import { loadToolModule } from '../../train/tools/toolModule.js';
import {
  chatTemplateForPrompts,
  promptEncoder,
  renderPrompts,
  toolsNeedConversations,
} from './chatPrompts.js';
import { isConversational, type PromptRecord } from './promptFile.js';
import { readPromptFile } from './promptFileReader.js';
import { unknownTokenWarning } from './promptText.js';
import { vocabularyDifference } from './vocabulary.js';

/** The config's `task` value for a task made from files (`--prompts`, `--reward`, `--reward-model`). */
export const FILE_TASK = 'files';

export { HELD_OUT_SHARE, holdOutPrompts } from './heldOut.js';

/**
 * The reward modules and the reward model of a context, as weighted rewards with distinct names.
 * The reward model must share the policy's vocabulary (it reads the policy's completions).
 */
export async function loadUserRewards(
  context: Pick<TaskContext, 'rewards' | 'rewardModel' | 'rewardModelWeight'>,
  tokenizer: Tokenizer,
  policyDir: string,
): Promise<{ rewards: WeightedReward[]; dispose: () => void }> {
  const rewards: WeightedReward[] = [];
  for (const { path, weight } of context.rewards ?? []) rewards.push(await loadRewardModule(path, weight));
  let rewardModel: RewardModel | undefined;
  let hfRewardModel: ReturnType<typeof hfRewardModelReward> | undefined;
  if (context.rewardModel !== undefined && isHfFolder(context.rewardModel)) {
    // A Hugging Face sequence classifier reads the text with its own tokenizer: sigmoid(score) in [0, 1].
    hfRewardModel = hfRewardModelReward(context.rewardModel);
    rewards.push({ fn: hfRewardModel, weight: context.rewardModelWeight ?? 1 });
  } else if (context.rewardModel !== undefined) {
    const rmDir = context.rewardModel;
    const rmFiles = loadModelDir(rmDir, 'reward-model');
    const difference = vocabularyDifference(tokenizer, rmFiles.tokenizer);
    if (difference !== undefined) {
      throw new ConfigError(
        `the reward model ${rmDir} and the policy ${policyDir} have different vocabularies (${difference}); ` +
          'train the reward model from this policy (grpovi train-rm --policy ...)',
        'reward_model',
      );
    }
    const offset = typeof rmFiles.info.scoreOffset === 'number' ? rmFiles.info.scoreOffset : 0;
    // Created on first use: building a task must not create tensors before the trainer picks the backend.
    const load = () => {
      rewardModel ??= RewardModel.fromTensors(rmFiles.config, rmFiles.tensors, join(rmDir, WEIGHTS_FILE));
      return rewardModel;
    };
    rewards.push({
      fn: rewardModelReward(load, rmFiles.tokenizer, offset),
      weight: context.rewardModelWeight ?? 1,
    });
  }
  return {
    rewards: distinctNames(rewards),
    dispose() {
      rewardModel?.dispose();
      rewardModel = undefined;
      hfRewardModel?.dispose();
    },
  };
}

/**
 * The task of a user's files: prompts (and held-out prompts) from prompt files, rewards from reward
 * modules and an optional reward model, the policy from `--policy` (default: the shipped word-level
 * English policy).
 */
export async function createFileTask(context: TaskContext): Promise<Task> {
  if (context.prompts === undefined) {
    throw new ConfigError('field "prompts" is missing: a task from files needs --prompts FILE', 'prompts');
  }
  if ((context.rewards?.length ?? 0) === 0 && context.rewardModel === undefined) {
    throw new ConfigError(
      `--prompts ${context.prompts} needs a reward: pass --reward MODULE[:WEIGHT] and/or --reward-model DIR[:WEIGHT]`,
      'rewards',
    );
  }
  const policyDir = context.policy ?? ASSET.sentimentPolicy;
  // Any policy folder grpovi reads: its own or a Hugging Face causal LM.
  const policySource = loadPolicyFolder(policyDir);
  const tokenizer = policySource.tokenizer;
  const notices: string[] = [];

  const records = readPromptFile(context.prompts);
  let trainRecords: PromptRecord[];
  let evalRecords: PromptRecord[];
  if (context.evalPrompts !== undefined) {
    trainRecords = records;
    evalRecords = readPromptFile(context.evalPrompts);
  } else {
    if (records.length < 2) {
      throw new UserFileError(
        context.prompts,
        `holds ${records.length} prompt; hold-out needs at least 2, or give --eval-prompts FILE`,
      );
    }
    ({ train: trainRecords, heldOut: evalRecords } = holdOutPrompts(records));
    notices.push(
      `held out ${evalRecords.length} of the ${records.length} prompts of ${context.prompts} for evaluation ` +
        `(a fixed ${100 * HELD_OUT_SHARE}% share; --eval-prompts FILE gives your own)`,
    );
  }
  const conversational = isConversational(records);
  if (context.evalPrompts !== undefined && isConversational(evalRecords) !== conversational)
    throw new UserFileError(
      context.evalPrompts,
      `holds ${conversational ? 'plain prompts' : 'conversations'} where ${context.prompts} holds ${conversational ? 'conversations' : 'plain prompts'}`,
    );
  if (context.tools !== undefined && !conversational)
    throw new ConfigError(toolsNeedConversations(context.tools, context.prompts), 'tools');
  const tools = context.tools === undefined ? undefined : await loadToolModule(context.tools);
  const { template, unused } = chatTemplateForPrompts(
    tokenizer,
    policyDir,
    context.chatTemplate,
    conversational,
    tools !== undefined,
  );
  if (template !== undefined)
    notices.push(`conversational prompts: rendered with the chat template of ${template.source}`);
  if (unused !== undefined) notices.push(unused);
  if (tools !== undefined)
    notices.push(`tools: ${tools.tools.map((t) => t.name).join(', ')} from ${tools.path}`);
  const train = renderPrompts(trainRecords, tokenizer, template, tools?.schemas);
  const heldOut = renderPrompts(evalRecords, tokenizer, template, tools?.schemas);
  const empty = train.prompts.findIndex((p) => p === '');
  if (empty >= 0) {
    throw new UserFileError(
      context.prompts,
      `prompt ${JSON.stringify(trainRecords[empty].prompt)} has no text the policy's ${tokenizer.kind} tokenizer keeps`,
    );
  }
  if (!conversational) {
    const warning = unknownTokenWarning(tokenizer, [...train.prompts, ...heldOut.prompts], 'the prompts');
    if (warning !== undefined) notices.push(warning);
  }

  const loaded = await loadUserRewards(context, tokenizer, policyDir);
  const rewards = loaded.rewards;

  return {
    name: FILE_TASK,
    description: `prompts from ${context.prompts}; rewards ${rewards.map((r) => r.fn.name).join(', ')}`,
    tokenizer,
    createPolicy(_seed: number, options: TaskPolicyOptions) {
      const chosen =
        options.policy && options.policy !== policyDir ? loadPolicyFolder(options.policy) : policySource;
      return chosen.create({ trainable: true });
    },
    trainPrompts: train.prompts,
    evalPrompts: heldOut.prompts,
    trainRows: train.rows,
    evalRows: heldOut.rows,
    encodePrompt: promptEncoder(tokenizer, conversational),
    chatTemplate: template,
    tools,
    rewards,
    notices,
    defaults: { eval_prompts: Math.min(heldOut.prompts.length, 256) },
    dispose: loaded.dispose,
  };
}
