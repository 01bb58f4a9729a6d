/**
 * grpovi: GRPO and GRPOVI (GRPO with reward variance increase) for language models, in TypeScript.
 *
 * The reward adjustment is usable on its own, without TF.js: `import { adjustGroups } from 'grpovi/adjust'`.
 * This entry point also exports the training engine, the tasks and the experiment tooling.
 */

// The reward adjustment (exact solver, batched API, brute-force reference).
export * from './adjust/index.js';
// Experiments: comparisons of GRPO and GRPOVI over seeds, their statistics.
export {
  type CompareRequest,
  type CompareResult,
  type PlannedCommand,
  planComparisonRuns,
  renderComparison,
  runComparison,
} from './experiments/compare.js';
export { type RegimeCell, regimeCells, regimeTable, writeRegimeMap } from './experiments/regimeMap.js';
export { areaUnderCurve, type StepsToTarget, stepsToTarget } from './experiments/stats.js';
export type { ComparisonSummary } from './experiments/summary.js';
// Watching runs: a single run's report, the run-folder reader, the live dashboard.
export { type RunReportResult, writeRunReport } from './experiments/runReportFile.js';
export { readRunView, type RunView, type SampleRow } from './experiments/runView.js';
export { type DashboardOptions, type RunningDashboard, startDashboard } from './dashboard/server.js';
// GRPO: advantages, the objective, reward transforms.
export {
  ADVANTAGE_SCALES,
  type AdvantageOptions,
  type AdvantageScale,
  fracRewardZeroStd,
  groupAdvantages,
  hasZeroStd,
  meanGroupStd,
  sampleStd,
  ZERO_STD_ATOL,
  ZERO_STD_RTOL,
} from './grpo/advantages.js';
export {
  aggregateTokens,
  grpoObjective,
  IMPORTANCE_SAMPLING_LEVELS,
  type ImportanceSamplingLevel,
  klK3,
  LOSS_TYPE_ALIASES,
  LOSS_TYPES,
  type LossNormalization,
  type LossType,
  logImportanceWeights,
  type ObjectiveBatch,
  type ObjectiveOptions,
  type ObjectiveValue,
} from './grpo/objective.js';
export {
  ADJUSTMENT_WEIGHTS,
  type AdjustmentWeights,
  adjustmentWeights,
  blendGroups,
  groupSoftmax,
  type RewardTransformKind,
  type RewardTransformOptions,
  transformRewards,
} from './grpo/rewardTransform.js';
// Models (TF.js): backend, GPT policy, sampling, tokenizers, optimizer, model folders.
export { type BackendName, selectBackend } from './nn/backends/backend.js';
export { CheckpointError } from './nn/weights/checkpointError.js';
export { Decoder } from './nn/models/decoder.js';
export type {
  Activation,
  DecoderArchitecture,
  DecoderDescription,
  DecoderLayout,
} from './nn/models/architecture.js';
export { Gpt } from './nn/models/gpt.js';
export type { GptConfig } from './nn/models/gptConfig.js';
export { loadModelDir, type ModelFiles, type ModelKind, saveModelDir } from './nn/weights/modelDir.js';
export { HfTokenizer } from './nn/tokenizers/hfTokenizer.js';
export {
  type ChatMessage,
  ChatTemplate,
  ChatTemplateError,
  type ChatToolCall,
  type ChatToolSchema,
  chatTemplatesOf,
  pickChatTemplate,
} from './nn/tokenizers/chatTemplate.js';
export { type ParsedToolCall, parseToolCalls } from './nn/tokenizers/toolCalls.js';
export { type HfDecoderConfig, parseHfConfig } from './nn/models/hfConfig.js';
export { HfDecoder } from './nn/models/hfDecoder.js';
export { isHfFolder, readHfFolder } from './nn/weights/hfFolder.js';
export { HfRewardModel } from './nn/models/hfRewardModel.js';
export { loadPolicyFolder, type PolicySource } from './nn/weights/policyFolder.js';
export type { PolicyModel } from './nn/models/policyModel.js';
export { hfRewardModelReward } from './rewards/hfRewardModel.js';
export { AdamW, type AdamWOptions, learningRateAt } from './nn/training/optimizer.js';
export { RewardModel } from './nn/models/rewardModel.js';
export { decodeSafetensors, encodeSafetensors, type NamedTensor } from './nn/weights/safetensors.js';
export { type LoadedPolicy, loadPolicy, policyFolder } from './nn/weights/policyDir.js';
export { type GenerateOptions, type Generation, generate } from './nn/generation/sampler.js';
export {
  penalizeRepetitions,
  sampleToken,
  type TokenSamplingOptions,
} from './nn/generation/tokenSampling.js';
export {
  CharTokenizer,
  type Tokenizer,
  tokenizerFromJson,
  WordTokenizer,
} from './nn/tokenizers/tokenizer.js';
// Rewards.
export { arithmeticReward, arithmeticRewardFunction } from './rewards/arithmetic.js';
export {
  combinedRange,
  type PromptRow,
  type RewardFunction,
  RewardFunctionError,
  type Scores,
  scoreCompletions,
  type WeightedReward,
} from './rewards/rewardFunction.js';
export { rewardModelReward } from './rewards/rewardModel.js';
export { loadRewardModule, rewardFunctionOf } from './rewards/rewardModule.js';
export {
  compressRewards,
  promptTemperature,
  type RewardCompression,
  rewardCompression,
} from './rewards/rewardTemperature.js';
export { goldSentiment, goldSentimentReward } from './rewards/sentiment.js';
// Tasks.
export { createArithmeticTask } from './tasks/arithmetic.js';
export { TASKS } from './tasks/registry.js';
export { createSentimentTask } from './tasks/sentiment.js';
export { createFileTask, FILE_TASK, holdOutPrompts, loadUserRewards } from './tasks/sources/fileTask.js';
export { type PreferenceRecord, readPreferenceFile } from './tasks/sources/preferenceFile.js';
export { parsePromptFile, type PromptRecord } from './tasks/sources/promptFile.js';
export { readPromptFile } from './tasks/sources/promptFileReader.js';
export { chatTemplateFor, renderPrompts } from './tasks/sources/chatPrompts.js';
export { callTool, loadToolModule, type Tool, type ToolSet } from './train/tools/toolModule.js';
export { type ToolRollout, toolRollout } from './train/tools/toolRollout.js';
export { normalizePrompt } from './tasks/sources/promptText.js';
export { loadTaskModule } from './tasks/sources/taskModule.js';
export { textPretrainTexts } from './tasks/sources/textFile.js';
export type { Task, TaskContext, TaskFactory } from './tasks/task.js';
export { createToyTask } from './tasks/toy.js';
// Training.
export {
  ConfigError,
  parseTrainConfig,
  type TrainConfig,
  type TrainConfigInput,
  TrainConfigSchema,
} from './train/config.js';
export {
  type DynamicSamplingOptions,
  type DynamicSamplingResult,
  dynamicSample,
} from './train/dynamicSampling.js';
export { type MetricsRow, readMetrics } from './train/metrics.js';
export type { TrainObserver } from './train/observer.js';
export { type PretrainConfig, pretrain } from './train/pretrain.js';
export {
  type PreferenceTrainingConfig,
  type RewardModelConfig,
  trainRewardModel,
  trainRewardModelOnPreferences,
} from './train/rewardModelTraining.js';
export { loadTask, resolveTrainConfig } from './train/setup.js';
export { type TrainOptions, type TrainResult, train } from './train/trainer.js';
export { Rng } from './util/rng.js';
export {
  MAX_JSON_DEPTH,
  parseStrictJson,
  StrictJsonError,
  type StrictJsonProblem,
} from './util/strictJson.js';
export { UserFileError } from './util/userFileError.js';
