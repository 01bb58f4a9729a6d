import { Template } from '@huggingface/jinja';
import { describeMessageProblem } from './chatMessage.js';

export { describeMessageProblem };

/**
 * Chat templates: a conversation (a list of `{role, content}` messages, TRL's conversational format)
 * rendered to the text an instruct model was trained on, as transformers'
 * `apply_chat_template(messages, add_generation_prompt=True, tokenize=False)` renders it. The Jinja
 * implementation is `@huggingface/jinja` (the one transformers.js uses), which lexes with Jinja's
 * `trim_blocks` and `lstrip_blocks` on, as transformers configures jinja2, and defines
 * `raise_exception`. No file system here: callers hand in the files' text.
 */

/** One message of a conversation. `content` is text; tool calls and names ride along for templates that read them. */
export interface ChatMessage {
  role: string;
  content: string;
  /** Tool calls of an assistant message, in the OpenAI shape chat templates read. */
  tool_calls?: readonly ChatToolCall[];
  /** The tool a `tool` message answers. */
  name?: string;
}

export interface ChatToolCall {
  type: 'function';
  function: { name: string; arguments: Record<string, unknown> };
}

/** A tool as chat templates take it in their `tools` variable (the JSON-schema function shape). */
export interface ChatToolSchema {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** A template that could not be found, chosen or rendered; names the source (folder or file) and what went wrong. */
export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

/** The special tokens transformers hands every template (`bos_token`, `eos_token`, ...), as text. */
export type SpecialTokenStrings = Readonly<Record<string, string>>;

const SPECIAL_TOKEN_FIELDS = [
  'bos_token',
  'eos_token',
  'unk_token',
  'sep_token',
  'pad_token',
  'cls_token',
  'mask_token',
] as const;

/** The text of a tokenizer_config.json token field: a string, or an AddedToken object's `content`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { content?: unknown }).content === 'string'
  )
    return (value as { content: string }).content;
  return undefined;
}

/** The special tokens of a tokenizer_config.json, as the template variables transformers passes. */
export function specialTokenStrings(tokenizerConfig: Readonly<Record<string, unknown>>): SpecialTokenStrings {
  const out: Record<string, string> = {};
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const text = tokenText(tokenizerConfig[field]);
    if (text !== undefined) out[field] = text;
  }
  return out;
}

/**
 * The chat templates of a model folder by name: `chat_template.jinja` when present (transformers
 * reads it before tokenizer_config.json's field), else tokenizer_config.json's `chat_template`, a
 * string (named `default`) or a list of `{name, template}`. Empty when the folder has none.
 */
export function chatTemplatesOf(
  tokenizerConfig: Readonly<Record<string, unknown>>,
  jinjaFile: string | undefined,
  source: string,
): Map<string, string> {
  const out = new Map<string, string>();
  if (jinjaFile !== undefined) {
    out.set('default', jinjaFile);
    return out;
  }
  const field = tokenizerConfig.chat_template;
  if (field === undefined || field === null) return out;
  if (typeof field === 'string') {
    out.set('default', field);
    return out;
  }
  if (Array.isArray(field)) {
    field.forEach((entry: unknown, i) => {
      const named = entry as { name?: unknown; template?: unknown };
      if (typeof named?.name !== 'string' || typeof named.template !== 'string')
        throw new ChatTemplateError(
          `${source}/tokenizer_config.json: "chat_template"[${i}] must be {"name": string, "template": string}`,
        );
      out.set(named.name, named.template);
    });
    return out;
  }
  throw new ChatTemplateError(
    `${source}/tokenizer_config.json: "chat_template" must be a string or a list of {name, template} (${typeof field})`,
  );
}

/**
 * The template transformers' `get_chat_template` picks: the one named, else `tool_use` when tools are
 * given and the folder has it, else `default`; a folder with several and no default needs a name.
 */
export function pickChatTemplate(
  templates: ReadonlyMap<string, string>,
  options: { name?: string; withTools?: boolean; source: string },
): string {
  const { name, source } = options;
  if (name !== undefined) {
    const chosen = templates.get(name);
    if (chosen === undefined)
      throw new ChatTemplateError(
        `${source} has no chat template named ${JSON.stringify(name)} (it has ${describeNames(templates)})`,
      );
    return chosen;
  }
  if (options.withTools && templates.has('tool_use')) return templates.get('tool_use') as string;
  const fallback = templates.get('default');
  if (fallback !== undefined) return fallback;
  if (templates.size === 0)
    throw new ChatTemplateError(
      `${source} has no chat template (no "chat_template" in tokenizer_config.json, no chat_template.jinja): ` +
        'conversational prompts need one; give --chat-template FILE',
    );
  throw new ChatTemplateError(
    `${source} has several chat templates and no "default" (${describeNames(templates)}): choose one with --chat-template NAME`,
  );
}

function describeNames(templates: ReadonlyMap<string, string>): string {
  return templates.size === 0 ? 'none' : [...templates.keys()].map((n) => JSON.stringify(n)).join(', ');
}

export interface RenderOptions {
  /** Ends the text with the header of the assistant's turn (default true, as generation needs). */
  addGenerationPrompt?: boolean;
  /** Tools the model may call, in the template's `tools` variable (absent: `none`, as transformers passes). */
  tools?: readonly ChatToolSchema[];
}

/** A compiled chat template with the special tokens it is rendered with. */
export class ChatTemplate {
  private readonly template: Template;

  /** `source` names where the text came from, for errors (a folder or a file). */
  constructor(
    readonly text: string,
    readonly specialTokens: SpecialTokenStrings,
    readonly source: string,
  ) {
    try {
      this.template = new Template(text);
    } catch (error) {
      throw new ChatTemplateError(
        `${source}: the chat template does not parse (${(error as Error).message})`,
      );
    }
  }

  /** The conversation as text, as transformers' `apply_chat_template(..., tokenize=False)` renders it. */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    try {
      return this.template.render({
        ...this.specialTokens,
        messages: messages as unknown as Record<string, unknown>[],
        tools: (options.tools ?? null) as unknown as Record<string, unknown>[],
        documents: null,
        add_generation_prompt: options.addGenerationPrompt ?? true,
      });
    } catch (error) {
      throw new ChatTemplateError(
        `${this.source}: the chat template failed on this conversation (${(error as Error).message})`,
      );
    }
  }
}

/** Whether a JSON value is a conversation: a non-empty list of `{role: string, content: string}` objects. */
export function isConversation(value: unknown): value is ChatMessage[] {
  return (
    Array.isArray(value) && value.length > 0 && value.every((m) => describeMessageProblem(m) === undefined)
  );
}
