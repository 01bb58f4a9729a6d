import { backendLine, describeBackend, selectBackend } from '../../nn/backends/backend.js';
import { CheckpointError } from '../../nn/weights/checkpointError.js';
import { type LoadedPolicy, loadPolicy } from '../../nn/weights/policyDir.js';
import { generate } from '../../nn/generation/sampler.js';
import {
  type PromptRow,
  RewardFunctionError,
  type Scores,
  scoreCompletions,
} from '../../rewards/rewardFunction.js';
import { loadUserRewards } from '../../tasks/sources/fileTask.js';
import { chatTemplateFor, promptEncoder, renderPrompts } from '../../tasks/sources/chatPrompts.js';
import { isConversational, type PromptRecord, readPromptFile } from '../../tasks/sources/promptFile.js';
import { ConfigError } from '../../train/configError.js';
import type { LoraAdapter } from '../../nn/adapters/lora.js';
import { AdapterTargetError } from '../../nn/adapters/loraTargets.js';
import { adapterFromPeftFolder, readPeftFolder } from '../../nn/weights/peftFolder.js';
import { adapterFamilyOf } from '../../train/loraRun.js';
import { Rng } from '../../util/rng.js';
import { UserFileError } from '../../util/userFileError.js';
import { UserInputError } from '../errors.js';
import type { SampleFlags } from '../options/sample.js';

/** What `grpovi sample` does; loaded only when it runs (it loads TF.js). */

const DEFAULT_NEW_TOKENS = 16;
const BATCH = 64;

function userError(error: unknown): unknown {
  if (
    error instanceof UserFileError ||
    error instanceof CheckpointError ||
    error instanceof ConfigError ||
    error instanceof AdapterTargetError ||
    error instanceof RewardFunctionError
  ) {
    return new UserInputError(error.message);
  }
  return error;
}

export async function executeSample(flags: SampleFlags): Promise<void> {
  if (flags.prompt.length === 0 && flags.prompts === undefined)
    throw new UserInputError('give --prompt TEXT (repeatable) or --prompts FILE');
  if (flags.prompt.length > 0 && flags.prompts !== undefined)
    throw new UserInputError('give --prompt or --prompts, not both');
  if (flags.topP > 1) throw new UserInputError(`--top-p must be at most 1 (${flags.topP})`);
  let records: PromptRecord[];
  try {
    records =
      flags.prompts !== undefined
        ? readPromptFile(flags.prompts)
        : flags.prompt.map((p) => ({ prompt: p, row: { prompt: p } }));
  } catch (error) {
    throw userError(error);
  }
  const backend = await selectBackend(flags.backend);
  // The adapter is worth a line (on stderr: stdout carries the samples); the CPU backends are not.
  if (backend === 'webgpu') process.stderr.write(`${backendLine(describeBackend(backend))}\n`);
  let policy: LoadedPolicy | undefined;
  let adapter: LoraAdapter | undefined;
  let scoring: Awaited<ReturnType<typeof loadUserRewards>>;
  try {
    policy = loadPolicy(flags.policy);
    if (flags.adapter !== undefined) adapter = attachAdapterFolder(policy, flags.adapter);
    scoring = await loadUserRewards(
      {
        rewards: flags.reward.map((r) => ({ path: r.path, weight: r.weight ?? 1 })),
        rewardModel: flags.rewardModel?.path,
        rewardModelWeight: flags.rewardModel?.weight,
      },
      policy.tokenizer,
      flags.policy,
    );
  } catch (error) {
    adapter?.dispose();
    policy?.model.dispose();
    throw userError(error);
  }
  const { model, tokenizer } = policy;
  try {
    const conversational = isConversational(records);
    let prompts: string[];
    try {
      const template = conversational
        ? chatTemplateFor(tokenizer, flags.policy, flags.chatTemplate)
        : undefined;
      prompts = renderPrompts(records, tokenizer, template).prompts;
    } catch (error) {
      throw userError(error);
    }
    const encode = promptEncoder(tokenizer, conversational);
    const ids = prompts.map((p) => encode(p));
    const longest = Math.max(...ids.map((p) => p.length));
    const room = model.config.contextLength - longest;
    if (room < 1) {
      throw new UserInputError(
        `a prompt has ${longest} tokens, which fills the policy's context of ${model.config.contextLength}; shorten it`,
      );
    }
    if (flags.maxNewTokens !== undefined && flags.maxNewTokens > room) {
      throw new UserInputError(
        `--max-new-tokens ${flags.maxNewTokens} does not fit: the longest prompt has ${longest} tokens and the policy's context is ${model.config.contextLength} (at most ${room})`,
      );
    }
    const maxNewTokens = flags.maxNewTokens ?? Math.min(DEFAULT_NEW_TOKENS, room);
    const rng = Rng.derive(flags.seed, 'sample');
    const rowsOut: { prompt: string; given: PromptRecord['prompt']; completion: string; row: PromptRow }[] =
      [];
    const expanded = records.flatMap((r, i) => Array.from({ length: flags.n }, () => ({ i, row: r.row })));
    for (let start = 0; start < expanded.length; start += BATCH) {
      const part = expanded.slice(start, start + BATCH);
      const gen = generate(
        model,
        part.map((p) => ids[p.i]),
        {
          maxNewTokens,
          temperature: flags.temperature,
          topK: flags.greedy ? 1 : flags.topK,
          topP: flags.greedy ? 1 : flags.topP,
          eosId: tokenizer.eosId,
          stopIds: tokenizer.stopIds,
          padId: tokenizer.padId,
          rng,
          decode: (t) => tokenizer.decode(t),
        },
      );
      part.forEach((p, k) =>
        rowsOut.push({
          prompt: prompts[p.i],
          given: records[p.i].prompt,
          completion: gen.texts[k],
          row: p.row,
        }),
      );
    }
    let scores: Scores | undefined;
    if (scoring.rewards.length > 0) {
      try {
        scores = await scoreCompletions(
          scoring.rewards,
          rowsOut.map((r) => r.prompt),
          rowsOut.map((r) => r.completion),
          rowsOut.map((r) => r.row),
        );
      } catch (error) {
        throw userError(error);
      }
    }
    const lines = rowsOut.map((r, i) => {
      const rewards = scores && Object.fromEntries([...scores.byFunction].map(([name, v]) => [name, v[i]]));
      if (flags.json) {
        // The prompt as given (messages or text) and the text the policy read (rendered, normalized).
        return JSON.stringify({
          prompt: r.given,
          prompt_text: r.prompt,
          completion: r.completion,
          ...(scores ? { reward: scores.total[i], rewards } : {}),
        });
      }
      const scored = scores
        ? `  [reward ${scores.total[i].toFixed(3)}${
            scoring.rewards.length > 1
              ? `: ${Object.entries(rewards ?? {})
                  .map(([n, v]) => `${n} ${v.toFixed(3)}`)
                  .join(', ')}`
              : ''
          }]`
        : '';
      return `${r.prompt} | ${r.completion}${scored}`;
    });
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    adapter?.dispose();
    model.dispose();
    scoring.dispose();
  }
}

/** `--adapter DIR`: a PEFT LoRA folder (grpovi's or PEFT's) put on the policy's projections. */
function attachAdapterFolder(policy: LoadedPolicy, dir: string): LoraAdapter {
  const { model } = policy;
  if (model.attachAdapter === undefined)
    throw new UserInputError(`--adapter ${dir}: the policy model takes no LoRA adapters`);
  const adapter = adapterFromPeftFolder(readPeftFolder(dir), adapterFamilyOf(model), model.specs);
  model.attachAdapter(adapter);
  return adapter;
}
