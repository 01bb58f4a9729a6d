import { existsSync, statSync } from 'node:fs';
import {
  type ChatMessage,
  ChatTemplate,
  ChatTemplateError,
  type ChatToolSchema,
  pickChatTemplate,
} from '../../nn/tokenizers/chatTemplate.js';
import type { Tokenizer } from '../../nn/tokenizers/tokenizer.js';
import type { PromptRow } from '../../rewards/rewardFunction.js';
import { ConfigError } from '../../train/configError.js';
import type { PromptRecord } from './promptFile.js';
import { normalizePrompt } from './promptText.js';
import { readUserText } from './userJson.js';

/** A tokenizer that may carry a folder's chat templates (Hugging Face folders do). */
type TemplateHolder = Tokenizer & {
  chatTemplates?: ReadonlyMap<string, string>;
  specialTokens?: Readonly<Record<string, string>>;
};

/** Whether `choice` names a file (the --chat-template FILE form) rather than one of the folder's named templates. */
function isFile(choice: string): boolean {
  return existsSync(choice) && statSync(choice).isFile();
}

/**
 * The chat template conversational prompts are rendered with: `choice` when it names a file
 * (`--chat-template FILE`), else the policy folder's template (the one named `choice` when the folder
 * holds several). A policy without one is a ConfigError naming the folder.
 */
export function chatTemplateFor(
  tokenizer: Tokenizer,
  policyDir: string,
  choice: string | undefined,
  withTools = false,
): ChatTemplate {
  const holder = tokenizer as TemplateHolder;
  const specials = holder.specialTokens ?? {};
  try {
    if (choice !== undefined && isFile(choice))
      return new ChatTemplate(readUserText(choice, 'chat template'), specials, choice);
    const templates = holder.chatTemplates ?? new Map<string, string>();
    if (choice !== undefined && templates.size === 0)
      throw new ChatTemplateError(
        `--chat-template ${choice}: no such file, and the policy ${policyDir} has no named chat templates`,
      );
    if (choice !== undefined && !templates.has(choice))
      throw new ChatTemplateError(
        `--chat-template ${choice}: no such file, and the policy ${policyDir} has no chat template of that name ` +
          `(it has ${[...templates.keys()].map((n) => JSON.stringify(n)).join(', ')})`,
      );
    const text = pickChatTemplate(templates, { name: choice, withTools, source: `the policy ${policyDir}` });
    return new ChatTemplate(text, specials, policyDir);
  } catch (error) {
    if (error instanceof ChatTemplateError) throw new ConfigError(error.message, 'chat_template');
    throw error;
  }
}

/**
 * The chat template of a run's prompts, with `--chat-template` checked whatever the prompts are: a
 * choice that does not resolve (no such file, no such template) is a ConfigError naming the flag and
 * the value even for plain prompts. Plain prompts render without a template, so a choice that does
 * resolve is then unused, and `unused` says so (once, for stderr).
 */
export function chatTemplateForPrompts(
  tokenizer: Tokenizer,
  policyDir: string,
  choice: string | undefined,
  conversational: boolean,
  withTools = false,
): { template?: ChatTemplate; unused?: string } {
  if (conversational) return { template: chatTemplateFor(tokenizer, policyDir, choice, withTools) };
  if (choice === undefined) return {};
  const template = chatTemplateFor(tokenizer, policyDir, choice, withTools);
  return {
    unused:
      `--chat-template ${choice} (${template.source === choice ? 'a file' : `a template of ${policyDir}`}) is unused: ` +
      'the prompts are plain text, which the policy reads as written; a chat template renders conversational prompts (a "prompt" list of messages)',
  };
}

/** The one line refusing tools for plain prompts: tools are rendered by the chat template. */
export function toolsNeedConversations(tools: string, prompts: string | undefined): string {
  const where = prompts === undefined ? 'of a --prompts FILE' : `of ${prompts}`;
  return `--tools ${tools} needs conversational prompts (a "prompt" list of messages per line ${where}): tools are rendered by the chat template`;
}

/**
 * Prompt texts as the policy reads them: plain prompts normalized as its tokenizer expects,
 * conversations rendered by the chat template with the generation prompt (and the tools, when
 * the task has some). The rows keep the prompt as written (the messages reward functions receive).
 */
export function renderPrompts(
  records: readonly PromptRecord[],
  tokenizer: Tokenizer,
  template: ChatTemplate | undefined,
  tools?: readonly ChatToolSchema[],
): { prompts: string[]; rows: PromptRow[] } {
  const render = (messages: readonly ChatMessage[], t: ChatTemplate) => {
    try {
      return t.render(messages, { tools });
    } catch (error) {
      if (error instanceof ChatTemplateError) throw new ConfigError(error.message, 'chat_template');
      throw error;
    }
  };
  return {
    prompts: records.map((r) => {
      if (typeof r.prompt === 'string') return normalizePrompt(tokenizer, r.prompt);
      if (template === undefined) throw new TypeError('a conversational prompt needs a chat template');
      return render(r.prompt, template);
    }),
    rows: records.map((r) => r.row as PromptRow),
  };
}

/**
 * The ids of a prompt's text: a rendered conversation already holds its special tokens, so the
 * tokenizer adds none (TRL encodes prompts with `add_special_tokens=False`); plain prompts as before.
 */
export function promptEncoder(tokenizer: Tokenizer, conversational: boolean): (text: string) => number[] {
  return conversational
    ? (text) => tokenizer.encode(text, { addSpecialTokens: false })
    : (text) => tokenizer.encode(text);
}
