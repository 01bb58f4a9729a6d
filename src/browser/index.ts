/**
 * grpovi in the browser (the package export `grpovi/browser`): the trainer core, which needs no file
 * system, with in-memory inputs and outputs.
 *
 *   const backend = await useBackend('auto', { wasmPath: '/grpovi/' }); // { name: 'webgpu' | 'wasm' | 'cpu', adapter? }
 *   const task = toyTask(0);                                   // or promptsTask({ prompts, heldOut?, reward })
 *   const policy = policyFromFiles(files);                     // a grpovi or Hugging Face model folder as bytes
 *   const trainer = await createTrainer({ task, policy, config: { algo: 'grpovi', steps: 20 }, seed: 0 });
 *   const first = await trainer.evaluate();                    // the step-0 row (eval_* fields), as metrics.jsonl's first line
 *   while (trainer.stepsDone < trainer.config.steps) console.log(await trainer.step()); // metrics.jsonl rows
 *   const folder = await trainer.exportFolder();               // { 'model.json': bytes, ... } for `grpovi sample --policy`
 *   trainer.dispose();
 *
 * - `useBackend(choice, { wasmPath })`: `webgpu` when the browser has an adapter (`auto` prefers it),
 *   else `wasm` (whose .wasm binaries are fetched from `wasmPath`, default: beside the bundle).
 * - `toyTask(seed)`: the built-in toy task (its own tokenizer and tiny policy; `policy` is not used).
 * - `promptsTask({ prompts, heldOut?, reward })`: prompts as strings or rows (`{ prompt, ...columns }`,
 *   the lines of a prompts JSONL file), the reward as a function `(prompts, completions, rows) =>
 *   number[]` with optional `range`/`rewardName`, or `{ name, range?, score }` (a reward module's
 *   default export), or a list of them. Without `heldOut` a fixed 10% is held out, as the file task does.
 *   Needs a `policy`.
 * - `policyFromFiles(files)`: a policy from a folder's files (`model.json` + `model.safetensors` +
 *   `tokenizer.json`, or a Hugging Face `config.json` + `model.safetensors` + `tokenizer.json` ...).
 * - `createTrainer({ task, policy?, config, seed })`: `config` holds TrainConfig fields (snake_case as
 *   in a config file, e.g. `{ algo: 'grpovi', steps: 50, learning_rate: 3e-3 }`) over the task's
 *   defaults; `step()` runs one GRPO/GRPOVI step and resolves to its metrics row (with the evaluation
 *   fields when `eval_every` says so, as `grpovi train` logs it); `evaluate()` evaluates the current
 *   policy; `samples()` the latest evaluation's held-out samples; `exportFolder()` gives the files
 *   `grpovi train` writes as a checkpoint's policy folder.
 * - Errors a user can cause are ConfigError (a config field, a prompt, a reward), CheckpointError (a
 *   model file), BackendUnavailableError: one line naming the input and the value.
 * - Not in the browser yet: conversational prompts, tools, reward models, LoRA, word-level grpovi
 *   policies with prompts tasks (their prompt normalization lives with the Node corpora).
 */
export {
  type AdapterDescription,
  type BackendChoice,
  type BackendInUse,
  type BackendOptions,
  BackendUnavailableError,
  useBackend,
} from './backend.js';
export { type PromptsTaskOptions, promptsTask, type RewardExport, type TaskSpec, toyTask } from './tasks.js';
export {
  createTrainer,
  type FolderFiles,
  policyFromFiles,
  type PolicySpec,
  type Trainer,
  type TrainerOptions,
} from './trainer.js';
export type { MetricsRow } from '../train/core/metricsRow.js';
export type { SampleRow } from '../train/core/sampleRow.js';
export type { TrainConfig, TrainConfigInput } from '../train/config.js';
export type { PromptRow, RewardFunction } from '../rewards/rewardFunction.js';
export { ConfigError } from '../train/configError.js';
export { CheckpointError } from '../nn/weights/checkpointError.js';
