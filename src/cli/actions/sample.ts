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
import {
  chatTemplateForPrompts,
  promptEncoder,
  renderPrompts,
  toolsNeedConversations,
} from '../../tasks/sources/chatPrompts.js';
import type { ChatMessage, ChatTemplate } from '../../nn/tokenizers/chatTemplate.js';
import type { SamplingSettings } from '../../train/rollout.js';
import { loadToolModule, type ToolSet } from '../../train/tools/toolModule.js';
import { toolRollout } from '../../train/tools/toolRollout.js';
import { toolRolloutOptions } from '../../train/tools/taskRollout.js';
import { isConversational, type PromptRecord } from '../../tasks/sources/promptFile.js';
import { readPromptFile } from '../../tasks/sources/promptFileReader.js';
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
  const conversational = isConversational(records);
  if (flags.tools === undefined) {
    if (flags.toolTimeout !== undefined) throw new UserInputError('--tool-timeout needs --tools MODULE');
    if (flags.maxToolCallingIterations !== undefined)
      throw new UserInputError('--max-tool-calling-iterations needs --tools MODULE');
  } else if (!conversational) {
    throw new UserInputError(toolsNeedConversations(flags.tools, flags.prompts));
  }
  let tools: ToolSet | undefined;
  try {
    if (flags.tools !== undefined) tools = await loadToolModule(flags.tools);
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
    let prompts: string[];
    let template: ReturnType<typeof chatTemplateForPrompts>['template'];
    try {
      let unused: string | undefined;
      ({ template, unused } = chatTemplateForPrompts(
        tokenizer,
        flags.policy,
        flags.chatTemplate,
        conversational,
        tools !== undefined,
      ));
      if (unused !== undefined) process.stderr.write(`grpovi: ${unused}\n`);
      prompts = renderPrompts(records, tokenizer, template, tools?.schemas).prompts;
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
    const sampling: SamplingSettings = {
      maxNewTokens,
      temperature: flags.temperature,
      topK: flags.greedy ? 1 : flags.topK,
      topP: flags.greedy ? 1 : flags.topP,
    };
    const run: SampleRun = { model, tokenizer, records, prompts, encode, sampling, rng, n: flags.n };
    const rowsOut =
      tools !== undefined && template !== undefined
        ? await sampleWithTools(run, template, tools, flags)
        : samplePlain(run, ids);
    let scores: Scores | undefined;
    if (scoring.rewards.length > 0) {
      try {
        scores = await scoreCompletions(
          scoring.rewards,
          rowsOut.map((r) => r.prompt),
          rowsOut.map((r) => r.completion),
          rowsOut.map((r) => r.row),
          tools === undefined ? undefined : rowsOut.map((r) => r.messages ?? []),
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
          // With tools: the completion as messages (assistant turns with their calls, tool results).
          ...(r.messages === undefined
            ? {}
            : { messages: r.messages, tool_calls: r.toolCalls, tool_failures: r.toolFailures }),
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
    if (tools !== undefined) process.stderr.write(`grpovi: ${toolSummary(tools, rowsOut)}\n`);
  } finally {
    adapter?.dispose();
    model.dispose();
    scoring.dispose();
  }
}

/** What both ways of sampling read. */
interface SampleRun {
  model: LoadedPolicy['model'];
  tokenizer: LoadedPolicy['tokenizer'];
  records: readonly PromptRecord[];
  /** The texts the policy reads (rendered, normalized), aligned with `records`. */
  prompts: readonly string[];
  encode: (text: string) => number[];
  sampling: SamplingSettings;
  rng: Rng;
  /** Completions per prompt. */
  n: number;
}

/** `n` completions of each prompt, BATCH rows at a time. */
function samplePlain(run: SampleRun, ids: readonly number[][]): SampleRowOut[] {
  const { model, tokenizer, records, prompts } = run;
  const out: SampleRowOut[] = [];
  const expanded = records.flatMap((r, i) => Array.from({ length: run.n }, () => ({ i, row: r.row })));
  for (let start = 0; start < expanded.length; start += BATCH) {
    const part = expanded.slice(start, start + BATCH);
    const gen = generate(
      model,
      part.map((p) => ids[p.i]),
      {
        ...run.sampling,
        eosId: tokenizer.eosId,
        stopIds: tokenizer.stopIds,
        padId: tokenizer.padId,
        rng: run.rng,
        decode: (t) => tokenizer.decode(t),
      },
    );
    part.forEach((p, k) =>
      out.push({ prompt: prompts[p.i], given: records[p.i].prompt, completion: gen.texts[k], row: p.row }),
    );
  }
  return out;
}

/**
 * `n` completions of each prompt through train's tool-calling rollout (the policy's tool calls run,
 * their results appended through the chat template), about BATCH rows at a time.
 */
async function sampleWithTools(
  run: SampleRun,
  template: ChatTemplate,
  tools: ToolSet,
  flags: Pick<SampleFlags, 'maxToolCallingIterations' | 'toolTimeout'>,
): Promise<SampleRowOut[]> {
  const { records, prompts } = run;
  const out: SampleRowOut[] = [];
  const perBatch = Math.max(1, Math.floor(BATCH / run.n));
  for (let first = 0; first < records.length; first += perBatch) {
    const rows = records.slice(first, first + perBatch).map((r) => r.row as PromptRow);
    const ro = await toolRollout(
      run.model,
      run.tokenizer,
      prompts.slice(first, first + perBatch),
      run.n,
      run.sampling,
      run.rng,
      run.encode,
      toolRolloutOptions(template, tools, rows, run.tokenizer, {
        max_tool_calling_iterations: flags.maxToolCallingIterations,
        tool_timeout: flags.toolTimeout,
      }),
    );
    ro.completionTexts.forEach((completion, k) => {
      const i = first + Math.floor(k / run.n);
      out.push({
        prompt: prompts[i],
        given: records[i].prompt,
        completion,
        row: records[i].row as PromptRow,
        messages: ro.completionMessages[k],
        toolCalls: ro.rowToolCalls[k],
        toolFailures: ro.rowToolFailures[k],
      });
    });
  }
  return out;
}

/** One sampled completion and what it was sampled from. */
interface SampleRowOut {
  prompt: string;
  given: PromptRecord['prompt'];
  completion: string;
  row: PromptRow;
  /** With tools: the completion as messages, and its tool calls and failed calls. */
  messages?: ChatMessage[];
  toolCalls?: number;
  toolFailures?: number;
}

/** The tool counts over all completions, e.g. `tools (calculator from t.mjs): 5 calls over 4 completions, 1 failed`. */
function toolSummary(tools: ToolSet, rows: readonly SampleRowOut[]): string {
  let calls = 0;
  let failures = 0;
  for (const r of rows) {
    calls += r.toolCalls ?? 0;
    failures += r.toolFailures ?? 0;
  }
  const names = tools.tools.map((t) => t.name).join(', ');
  return `tools (${names} from ${tools.path}): ${calls} call${calls === 1 ? '' : 's'} over ${rows.length} completion${rows.length === 1 ? '' : 's'}, ${failures} failed`;
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
