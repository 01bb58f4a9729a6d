export { adjustRewardsBruteForce } from './bruteForce.js';
export { formatValue, RewardInputError } from './errors.js';
export { type AdjustOptions, adjustGroups, adjustRewards, GroupAdjuster } from './solver.js';
export type { NumberArray } from './validate.js';
export { rewardVariance, weightedMean } from './variance.js';
export { type AdjustProblem, compareWithReference } from './verify.js';
