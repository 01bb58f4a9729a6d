import type { ChatMessage } from '../../nn/tokenizers/chatTemplate.js';
import { describeMessageProblem } from '../../nn/tokenizers/chatMessage.js';
import { describeJsonValue } from '../../nn/weights/checkpointError.js';
import { UserFileError } from '../../util/userFileError.js';
import { isJsonLinesPath, nonBlankLines, parseJsonLines, withoutBom } from './userText.js';

/**
 * Prompt files from their text (no file system): `grpovi train --prompts` reads them from disk
 * (promptFileReader.ts), the playground page from a file picked in the browser.
 */

/** One prompt of a prompt file with its line's fields (the columns handed to reward functions). */
export interface PromptRecord {
  /** The text, or a conversation (TRL's conversational format) the policy's chat template renders. */
  prompt: string | ChatMessage[];
  /** Every field of the JSONL line (`prompt` included); `{ prompt }` for a text file. */
  row: Readonly<Record<string, unknown>>;
}

/** The `prompt` of a JSONL record: a non-empty string or a non-empty list of `{role, content}` messages. */
function promptField(
  record: { line: number; value: Record<string, unknown> },
  path: string,
): string | ChatMessage[] {
  const v = record.value.prompt;
  if (typeof v === 'string') {
    if (v.trim() === '') throw new UserFileError(path, 'has an empty "prompt" ("")', record.line);
    return v;
  }
  if (Array.isArray(v)) {
    if (v.length === 0)
      throw new UserFileError(
        path,
        'has an empty "prompt" list ([]): a conversation needs a message',
        record.line,
      );
    v.forEach((message: unknown, i) => {
      const problem = describeMessageProblem(message);
      if (problem !== undefined)
        throw new UserFileError(
          path,
          `"prompt"[${i}] ${problem}: messages are {"role", "content"} objects`,
          record.line,
        );
    });
    return v as ChatMessage[];
  }
  const got = v === undefined ? 'missing' : `${typeof v} ${describeJsonValue(v)}`;
  throw new UserFileError(
    path,
    `needs a "prompt" string or a list of {"role", "content"} messages (${got})`,
    record.line,
  );
}

/**
 * Parses a prompt file's text (`path` names it in errors and decides the format by its
 * extension): JSONL with a `prompt` per line (the Hugging Face datasets convention; a
 * string, or a conversation as TRL's conversational datasets hold it; every other field is a
 * column), or any other file as text with one prompt per line. A file holds plain prompts or
 * conversations, not both.
 */
export function parsePromptFile(text: string, path: string): PromptRecord[] {
  let records: PromptRecord[];
  if (isJsonLinesPath(path)) {
    const lines = parseJsonLines(text, path);
    records = lines.map((record) => ({ prompt: promptField(record, path), row: record.value }));
    const kind = (r: PromptRecord) => (typeof r.prompt === 'string' ? 'a string' : 'a conversation');
    const mixed = records.findIndex((r) => kind(r) !== kind(records[0]));
    if (mixed >= 0)
      throw new UserFileError(
        path,
        `"prompt" is ${kind(records[mixed])} where line ${lines[0].line} has ${kind(records[0])}: a file holds plain prompts or conversations, not both`,
        lines[mixed].line,
      );
  } else {
    records = nonBlankLines(withoutBom(text)).map((line) => ({
      prompt: line.text,
      row: { prompt: line.text },
    }));
  }
  if (records.length === 0) throw new UserFileError(path, 'holds no prompts (the file is empty)');
  return records;
}

/** Whether the records are conversations (a file holds one kind). */
export function isConversational(records: readonly PromptRecord[]): boolean {
  return records.length > 0 && typeof records[0].prompt !== 'string';
}
