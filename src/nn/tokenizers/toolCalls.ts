/**
 * Tool calls in a model's text, as the model families write them:
 * - Hermes / Qwen2.5: one or more `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>` blocks,
 *   with any text around them as the message's content;
 * - Llama 3.1 (JSON tool calling): the whole message is `{"name": ..., "parameters": {...}}`, optionally
 *   after `<|python_tag|>`.
 * A call whose JSON does not parse, or lacks a name, is kept with its problem, so that the rollout can
 * answer it with an error message (and count it as failed) rather than ignore it.
 */
import { jsonProblem, parseJson } from '../../util/jsonText.js';

export interface ParsedToolCall {
  name: string;
  arguments: Record<string, unknown>;
  /** Why the call is unusable (bad JSON, no name); absent for a well-formed call. */
  problem?: string;
}

export interface ParsedMessage {
  /** The text outside the tool calls, trimmed. */
  content: string;
  calls: ParsedToolCall[];
}

const HERMES = /<tool_call>([\s\S]*?)<\/tool_call>/g;

function parseCall(json: string, argumentsField: 'arguments' | 'parameters'): ParsedToolCall {
  let value: unknown;
  try {
    value = parseJson(json, 'tool call');
  } catch (error) {
    return { name: '', arguments: {}, problem: `the tool call ${jsonProblem(error)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return { name: '', arguments: {}, problem: 'the tool call is not a JSON object' };
  const { name } = value as { name?: unknown };
  const other = argumentsField === 'arguments' ? 'parameters' : 'arguments';
  const record = value as Record<string, unknown>;
  const args = record[argumentsField] ?? record[other] ?? {};
  if (typeof name !== 'string' || name === '')
    return { name: '', arguments: {}, problem: 'the tool call has no "name" string' };
  if (typeof args !== 'object' || args === null || Array.isArray(args))
    return { name, arguments: {}, problem: `the tool call's "${argumentsField}" is not an object` };
  return { name, arguments: args as Record<string, unknown> };
}

/** The tool calls of an assistant message's text, Hermes/Qwen2.5 blocks first, else a Llama 3.1 JSON call. */
export function parseToolCalls(text: string): ParsedMessage {
  const calls: ParsedToolCall[] = [];
  for (const match of text.matchAll(HERMES)) calls.push(parseCall(match[1].trim(), 'arguments'));
  if (calls.length > 0) return { content: text.replace(HERMES, '').trim(), calls };
  const body = text.replace(/^\s*<\|python_tag\|>/, '').trim();
  // Llama 3.1 writes the call as the whole message; text that merely contains JSON is not a call.
  if (body.startsWith('{') && body.endsWith('}') && /"name"\s*:/.test(body)) {
    const call = parseCall(body, 'parameters');
    if (call.problem === undefined) return { content: '', calls: [call] };
  }
  return { content: text.trim(), calls: [] };
}
