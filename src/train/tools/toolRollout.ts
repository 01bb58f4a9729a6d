import type { PolicyModel } from '../../nn/models/policyModel.js';
import { generate, type Generation } from '../../nn/generation/sampler.js';
import type { ChatMessage, ChatTemplate } from '../../nn/tokenizers/chatTemplate.js';
import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';
import { parseToolCalls } from '../../nn/tokenizers/toolCalls.js';
import type { Rng } from '../../util/rng.js';
import type { Rollout, SamplingSettings } from '../rollout.js';
import { callTool, type ToolSet } from './toolCall.js';

/**
 * The rollout of a policy that may call tools (TRL's agent training): sample, parse each completion's
 * tool calls as its model family writes them, call the tools, append the tool messages through the
 * chat template, and sample on from there, until a completion calls no tool, the iterations run out,
 * or the completion budget (`maxNewTokens`, tool tokens included) is spent. Tool-message tokens sit
 * in the completion (the policy reads them) with mask 0: out of the loss and out of the KL.
 */

export interface ToolRolloutOptions {
  template: ChatTemplate;
  tools: ToolSet;
  /** Each prompt's messages, aligned with `prompts`. */
  conversations: readonly (readonly ChatMessage[])[];
  /** Tool-calling rounds per completion at most; absent, until the budget is spent. */
  maxIterations?: number;
  timeoutMs: number;
  /** Text to ids, without added special tokens (the template writes them). */
  encode: (text: string) => number[];
}

/** A rollout with the completions as messages and the tool counts. */
export interface ToolRollout extends Rollout {
  /** Each row's completion as messages: assistant turns with their tool calls, tool messages, the last answer. */
  completionMessages: ChatMessage[][];
  toolCalls: number;
  toolFailures: number;
}

interface RowState {
  promptIds: number[];
  conversation: readonly ChatMessage[];
  tokens: number[];
  mask: number[];
  logProbs: number[];
  messages: ChatMessage[];
  iterations: number;
  finished: boolean;
}

/** The text the template writes after the model's stop token and before the next assistant turn. */
function toolSuffix(
  template: ChatTemplate,
  tools: ToolSet,
  history: readonly ChatMessage[],
  assistant: ChatMessage,
  toolMessages: readonly ChatMessage[],
  stopText: string,
): string {
  const before = template.render([...history, assistant], {
    addGenerationPrompt: false,
    tools: tools.schemas,
  });
  const after = template.render([...history, assistant, ...toolMessages], { tools: tools.schemas });
  if (!after.startsWith(before))
    throw new Error(
      `${template.source}: the chat template does not render a conversation with tool messages as an extension of it, so tool turns cannot be appended`,
    );
  // What the template writes after the turn's end token (ChatML's "\n" after <|im_end|>).
  const end = stopText === '' ? -1 : before.lastIndexOf(stopText);
  const tail = end < 0 ? '' : before.slice(end + stopText.length);
  return tail + after.slice(before.length);
}

export async function toolRollout(
  policy: PolicyModel,
  tokenizer: Tokenizer,
  prompts: readonly string[],
  groupSize: number,
  sampling: SamplingSettings,
  rng: Rng,
  encodePrompt: (text: string) => number[],
  options: ToolRolloutOptions,
): Promise<ToolRollout> {
  const budget = sampling.maxNewTokens;
  const stops = new Set([tokenizer.eosId, ...(tokenizer.stopIds ?? [])]);
  const promptTexts: string[] = [];
  const rows: RowState[] = [];
  prompts.forEach((text, p) => {
    const promptIds = encodePrompt(text);
    for (let g = 0; g < groupSize; g++) {
      promptTexts.push(text);
      rows.push({
        promptIds,
        conversation: options.conversations[p],
        tokens: [],
        mask: [],
        logProbs: [],
        messages: [],
        iterations: 0,
        finished: false,
      });
    }
  });
  let toolCalls = 0;
  let toolFailures = 0;
  let active = rows.map((_, i) => i);
  const contextLength = policy.config.contextLength;
  while (active.length > 0) {
    const contexts = active.map((r) => [...rows[r].promptIds, ...rows[r].tokens]);
    let longest = 0;
    for (const c of contexts) longest = Math.max(longest, c.length);
    let room = 0;
    for (const r of active) room = Math.max(room, budget - rows[r].tokens.length);
    const maxNew = Math.min(room, contextLength - longest);
    if (maxNew < 1) break;
    const gen = generate(policy, contexts, {
      ...sampling,
      maxNewTokens: maxNew,
      eosId: tokenizer.eosId,
      stopIds: tokenizer.stopIds,
      padId: tokenizer.padId,
      rng,
    });
    const next: number[] = [];
    for (let k = 0; k < active.length; k++) {
      const row = rows[active[k]];
      const own = Math.min(gen.lengths[k], budget - row.tokens.length);
      const segment = Array.from(gen.tokens.subarray(k * gen.length, k * gen.length + own));
      row.tokens.push(...segment);
      row.mask.push(...segment.map(() => 1));
      row.logProbs.push(...gen.logProbs.subarray(k * gen.length, k * gen.length + own));
      const ended = own > 0 && stops.has(segment[own - 1]);
      const text = tokenizer.decode(segment);
      const parsed = ended ? parseToolCalls(text) : { content: text, calls: [] };
      const limitReached = options.maxIterations !== undefined && row.iterations >= options.maxIterations;
      if (!ended || parsed.calls.length === 0 || limitReached) {
        row.messages.push({ role: 'assistant', content: text });
        row.finished = ended;
        continue;
      }
      const assistant: ChatMessage = {
        role: 'assistant',
        content: parsed.content,
        tool_calls: parsed.calls.map((c) => ({
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        })),
      };
      const toolMessages: ChatMessage[] = [];
      for (const call of parsed.calls) {
        const result = await callTool(options.tools, call, options.timeoutMs);
        toolCalls++;
        if (result.failed) toolFailures++;
        toolMessages.push({ role: 'tool', name: call.name, content: result.content });
      }
      const suffix = toolSuffix(
        options.template,
        options.tools,
        [...row.conversation, ...row.messages],
        assistant,
        toolMessages,
        tokenizer.tokenToString(segment[own - 1]),
      );
      row.messages.push(assistant, ...toolMessages);
      row.iterations++;
      const ids = options.encode(suffix).slice(0, budget - row.tokens.length);
      row.tokens.push(...ids);
      row.mask.push(...ids.map(() => 0));
      row.logProbs.push(...ids.map(() => 0));
      // A completion whose budget ends inside the tool turn stops there, unfinished.
      if (row.tokens.length < budget) next.push(active[k]);
    }
    active = next;
  }
  return assemble(rows, promptTexts, groupSize, tokenizer, toolCalls, toolFailures);
}

/** The rows as a right-padded batch, like the sampler's. */
function assemble(
  rows: readonly RowState[],
  promptTexts: string[],
  groupSize: number,
  tokenizer: Tokenizer,
  toolCalls: number,
  toolFailures: number,
): ToolRollout {
  let length = 1;
  for (const row of rows) length = Math.max(length, row.tokens.length);
  const n = rows.length;
  const tokens = new Int32Array(n * length).fill(tokenizer.padId);
  const mask = new Float32Array(n * length);
  const logProbs = new Float32Array(n * length);
  const lengths = new Int32Array(n);
  const finished = new Uint8Array(n);
  const texts: string[] = [];
  rows.forEach((row, r) => {
    tokens.set(row.tokens, r * length);
    mask.set(row.mask, r * length);
    logProbs.set(row.logProbs, r * length);
    lengths[r] = row.tokens.length;
    finished[r] = row.finished ? 1 : 0;
    texts.push(tokenizer.decode(row.tokens));
  });
  const generation: Generation = { tokens, mask, logProbs, lengths, finished, length, texts };
  return {
    promptTexts,
    completionTexts: texts,
    batch: { prompts: rows.map((r) => r.promptIds), completions: tokens, mask, length },
    generation,
    groupSize,
    completionMessages: rows.map((r) => r.messages),
    toolCalls,
    toolFailures,
  };
}
