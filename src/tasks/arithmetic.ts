import { loadPolicyFolder } from '../nn/weights/policyFolder.js';
import { arithmeticRewardFunction } from '../rewards/arithmetic.js';
import { arithmeticProblems } from './arithmeticData.js';
import { ASSET } from './assets.js';
import { ARITHMETIC_MAX_OPERAND, DATA_SPLIT_SEED } from './datasets.js';
import type { Task, TaskContext, TaskPolicyOptions } from './task.js';
import { TASK_DEFAULTS } from './taskDefaults.js';

const TRAIN_PROMPTS = 4000;
const EVAL_PROMPTS = 512;

/**
 * The control: answer `a+b=` or `a-b=` with reward 1 for the right answer and 0 otherwise, range
 * [0, 1]. Rewards already sit at the ends of the range, so GRPOVI leaves them unchanged and must
 * train exactly like GRPO.
 */
export function createArithmeticTask(context: TaskContext): Task {
  const policyDir = context.policy ?? ASSET.arithmeticPolicy;
  const policy = loadPolicyFolder(policyDir);
  const problems = (split: 'train' | 'heldOut', count: number, seed: number) =>
    arithmeticProblems({
      count,
      maxOperand: ARITHMETIC_MAX_OPERAND,
      ops: ['+', '-'],
      seed,
      split,
      unique: true,
    }).map((p) => p.prompt);
  return {
    name: 'arithmetic',
    description: 'two-digit sums and differences; reward 1 if right, 0 if not (binary: the GRPOVI control)',
    tokenizer: policy.tokenizer,
    createPolicy(_seed: number, options: TaskPolicyOptions) {
      const chosen =
        options.policy && options.policy !== policyDir ? loadPolicyFolder(options.policy) : policy;
      return chosen.create({ trainable: true });
    },
    trainPrompts: problems('train', TRAIN_PROMPTS, DATA_SPLIT_SEED + 1),
    evalPrompts: problems('heldOut', EVAL_PROMPTS, DATA_SPLIT_SEED + 2),
    rewards: [{ fn: arithmeticRewardFunction, weight: 1 }],
    defaults: { ...TASK_DEFAULTS.arithmetic },
  };
}
